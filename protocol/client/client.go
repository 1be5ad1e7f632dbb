// Package client is a Go client for the runner protocol. The operator uses
// it for join, heartbeats and job status; job pods use it to fetch their job
// and report logs, progress, previews and results.
//
// Calls are retried on network errors, 429 and 5xx responses with
// exponential backoff and jitter, honouring Retry-After. 4xx responses other
// than 429 are returned at once as an [*APIError].
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/ferryhq/ferry/protocol"
)

// TokenSource returns the bearer token for a call. It is called before
// every attempt, so a rotated token is picked up without a new client.
type TokenSource func(ctx context.Context) (string, error)

// StaticToken returns a TokenSource that always returns token.
func StaticToken(token string) TokenSource {
	return func(context.Context) (string, error) { return token, nil }
}

// Client calls one control plane. It is safe for concurrent use.
type Client struct {
	baseURL    *url.URL
	token      TokenSource
	httpClient *http.Client
	userAgent  string
	retry      RetryPolicy
}

// RetryPolicy bounds the retries of one call.
type RetryPolicy struct {
	// MaxAttempts is the most attempts per call, the first included. 1
	// disables retries.
	MaxAttempts int
	// InitialInterval is the first backoff interval.
	InitialInterval time.Duration
	// MaxInterval caps a single backoff interval, Retry-After included.
	MaxInterval time.Duration
}

// DefaultRetryPolicy is used unless WithRetry is given.
var DefaultRetryPolicy = RetryPolicy{MaxAttempts: 5, InitialInterval: 200 * time.Millisecond, MaxInterval: 10 * time.Second}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client; the default has no overall timeout,
// because heartbeats long-poll, and relies on the context of each call.
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.httpClient = h } }

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// WithRetry sets the retry policy.
func WithRetry(p RetryPolicy) Option { return func(c *Client) { c.retry = p } }

// New returns a client for the control plane at baseURL, such as
// "https://cp.example.com". It rejects a URL without scheme or host.
func New(baseURL string, token TokenSource, opts ...Option) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil {
		return nil, fmt.Errorf("invalid control plane URL %q: %w", baseURL, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("invalid control plane URL %q: want http(s)://host[:port]", baseURL)
	}
	c := &Client{
		baseURL:    u,
		token:      token,
		httpClient: &http.Client{},
		userAgent:  "ferry",
		retry:      DefaultRetryPolicy,
	}
	for _, opt := range opts {
		opt(c)
	}
	if c.retry.MaxAttempts < 1 {
		c.retry.MaxAttempts = 1
	}
	return c, nil
}

// APIError is a non-2xx response from the control plane.
type APIError struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// Code and Message come from the response body.
	Code    protocol.ErrorCode
	Message string
	// RetryAfter is the parsed Retry-After header, if any.
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	return fmt.Sprintf("control plane returned %d %s: %s", e.StatusCode, e.Code, e.Message)
}

// StatusCode returns the HTTP status of err if it is an *APIError, else 0.
func StatusCode(err error) int {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr.StatusCode
	}
	return 0
}

// IsUnauthorized reports whether err is a 401: the token is wrong or revoked.
func IsUnauthorized(err error) bool { return StatusCode(err) == http.StatusUnauthorized }

// IsForbidden reports whether err is a 403.
func IsForbidden(err error) bool { return StatusCode(err) == http.StatusForbidden }

// IsNotFound reports whether err is a 404.
func IsNotFound(err error) bool { return StatusCode(err) == http.StatusNotFound }

// IsConflict reports whether err is a 409: a stale epoch or a finished job.
func IsConflict(err error) bool { return StatusCode(err) == http.StatusConflict }

// Join registers the runner and returns its ID.
func (c *Client) Join(ctx context.Context, req protocol.JoinRequest) (protocol.JoinResponse, error) {
	var resp protocol.JoinResponse
	err := c.do(ctx, http.MethodPost, protocol.PathJoin, nil, req, &resp)
	return resp, err
}

// Heartbeat reports the runner's state and long-polls for work. The call is
// not retried: the caller's loop backs off and sends a fresh heartbeat.
func (c *Client) Heartbeat(ctx context.Context, runnerID string, req protocol.HeartbeatRequest) (protocol.HeartbeatResponse, error) {
	var resp protocol.HeartbeatResponse
	err := c.doOnce(ctx, http.MethodPost, protocol.PathHeartbeat, map[string]string{"runnerID": runnerID}, req, &resp)
	return resp, err
}

// ReportJobStatus reports a job's phase as the operator observes it.
func (c *Client) ReportJobStatus(ctx context.Context, runnerID, jobID string, req protocol.JobStatusRequest) (protocol.JobStatusResponse, error) {
	var resp protocol.JobStatusResponse
	err := c.do(ctx, http.MethodPost, protocol.PathJobStatus, map[string]string{"runnerID": runnerID, "jobID": jobID}, req, &resp)
	return resp, err
}

// JobSpec fetches the full job, credentials included.
func (c *Client) JobSpec(ctx context.Context, jobID string) (protocol.JobSpecResponse, error) {
	var resp protocol.JobSpecResponse
	err := c.do(ctx, http.MethodGet, protocol.PathJobSpec, map[string]string{"jobID": jobID}, nil, &resp)
	return resp, err
}

// SendLogs appends a batch of numbered log lines.
func (c *Client) SendLogs(ctx context.Context, jobID string, batch protocol.LogBatch) (protocol.LogBatchResponse, error) {
	var resp protocol.LogBatchResponse
	err := c.do(ctx, http.MethodPost, protocol.PathJobLogs, map[string]string{"jobID": jobID}, batch, &resp)
	return resp, err
}

// SendProgress reports rows and bytes moved so far.
func (c *Client) SendProgress(ctx context.Context, jobID string, req protocol.ProgressRequest) error {
	return c.do(ctx, http.MethodPost, protocol.PathJobProgress, map[string]string{"jobID": jobID}, req, nil)
}

// SendPreview reports a preview's columns and rows.
func (c *Client) SendPreview(ctx context.Context, jobID string, req protocol.PreviewRequest) error {
	return c.do(ctx, http.MethodPost, protocol.PathJobPreview, map[string]string{"jobID": jobID}, req, nil)
}

// SendResult reports the engine's final summary.
func (c *Client) SendResult(ctx context.Context, jobID string, req protocol.ResultRequest) error {
	return c.do(ctx, http.MethodPost, protocol.PathJobResult, map[string]string{"jobID": jobID}, req, nil)
}

// do sends one call with the client's retry policy.
func (c *Client) do(ctx context.Context, method, pathTemplate string, params map[string]string, in, out any) error {
	return c.call(ctx, c.retry, method, pathTemplate, params, in, out)
}

// doOnce sends one call without retries.
func (c *Client) doOnce(ctx context.Context, method, pathTemplate string, params map[string]string, in, out any) error {
	return c.call(ctx, RetryPolicy{MaxAttempts: 1}, method, pathTemplate, params, in, out)
}

func (c *Client) call(ctx context.Context, policy RetryPolicy, method, pathTemplate string, params map[string]string, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return fmt.Errorf("failed to encode %s request: %w", pathTemplate, err)
		}
	}
	target := c.baseURL.String() + expandPath(pathTemplate, params)

	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval = policy.InitialInterval
	bo.MaxInterval = policy.MaxInterval
	bo.RandomizationFactor = 0.5

	operation := func() (struct{}, error) {
		err := c.send(ctx, method, target, body, out)
		if err == nil {
			return struct{}{}, nil
		}
		var apiErr *APIError
		if errors.As(err, &apiErr) {
			if apiErr.StatusCode != http.StatusTooManyRequests && apiErr.StatusCode < 500 {
				return struct{}{}, backoff.Permanent(err)
			}
			if apiErr.RetryAfter > 0 {
				return struct{}{}, backoff.RetryAfter(int(min(apiErr.RetryAfter, policy.MaxInterval).Seconds()))
			}
		}
		return struct{}{}, err
	}
	_, err := backoff.Retry(ctx, operation,
		backoff.WithBackOff(bo),
		backoff.WithMaxTries(uint(policy.MaxAttempts)),
		backoff.WithMaxElapsedTime(0))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, pathTemplate, err)
	}
	return nil
}

// send makes one HTTP request and decodes the response into out.
func (c *Client) send(ctx context.Context, method, target string, body []byte, out any) error {
	var reader io.Reader
	if body != nil {
		reader = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, reader)
	if err != nil {
		return backoff.Permanent(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if c.token != nil {
		token, err := c.token(ctx)
		if err != nil {
			return backoff.Permanent(fmt.Errorf("failed to read the bearer token: %w", err))
		}
		req.Header.Set("Authorization", "Bearer "+token)
	}

	resp, err := c.httpClient.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return backoff.Permanent(err)
		}
		return err
	}
	defer func() { _ = resp.Body.Close() }()

	if resp.StatusCode/100 != 2 {
		return decodeError(resp)
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, protocol.MaxBodyBytes))
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(out); err != nil {
		return fmt.Errorf("failed to decode the response to %s: %w", req.URL.Path, err)
	}
	return nil
}

// decodeError turns a non-2xx response into an *APIError.
func decodeError(resp *http.Response) error {
	apiErr := &APIError{StatusCode: resp.StatusCode}
	var body protocol.Error
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(raw, &body) == nil && body.Code != "" {
		apiErr.Code, apiErr.Message = body.Code, body.Message
	} else {
		apiErr.Code = protocol.CodeInternal
		apiErr.Message = strings.TrimSpace(string(raw))
		if len(apiErr.Message) > 200 {
			apiErr.Message = apiErr.Message[:200] + "..."
		}
	}
	if s := resp.Header.Get("Retry-After"); s != "" {
		if secs, err := strconv.Atoi(s); err == nil && secs > 0 {
			apiErr.RetryAfter = time.Duration(secs) * time.Second
		} else if at, err := http.ParseTime(s); err == nil {
			apiErr.RetryAfter = time.Until(at)
		}
	}
	return apiErr
}

// expandPath fills the {name} placeholders of a path template, escaping
// each value as one path segment.
func expandPath(template string, params map[string]string) string {
	for name, value := range params {
		template = strings.ReplaceAll(template, "{"+name+"}", url.PathEscape(value))
	}
	return template
}

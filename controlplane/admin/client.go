package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ferryhq/ferry/protocol"
	"github.com/ferryhq/ferry/protocol/client"
)

// Client calls the admin API of one control plane. It is safe for
// concurrent use. Errors from the server are *client.APIError values.
type Client struct {
	baseURL    string
	token      string
	httpClient *http.Client
}

// NewClient returns a client for the control plane at baseURL, such as
// "http://127.0.0.1:8080", authenticating with the admin token.
func NewClient(baseURL, adminToken string) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("invalid control plane URL %q: want http(s)://host[:port]", baseURL)
	}
	return &Client{
		baseURL:    strings.TrimRight(baseURL, "/"),
		token:      adminToken,
		httpClient: &http.Client{Timeout: 2 * time.Minute},
	}, nil
}

// CreateCluster creates a cluster.
func (c *Client) CreateCluster(ctx context.Context, name string) (Cluster, error) {
	var out Cluster
	err := c.do(ctx, http.MethodPost, PathClusters, nil, CreateClusterRequest{Name: name}, &out)
	return out, err
}

// ListClusters lists all clusters.
func (c *Client) ListClusters(ctx context.Context) ([]Cluster, error) {
	var out []Cluster
	err := c.do(ctx, http.MethodGet, PathClusters, nil, nil, &out)
	return out, err
}

// GetCluster returns a cluster by ID or name.
func (c *Client) GetCluster(ctx context.Context, cluster string) (Cluster, error) {
	var out Cluster
	err := c.do(ctx, http.MethodGet, expand(PathCluster, "cluster", cluster), nil, nil, &out)
	return out, err
}

// CreateToken creates a registration token for a cluster (ID or name). The
// returned Token.Token is the secret, shown only here.
func (c *Client) CreateToken(ctx context.Context, cluster string) (Token, error) {
	var out Token
	err := c.do(ctx, http.MethodPost, expand(PathTokens, "cluster", cluster), nil, struct{}{}, &out)
	return out, err
}

// ListTokens lists a cluster's registration tokens, revoked ones included.
func (c *Client) ListTokens(ctx context.Context, cluster string) ([]Token, error) {
	var out []Token
	err := c.do(ctx, http.MethodGet, expand(PathTokens, "cluster", cluster), nil, nil, &out)
	return out, err
}

// RevokeToken revokes a registration token; the runners using it get 401 on
// their next call.
func (c *Client) RevokeToken(ctx context.Context, cluster, tokenID string) error {
	return c.do(ctx, http.MethodDelete, expand(expand(PathToken, "cluster", cluster), "tokenID", tokenID), nil, nil, nil)
}

// CreateConnection creates a connection.
func (c *Client) CreateConnection(ctx context.Context, req CreateConnectionRequest) (Connection, error) {
	var out Connection
	err := c.do(ctx, http.MethodPost, PathConnections, nil, req, &out)
	return out, err
}

// ListConnections lists all connections, without passwords.
func (c *Client) ListConnections(ctx context.Context) ([]Connection, error) {
	var out []Connection
	err := c.do(ctx, http.MethodGet, PathConnections, nil, nil, &out)
	return out, err
}

// GetConnection returns a connection by ID or name, without its password.
func (c *Client) GetConnection(ctx context.Context, connection string) (Connection, error) {
	var out Connection
	err := c.do(ctx, http.MethodGet, expand(PathConnection, "connection", connection), nil, nil, &out)
	return out, err
}

// UpdateConnection replaces the settings of a connection (ID or name). See
// UpdateConnectionRequest for how the password is kept, replaced or removed.
func (c *Client) UpdateConnection(ctx context.Context, connection string, req UpdateConnectionRequest) (Connection, error) {
	var out Connection
	err := c.do(ctx, http.MethodPut, expand(PathConnection, "connection", connection), nil, req, &out)
	return out, err
}

// CreateConfig creates a transfer configuration.
func (c *Client) CreateConfig(ctx context.Context, req CreateConfigRequest) (Config, error) {
	var out Config
	err := c.do(ctx, http.MethodPost, PathConfigs, nil, req, &out)
	return out, err
}

// GetConfig returns a transfer configuration by ID or name.
func (c *Client) GetConfig(ctx context.Context, config string) (Config, error) {
	var out Config
	err := c.do(ctx, http.MethodGet, expand(PathConfig, "config", config), nil, nil, &out)
	return out, err
}

// UpdateConfig replaces the settings of a transfer configuration (ID or
// name). The stored incremental position is kept unless the source or the
// incremental columns change.
func (c *Client) UpdateConfig(ctx context.Context, config string, req CreateConfigRequest) (Config, error) {
	var out Config
	err := c.do(ctx, http.MethodPut, expand(PathConfig, "config", config), nil, req, &out)
	return out, err
}

// ListConfigs lists all transfer configurations.
func (c *Client) ListConfigs(ctx context.Context) ([]Config, error) {
	var out []Config
	err := c.do(ctx, http.MethodGet, PathConfigs, nil, nil, &out)
	return out, err
}

// RunJob queues a job of a transfer configuration (ID or name). An empty
// jobType means transfer.
func (c *Client) RunJob(ctx context.Context, config string, jobType protocol.JobType) (Job, error) {
	var out Job
	err := c.do(ctx, http.MethodPost, PathJobs, nil, RunJobRequest{Config: config, Type: jobType}, &out)
	return out, err
}

// CancelJob cancels a job that has not finished.
func (c *Client) CancelJob(ctx context.Context, jobID string) (Job, error) {
	var out Job
	err := c.do(ctx, http.MethodPost, expand(PathJobCancel, "jobID", jobID), nil, struct{}{}, &out)
	return out, err
}

// GetJob returns one job.
func (c *Client) GetJob(ctx context.Context, jobID string) (Job, error) {
	var out Job
	err := c.do(ctx, http.MethodGet, expand(PathJob, "jobID", jobID), nil, nil, &out)
	return out, err
}

// JobListOptions filters ListJobs. Empty fields match everything.
type JobListOptions struct {
	// Config is a configuration ID or name.
	Config string
	// Cluster is a cluster ID or name.
	Cluster string
	// State is one job state. A job matches when it is in State or in any
	// of States.
	State protocol.JobState
	// States are job states; see State.
	States []protocol.JobState
	// Type is transfer or preview.
	Type protocol.JobType
	// Since matches jobs created at or after this time.
	Since time.Time
	// Until matches jobs created before this time.
	Until time.Time
	// Limit caps the number of jobs, newest first; 0 means 100.
	Limit int
}

// ListJobs lists jobs, newest first.
func (c *Client) ListJobs(ctx context.Context, opts JobListOptions) ([]Job, error) {
	q := url.Values{}
	setIf(q, "config", opts.Config)
	setIf(q, "cluster", opts.Cluster)
	states := make([]string, 0, len(opts.States)+1)
	if opts.State != "" {
		states = append(states, string(opts.State))
	}
	for _, st := range opts.States {
		states = append(states, string(st))
	}
	setIf(q, "state", strings.Join(states, ","))
	setIf(q, "type", string(opts.Type))
	if !opts.Since.IsZero() {
		q.Set("since", opts.Since.Format(time.RFC3339Nano))
	}
	if !opts.Until.IsZero() {
		q.Set("until", opts.Until.Format(time.RFC3339Nano))
	}
	if opts.Limit > 0 {
		q.Set("limit", strconv.Itoa(opts.Limit))
	}
	var out []Job
	err := c.do(ctx, http.MethodGet, PathJobs, q, nil, &out)
	return out, err
}

// ListRunners lists the runners of a cluster (ID or name), or all runners
// when cluster is empty.
func (c *Client) ListRunners(ctx context.Context, cluster string) ([]Runner, error) {
	q := url.Values{}
	setIf(q, "cluster", cluster)
	var out []Runner
	err := c.do(ctx, http.MethodGet, PathRunners, q, nil, &out)
	return out, err
}

// JobLogs returns up to limit log lines of a job that arrived after the
// line with ID after (0 for the first page). limit 0 means 1000.
func (c *Client) JobLogs(ctx context.Context, jobID string, after int64, limit int) (LogsResponse, error) {
	q := url.Values{}
	q.Set("after", strconv.FormatInt(after, 10))
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out LogsResponse
	err := c.do(ctx, http.MethodGet, expand(PathJobLogs, "jobID", jobID), q, nil, &out)
	return out, err
}

// JobProgress returns the progress history of a job, oldest sample first.
func (c *Client) JobProgress(ctx context.Context, jobID string) (ProgressResponse, error) {
	var out ProgressResponse
	err := c.do(ctx, http.MethodGet, expand(PathJobProgress, "jobID", jobID), nil, nil, &out)
	return out, err
}

// RevokeWebSession records that the web UI session id was signed out, so
// that every control plane sharing the database rejects it until expiresAt.
func (c *Client) RevokeWebSession(ctx context.Context, id string, expiresAt time.Time) error {
	return c.do(ctx, http.MethodPost, PathWebSessionsRevoked, nil, RevokeWebSessionRequest{ID: id, ExpiresAt: expiresAt}, nil)
}

// WebSessionRevoked reports whether the web UI session id was signed out
// and has not expired since.
func (c *Client) WebSessionRevoked(ctx context.Context, id string) (bool, error) {
	var out RevokedWebSession
	err := c.do(ctx, http.MethodGet, expand(PathWebSessionRevoked, "sessionID", id), nil, nil, &out)
	var apiErr *client.APIError
	if errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusNotFound {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, nil
}

func setIf(q url.Values, key, value string) {
	if value != "" {
		q.Set(key, value)
	}
}

func expand(template, name, value string) string {
	return strings.ReplaceAll(template, "{"+name+"}", url.PathEscape(value))
}

func (c *Client) do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	target := c.baseURL + path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("failed to encode the %s %s request: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return fmt.Errorf("failed to build the %s %s request: %w", method, path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.httpClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode/100 != 2 {
		apiErr := &client.APIError{StatusCode: resp.StatusCode, Code: protocol.CodeInternal}
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		var e protocol.Error
		if json.Unmarshal(raw, &e) == nil && e.Code != "" {
			apiErr.Code, apiErr.Message = e.Code, e.Message
		} else {
			apiErr.Message = strings.TrimSpace(string(raw))
		}
		return fmt.Errorf("%s %s: %w", method, path, apiErr)
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("failed to decode the response to %s %s: %w", method, path, err)
	}
	return nil
}

// NewHandlerClient returns a client that serves each call with handler in
// the same process, with no network connection in between. The web UI uses
// it so that every change it makes passes the admin API's own checks.
func NewHandlerClient(handler http.Handler, adminToken string) *Client {
	return &Client{
		baseURL:    "http://in-process",
		token:      adminToken,
		httpClient: &http.Client{Transport: handlerTransport{handler}},
	}
}

// handlerTransport is an http.RoundTripper that calls a handler directly.
type handlerTransport struct{ handler http.Handler }

func (t handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.handler.ServeHTTP(rec, req)
	return rec.Result(), nil
}

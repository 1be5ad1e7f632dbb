package runner

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	transferv1 "github.com/ferryhq/ferry/api/v1alpha1"
	"github.com/ferryhq/ferry/controllers/metrics"
	"github.com/ferryhq/ferry/protocol"
	"github.com/ferryhq/ferry/protocol/client"
)

// joinTimeout bounds one join call, retries included.
const joinTimeout = 60 * time.Second

// heartbeatSlack is added to the long-poll bound to get the timeout of one
// heartbeat call, so a connection that hangs is abandoned and polling goes on.
const heartbeatSlack = 30 * time.Second

// errNudged cancels a long poll that a TransferJob change made outdated.
var errNudged = errors.New("heartbeat replaced after a TransferJob change")

// tokenSecretError means the registration token could not be read from the
// runner's Secret.
type tokenSecretError struct {
	secret types.NamespacedName
	key    string
	reason string
}

func (e *tokenSecretError) Error() string {
	return fmt.Sprintf("token Secret %s %s; create it or set key %q to the cluster registration token", e.secret, e.reason, e.key)
}

// poller is one run of a runner's polling loop. It is used by one goroutine
// only, and replaced by a fresh one when that goroutine is restarted.
type poller struct {
	pollers *Pollers
	handle  *pollerHandle
	config  runnerConfig
	log     logr.Logger
	cp      *client.Client

	// join result; runnerID is empty until the join succeeds.
	runnerID    string
	clusterID   string
	clusterName string

	// pendingAcks are accepted assignments not yet acknowledged in a
	// successful heartbeat, keyed by job ID.
	pendingAcks map[string]protocol.JobRef
	// adoptedExisting is set once the TransferJobs found at start are
	// queued for acknowledgement.
	adoptedExisting bool

	failures int
	retry    *backoff.ExponentialBackOff
	status   statusWriter
}

func newPoller(s *Pollers, h *pollerHandle, log logr.Logger) *poller {
	p := &poller{
		pollers:     s,
		handle:      h,
		config:      h.config,
		log:         log,
		pendingAcks: map[string]protocol.JobRef{},
	}
	p.retry = backoff.NewExponentialBackOff()
	p.retry.InitialInterval = s.options.RetryInitialInterval
	p.retry.MaxInterval = s.options.RetryMaxInterval
	p.retry.RandomizationFactor = 0.5
	p.status = newStatusWriter(p)
	return p
}

// run joins and heartbeats until ctx ends.
func (p *poller) run(ctx context.Context) {
	opts := p.pollers.options
	cp, err := client.New(p.config.spec.ControlPlaneURL, p.readToken,
		client.WithHTTPClient(opts.HTTPClient),
		client.WithUserAgent("ferry-operator/"+opts.Version),
		client.WithRetry(client.RetryPolicy{MaxAttempts: 3, InitialInterval: 500 * time.Millisecond, MaxInterval: 5 * time.Second}))
	if err != nil {
		// The CRD pattern admits only http(s) URLs, so this is a URL without
		// a host: wait for the spec to change.
		p.status.setInvalidURL(ctx, transferv1.WithoutUserInfo(err))
		<-ctx.Done()
		return
	}
	p.cp = cp
	p.log.Info("Started poller", "controlPlaneURL", transferv1.RedactURL(p.config.spec.ControlPlaneURL), "generation", p.config.generation)
	p.status.setConnecting(ctx)

	for ctx.Err() == nil {
		started := p.pollers.clock.Now()
		// Errors of the HTTP client quote the URL, user information
		// included, and end up in logs and the status.
		if err := transferv1.WithoutUserInfo(p.step(ctx)); err != nil {
			if ctx.Err() != nil {
				break
			}
			p.sleep(ctx, p.handleFailure(ctx, err))
			continue
		}
		p.failures = 0
		p.retry.Reset()
		if len(p.pendingAcks) == 0 {
			p.sleep(ctx, opts.MinHeartbeatInterval-p.pollers.clock.Since(started))
		}
	}
	p.log.Info("Stopped poller")
}

// step joins if the runner has no ID yet, then sends one heartbeat and acts
// on its response.
func (p *poller) step(ctx context.Context) error {
	if p.runnerID == "" {
		if err := p.join(ctx); err != nil {
			return err
		}
	}
	return p.heartbeat(ctx)
}

// join registers the runner and records its ID in the status.
func (p *poller) join(ctx context.Context) error {
	joinCtx, cancel := context.WithTimeout(ctx, joinTimeout)
	defer cancel()
	resp, err := p.cp.Join(joinCtx, protocol.JoinRequest{
		Name:              p.config.key.String(),
		Version:           p.pollers.options.Version,
		MaxConcurrentJobs: int(p.config.spec.MaxConcurrentJobs),
		NoSendPreview:     p.config.spec.NoSendPreview,
	})
	if err != nil {
		return &callError{op: "join", err: err}
	}
	p.runnerID, p.clusterID, p.clusterName = resp.RunnerID, resp.ClusterID, resp.ClusterName
	p.log = p.log.WithValues("runnerID", p.runnerID, "clusterName", p.clusterName)
	p.log.Info(fmt.Sprintf("Joined cluster %q as runner %s", resp.ClusterName, resp.RunnerID))
	p.status.setJoined(ctx, resp)
	return nil
}

// callError is a failed control-plane call.
type callError struct {
	op  string
	err error
}

func (e *callError) Error() string { return fmt.Sprintf("%s failed: %v", e.op, e.err) }
func (e *callError) Unwrap() error { return e.err }

// kubeError is a failed read or write of Kubernetes objects.
type kubeError struct{ err error }

func (e *kubeError) Error() string { return e.err.Error() }
func (e *kubeError) Unwrap() error { return e.err }

// handleFailure records a failed step in the status and metrics, logs it,
// and returns how long to wait before the next attempt.
func (p *poller) handleFailure(ctx context.Context, err error) time.Duration {
	runner := p.config.key.String()
	var secretErr *tokenSecretError
	var kubeErr *kubeError
	switch {
	case errors.As(err, &secretErr):
		metrics.HeartbeatErrors.WithLabelValues(runner, "kubernetes").Inc()
		p.log.Error(err, "Cannot read the registration token; waiting for the Secret to change")
		p.status.setTokenSecretInvalid(ctx, secretErr)
		return p.pollers.options.UnauthorizedRetryInterval

	case client.IsUnauthorized(err):
		metrics.HeartbeatErrors.WithLabelValues(runner, "unauthorized").Inc()
		p.log.Error(err, "The control plane rejected the registration token; update the token Secret")
		p.status.setTokenRejected(ctx, err)
		p.runnerID = ""
		return p.pollers.options.UnauthorizedRetryInterval

	case p.runnerID != "" && (client.IsNotFound(err) || client.IsForbidden(err)):
		// The control plane has no runner with this ID, or the token now
		// belongs to another cluster. Joining again returns a valid ID.
		metrics.HeartbeatErrors.WithLabelValues(runner, causeOf(err)).Inc()
		p.log.Info("The control plane does not accept the runner ID; joining again", "error", err.Error())
		p.runnerID = ""
		return p.nextRetry(ctx, err)

	case errors.As(err, &kubeErr):
		metrics.HeartbeatErrors.WithLabelValues(runner, "kubernetes").Inc()
		p.log.Error(err, "Failed to read or write TransferJobs; retrying")
		return p.retry.NextBackOff()

	default:
		metrics.HeartbeatErrors.WithLabelValues(runner, causeOf(err)).Inc()
		if client.IsForbidden(err) {
			p.status.setTokenRejected(ctx, err)
			p.log.Error(err, "The control plane rejected the registration token; update the token Secret")
			return p.pollers.options.UnauthorizedRetryInterval
		}
		p.log.Error(err, "Control plane call failed; retrying", "consecutiveFailures", p.failures+1)
		return p.nextRetry(ctx, err)
	}
}

// nextRetry counts a failure, marks the runner Disconnected after
// DisconnectedAfter of them in a row, and returns the backoff.
func (p *poller) nextRetry(ctx context.Context, err error) time.Duration {
	p.failures++
	if p.failures >= p.pollers.options.DisconnectedAfter {
		p.status.setDisconnected(ctx, err, p.failures)
	}
	return p.retry.NextBackOff()
}

// causeOf returns the heartbeat error metric's cause label for err.
func causeOf(err error) string {
	switch code := client.StatusCode(err); {
	case code == http.StatusUnauthorized:
		return "unauthorized"
	case code == http.StatusForbidden:
		return "forbidden"
	case code == http.StatusNotFound:
		return "not_found"
	case code != 0:
		return "server"
	default:
		return "network"
	}
}

// sleep waits for d or until ctx ends.
func (p *poller) sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	select {
	case <-ctx.Done():
	case <-p.pollers.clock.After(d):
	}
}

// readToken is the client's TokenSource. It reads the registration token
// from the runner's Secret before every call, so a rotated token is sent at
// once.
func (p *poller) readToken(ctx context.Context) (string, error) {
	ref := p.config.spec.TokenSecretRef
	key := ref.Key
	if key == "" {
		key = transferv1.TokenSecretKey
	}
	name := types.NamespacedName{Namespace: p.config.key.Namespace, Name: ref.Name}
	var secret corev1.Secret
	if err := p.pollers.apiReader.Get(ctx, name, &secret); err != nil {
		if apierrors.IsNotFound(err) {
			return "", &tokenSecretError{secret: name, key: key, reason: "not found"}
		}
		return "", &kubeError{err: fmt.Errorf("failed to read token Secret %s: %w", name, err)}
	}
	token := strings.TrimSpace(string(secret.Data[key]))
	if token == "" {
		return "", &tokenSecretError{secret: name, key: key, reason: fmt.Sprintf("has no key %q or the value is empty", key)}
	}
	return token, nil
}

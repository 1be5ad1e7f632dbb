// Package runner contains the TransferRunner reconciler and the pollers it
// runs: one goroutine per TransferRunner that joins the control plane,
// long-polls heartbeats, turns assignments into TransferJobs and marks
// cancelled ones.
package runner

import (
	"context"
	"fmt"
	"net/http"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	transferv1 "github.com/ferryhq/ferry/api/v1alpha1"
	"github.com/ferryhq/ferry/controllers/metrics"
)

// Options tune the pollers. Zero fields take the defaults of DefaultOptions.
type Options struct {
	// Version is the operator version sent when joining.
	Version string
	// RetryInitialInterval is the first wait after a failed call to the
	// control plane. Later waits double, with ±50% jitter, up to
	// RetryMaxInterval.
	RetryInitialInterval time.Duration
	// RetryMaxInterval caps the wait between failed calls.
	RetryMaxInterval time.Duration
	// UnauthorizedRetryInterval is the wait after the control plane rejected
	// the token or the token Secret could not be read. A change to the
	// Secret restarts the poller sooner.
	UnauthorizedRetryInterval time.Duration
	// DisconnectedAfter is the number of consecutive failed calls after
	// which the runner's state becomes Disconnected.
	DisconnectedAfter int
	// StatusInterval is the least time between two status writes that
	// change only the heartbeat time or the running jobs.
	StatusInterval time.Duration
	// MinHeartbeatInterval is the least time between the starts of two
	// heartbeats when there is no acknowledgement to send, so a control
	// plane that responds at once cannot drive a tight loop.
	MinHeartbeatInterval time.Duration
	// HTTPClient sends the control-plane calls. Default: a new client that
	// relies on per-call timeouts.
	HTTPClient *http.Client
}

// DefaultOptions are the poller settings of the manager.
var DefaultOptions = Options{
	RetryInitialInterval:      time.Second,
	RetryMaxInterval:          30 * time.Second,
	UnauthorizedRetryInterval: 30 * time.Second,
	DisconnectedAfter:         3,
	StatusInterval:            5 * time.Second,
	MinHeartbeatInterval:      time.Second,
}

func (o Options) withDefaults() Options {
	d := DefaultOptions
	if o.RetryInitialInterval <= 0 {
		o.RetryInitialInterval = d.RetryInitialInterval
	}
	if o.RetryMaxInterval <= 0 {
		o.RetryMaxInterval = d.RetryMaxInterval
	}
	if o.UnauthorizedRetryInterval <= 0 {
		o.UnauthorizedRetryInterval = d.UnauthorizedRetryInterval
	}
	if o.DisconnectedAfter <= 0 {
		o.DisconnectedAfter = d.DisconnectedAfter
	}
	if o.StatusInterval <= 0 {
		o.StatusInterval = d.StatusInterval
	}
	if o.MinHeartbeatInterval <= 0 {
		o.MinHeartbeatInterval = d.MinHeartbeatInterval
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{}
	}
	return o
}

// runnerConfig is the snapshot of a TransferRunner that a poller runs with.
type runnerConfig struct {
	key        types.NamespacedName
	uid        types.UID
	generation int64
	// secretVersion is the resourceVersion of the token Secret, empty while
	// the Secret does not exist.
	secretVersion string
	spec          transferv1.TransferRunnerSpec
}

// sameRun reports whether a poller started with c can keep running for
// other: a new spec generation or a changed token Secret needs a restart.
func (c runnerConfig) sameRun(other runnerConfig) bool {
	return c.uid == other.uid && c.generation == other.generation && c.secretVersion == other.secretVersion
}

// pollWait returns the long-poll bound the poller requests.
func (c runnerConfig) pollWait() time.Duration {
	if c.spec.PollWaitSeconds <= 0 {
		return 25 * time.Second
	}
	return time.Duration(c.spec.PollWaitSeconds) * time.Second
}

// staleAfter returns how long a poller may go without a successful
// heartbeat before the readiness check fails.
func (c runnerConfig) staleAfter() time.Duration {
	return 3*c.pollWait() + 30*time.Second
}

// Pollers starts, restarts and stops one poller per TransferRunner. The
// reconciler declares what should run with Ensure and Remove. Pollers run
// only between Start and the end of its context, and the manager calls
// Start on the elected leader only.
type Pollers struct {
	client    client.Client
	apiReader client.Reader
	clock     clock.Clock
	log       logr.Logger
	options   Options

	mu      sync.Mutex
	ctx     context.Context // nil until Start
	desired map[types.NamespacedName]runnerConfig
	running map[types.NamespacedName]*pollerHandle
}

// pollerHandle is one running poller goroutine.
type pollerHandle struct {
	config  runnerConfig
	cancel  context.CancelFunc
	done    chan struct{}
	nudge   chan struct{}
	started time.Time

	mu            sync.Mutex
	lastHeartbeat time.Time
}

func (h *pollerHandle) heartbeatSucceeded(at time.Time) {
	h.mu.Lock()
	h.lastHeartbeat = at
	h.mu.Unlock()
}

// lastProgress returns the time of the last successful heartbeat, or the
// start time before the first one.
func (h *pollerHandle) lastProgress() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.lastHeartbeat.IsZero() {
		return h.started
	}
	return h.lastHeartbeat
}

var _ manager.LeaderElectionRunnable = (*Pollers)(nil)

// NewPollers returns a Pollers that writes with c, reads TransferJobs and
// Secrets with apiReader (uncached, so free slots are counted from current
// data) and logs to log.
func NewPollers(c client.Client, apiReader client.Reader, clk clock.Clock, log logr.Logger, opts Options) *Pollers {
	return &Pollers{
		client:    c,
		apiReader: apiReader,
		clock:     clk,
		log:       log,
		options:   opts.withDefaults(),
		desired:   map[types.NamespacedName]runnerConfig{},
		running:   map[types.NamespacedName]*pollerHandle{},
	}
}

// NeedLeaderElection returns true: only the leader polls, so two manager
// replicas never take the same assignment twice.
func (s *Pollers) NeedLeaderElection() bool { return true }

// Start runs the declared pollers and those declared later, until ctx ends;
// then it stops them all and returns once they have returned.
func (s *Pollers) Start(ctx context.Context) error {
	s.mu.Lock()
	s.ctx = ctx
	for key, cfg := range s.desired {
		s.startLocked(key, cfg)
	}
	s.mu.Unlock()

	<-ctx.Done()

	s.mu.Lock()
	handles := make([]*pollerHandle, 0, len(s.running))
	for key, h := range s.running {
		h.cancel()
		handles = append(handles, h)
		delete(s.running, key)
	}
	s.mu.Unlock()
	for _, h := range handles {
		<-h.done
	}
	return nil
}

// Ensure makes a poller run with cfg: it starts one if none runs, and
// restarts the running one if its spec generation or token Secret changed.
// It waits for a replaced poller to return, so two pollers of one runner
// never overlap.
func (s *Pollers) Ensure(cfg runnerConfig) {
	s.mu.Lock()
	s.desired[cfg.key] = cfg
	old := s.running[cfg.key]
	if s.ctx == nil || (old != nil && old.config.sameRun(cfg)) {
		s.mu.Unlock()
		return
	}
	if old != nil {
		old.cancel()
		delete(s.running, cfg.key)
	}
	s.mu.Unlock()

	if old != nil {
		<-old.done
		s.log.Info("Restarting poller after a change to the TransferRunner or its token Secret",
			"transferRunner", cfg.key, "generation", cfg.generation)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	// Another Ensure may have started a poller while the lock was released.
	if current, ok := s.desired[cfg.key]; ok && current.sameRun(cfg) && s.running[cfg.key] == nil && s.ctx.Err() == nil {
		s.startLocked(cfg.key, cfg)
	}
}

// Remove stops the poller of a deleted TransferRunner and waits for it to
// return.
func (s *Pollers) Remove(key types.NamespacedName) {
	s.mu.Lock()
	delete(s.desired, key)
	h := s.running[key]
	delete(s.running, key)
	s.mu.Unlock()
	if h == nil {
		return
	}
	h.cancel()
	<-h.done
	metrics.DeleteRunner(key.String())
	s.log.Info("Stopped poller of deleted TransferRunner", "transferRunner", key)
}

// Nudge signals the poller of key that one of its TransferJobs changed, so
// that a long poll sent with no free slot is replaced by a fresh heartbeat.
func (s *Pollers) Nudge(key types.NamespacedName) {
	s.mu.Lock()
	h := s.running[key]
	s.mu.Unlock()
	if h == nil {
		return
	}
	select {
	case h.nudge <- struct{}{}:
	default:
	}
}

// Running returns the keys of the running pollers, sorted.
func (s *Pollers) Running() []types.NamespacedName {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]types.NamespacedName, 0, len(s.running))
	for key := range s.running {
		keys = append(keys, key)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	return keys
}

// ReadyCheck is a readiness check: it fails while any running poller has
// gone 3 × pollWaitSeconds + 30 s without a successful heartbeat, which
// includes a runner whose token is rejected.
func (s *Pollers) ReadyCheck(_ *http.Request) error {
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	var stale []string
	for key, h := range s.running {
		if since := now.Sub(h.lastProgress()); since > h.config.staleAfter() {
			stale = append(stale, fmt.Sprintf("%s (%s)", key, since.Round(time.Second)))
		}
	}
	if len(stale) == 0 {
		return nil
	}
	sort.Strings(stale)
	return fmt.Errorf("no successful heartbeat for too long from TransferRunners %s; see their status conditions", strings.Join(stale, ", "))
}

// startLocked starts the poller goroutine of key. s.mu must be held and
// s.ctx set.
func (s *Pollers) startLocked(key types.NamespacedName, cfg runnerConfig) {
	ctx, cancel := context.WithCancel(s.ctx)
	h := &pollerHandle{
		config:  cfg,
		cancel:  cancel,
		done:    make(chan struct{}),
		nudge:   make(chan struct{}, 1),
		started: s.clock.Now(),
	}
	s.running[key] = h
	go s.supervise(ctx, h)
}

// supervise runs a poller until ctx ends. A panicking poller is logged and
// started again, fresh, after a backoff: a runner never stops polling
// silently.
func (s *Pollers) supervise(ctx context.Context, h *pollerHandle) {
	defer close(h.done)
	log := s.log.WithValues("transferRunner", h.config.key)
	restarts := backoff.NewExponentialBackOff()
	restarts.InitialInterval = s.options.RetryInitialInterval
	restarts.MaxInterval = s.options.RetryMaxInterval
	for {
		p := newPoller(s, h, log)
		s.runProtected(ctx, p, log)
		if ctx.Err() != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-s.clock.After(restarts.NextBackOff()):
		}
	}
}

// runProtected runs p and turns a panic into a log line and a metric.
func (s *Pollers) runProtected(ctx context.Context, p *poller, log logr.Logger) {
	defer func() {
		if r := recover(); r != nil {
			metrics.PollerRestarts.WithLabelValues(p.config.key.String()).Inc()
			log.Error(fmt.Errorf("panic: %v", r), "Poller panicked, restarting it", "stack", string(debug.Stack()))
		}
	}()
	p.run(ctx)
}

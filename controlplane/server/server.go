// Package server is the reference control plane's HTTP server: the runner
// protocol under /runner/v1, the admin API under /api/v1, job dispatch and
// the sweeper that ends leases, silent runners and lost jobs.
package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/ferryhq/ferry/controlplane/admin"
	"github.com/ferryhq/ferry/controlplane/secrets"
	"github.com/ferryhq/ferry/controlplane/store"
	"github.com/ferryhq/ferry/protocol"
)

// Defaults of Options.
const (
	DefaultLeaseDuration  = 60 * time.Second
	DefaultMaxAttempts    = 3
	DefaultJobTokenGrace  = 2 * time.Minute
	DefaultLostAfter      = 30 * time.Second
	DefaultOfflineFloor   = 25 * time.Second
	DefaultResultWait     = 2 * time.Minute
	DefaultSweepInterval  = time.Second
	offlineBoundMultiples = 3
)

// Options configures a Server. Store, Sealer and AdminToken are required.
type Options struct {
	Store  store.Store
	Sealer *secrets.Sealer
	// AdminToken authenticates admin API calls.
	AdminToken string
	// Clock is the time source of leases, timeouts and long polls. Default:
	// the real clock.
	Clock clock.Clock
	// Logger receives request and state change logs. Default: slog.Default().
	Logger *slog.Logger
	// LeaseDuration is how long a runner has to acknowledge an assignment.
	LeaseDuration time.Duration
	// MaxAttempts is how many times a job is assigned before an expired
	// lease fails it with LeaseExpired.
	MaxAttempts int
	// JobTokenGrace is how long a job token keeps working after its job
	// ended, so that the last log lines and the result still land.
	JobTokenGrace time.Duration
	// LostAfter fails an accepted or running job as LostByRunner when its
	// runner has left it out of heartbeats for this long (or of two
	// heartbeats in a row).
	LostAfter time.Duration
	// OfflineFloor is the least silence that makes a runner OFFLINE; the
	// bound is 3 × max(the runner's long-poll wait, OfflineFloor).
	OfflineFloor time.Duration
	// ResultWait fails a job as ResultMissing when the runner reported
	// success and the engine's result has not arrived after this long.
	ResultWait time.Duration
	// SweepInterval is how often Run sweeps; 0 means DefaultSweepInterval.
	SweepInterval time.Duration
}

// Server serves the runner protocol and the admin API.
type Server struct {
	opts    Options
	store   store.Store
	clock   clock.Clock
	log     *slog.Logger
	hub     *hub
	handler http.Handler

	// startedAt is when this server was created. Runners could not reach a
	// server that was down, so their silence and their leases are measured
	// from no earlier than this.
	startedAt time.Time

	// closed ends every long poll at once when the server stops.
	closeOnce sync.Once
	closed    chan struct{}
}

// New returns a Server. Call Run to start its background work.
func New(opts Options) (*Server, error) {
	if opts.Store == nil {
		return nil, errors.New("server: Options.Store is required")
	}
	if opts.Sealer == nil {
		return nil, errors.New("server: Options.Sealer is required")
	}
	if opts.AdminToken == "" {
		return nil, errors.New("server: Options.AdminToken is required")
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	setDefault(&opts.LeaseDuration, DefaultLeaseDuration)
	setDefault(&opts.JobTokenGrace, DefaultJobTokenGrace)
	setDefault(&opts.LostAfter, DefaultLostAfter)
	setDefault(&opts.OfflineFloor, DefaultOfflineFloor)
	setDefault(&opts.ResultWait, DefaultResultWait)
	setDefault(&opts.SweepInterval, DefaultSweepInterval)
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = DefaultMaxAttempts
	}
	s := &Server{
		opts:   opts,
		store:  opts.Store,
		clock:  opts.Clock,
		log:    opts.Logger,
		hub:    newHub(),
		closed: make(chan struct{}),

		startedAt: opts.Clock.Now(),
	}
	s.handler = s.logRequests(s.routes())
	return s, nil
}

func setDefault(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}

// Handler returns the HTTP handler of both APIs.
func (s *Server) Handler() http.Handler { return s.handler }

// Run sweeps periodically and, on PostgreSQL, relays wake-ups from other
// replicas, until ctx ends. It then ends the open long polls.
func (s *Server) Run(ctx context.Context) error {
	defer s.Close()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = s.store.Listen(ctx, s.relay)
	}()

	ticker := time.NewTicker(s.opts.SweepInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return nil
		case <-ticker.C:
			if err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("Sweep failed", "error", err)
			}
		}
	}
}

// Close ends the open long polls with empty responses. It does not close
// the store.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.closed) })
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+admin.PathHealth, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})

	// Runner protocol.
	mux.HandleFunc("POST "+protocol.PathJoin, s.handleJoin)
	mux.HandleFunc("POST "+protocol.PathHeartbeat, s.handleHeartbeat)
	mux.HandleFunc("POST "+protocol.PathJobStatus, s.handleJobStatus)
	mux.HandleFunc("GET "+protocol.PathJobSpec, s.handleJobSpec)
	mux.HandleFunc("POST "+protocol.PathJobLogs, s.handleJobLogs)
	mux.HandleFunc("POST "+protocol.PathJobProgress, s.handleJobProgress)
	mux.HandleFunc("POST "+protocol.PathJobPreview, s.handleJobPreview)
	mux.HandleFunc("POST "+protocol.PathJobResult, s.handleJobResult)

	// Admin API.
	s.adminRoute(mux, "POST "+admin.PathClusters, s.handleCreateCluster)
	s.adminRoute(mux, "GET "+admin.PathClusters, s.handleListClusters)
	s.adminRoute(mux, "GET "+admin.PathCluster, s.handleGetCluster)
	s.adminRoute(mux, "POST "+admin.PathTokens, s.handleCreateToken)
	s.adminRoute(mux, "GET "+admin.PathTokens, s.handleListTokens)
	s.adminRoute(mux, "DELETE "+admin.PathToken, s.handleRevokeToken)
	s.adminRoute(mux, "POST "+admin.PathConnections, s.handleCreateConnection)
	s.adminRoute(mux, "GET "+admin.PathConnections, s.handleListConnections)
	s.adminRoute(mux, "GET "+admin.PathConnection, s.handleGetConnection)
	s.adminRoute(mux, "PUT "+admin.PathConnection, s.handleUpdateConnection)
	s.adminRoute(mux, "POST "+admin.PathConfigs, s.handleCreateConfig)
	s.adminRoute(mux, "GET "+admin.PathConfigs, s.handleListConfigs)
	s.adminRoute(mux, "GET "+admin.PathConfig, s.handleGetConfig)
	s.adminRoute(mux, "PUT "+admin.PathConfig, s.handleUpdateConfig)
	s.adminRoute(mux, "POST "+admin.PathJobs, s.handleRunJob)
	s.adminRoute(mux, "GET "+admin.PathJobs, s.handleListJobs)
	s.adminRoute(mux, "GET "+admin.PathJob, s.handleGetJob)
	s.adminRoute(mux, "POST "+admin.PathJobCancel, s.handleCancelJob)
	s.adminRoute(mux, "GET "+admin.PathJobLogs, s.handleJobLogsAdmin)
	s.adminRoute(mux, "GET "+admin.PathJobProgress, s.handleJobProgressAdmin)
	s.adminRoute(mux, "GET "+admin.PathRunners, s.handleListRunners)
	s.adminRoute(mux, "POST "+admin.PathWebSessionsRevoked, s.handleRevokeWebSession)
	s.adminRoute(mux, "GET "+admin.PathWebSessionRevoked, s.handleGetRevokedWebSession)

	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, errorf(http.StatusNotFound, "no such endpoint: %s %s", r.Method, r.URL.Path))
	})
	return mux
}

// Wake-up messages between replicas: a cluster ID prefixed with the kind.
const (
	wakeJobPrefix    = "job:"
	wakeCancelPrefix = "cancel:"
)

// wakeForJob wakes one long poll of a cluster on this replica and one on
// each of the others, because a job is queued.
func (s *Server) wakeForJob(ctx context.Context, clusterID string) {
	s.hub.wakeOne(clusterID)
	s.notify(ctx, wakeJobPrefix+clusterID)
}

// wakeForCancel wakes every long poll of a cluster on every replica,
// because a cancellation may be waiting.
func (s *Server) wakeForCancel(ctx context.Context, clusterID string) {
	s.hub.broadcast(clusterID)
	s.notify(ctx, wakeCancelPrefix+clusterID)
}

func (s *Server) notify(ctx context.Context, msg string) {
	if err := s.store.Notify(ctx, msg); err != nil {
		s.log.Warn("Failed to notify other replicas", "message", msg, "error", err)
	}
}

// relay applies a wake-up from another replica. The empty message, sent
// after the store reconnects, wakes every long poll to look again.
func (s *Server) relay(msg string) {
	switch {
	case strings.HasPrefix(msg, wakeJobPrefix):
		s.hub.wakeOne(strings.TrimPrefix(msg, wakeJobPrefix))
	case strings.HasPrefix(msg, wakeCancelPrefix):
		s.hub.broadcast(strings.TrimPrefix(msg, wakeCancelPrefix))
	default:
		s.hub.broadcast("")
	}
}

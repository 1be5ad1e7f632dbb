// Package cptest runs the real control plane in-process for tests.
//
//	env := cptest.Start(t)
//	cluster, token := env.CreateCluster(t, "tokyo")
//	cfg := env.CreateSQLiteConfig(t, cluster.Name, "orders")
//	job, _ := env.Admin.RunJob(ctx, cfg.ID, protocol.JobTransfer)
//
// The server listens on 127.0.0.1 on a free port and keeps its state in a
// SQLite file under t.TempDir(), or in the PostgreSQL database given with
// WithDSN. Stop and Restart simulate the control plane going down and
// coming back on the same address with the same state.
package cptest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/utils/clock"

	"github.com/ferryhq/ferry/controlplane/admin"
	"github.com/ferryhq/ferry/controlplane/secrets"
	"github.com/ferryhq/ferry/controlplane/server"
	"github.com/ferryhq/ferry/controlplane/store"
	"github.com/ferryhq/ferry/controlplane/web"
	"github.com/ferryhq/ferry/protocol"
	"github.com/ferryhq/ferry/protocol/client"
)

// Env is a running control plane.
type Env struct {
	// URL is the server's base URL, such as http://127.0.0.1:41234.
	URL string
	// Admin calls the admin API with AdminToken.
	Admin *admin.Client
	// AdminToken is the admin API's bearer token.
	AdminToken string
	// Clock is the server's clock: the real one unless WithClock was given.
	Clock clock.Clock
	// DSN is the database the server uses.
	DSN string
	// EncryptionKey is the base64 key that seals connection passwords. A
	// second Env on the same database needs it, through WithEncryptionKey.
	EncryptionKey string

	t       testing.TB
	cfg     config
	sealer  *secrets.Sealer
	addr    string
	mu      sync.Mutex
	running *instance
}

// instance is one start of the server.
type instance struct {
	store  *store.DB
	server *server.Server
	ui     *web.UI
	http   *http.Server
	cancel context.CancelFunc
	done   chan struct{}
}

type config struct {
	clock      clock.Clock
	dsn        string
	logger     *slog.Logger
	key        string
	adminToken string
	serverOpt  func(*server.Options)
}

// Option configures Start.
type Option func(*config)

// WithClock makes the server use clk, such as a *testingclock.FakeClock
// from k8s.io/utils/clock/testing, for leases, timeouts and long polls.
func WithClock(clk clock.Clock) Option { return func(c *config) { c.clock = clk } }

// WithDSN stores state in the given database, such as a PostgreSQL URL,
// instead of a new SQLite file.
func WithDSN(dsn string) Option { return func(c *config) { c.dsn = dsn } }

// WithEncryptionKey seals connection passwords with key, a base64 key such
// as another Env's EncryptionKey, instead of a new random key.
func WithEncryptionKey(key string) Option { return func(c *config) { c.key = key } }

// WithAdminToken uses token as the admin token, such as another Env's
// AdminToken, instead of a new random one. Two Envs on one database need
// the same token for the web UI's session cookies to work on both.
func WithAdminToken(token string) Option { return func(c *config) { c.adminToken = token } }

// WithLogger sends the server's logs to l. By default they go to t.Log at
// info level.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithServerOptions lets f change the server options (lease duration,
// attempts, grace periods) before each start.
func WithServerOptions(f func(*server.Options)) Option { return func(c *config) { c.serverOpt = f } }

// Start runs a control plane until the test ends.
func Start(t testing.TB, opts ...Option) *Env {
	t.Helper()
	cfg := config{clock: clock.RealClock{}}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.dsn == "" {
		cfg.dsn = "sqlite://" + filepath.Join(t.TempDir(), "ferry.db")
	}
	if cfg.logger == nil {
		w := &testWriter{t: t}
		// Registered before Stop, so it runs after Stop: t.Log panics once
		// the test has completed.
		t.Cleanup(w.close)
		cfg.logger = slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	keyText := cfg.key
	if keyText == "" {
		var err error
		if keyText, err = secrets.NewKey(); err != nil {
			t.Fatal(err)
		}
	}
	key, err := secrets.ParseKey(keyText)
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := secrets.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	adminToken := cfg.adminToken
	if adminToken == "" {
		if adminToken, err = secrets.NewToken("ferry_admin_"); err != nil {
			t.Fatal(err)
		}
	}
	e := &Env{AdminToken: adminToken, Clock: cfg.clock, DSN: cfg.dsn, EncryptionKey: keyText, t: t, cfg: cfg, sealer: sealer, addr: "127.0.0.1:0"}
	if err := e.start(); err != nil {
		t.Fatalf("cptest: failed to start the control plane: %v", err)
	}
	e.Admin, err = admin.NewClient(e.URL, adminToken)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Stop)
	return e
}

func (e *Env) start() error {
	ctx := context.Background()
	db, err := store.Open(ctx, e.cfg.dsn)
	if err != nil {
		return err
	}
	if err := server.CheckEncryptionKey(ctx, db, e.sealer); err != nil {
		_ = db.Close()
		return err
	}
	opts := server.Options{Store: db, Sealer: e.sealer, AdminToken: e.AdminToken, Clock: e.cfg.clock, Logger: e.cfg.logger}
	if e.cfg.serverOpt != nil {
		e.cfg.serverOpt(&opts)
	}
	srv, err := server.New(opts)
	if err != nil {
		_ = db.Close()
		return err
	}
	ln, err := listen(e.addr)
	if err != nil {
		_ = db.Close()
		return err
	}
	e.addr = ln.Addr().String()
	e.URL = "http://" + e.addr

	ui, err := web.New(web.Options{API: admin.NewHandlerClient(srv.Handler(), e.AdminToken),
		AdminToken: e.AdminToken, Logger: e.cfg.logger, Now: e.cfg.clock.Now})
	if err != nil {
		_ = ln.Close()
		_ = db.Close()
		return err
	}
	runCtx, cancel := context.WithCancel(ctx)
	inst := &instance{store: db, server: srv, ui: ui, cancel: cancel, done: make(chan struct{}),
		http: &http.Server{Handler: ui.Mount(srv.Handler()), ReadHeaderTimeout: 10 * time.Second}}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		_ = srv.Run(runCtx)
	}()
	go func() {
		defer wg.Done()
		if err := inst.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			e.t.Logf("cptest: control plane HTTP server stopped: %v", err)
		}
	}()
	go func() {
		wg.Wait()
		close(inst.done)
	}()
	e.mu.Lock()
	e.running = inst
	e.mu.Unlock()
	return nil
}

// listen binds addr, retrying for a few seconds while a previous instance
// releases the port.
func listen(addr string) (net.Listener, error) {
	var lastErr error
	for range 50 {
		ln, err := net.Listen("tcp", addr)
		if err == nil {
			return ln, nil
		}
		lastErr = err
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil, fmt.Errorf("failed to listen on %s: %w", addr, lastErr)
}

// Stop stops the server and closes its store; calls after the first do
// nothing. Open long polls return empty responses, and later calls fail
// to connect until Restart.
func (e *Env) Stop() {
	e.mu.Lock()
	inst := e.running
	e.running = nil
	e.mu.Unlock()
	if inst == nil {
		return
	}
	inst.server.Close()
	inst.ui.Close()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = inst.http.Shutdown(shutdownCtx)
	inst.cancel()
	<-inst.done
	_ = inst.store.Close()
}

// Restart stops the server if it runs and starts it again on the same
// address with the same database, keys and admin token.
func (e *Env) Restart() {
	e.t.Helper()
	e.Stop()
	if err := e.start(); err != nil {
		e.t.Fatalf("cptest: failed to restart the control plane: %v", err)
	}
}

// Server returns the running server, for Sweep.
func (e *Env) Server() *server.Server {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.running == nil {
		return nil
	}
	return e.running.server
}

// Store returns the running server's store.
func (e *Env) Store() store.Store {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.running == nil {
		return nil
	}
	return e.running.store
}

// Sweep runs one sweep now: expired leases, silent runners, missing results.
// Tests with a fake clock call it after stepping the clock.
func (e *Env) Sweep(t testing.TB) {
	t.Helper()
	srv := e.Server()
	if srv == nil {
		t.Fatal("cptest: Sweep called while the control plane is stopped")
	}
	if err := srv.Sweep(context.Background()); err != nil {
		t.Fatalf("cptest: sweep failed: %v", err)
	}
}

// CreateCluster creates a cluster and one registration token for it, and
// returns both.
func (e *Env) CreateCluster(t testing.TB, name string) (admin.Cluster, string) {
	t.Helper()
	ctx := context.Background()
	c, err := e.Admin.CreateCluster(ctx, name)
	if err != nil {
		t.Fatalf("cptest: failed to create cluster %q: %v", name, err)
	}
	tok, err := e.Admin.CreateToken(ctx, c.ID)
	if err != nil {
		t.Fatalf("cptest: failed to create a token for cluster %q: %v", name, err)
	}
	return c, tok.Token
}

// CreateSQLiteConfig creates two SQLite connections under t.TempDir() and a
// transfer configuration named name in the cluster that copies table
// "items" from the first to the second. The files need not exist for the
// control plane; a real engine needs the source table.
func (e *Env) CreateSQLiteConfig(t testing.TB, cluster, name string) admin.Config {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	src, err := e.Admin.CreateConnection(ctx, admin.CreateConnectionRequest{Name: name + "-src", Type: "sqlite", Path: filepath.Join(dir, "src.db")})
	if err != nil {
		t.Fatalf("cptest: failed to create the source connection: %v", err)
	}
	dst, err := e.Admin.CreateConnection(ctx, admin.CreateConnectionRequest{Name: name + "-dst", Type: "sqlite", Path: filepath.Join(dir, "dst.db")})
	if err != nil {
		t.Fatalf("cptest: failed to create the destination connection: %v", err)
	}
	cfg, err := e.Admin.CreateConfig(ctx, admin.CreateConfigRequest{
		Name: name, Cluster: cluster,
		Source:      admin.ConfigSource{Connection: src.ID, Table: "items"},
		Destination: admin.ConfigDestination{Connection: dst.ID, Table: "items"},
	})
	if err != nil {
		t.Fatalf("cptest: failed to create config %q: %v", name, err)
	}
	return cfg
}

// RunnerClient returns a protocol client that authenticates with token (a
// registration or job token) and retries quickly.
func (e *Env) RunnerClient(t testing.TB, token string) *client.Client {
	t.Helper()
	c, err := client.New(e.URL, client.StaticToken(token),
		client.WithRetry(client.RetryPolicy{MaxAttempts: 3, InitialInterval: 10 * time.Millisecond, MaxInterval: 100 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// WaitJobState polls the job until it reaches state or timeout passes, and
// returns the job as last read.
func (e *Env) WaitJobState(t testing.TB, jobID string, state protocol.JobState, timeout time.Duration) admin.Job {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		job, err := e.Admin.GetJob(context.Background(), jobID)
		if err == nil && job.State == state {
			return job
		}
		if time.Now().After(deadline) {
			t.Fatalf("cptest: job %s is %s after %s, want %s (last error: %v)", jobID, job.State, timeout, state, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// testWriter sends log output to t.Log until the test ends.
type testWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (w *testWriter) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.done = true
}

var _ io.Writer = (*testWriter)(nil)

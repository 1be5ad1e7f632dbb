package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"

	"github.com/ferryhq/ferry/controlplane/admin"
	"github.com/ferryhq/ferry/controlplane/cptest"
	"github.com/ferryhq/ferry/internal/testdb"
	"github.com/ferryhq/ferry/protocol"
	"github.com/ferryhq/ferry/protocol/client"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

// harness is a control plane on a fake clock.
type harness struct {
	t   *testing.T
	env *cptest.Env
	clk *testingclock.FakeClock
	ctx context.Context
}

// eachStore runs fn against a fresh control plane on SQLite and on
// PostgreSQL.
func eachStore(t *testing.T, fn func(t *testing.T, h *harness), opts ...cptest.Option) {
	t.Run("sqlite", func(t *testing.T) { fn(t, newHarness(t, "", opts...)) })
	t.Run("postgres", func(t *testing.T) {
		pg := testdb.Postgres(t)
		fn(t, newHarness(t, pg.DSN(pg.NewDatabase(t)), opts...))
	})
}

func newHarness(t *testing.T, dsn string, opts ...cptest.Option) *harness {
	clk := testingclock.NewFakeClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	all := append([]cptest.Option{cptest.WithClock(clk)}, opts...)
	if dsn != "" {
		all = append(all, cptest.WithDSN(dsn))
	}
	return &harness{t: t, env: cptest.Start(t, all...), clk: clk, ctx: context.Background()}
}

// setup creates a cluster, a SQLite transfer configuration and a runner.
func (h *harness) setup() (admin.Config, string, *testRunner) {
	h.t.Helper()
	cluster, token := h.env.CreateCluster(h.t, "tokyo")
	cfg := h.env.CreateSQLiteConfig(h.t, cluster.Name, "orders")
	return cfg, token, h.join(token, "ns/runner", 4)
}

func (h *harness) runJob(cfg admin.Config, typ protocol.JobType) admin.Job {
	h.t.Helper()
	job, err := h.env.Admin.RunJob(h.ctx, cfg.ID, typ)
	if err != nil {
		h.t.Fatalf("RunJob: %v", err)
	}
	return job
}

func (h *harness) job(id string) admin.Job {
	h.t.Helper()
	job, err := h.env.Admin.GetJob(h.ctx, id)
	if err != nil {
		h.t.Fatalf("GetJob %s: %v", id, err)
	}
	return job
}

func (h *harness) sweep() { h.env.Sweep(h.t) }

type testRunner struct {
	h  *harness
	id string
	c  *client.Client
}

func (h *harness) join(token, name string, maxJobs int) *testRunner {
	h.t.Helper()
	c := h.env.RunnerClient(h.t, token)
	resp, err := c.Join(h.ctx, protocol.JoinRequest{Name: name, MaxConcurrentJobs: maxJobs})
	if err != nil {
		h.t.Fatalf("Join: %v", err)
	}
	return &testRunner{h: h, id: resp.RunnerID, c: c}
}

// heartbeat sends req and returns the response. When the server has nothing
// to hand out and starts to long-poll, the call is abandoned and an empty
// response returned, so the test never waits on the fake clock.
func (r *testRunner) heartbeat(req protocol.HeartbeatRequest) protocol.HeartbeatResponse {
	r.h.t.Helper()
	resp, err := r.tryHeartbeat(req)
	if err != nil {
		r.h.t.Fatalf("Heartbeat: %v", err)
	}
	return resp
}

func (r *testRunner) tryHeartbeat(req protocol.HeartbeatRequest) (protocol.HeartbeatResponse, error) {
	if req.State == "" {
		req.State = protocol.RunnerIdle
	}
	ctx, cancel := context.WithCancel(r.h.ctx)
	defer cancel()
	type result struct {
		resp protocol.HeartbeatResponse
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := r.c.Heartbeat(ctx, r.id, req)
		done <- result{resp, err}
	}()
	for {
		select {
		case res := <-done:
			if res.err != nil && ctx.Err() != nil {
				r.h.waitNoWaiters()
				return protocol.HeartbeatResponse{}, nil
			}
			return res.resp, res.err
		case <-time.After(2 * time.Millisecond):
			if r.h.clk.HasWaiters() {
				cancel()
			}
		}
	}
}

// waitNoWaiters waits until no long poll holds a fake-clock timer.
func (h *harness) waitNoWaiters() {
	for h.clk.HasWaiters() {
		time.Sleep(time.Millisecond)
	}
}

// waitForLongPoll waits until a long poll holds a fake-clock timer.
func (h *harness) waitForLongPoll() {
	deadline := time.Now().Add(10 * time.Second)
	for !h.clk.HasWaiters() {
		if time.Now().After(deadline) {
			h.t.Fatal("no heartbeat started to long-poll within 10s")
		}
		time.Sleep(time.Millisecond)
	}
}

// assign queues a job and has the runner take it; it returns the assignment.
func (h *harness) assign(r *testRunner, cfg admin.Config, typ protocol.JobType) protocol.Assignment {
	h.t.Helper()
	job := h.runJob(cfg, typ)
	resp := r.heartbeat(protocol.HeartbeatRequest{FreeSlots: 1})
	for _, a := range resp.Assignments {
		if a.JobID == job.ID {
			return a
		}
	}
	h.t.Fatalf("heartbeat assigned %+v, want job %s", resp.Assignments, job.ID)
	return protocol.Assignment{}
}

// accept acknowledges an assignment and reports the job running.
func (h *harness) accept(r *testRunner, a protocol.Assignment) {
	h.t.Helper()
	r.heartbeat(protocol.HeartbeatRequest{State: protocol.RunnerActive, Accepted: []protocol.JobRef{{JobID: a.JobID, Epoch: a.Epoch}}})
	if got := h.job(a.JobID).State; got != protocol.StateAccepted {
		h.t.Fatalf("state after ack = %s, want accepted", got)
	}
}

func (h *harness) status(r *testRunner, a protocol.Assignment, phase protocol.JobPhase, reason string) protocol.JobState {
	h.t.Helper()
	resp, err := r.c.ReportJobStatus(h.ctx, r.id, a.JobID, protocol.JobStatusRequest{Epoch: a.Epoch, Phase: phase, Reason: reason})
	if err != nil {
		h.t.Fatalf("ReportJobStatus %s: %v", phase, err)
	}
	return resp.State
}

func (h *harness) pod(a protocol.Assignment) *client.Client {
	return h.env.RunnerClient(h.t, a.JobToken)
}

// call sends a raw request and returns the status and decoded error body.
func (h *harness) call(method, path, token string, body []byte) (int, protocol.Error) {
	h.t.Helper()
	req, err := http.NewRequestWithContext(h.ctx, method, h.env.URL+path, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var e protocol.Error
	if resp.StatusCode/100 != 2 {
		if err := json.Unmarshal(raw, &e); err != nil {
			h.t.Fatalf("%s %s: error body %q is not a protocol.Error: %v", method, path, raw, err)
		}
	}
	return resp.StatusCode, e
}

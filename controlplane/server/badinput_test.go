package server_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/controlplane/cptest"
	"github.com/ferryhq/ferry/internal/testdb"
	"github.com/ferryhq/ferry/protocol"
)

func TestBadInput(t *testing.T) {
	eachStore(t, func(t *testing.T, h *harness) {
		cfg, token, r := h.setup()
		h.runJob(cfg, protocol.JobTransfer)
		h.runJob(cfg, protocol.JobTransfer)
		assigned := r.heartbeat(protocol.HeartbeatRequest{FreeSlots: 2}).Assignments
		if len(assigned) != 2 {
			t.Fatalf("got %d assignments, want 2", len(assigned))
		}
		a, other := assigned[0], assigned[1]
		_, otherToken := h.env.CreateCluster(t, "osaka")

		heartbeat := strings.ReplaceAll(protocol.PathHeartbeat, "{runnerID}", r.id)
		logs := strings.ReplaceAll(protocol.PathJobLogs, "{jobID}", a.JobID)
		status := strings.NewReplacer("{runnerID}", r.id, "{jobID}", a.JobID).Replace(protocol.PathJobStatus)
		huge := append(append([]byte(`{"epoch":1,"lines":[{"seq":1,"message":"`), bytes.Repeat([]byte("x"), protocol.MaxBodyBytes)...), `"}]}`...)

		cases := []struct {
			name, method, path, token string
			body                      []byte
			status                    int
			code                      protocol.ErrorCode
		}{
			{"malformed JSON", "POST", heartbeat, token, []byte(`{"state":`), 400, protocol.CodeInvalidRequest},
			{"unknown field", "POST", heartbeat, token, []byte(`{"state":"IDLE","freeSlot":1}`), 400, protocol.CodeInvalidRequest},
			{"trailing data", "POST", heartbeat, token, []byte(`{"state":"IDLE"} {}`), 400, protocol.CodeInvalidRequest},
			{"invalid state", "POST", heartbeat, token, []byte(`{"state":"BUSY"}`), 400, protocol.CodeInvalidRequest},
			{"negative free slots", "POST", heartbeat, token, []byte(`{"state":"IDLE","freeSlots":-1}`), 400, protocol.CodeInvalidRequest},
			{"oversized body", "POST", logs, a.JobToken, huge, 413, protocol.CodeTooLarge},
			{"missing token", "POST", heartbeat, "", []byte(`{"state":"IDLE"}`), 401, protocol.CodeUnauthorized},
			{"wrong token", "POST", heartbeat, "ferry_reg_wrong", []byte(`{"state":"IDLE"}`), 401, protocol.CodeUnauthorized},
			{"job token as registration token", "POST", heartbeat, a.JobToken, []byte(`{"state":"IDLE"}`), 401, protocol.CodeUnauthorized},
			{"registration token as job token", "POST", logs, token, []byte(`{"epoch":1,"lines":[]}`), 401, protocol.CodeUnauthorized},
			{"job token of another job", "POST", logs, other.JobToken, []byte(`{"epoch":1,"lines":[]}`), 403, protocol.CodeForbidden},
			{"runner of another cluster", "POST", heartbeat, otherToken, []byte(`{"state":"IDLE"}`), 403, protocol.CodeForbidden},
			{"unknown runner", "POST", strings.ReplaceAll(protocol.PathHeartbeat, "{runnerID}", "run_nope"), token, []byte(`{"state":"IDLE"}`), 404, protocol.CodeNotFound},
			{"unknown job status", "POST", strings.NewReplacer("{runnerID}", r.id, "{jobID}", "job_nope").Replace(protocol.PathJobStatus), token,
				[]byte(`{"epoch":1,"phase":"Running"}`), 404, protocol.CodeNotFound},
			{"failed without reason", "POST", status, token, []byte(`{"epoch":1,"phase":"Failed"}`), 400, protocol.CodeInvalidRequest},
			{"log seq zero", "POST", logs, a.JobToken, []byte(`{"epoch":1,"lines":[{"seq":0,"message":"x"}]}`), 400, protocol.CodeInvalidRequest},
			{"body epoch differs from token", "POST", logs, a.JobToken, []byte(`{"epoch":7,"lines":[]}`), 409, protocol.CodeConflict},
			{"admin without token", "GET", "/api/v1/jobs", "", nil, 401, protocol.CodeUnauthorized},
			{"admin with a runner token", "GET", "/api/v1/jobs", token, nil, 401, protocol.CodeUnauthorized},
			{"admin unknown job", "GET", "/api/v1/jobs/job_nope", h.env.AdminToken, nil, 404, protocol.CodeNotFound},
			{"admin unknown field", "POST", "/api/v1/clusters", h.env.AdminToken, []byte(`{"name":"x","region":"eu"}`), 400, protocol.CodeInvalidRequest},
			{"admin invalid name", "POST", "/api/v1/clusters", h.env.AdminToken, []byte(`{"name":"no spaces"}`), 400, protocol.CodeInvalidRequest},
			{"admin duplicate cluster", "POST", "/api/v1/clusters", h.env.AdminToken, []byte(`{"name":"tokyo"}`), 409, protocol.CodeConflict},
			{"admin invalid config", "POST", "/api/v1/configs", h.env.AdminToken,
				[]byte(`{"name":"bad","cluster":"tokyo","source":{"connection":"orders-src"},"destination":{"connection":"orders-dst","table":"t"}}`), 400, protocol.CodeInvalidRequest},
			{"unknown endpoint", "GET", "/runner/v2/nothing", token, nil, 404, protocol.CodeNotFound},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				gotStatus, body := h.call(tc.method, tc.path, tc.token, tc.body)
				if gotStatus != tc.status {
					t.Errorf("status = %d (%s), want %d", gotStatus, body.Message, tc.status)
				}
				if body.Code != tc.code {
					t.Errorf("code = %q, want %q", body.Code, tc.code)
				}
				if body.Message == "" {
					t.Error("message is empty")
				}
				for _, secret := range []string{token, a.JobToken, other.JobToken, h.env.AdminToken} {
					if strings.Contains(body.Message, secret) {
						t.Errorf("message %q contains a token", body.Message)
					}
				}
			})
		}

		// Nothing was stored half-way and the server still works.
		if got := h.job(a.JobID); got.State != protocol.StateAssigned {
			t.Errorf("job state after bad input = %s, want assigned", got.State)
		}
		logsResp, err := h.env.Admin.JobLogs(h.ctx, a.JobID, 0, 0)
		if err != nil || len(logsResp.Lines) != 0 {
			t.Errorf("logs after bad input = %d lines (%v), want none", len(logsResp.Lines), err)
		}
		r.heartbeat(protocol.HeartbeatRequest{Accepted: []protocol.JobRef{{JobID: a.JobID, Epoch: 1}, {JobID: other.JobID, Epoch: 1}}})
	})
}

func TestConnectionPasswordNeverReturned(t *testing.T) {
	h := newHarness(t, "")
	status, _ := h.call(http.MethodPost, "/api/v1/connections", h.env.AdminToken,
		[]byte(`{"name":"db","type":"mysql","host":"h","database":"d","user":"u","password":"hunter2-secret"}`))
	if status != http.StatusCreated {
		t.Fatalf("create connection status = %d, want 201", status)
	}
	for _, path := range []string{"/api/v1/connections", "/api/v1/connections/db"} {
		req, _ := http.NewRequest(http.MethodGet, h.env.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+h.env.AdminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(resp.Body)
		resp.Body.Close()
		if strings.Contains(buf.String(), "hunter2") {
			t.Errorf("GET %s returned the password", path)
		}
		if !strings.Contains(buf.String(), `"hasPassword":true`) {
			t.Errorf("GET %s = %s, want hasPassword true", path, buf.String())
		}
	}
}

// TestReplicasShareWakeUps runs two servers on one PostgreSQL database: a
// job queued through replica A wakes a heartbeat long-polling on replica B.
func TestReplicasShareWakeUps(t *testing.T) {
	pg := testdb.Postgres(t)
	dsn := pg.DSN(pg.NewDatabase(t))
	a := cptest.Start(t, cptest.WithDSN(dsn))
	b := cptest.Start(t, cptest.WithDSN(dsn), cptest.WithEncryptionKey(a.EncryptionKey))
	cluster, token := a.CreateCluster(t, "tokyo")
	cfg := a.CreateSQLiteConfig(t, cluster.Name, "orders")

	runner := b.RunnerClient(t, token)
	joined, err := runner.Join(t.Context(), protocol.JoinRequest{Name: "ns/r", MaxConcurrentJobs: 1})
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		resp protocol.HeartbeatResponse
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := runner.Heartbeat(t.Context(), joined.RunnerID, protocol.HeartbeatRequest{State: protocol.RunnerIdle, FreeSlots: 1, WaitSeconds: protocol.MaxWaitSeconds})
		done <- result{resp, err}
	}()
	// Let the heartbeat reach replica B's long poll, which finds nothing.
	time.Sleep(300 * time.Millisecond)
	job, err := a.Admin.RunJob(t.Context(), cfg.ID, protocol.JobTransfer)
	if err != nil {
		t.Fatal(err)
	}
	res := <-done
	if res.err != nil {
		t.Fatalf("Heartbeat: %v", res.err)
	}
	if len(res.resp.Assignments) != 1 || res.resp.Assignments[0].JobID != job.ID {
		t.Fatalf("Assignments = %+v, want job %s", res.resp.Assignments, job.ID)
	}
}

// TestReplicasNeverDoubleDispatch has runners on two replicas race for the
// same queued jobs; SKIP LOCKED hands each job to exactly one of them.
func TestReplicasNeverDoubleDispatch(t *testing.T) {
	pg := testdb.Postgres(t)
	dsn := pg.DSN(pg.NewDatabase(t))
	a := cptest.Start(t, cptest.WithDSN(dsn))
	b := cptest.Start(t, cptest.WithDSN(dsn), cptest.WithEncryptionKey(a.EncryptionKey))
	cluster, token := a.CreateCluster(t, "tokyo")
	cfg := a.CreateSQLiteConfig(t, cluster.Name, "orders")
	const jobs = 20
	for range jobs {
		if _, err := a.Admin.RunJob(t.Context(), cfg.ID, protocol.JobTransfer); err != nil {
			t.Fatal(err)
		}
	}
	seen := make(chan string, 4*jobs)
	errs := make(chan error, 8)
	for i, env := range []*cptest.Env{a, b, a, b} {
		go func() {
			c := env.RunnerClient(t, token)
			joined, err := c.Join(t.Context(), protocol.JoinRequest{Name: "ns/r" + string(rune('a'+i)), MaxConcurrentJobs: jobs})
			if err != nil {
				errs <- err
				return
			}
			for range 3 {
				resp, err := c.Heartbeat(t.Context(), joined.RunnerID, protocol.HeartbeatRequest{State: protocol.RunnerIdle, FreeSlots: 3, WaitSeconds: 1})
				if err != nil {
					errs <- err
					return
				}
				for _, asg := range resp.Assignments {
					seen <- asg.JobID
				}
			}
			errs <- nil
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	close(seen)
	count := map[string]int{}
	for id := range seen {
		count[id]++
		if count[id] > 1 {
			t.Errorf("job %s assigned %d times", id, count[id])
		}
	}
	if len(count) == 0 {
		t.Error("no job was assigned")
	}
}

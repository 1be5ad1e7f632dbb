package server_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferryhq/ferry/controlplane/admin"
	"github.com/ferryhq/ferry/controlplane/cptest"
	"github.com/ferryhq/ferry/controlplane/store"
	"github.com/ferryhq/ferry/protocol"
	"github.com/ferryhq/ferry/protocol/client"
	"github.com/ferryhq/ferry/transfer/spec"
)

// wantAPIError checks that err is an admin API error with the given status
// whose message contains every one of parts.
func wantAPIError(t *testing.T, err error, status int, parts ...string) {
	t.Helper()
	var apiErr *client.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("error = %v, want an API error with status %d", err, status)
	}
	if apiErr.StatusCode != status {
		t.Errorf("status = %d (%s), want %d", apiErr.StatusCode, apiErr.Message, status)
	}
	for _, part := range parts {
		if !strings.Contains(apiErr.Message, part) {
			t.Errorf("message %q does not contain %q", apiErr.Message, part)
		}
	}
}

func TestGetClusterAndConnection(t *testing.T) {
	eachStore(t, func(t *testing.T, h *harness) {
		cluster, _ := h.env.CreateCluster(t, "tokyo")
		for _, ref := range []string{cluster.ID, cluster.Name} {
			got, err := h.env.Admin.GetCluster(h.ctx, ref)
			if err != nil {
				t.Fatalf("GetCluster %s: %v", ref, err)
			}
			if got.ID != cluster.ID || got.Name != "tokyo" || !got.CreatedAt.Equal(cluster.CreatedAt) {
				t.Errorf("GetCluster %s = %+v, want %+v", ref, got, cluster)
			}
		}
		_, err := h.env.Admin.GetCluster(h.ctx, "osaka")
		wantAPIError(t, err, http.StatusNotFound, `cluster "osaka" not found`)

		conn, err := h.env.Admin.CreateConnection(h.ctx, admin.CreateConnectionRequest{
			Name: "pg", Type: "postgres", Host: "db.internal", Database: "shop", User: "reader", Password: "s3cret-pw"})
		if err != nil {
			t.Fatal(err)
		}
		got, err := h.env.Admin.GetConnection(h.ctx, "pg")
		if err != nil {
			t.Fatalf("GetConnection: %v", err)
		}
		if got.ID != conn.ID || got.Host != "db.internal" || !got.HasPassword {
			t.Errorf("GetConnection = %+v, want %+v", got, conn)
		}
		_, err = h.env.Admin.GetConnection(h.ctx, "mysql")
		wantAPIError(t, err, http.StatusNotFound, `connection "mysql" not found`)
	})
}

func TestUpdateConnection(t *testing.T) {
	eachStore(t, func(t *testing.T, h *harness) {
		ctx := h.ctx
		conn, err := h.env.Admin.CreateConnection(ctx, admin.CreateConnectionRequest{
			Name: "pg", Type: "postgres", Host: "db.internal", Database: "shop", User: "reader", Password: "first-pw"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.env.Admin.CreateConnection(ctx, admin.CreateConnectionRequest{Name: "lake", Type: "sqlite", Path: "/data/lake.db"}); err != nil {
			t.Fatal(err)
		}
		cluster, token := h.env.CreateCluster(t, "tokyo")
		cfg, err := h.env.Admin.CreateConfig(ctx, admin.CreateConfigRequest{Name: "orders", Cluster: cluster.Name,
			Source: admin.ConfigSource{Connection: "pg", Table: "orders"}, Destination: admin.ConfigDestination{Connection: "lake", Table: "orders"}})
		if err != nil {
			t.Fatal(err)
		}
		r := h.join(token, "ns/runner", 4)
		// sourcePassword runs a job and returns the source password its
		// pod would get.
		sourcePassword := func() string {
			t.Helper()
			a := h.assign(r, cfg, protocol.JobTransfer)
			resp, err := h.pod(a).JobSpec(ctx, a.JobID)
			if err != nil {
				t.Fatalf("JobSpec: %v", err)
			}
			job, err := spec.Decode(resp.Spec)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := h.env.Admin.CancelJob(ctx, a.JobID); err != nil {
				t.Fatal(err)
			}
			return job.Source.Password.Value()
		}

		// An empty password keeps the stored one.
		req := admin.UpdateConnectionRequest{Name: "pg-main", Type: "postgres", Host: "db2.internal", Port: 5433, Database: "shop", User: "reader"}
		got, err := h.env.Admin.UpdateConnection(ctx, "pg", req)
		if err != nil {
			t.Fatalf("UpdateConnection: %v", err)
		}
		if got.ID != conn.ID || got.Name != "pg-main" || got.Host != "db2.internal" || got.Port != 5433 || !got.HasPassword {
			t.Errorf("UpdateConnection = %+v, want the new name, host and port with the password kept", got)
		}
		if !got.CreatedAt.Equal(conn.CreatedAt) {
			t.Errorf("CreatedAt = %s, want %s", got.CreatedAt, conn.CreatedAt)
		}
		if pw := sourcePassword(); pw != "first-pw" {
			t.Errorf("password after an update without one = %q, want the first", pw)
		}

		// A new password replaces it.
		req.Password = "second-pw"
		if _, err := h.env.Admin.UpdateConnection(ctx, conn.ID, req); err != nil {
			t.Fatal(err)
		}
		if pw := sourcePassword(); pw != "second-pw" {
			t.Errorf("password after replacing it = %q, want second-pw", pw)
		}

		// ClearPassword removes it.
		req.Password, req.ClearPassword = "", true
		got, err = h.env.Admin.UpdateConnection(ctx, conn.ID, req)
		if err != nil {
			t.Fatal(err)
		}
		if got.HasPassword {
			t.Error("HasPassword after clearPassword = true, want false")
		}
		if pw := sourcePassword(); pw != "" {
			t.Errorf("password after clearPassword = %q, want none", pw)
		}
		stored, err := h.env.Admin.GetConnection(ctx, "pg-main")
		if err != nil || stored.HasPassword || stored.Host != "db2.internal" {
			t.Errorf("GetConnection after the updates = %+v, %v", stored, err)
		}
	})
}

func TestUpdateConnectionBadInput(t *testing.T) {
	eachStore(t, func(t *testing.T, h *harness) {
		ctx := h.ctx
		before, err := h.env.Admin.CreateConnection(ctx, admin.CreateConnectionRequest{
			Name: "pg", Type: "postgres", Host: "db.internal", Database: "shop", User: "reader", Password: "hunter2-secret"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.env.Admin.CreateConnection(ctx, admin.CreateConnectionRequest{Name: "lake", Type: "sqlite", Path: "/data/lake.db"}); err != nil {
			t.Fatal(err)
		}
		valid := admin.UpdateConnectionRequest{Name: "pg", Type: "postgres", Host: "other", Database: "shop", User: "reader"}
		cases := []struct {
			name   string
			ref    string
			edit   func(r *admin.UpdateConnectionRequest)
			status int
			parts  []string
		}{
			{"unknown connection", "nope", func(r *admin.UpdateConnectionRequest) {}, 404, []string{`connection "nope" not found`}},
			{"invalid name", "pg", func(r *admin.UpdateConnectionRequest) { r.Name = "no spaces" }, 400, []string{`invalid connection name "no spaces"`}},
			{"invalid type", "pg", func(r *admin.UpdateConnectionRequest) { r.Type = "oracle" }, 400, []string{`type is "oracle"`, "mysql, postgres"}},
			{"missing host", "pg", func(r *admin.UpdateConnectionRequest) { r.Host = "" }, 400, []string{"host is required"}},
			{"password and clear", "pg", func(r *admin.UpdateConnectionRequest) { r.Password, r.ClearPassword = "new-secret", true }, 400,
				[]string{"password and clearPassword are both set"}},
			{"file type keeps a password", "pg", func(r *admin.UpdateConnectionRequest) {
				*r = admin.UpdateConnectionRequest{Name: "pg", Type: "sqlite", Path: "/data/x.db"}
			}, 400, []string{`connection "pg" has a stored password`, "clearPassword"}},
			{"duplicate name", "pg", func(r *admin.UpdateConnectionRequest) { r.Name = "lake" }, 409, []string{`connection "lake" already exists`}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				req := valid
				tc.edit(&req)
				_, err := h.env.Admin.UpdateConnection(ctx, tc.ref, req)
				wantAPIError(t, err, tc.status, tc.parts...)
				if err != nil && strings.Contains(err.Error(), "hunter2") {
					t.Errorf("error %q contains the password", err)
				}
			})
		}

		// Nothing was stored.
		after, err := h.env.Admin.GetConnection(ctx, "pg")
		if err != nil {
			t.Fatal(err)
		}
		if after.Host != before.Host || after.Type != before.Type || !after.HasPassword {
			t.Errorf("connection after bad updates = %+v, want it unchanged from %+v", after, before)
		}

		// The file connection takes the type change once the password goes.
		req := admin.UpdateConnectionRequest{Name: "pg", Type: "sqlite", Path: "/data/x.db", ClearPassword: true}
		if got, err := h.env.Admin.UpdateConnection(ctx, "pg", req); err != nil || got.HasPassword || got.Type != "sqlite" {
			t.Errorf("UpdateConnection to sqlite with clearPassword = %+v, %v", got, err)
		}
	})
}

func TestUpdateConnectionNeverLogsPassword(t *testing.T) {
	var logs bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := newHarness(t, "", cptest.WithLogger(logger))
	if _, err := h.env.Admin.CreateConnection(h.ctx, admin.CreateConnectionRequest{
		Name: "pg", Type: "postgres", Host: "h", Database: "d", User: "u", Password: "first-secret"}); err != nil {
		t.Fatal(err)
	}
	got, err := h.env.Admin.UpdateConnection(h.ctx, "pg", admin.UpdateConnectionRequest{
		Name: "pg", Type: "postgres", Host: "h", Database: "d", User: "u", Password: "second-secret"})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "second-secret") {
		t.Errorf("response %s contains the password", raw)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(logs.String(), "Connection updated") {
		t.Errorf("log has no update line:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "secret") {
		t.Errorf("log contains a password:\n%s", logs.String())
	}
}

// lockedWriter serialises writes to a buffer that the test reads.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// finishIncremental runs one successful job of cfg that ends at lastRecord.
func (h *harness) finishIncremental(r *testRunner, cfg admin.Config, lastRecord string) {
	h.t.Helper()
	a := h.assign(r, cfg, protocol.JobTransfer)
	h.accept(r, a)
	if err := h.pod(a).SendResult(h.ctx, a.JobID, protocol.ResultRequest{Epoch: a.Epoch, Succeeded: true, Rows: 1,
		LastRecord: json.RawMessage(lastRecord)}); err != nil {
		h.t.Fatal(err)
	}
	if got := h.status(r, a, protocol.PhaseSucceeded, ""); got != protocol.StateSucceeded {
		h.t.Fatalf("state = %s, want succeeded", got)
	}
	r.heartbeat(protocol.HeartbeatRequest{State: protocol.RunnerIdle})
}

func TestUpdateConfig(t *testing.T) {
	eachStore(t, func(t *testing.T, h *harness) {
		ctx := h.ctx
		cluster, token := h.env.CreateCluster(t, "tokyo")
		dir := t.TempDir()
		for _, name := range []string{"src", "src2", "dst"} {
			if _, err := h.env.Admin.CreateConnection(ctx, admin.CreateConnectionRequest{Name: name, Type: "sqlite", Path: filepath.Join(dir, name+".db")}); err != nil {
				t.Fatal(err)
			}
		}
		req := admin.CreateConfigRequest{Name: "orders", Cluster: cluster.Name,
			Source:      admin.ConfigSource{Connection: "src", Table: "orders"},
			Destination: admin.ConfigDestination{Connection: "dst", Table: "orders"},
			Incremental: true, IncrementalColumns: []string{"id"}}
		cfg, err := h.env.Admin.CreateConfig(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		r := h.join(token, "ns/runner", 4)
		h.finishIncremental(r, cfg, `{"id":42}`)

		// Changes that keep the source keep the position.
		req.Name, req.Destination.Mode, req.Parallelism, req.Source.Where = "orders-v2", "truncate_insert", 2, "id > 0"
		got, err := h.env.Admin.UpdateConfig(ctx, "orders", req)
		if err != nil {
			t.Fatalf("UpdateConfig: %v", err)
		}
		if got.ID != cfg.ID || got.Name != "orders-v2" || got.Destination.Mode != "truncate_insert" || got.Parallelism != 2 {
			t.Errorf("UpdateConfig = %+v, want the new name, mode and parallelism", got)
		}
		if string(got.LastRecord) != `{"id":42}` {
			t.Errorf("lastRecord after a destination change = %s, want {\"id\":42}", got.LastRecord)
		}
		if !got.CreatedAt.Equal(cfg.CreatedAt) {
			t.Errorf("CreatedAt = %s, want %s", got.CreatedAt, cfg.CreatedAt)
		}

		// Each source change clears it.
		changes := []struct {
			name string
			edit func(r *admin.CreateConfigRequest)
		}{
			{"source connection", func(r *admin.CreateConfigRequest) { r.Source.Connection = "src2" }},
			{"source table", func(r *admin.CreateConfigRequest) { r.Source.Table = "orders_archive" }},
			{"source query", func(r *admin.CreateConfigRequest) { r.Source.Table, r.Source.Query = "", "SELECT * FROM orders" }},
			{"incremental columns", func(r *admin.CreateConfigRequest) { r.IncrementalColumns = []string{"updated_at", "id"} }},
		}
		for _, c := range changes {
			t.Run(c.name, func(t *testing.T) {
				h.finishIncremental(r, cfg, `{"id":7}`)
				if stored, err := h.env.Admin.GetConfig(ctx, cfg.ID); err != nil || string(stored.LastRecord) != `{"id":7}` {
					t.Fatalf("lastRecord before the change = %s (%v), want {\"id\":7}", stored.LastRecord, err)
				}
				changed := req
				c.edit(&changed)
				if changed.Source.Query != "" {
					changed.Source.Where = ""
				}
				got, err := h.env.Admin.UpdateConfig(ctx, cfg.ID, changed)
				if err != nil {
					t.Fatalf("UpdateConfig: %v", err)
				}
				if len(got.LastRecord) != 0 {
					t.Errorf("lastRecord after changing the %s = %s, want none", c.name, got.LastRecord)
				}
				stored, err := h.env.Admin.GetConfig(ctx, cfg.ID)
				if err != nil || len(stored.LastRecord) != 0 {
					t.Errorf("stored lastRecord = %s (%v), want none", stored.LastRecord, err)
				}
				if _, err := h.env.Admin.UpdateConfig(ctx, cfg.ID, req); err != nil {
					t.Fatal(err)
				}
			})
		}
	})
}

func TestUpdateConfigBadInput(t *testing.T) {
	eachStore(t, func(t *testing.T, h *harness) {
		ctx := h.ctx
		cluster, _ := h.env.CreateCluster(t, "tokyo")
		cfg := h.env.CreateSQLiteConfig(t, cluster.Name, "orders")
		h.env.CreateSQLiteConfig(t, cluster.Name, "users")
		valid := admin.CreateConfigRequest{Name: "orders", Cluster: cluster.Name,
			Source:      admin.ConfigSource{Connection: cfg.Source.Connection, Table: "items"},
			Destination: admin.ConfigDestination{Connection: cfg.Destination.Connection, Table: "items"}}
		cases := []struct {
			name   string
			ref    string
			edit   func(r *admin.CreateConfigRequest)
			status int
			parts  []string
		}{
			{"unknown config", "nope", func(r *admin.CreateConfigRequest) {}, 404, []string{`config "nope" not found`}},
			{"invalid name", "orders", func(r *admin.CreateConfigRequest) { r.Name = "a/b" }, 400, []string{`invalid config name "a/b"`}},
			{"unknown cluster", "orders", func(r *admin.CreateConfigRequest) { r.Cluster = "osaka" }, 400, []string{`cluster "osaka" not found`}},
			{"unknown source", "orders", func(r *admin.CreateConfigRequest) { r.Source.Connection = "nope" }, 400, []string{`source connection "nope" not found`}},
			{"invalid mode", "orders", func(r *admin.CreateConfigRequest) { r.Destination.Mode = "upsert" }, 400, []string{`invalid value "upsert"`}},
			{"no source table", "orders", func(r *admin.CreateConfigRequest) { r.Source.Table = "" }, 400, nil},
			{"duplicate name", "orders", func(r *admin.CreateConfigRequest) { r.Name = "users" }, 409, []string{`config "users" already exists`}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				req := valid
				tc.edit(&req)
				_, err := h.env.Admin.UpdateConfig(ctx, tc.ref, req)
				wantAPIError(t, err, tc.status, tc.parts...)
			})
		}
		after, err := h.env.Admin.GetConfig(ctx, cfg.ID)
		if err != nil {
			t.Fatal(err)
		}
		if after.Name != "orders" || after.ClusterID != cluster.ID || !after.UpdatedAt.Equal(cfg.UpdatedAt) {
			t.Errorf("config after bad updates = %+v, want it unchanged", after)
		}
	})
}

func TestConfigWithoutCluster(t *testing.T) {
	eachStore(t, func(t *testing.T, h *harness) {
		ctx := h.ctx
		cluster, token := h.env.CreateCluster(t, "tokyo")
		base := h.env.CreateSQLiteConfig(t, cluster.Name, "base")
		req := admin.CreateConfigRequest{Name: "orders",
			Source:      admin.ConfigSource{Connection: base.Source.Connection, Table: "items"},
			Destination: admin.ConfigDestination{Connection: base.Destination.Connection, Table: "items"}}
		cfg, err := h.env.Admin.CreateConfig(ctx, req)
		if err != nil {
			t.Fatalf("CreateConfig without a cluster: %v", err)
		}
		if cfg.ClusterID != "" {
			t.Errorf("ClusterID = %q, want empty", cfg.ClusterID)
		}
		if stored, err := h.env.Admin.GetConfig(ctx, "orders"); err != nil || stored.ClusterID != "" {
			t.Errorf("GetConfig = %+v, %v; want no cluster", stored, err)
		}

		_, err = h.env.Admin.RunJob(ctx, "orders", protocol.JobTransfer)
		wantAPIError(t, err, http.StatusConflict, `config "orders" has no cluster`, "set a cluster")
		_, err = h.env.Admin.RunJob(ctx, "orders", protocol.JobPreview)
		wantAPIError(t, err, http.StatusConflict, `config "orders" has no cluster`)
		if jobs, err := h.env.Admin.ListJobs(ctx, admin.JobListOptions{Config: "orders"}); err != nil || len(jobs) != 0 {
			t.Errorf("jobs of the clusterless config = %d (%v), want none", len(jobs), err)
		}

		// Setting a cluster lets the job run; clearing it again stops that.
		req.Cluster = cluster.Name
		if got, err := h.env.Admin.UpdateConfig(ctx, "orders", req); err != nil || got.ClusterID != cluster.ID {
			t.Fatalf("UpdateConfig with a cluster = %+v, %v", got, err)
		}
		r := h.join(token, "ns/runner", 1)
		h.assign(r, cfg, protocol.JobTransfer)
		req.Cluster = ""
		if got, err := h.env.Admin.UpdateConfig(ctx, "orders", req); err != nil || got.ClusterID != "" {
			t.Fatalf("UpdateConfig without a cluster = %+v, %v", got, err)
		}
		_, err = h.env.Admin.RunJob(ctx, "orders", protocol.JobTransfer)
		wantAPIError(t, err, http.StatusConflict, `config "orders" has no cluster`)
	})
}

func TestListJobsFilters(t *testing.T) {
	eachStore(t, func(t *testing.T, h *harness) {
		ctx := h.ctx
		cfg, _, r := h.setup()
		t0 := h.clk.Now()
		first := h.runJob(cfg, protocol.JobTransfer)
		h.clk.Step(time.Hour)
		second := h.runJob(cfg, protocol.JobPreview)
		h.clk.Step(time.Hour)
		third := h.runJob(cfg, protocol.JobTransfer)
		if _, err := h.env.Admin.CancelJob(ctx, second.ID); err != nil {
			t.Fatal(err)
		}
		if got := r.heartbeat(protocol.HeartbeatRequest{FreeSlots: 1}).Assignments; len(got) != 1 || got[0].JobID != first.ID {
			t.Fatalf("assignments = %+v, want the first job", got)
		}

		ids := func(opts admin.JobListOptions) []string {
			t.Helper()
			jobs, err := h.env.Admin.ListJobs(ctx, opts)
			if err != nil {
				t.Fatalf("ListJobs %+v: %v", opts, err)
			}
			out := make([]string, len(jobs))
			for i, j := range jobs {
				out[i] = j.ID
			}
			return out
		}
		cases := []struct {
			name string
			opts admin.JobListOptions
			want []string
		}{
			{"no filter", admin.JobListOptions{}, []string{third.ID, second.ID, first.ID}},
			{"one state", admin.JobListOptions{State: protocol.StateAssigned}, []string{first.ID}},
			{"states", admin.JobListOptions{States: []protocol.JobState{protocol.StateQueued, protocol.StateCancelled}}, []string{third.ID, second.ID}},
			{"state and states", admin.JobListOptions{State: protocol.StateAssigned, States: []protocol.JobState{protocol.StateQueued}}, []string{third.ID, first.ID}},
			{"type preview", admin.JobListOptions{Type: protocol.JobPreview}, []string{second.ID}},
			{"type transfer", admin.JobListOptions{Type: protocol.JobTransfer}, []string{third.ID, first.ID}},
			{"since", admin.JobListOptions{Since: t0.Add(time.Hour)}, []string{third.ID, second.ID}},
			{"until", admin.JobListOptions{Until: t0.Add(time.Hour)}, []string{first.ID}},
			{"since and until", admin.JobListOptions{Since: t0.Add(30 * time.Minute), Until: t0.Add(90 * time.Minute)}, []string{second.ID}},
			{"since with an offset", admin.JobListOptions{Since: t0.Add(time.Hour).In(time.FixedZone("JST", 9*3600))}, []string{third.ID, second.ID}},
			{"all filters", admin.JobListOptions{Config: cfg.Name, States: []protocol.JobState{protocol.StateQueued}, Type: protocol.JobTransfer,
				Since: t0, Until: t0.Add(3 * time.Hour)}, []string{third.ID}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				if got := ids(tc.opts); !slices.Equal(got, tc.want) {
					t.Errorf("jobs = %v, want %v", got, tc.want)
				}
			})
		}
	})
}

func TestListJobsBadFilters(t *testing.T) {
	eachStore(t, func(t *testing.T, h *harness) {
		cases := []struct {
			name, query string
			parts       []string
		}{
			{"unknown state", "state=running,finished", []string{`state "finished" is not a job state`,
				"queued, assigned, accepted, running, succeeded, failed, cancelled"}},
			{"unknown type", "type=load", []string{`type is "load"`, "transfer or preview"}},
			{"invalid since", "since=yesterday", []string{`since is "yesterday"`, "RFC 3339"}},
			{"invalid until", "until=2026-03-01", []string{`until is "2026-03-01"`, "RFC 3339"}},
			{"unencoded plus", "since=2026-03-01T12:00:00+09:00", []string{"since is", "%2B"}},
			{"empty range", "since=2026-03-01T12:00:00Z&until=2026-03-01T11:00:00Z", []string{"until (2026-03-01T11:00:00Z) is not after since"}},
			{"invalid limit", "limit=0", []string{`limit is "0"`}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				status, body := h.call(http.MethodGet, admin.PathJobs+"?"+tc.query, h.env.AdminToken, nil)
				if status != http.StatusBadRequest {
					t.Errorf("status = %d (%s), want 400", status, body.Message)
				}
				for _, part := range tc.parts {
					if !strings.Contains(body.Message, part) {
						t.Errorf("message %q does not contain %q", body.Message, part)
					}
				}
			})
		}
	})
}

func TestJobProgressSamples(t *testing.T) {
	eachStore(t, func(t *testing.T, h *harness) {
		ctx := h.ctx
		cfg, _, r := h.setup()
		a := h.assign(r, cfg, protocol.JobTransfer)
		h.accept(r, a)
		pod := h.pod(a)
		start := h.clk.Now()
		progress := func(rows, bytes int64) {
			t.Helper()
			if err := pod.SendProgress(ctx, a.JobID, protocol.ProgressRequest{Epoch: a.Epoch, Rows: rows, Bytes: bytes}); err != nil {
				t.Fatalf("SendProgress: %v", err)
			}
		}

		progress(0, 0)    // nothing moved yet: no sample
		progress(10, 100) // sample 1 at start
		h.clk.Step(500 * time.Millisecond)
		progress(20, 200) // under a second since the last sample: none
		h.clk.Step(time.Second)
		progress(15, 150) // the job keeps its highest totals, 20 and 200: sample 2
		h.clk.Step(time.Second)
		progress(20, 200) // unchanged: none
		h.clk.Step(time.Second)
		progress(30, 300) // sample 3
		if err := pod.SendResult(ctx, a.JobID, protocol.ResultRequest{Epoch: a.Epoch, Succeeded: true, Rows: 42, Bytes: 420}); err != nil {
			t.Fatal(err)
		}
		// The final totals come at once, with no second to wait.

		got, err := h.env.Admin.JobProgress(ctx, a.JobID)
		if err != nil {
			t.Fatalf("JobProgress: %v", err)
		}
		want := []admin.ProgressSample{
			{Epoch: 1, Time: start, Rows: 10, Bytes: 100},
			{Epoch: 1, Time: start.Add(1500 * time.Millisecond), Rows: 20, Bytes: 200},
			{Epoch: 1, Time: start.Add(3500 * time.Millisecond), Rows: 30, Bytes: 300},
			{Epoch: 1, Time: start.Add(3500 * time.Millisecond), Rows: 42, Bytes: 420},
		}
		if len(got.Samples) != len(want) {
			t.Fatalf("samples = %+v, want %d", got.Samples, len(want))
		}
		for i, w := range want {
			g := got.Samples[i]
			if g.Epoch != w.Epoch || !g.Time.Equal(w.Time) || g.Rows != w.Rows || g.Bytes != w.Bytes {
				t.Errorf("sample %d = %+v, want %+v", i, g, w)
			}
		}

		// A resent result adds nothing.
		if err := pod.SendResult(ctx, a.JobID, protocol.ResultRequest{Epoch: a.Epoch, Succeeded: true, Rows: 42, Bytes: 420}); err != nil {
			t.Fatal(err)
		}
		if again, err := h.env.Admin.JobProgress(ctx, a.JobID); err != nil || len(again.Samples) != len(want) {
			t.Errorf("samples after a resent result = %d (%v), want %d", len(again.Samples), err, len(want))
		}

		// A job with no report yet has an empty list, not null.
		queued := h.runJob(cfg, protocol.JobTransfer)
		status, body := h.call(http.MethodGet, strings.ReplaceAll(admin.PathJobProgress, "{jobID}", queued.ID), h.env.AdminToken, nil)
		if status != http.StatusOK {
			t.Errorf("progress of a queued job: status %d (%s), want 200", status, body.Message)
		}
		if empty, err := h.env.Admin.JobProgress(ctx, queued.ID); err != nil || empty.Samples == nil || len(empty.Samples) != 0 {
			t.Errorf("progress of a queued job = %+v, %v; want an empty list", empty, err)
		}
		_, err = h.env.Admin.JobProgress(ctx, "job_nope")
		wantAPIError(t, err, http.StatusNotFound, `job "job_nope" not found`)
	})
}

func TestJobProgressCap(t *testing.T) {
	eachStore(t, func(t *testing.T, h *harness) {
		ctx := h.ctx
		cfg, _, r := h.setup()
		a := h.assign(r, cfg, protocol.JobTransfer)
		h.accept(r, a)
		pod := h.pod(a)

		// Fill the history to two below the cap straight in the store.
		start := h.clk.Now().Add(-time.Hour)
		err := h.env.Store().InTx(ctx, func(q store.Querier) error {
			for i := range admin.MaxProgressSamples - 2 {
				if err := q.AppendProgress(ctx, store.ProgressSample{JobID: a.JobID, Epoch: a.Epoch,
					Time: start.Add(time.Duration(i) * time.Millisecond), Rows: int64(i + 1)}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		count := func() int {
			t.Helper()
			got, err := h.env.Admin.JobProgress(ctx, a.JobID)
			if err != nil {
				t.Fatal(err)
			}
			return len(got.Samples)
		}

		rows := int64(admin.MaxProgressSamples)
		for range 3 {
			rows += 100
			if err := pod.SendProgress(ctx, a.JobID, protocol.ProgressRequest{Epoch: a.Epoch, Rows: rows}); err != nil {
				t.Fatal(err)
			}
			h.clk.Step(time.Second)
		}
		if got := count(); got != admin.MaxProgressSamples-1 {
			t.Errorf("samples after progress reports past the cap = %d, want %d (one slot kept for the result)", got, admin.MaxProgressSamples-1)
		}
		if job := h.job(a.JobID); job.Rows != rows {
			t.Errorf("job rows = %d, want %d: reports past the cap still update the job", job.Rows, rows)
		}
		if err := pod.SendResult(ctx, a.JobID, protocol.ResultRequest{Epoch: a.Epoch, Succeeded: true, Rows: rows + 1}); err != nil {
			t.Fatal(err)
		}
		if got := count(); got != admin.MaxProgressSamples {
			t.Errorf("samples after the result = %d, want %d", got, admin.MaxProgressSamples)
		}
		final, err := h.env.Admin.JobProgress(ctx, a.JobID)
		if err != nil {
			t.Fatal(err)
		}
		if last := final.Samples[len(final.Samples)-1]; last.Rows != rows+1 {
			t.Errorf("last sample rows = %d, want the result's %d", last.Rows, rows+1)
		}
	})
}

func TestUpdateConfigDuringRun(t *testing.T) {
	eachStore(t, func(t *testing.T, h *harness) {
		ctx := h.ctx
		cluster, token := h.env.CreateCluster(t, "tokyo")
		base := h.env.CreateSQLiteConfig(t, cluster.Name, "base")
		req := admin.CreateConfigRequest{Name: "orders", Cluster: cluster.Name,
			Source:      admin.ConfigSource{Connection: base.Source.Connection, Table: "orders"},
			Destination: admin.ConfigDestination{Connection: base.Destination.Connection, Table: "orders"},
			Incremental: true, IncrementalColumns: []string{"id"}}
		cfg, err := h.env.Admin.CreateConfig(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		r := h.join(token, "ns/runner", 1)
		a := h.assign(r, cfg, protocol.JobTransfer)
		h.accept(r, a)

		// The source changes while the job reads the old one.
		h.clk.Step(time.Second)
		req.Source.Table = "orders_v2"
		if _, err := h.env.Admin.UpdateConfig(ctx, cfg.ID, req); err != nil {
			t.Fatal(err)
		}
		if err := h.pod(a).SendResult(ctx, a.JobID, protocol.ResultRequest{Epoch: a.Epoch, Succeeded: true, Rows: 5,
			LastRecord: json.RawMessage(`{"id":5}`)}); err != nil {
			t.Fatal(err)
		}
		if got := h.status(r, a, protocol.PhaseSucceeded, ""); got != protocol.StateSucceeded {
			t.Fatalf("state = %s, want succeeded", got)
		}
		stored, err := h.env.Admin.GetConfig(ctx, cfg.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(stored.LastRecord) != 0 {
			t.Errorf("lastRecord = %s, want none: the job read the old source", stored.LastRecord)
		}

		// A job assigned after the change stores its position.
		r.heartbeat(protocol.HeartbeatRequest{State: protocol.RunnerIdle})
		h.clk.Step(time.Second)
		h.finishIncremental(r, cfg, `{"id":9}`)
		if stored, err := h.env.Admin.GetConfig(ctx, cfg.ID); err != nil || string(stored.LastRecord) != `{"id":9}` {
			t.Errorf("lastRecord after a run on the new source = %s (%v), want {\"id\":9}", stored.LastRecord, err)
		}
	})
}

package web_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/ferryhq/ferry/controlplane/admin"
	"github.com/ferryhq/ferry/controlplane/cptest"
	"github.com/ferryhq/ferry/controlplane/web"
	"github.com/ferryhq/ferry/protocol"
	"github.com/ferryhq/ferry/protocol/client"
)

// jobsEnv is a control plane on a fake clock with a cluster, a transfer
// configuration and a joined runner, and a signed-in browser.
type jobsEnv struct {
	t        *testing.T
	b        *browser
	env      *cptest.Env
	clk      *testingclock.FakeClock
	ctx      context.Context
	cfg      admin.Config
	runner   *client.Client
	runnerID string
}

func newJobsEnv(t *testing.T) *jobsEnv {
	t.Helper()
	// The fake clock starts at the real time, so the run time of a running
	// job, which the UI measures with the real clock, stays small.
	clk := testingclock.NewFakeClock(time.Now().UTC().Truncate(time.Second))
	b := startUI(t, cptest.WithClock(clk))
	cluster, token := b.env.CreateCluster(t, "tokyo")
	cfg := b.env.CreateSQLiteConfig(t, cluster.Name, "orders")
	runner := b.env.RunnerClient(t, token)
	joined, err := runner.Join(context.Background(), protocol.JoinRequest{Name: "ns/runner-a", MaxConcurrentJobs: 4})
	if err != nil {
		t.Fatalf("Join: %v", err)
	}
	return &jobsEnv{t: t, b: b, env: b.env, clk: clk, ctx: context.Background(), cfg: cfg, runner: runner, runnerID: joined.RunnerID}
}

// run queues a job of the configuration.
func (e *jobsEnv) run(typ protocol.JobType) admin.Job {
	e.t.Helper()
	job, err := e.env.Admin.RunJob(e.ctx, e.cfg.ID, typ)
	if err != nil {
		e.t.Fatalf("RunJob: %v", err)
	}
	return job
}

// start hands the queued job to the runner, reports its pod running and
// returns a client with the job's token, as the job's pod has.
func (e *jobsEnv) start(job admin.Job) (*client.Client, int64) {
	e.t.Helper()
	// A queued job is handed out at once, so the heartbeat does not wait
	// on the fake clock.
	resp, err := e.runner.Heartbeat(e.ctx, e.runnerID, protocol.HeartbeatRequest{State: protocol.RunnerIdle, FreeSlots: 1, WaitSeconds: 1})
	if err != nil {
		e.t.Fatalf("Heartbeat: %v", err)
	}
	if len(resp.Assignments) != 1 || resp.Assignments[0].JobID != job.ID {
		e.t.Fatalf("Assignments = %+v, want job %s", resp.Assignments, job.ID)
	}
	a := resp.Assignments[0]
	started := e.clk.Now()
	e.report(job.ID, protocol.JobStatusRequest{Epoch: a.Epoch, Phase: protocol.PhaseRunning, StartedAt: &started})
	return e.env.RunnerClient(e.t, a.JobToken), a.Epoch
}

func (e *jobsEnv) report(jobID string, req protocol.JobStatusRequest) {
	e.t.Helper()
	if _, err := e.runner.ReportJobStatus(e.ctx, e.runnerID, jobID, req); err != nil {
		e.t.Fatalf("ReportJobStatus %s: %v", req.Phase, err)
	}
}

func (e *jobsEnv) job(id string) admin.Job {
	e.t.Helper()
	job, err := e.env.Admin.GetJob(e.ctx, id)
	if err != nil {
		e.t.Fatalf("GetJob: %v", err)
	}
	return job
}

func sendLogs(t *testing.T, pod *client.Client, jobID string, epoch int64, lines ...protocol.LogLine) {
	t.Helper()
	if _, err := pod.SendLogs(context.Background(), jobID, protocol.LogBatch{Epoch: epoch, Lines: lines}); err != nil {
		t.Fatalf("SendLogs: %v", err)
	}
}

func sendProgress(t *testing.T, pod *client.Client, jobID string, epoch, rows, bytes int64) {
	t.Helper()
	if err := pod.SendProgress(context.Background(), jobID, protocol.ProgressRequest{Epoch: epoch, Rows: rows, Bytes: bytes}); err != nil {
		t.Fatalf("SendProgress: %v", err)
	}
}

// sseEvent is one Server-Sent Event.
type sseEvent struct {
	Name string
	Data string
	// ID is the event's id field, empty when it has none.
	ID string
}

// sseUpdate is the data of an update event.
type sseUpdate struct {
	Target string `json:"target"`
	HTML   string `json:"html"`
	Append bool   `json:"append"`
}

// sseStream reads the events of one stream.
type sseStream struct {
	t      *testing.T
	events chan sseEvent
	// err is the read error that ended the stream, nil when the server
	// ended it. It is set before events is closed.
	err error
}

// openStream opens an SSE endpoint with the browser's cookies. The
// stream's context times out only as a guard against a hung test. header
// pairs, such as "Last-Event-ID", "12:1", are added to the request.
func (b *browser) openStream(path string, header ...string) *sseStream {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	b.t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.base+path, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Accept-Language", b.lang)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	for _, c := range b.cookies {
		req.AddCookie(c)
	}

	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.t.Fatalf("GET %s: %v", path, err)
	}
	b.t.Cleanup(func() { _ = resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		b.t.Fatalf("GET %s: status %d, want 200", path, resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		b.t.Fatalf("GET %s: Content-Type %q, want text/event-stream", path, ct)
	}

	s := &sseStream{t: b.t, events: make(chan sseEvent, 64)}
	go func() {
		defer close(s.events)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 0, 64<<10), 8<<20)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.Name != "" {
					s.events <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "event: "):
				ev.Name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.Data += strings.TrimPrefix(line, "data: ")
			case strings.HasPrefix(line, "id: "):
				ev.ID = strings.TrimPrefix(line, "id: ")
			}
		}
		s.err = sc.Err()
	}()
	return s
}

// waitEnd reads events until the server ends the stream, and fails if the
// stream breaks off for another reason, such as the guard timeout.
func (s *sseStream) waitEnd() {
	s.t.Helper()
	for range s.events {
	}
	if s.err != nil {
		s.t.Fatalf("stream did not end: %v", s.err)
	}
}

// waitUpdate reads events until an update matches, and fails if the
// stream ends first.
func (s *sseStream) waitUpdate(what string, match func(sseUpdate) bool) sseUpdate {
	s.t.Helper()
	for ev := range s.events {
		if ev.Name != "update" {
			continue
		}
		var u sseUpdate
		if err := json.Unmarshal([]byte(ev.Data), &u); err != nil {
			s.t.Fatalf("update event with invalid JSON %q: %v", ev.Data, err)
		}
		if match(u) {
			return u
		}
	}
	s.t.Fatalf("stream ended before %s", what)
	return sseUpdate{}
}

// waitDone reads events until the done event, and fails if the stream ends
// without one. It returns the updates read on the way.
func (s *sseStream) waitDone() []sseUpdate {
	s.t.Helper()
	var updates []sseUpdate
	for ev := range s.events {
		switch ev.Name {
		case "done":
			return updates
		case "update":
			var u sseUpdate
			if err := json.Unmarshal([]byte(ev.Data), &u); err != nil {
				s.t.Fatalf("update event with invalid JSON %q: %v", ev.Data, err)
			}
			updates = append(updates, u)
		}
	}
	s.t.Fatal("stream ended without a done event")
	return nil
}

func TestJobsListEmpty(t *testing.T) {
	b := startUI(t)
	r := b.get("/jobs")
	if r.Status != http.StatusOK {
		t.Fatalf("GET /jobs: status %d, want 200", r.Status)
	}
	mustContain(t, r.Body, `id="job-filters"`, `id="filter-state"`, `id="filter-cluster"`, `id="filter-config"`,
		`id="filter-type"`, `id="filter-from"`, `id="filter-to"`, `id="jobs"`, `id="jobs-empty"`,
		"No jobs yet", `href="/configs"`, "Times are in UTC", `data-stream="/jobs/events"`)

	b.lang = "ja"
	r = b.get("/jobs")
	mustContain(t, r.Body, "ジョブはまだありません", "日時は UTC で指定します", `lang="ja"`)
	mustNotContain(t, r.Body, "⟦")
}

func TestJobsListRows(t *testing.T) {
	e := newJobsEnv(t)
	transfer := e.run(protocol.JobTransfer)
	pod, epoch := e.start(transfer)
	preview := e.run(protocol.JobPreview)
	sendProgress(t, pod, transfer.ID, epoch, 1234567, 3<<20)

	r := e.b.get("/jobs")
	if r.Status != http.StatusOK {
		t.Fatalf("GET /jobs: status %d, want 200", r.Status)
	}
	mustContain(t, r.Body,
		fmt.Sprintf(`data-job="%s"`, transfer.ID), fmt.Sprintf(`data-job="%s"`, preview.ID),
		fmt.Sprintf(`href="/jobs/%s"`, transfer.ID), `href="/configs/`+e.cfg.ID+`">orders<`, ">tokyo<",
		`data-state="running"`, `data-state="queued"`, "1,234,567", "3.0 MiB", "Transfer", "Preview")
	mustNotContain(t, r.Body, "⟦", `id="jobs-empty"`)

	e.b.lang = "ja"
	r = e.b.get("/jobs")
	mustContain(t, r.Body, "1,234,567", "実行中", "待機中", "転送", "プレビュー")
	mustNotContain(t, r.Body, "⟦")
}

func TestJobsListFilters(t *testing.T) {
	e := newJobsEnv(t)
	transfer := e.run(protocol.JobTransfer)
	preview := e.run(protocol.JobPreview)
	rowOf := func(j admin.Job) string { return fmt.Sprintf(`data-job="%s"`, j.ID) }
	created := transfer.CreatedAt.UTC()
	local := func(t time.Time) string { return t.Format("2006-01-02T15:04") }

	cases := []struct {
		name      string
		query     url.Values
		want      []admin.Job
		wantEmpty bool
	}{
		{"type preview", url.Values{"type": {"preview"}}, []admin.Job{preview}, false},
		{"type transfer", url.Values{"type": {"transfer"}}, []admin.Job{transfer}, false},
		{"two states", url.Values{"state": {"queued", "running"}}, []admin.Job{transfer, preview}, false},
		{"comma states", url.Values{"state": {"queued,failed"}}, []admin.Job{transfer, preview}, false},
		{"no match", url.Values{"state": {"succeeded"}}, nil, true},
		{"cluster", url.Values{"cluster": {"tokyo"}}, []admin.Job{transfer, preview}, false},
		{"config", url.Values{"config": {"orders"}}, []admin.Job{transfer, preview}, false},
		{"config ID", url.Values{"config": {e.cfg.ID}}, []admin.Job{transfer, preview}, false},
		{"from before", url.Values{"from": {local(created.Add(-time.Hour))}}, []admin.Job{transfer, preview}, false},
		{"from after", url.Values{"from": {local(created.Add(time.Hour))}}, nil, true},
		{"range", url.Values{"from": {local(created.Add(-time.Hour))}, "to": {local(created.Add(time.Hour))}}, []admin.Job{transfer, preview}, false},
		{"to before", url.Values{"to": {local(created.Add(-time.Hour))}}, nil, true},
		{"rfc3339", url.Values{"from": {created.Add(-time.Minute).Format(time.RFC3339)}}, []admin.Job{transfer, preview}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.b.get("/jobs?" + tc.query.Encode())
			if r.Status != http.StatusOK {
				t.Fatalf("status %d, want 200; body:\n%s", r.Status, r.Body)
			}
			for _, j := range []admin.Job{transfer, preview} {
				want := false
				for _, w := range tc.want {
					want = want || w.ID == j.ID
				}
				if got := strings.Contains(r.Body, rowOf(j)); got != want {
					t.Errorf("row of %s job shown = %v, want %v", j.Type, got, want)
				}
			}
			if got := strings.Contains(r.Body, "No jobs match these filters."); got != tc.wantEmpty {
				t.Errorf("empty-filter message shown = %v, want %v", got, tc.wantEmpty)
			}
			wantStream := `data-stream="/jobs/events?` + strings.ReplaceAll(tc.query.Encode(), "&", "&amp;") + `"`
			mustContain(t, r.Body, wantStream)
		})
	}

	t.Run("kept values", func(t *testing.T) {
		from := local(created.Add(-time.Hour))
		r := e.b.get("/jobs?" + url.Values{"state": {"queued"}, "type": {"preview"}, "cluster": {"tokyo"}, "config": {"orders"}, "from": {from}}.Encode())
		mustContain(t, r.Body, `id="filter-state-queued" checked`, `<option value="preview" selected>`,
			`<option value="tokyo" selected>`, `<option value="`+e.cfg.ID+`" selected>`, `value="`+from+`"`, `id="filter-clear"`)
	})
}

func TestJobsListTimeZone(t *testing.T) {
	e := newJobsEnv(t)
	job := e.run(protocol.JobTransfer)
	row := fmt.Sprintf(`data-job="%s"`, job.ID)
	created := job.CreatedAt.UTC()
	wall := func(t time.Time, offsetMinutes int) string {
		return t.In(time.FixedZone("", offsetMinutes*60)).Format("2006-01-02T15:04")
	}

	cases := []struct {
		name  string
		query url.Values
		shown bool
	}{
		{"tokyo from before", url.Values{"tz": {"540"}, "from": {wall(created.Add(-time.Hour), 540)}}, true},
		{"tokyo from after", url.Values{"tz": {"540"}, "from": {wall(created.Add(time.Hour), 540)}}, false},
		// An hour before creation in UTC is four hours after it in UTC-5.
		{"utc wall in new york", url.Values{"tz": {"-300"}, "from": {wall(created.Add(-time.Hour), 0)}}, false},
		{"utc wall without tz", url.Values{"from": {wall(created.Add(-time.Hour), 0)}}, true},
		{"empty tz is utc", url.Values{"tz": {""}, "from": {wall(created.Add(-time.Hour), 0)}}, true},
		{"date from", url.Values{"from": {created.Format("2006-01-02")}}, true},
		{"date to", url.Values{"to": {created.Format("2006-01-02")}}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.b.get("/jobs?" + tc.query.Encode())
			if r.Status != http.StatusOK {
				t.Fatalf("status %d, want 200; body:\n%s", r.Status, r.Body)
			}
			if got := strings.Contains(r.Body, row); got != tc.shown {
				t.Errorf("job shown = %v, want %v", got, tc.shown)
			}
		})
	}

	r := e.b.get("/jobs")
	mustContain(t, r.Body, `<input type="hidden" name="tz" id="filter-tz" value="" data-tz>`,
		`data-tz-hint="Times are in your browser&#39;s time zone.`, `id="filter-time-hint"`, ">Times are in UTC.")
	r = e.b.get("/jobs?tz=540")
	mustContain(t, r.Body, `id="filter-tz" value="540"`, ">Times are in your browser&#39;s time zone.")
	r = e.b.get("/jobs?from=" + created.Format("2006-01-02"))
	mustContain(t, r.Body, `name="from" value="`+created.Format("2006-01-02")+`T00:00"`)

	e.b.lang = "ja"
	r = e.b.get("/jobs?tz=540")
	mustContain(t, r.Body, "日時はブラウザーのタイムゾーンで指定します。")
	mustNotContain(t, r.Body, "⟦")
}

func TestJobsListBadTimeZone(t *testing.T) {
	e := newJobsEnv(t)
	job := e.run(protocol.JobTransfer)
	for _, tz := range []string{"abc", "1.5", "841", "-721", `"><b>x</b>`} {
		r := e.b.get("/jobs?" + url.Values{"tz": {tz}}.Encode())
		if r.Status != http.StatusUnprocessableEntity {
			t.Errorf("tz=%q: status %d, want 422", tz, r.Status)
			continue
		}
		mustContain(t, r.Body, `id="filter-zone" class="field-error"`, "The time zone offset tz=",
			"from -720 to 840", "Some filters are not valid")
		mustNotContain(t, r.Body, fmt.Sprintf(`data-job="%s"`, job.ID), "<b>x</b>")
	}
	mustContain(t, e.b.get("/jobs?tz=abc").Body, "tz=&#34;abc&#34; is invalid")

	e.b.lang = "ja"
	r := e.b.get("/jobs?tz=abc")
	mustContain(t, r.Body, "タイムゾーンのオフセット tz=「abc」が正しくありません")
	if status := e.b.openStreamStatus("/jobs/events?tz=abc"); status != http.StatusBadRequest {
		t.Errorf("stream with a bad tz: status %d, want 400", status)
	}
}

func TestJobLinksAfterConfigRename(t *testing.T) {
	e := newJobsEnv(t)
	job := e.run(protocol.JobTransfer)
	if _, err := e.env.Admin.UpdateConfig(e.ctx, e.cfg.ID, admin.CreateConfigRequest{
		Name: "orders-v2", Cluster: e.cfg.ClusterID, Source: e.cfg.Source, Destination: e.cfg.Destination,
	}); err != nil {
		t.Fatalf("UpdateConfig: %v", err)
	}
	link := `href="/configs/` + e.cfg.ID + `"`

	r := e.b.get("/jobs")
	mustContain(t, r.Body, link+`>orders-v2<`)
	mustNotContain(t, r.Body, `href="/configs/orders"`)
	s := e.b.openStream("/jobs/events")
	s.waitUpdate("the table with the new name", func(u sseUpdate) bool {
		return u.Target == "jobs-body" && strings.Contains(u.HTML, link+`>orders-v2<`)
	})

	r = e.b.get("/jobs/" + job.ID)
	mustContain(t, r.Body, link+` id="job-config">orders-v2<`)
	if r := e.b.get("/configs/" + e.cfg.ID); r.Status != http.StatusOK {
		t.Errorf("GET the linked configuration: status %d, want 200", r.Status)
	}

	// A filter by ID outlives the rename, and the list selects the
	// configuration by ID.
	r = e.b.get("/jobs?config=" + e.cfg.ID)
	if r.Status != http.StatusOK {
		t.Fatalf("filter by config ID: status %d, want 200; body:\n%s", r.Status, r.Body)
	}
	mustContain(t, r.Body, fmt.Sprintf(`data-job="%s"`, job.ID), `<option value="`+e.cfg.ID+`" selected>orders-v2</option>`)
}

func TestJobsListBadFilters(t *testing.T) {
	e := newJobsEnv(t)
	job := e.run(protocol.JobTransfer)
	cases := []struct {
		name  string
		query url.Values
		wants []string
	}{
		{"unknown state", url.Values{"state": {"queued", "bogus"}}, []string{"&#34;bogus&#34; is not a job state", `id="filter-state-queued" checked`}},
		{"unknown type", url.Values{"type": {"batch"}}, []string{"&#34;batch&#34; is not a job type"}},
		{"bad from", url.Values{"from": {"yesterday"}}, []string{"&#34;yesterday&#34; is not a date and time", `value="yesterday"`}},
		{"bad to", url.Values{"to": {"2026-13-01T00:00"}}, []string{"&#34;2026-13-01T00:00&#34; is not a date and time"}},
		{"to before from", url.Values{"from": {"2026-03-02T00:00"}, "to": {"2026-03-01T00:00"}}, []string{"must be later than"}},
		{"unknown cluster", url.Values{"cluster": {"nowhere"}}, []string{"There is no cluster named &#34;nowhere&#34;", `id="job-filters-error"`}},
		{"unknown config", url.Values{"config": {"nothing"}}, []string{"There is no configuration named &#34;nothing&#34;: it may have been renamed or deleted", `id="job-filters-error"`}},
		{"markup in state", url.Values{"state": {`<b>x</b>`}}, []string{"&lt;b&gt;x&lt;/b&gt;"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.b.get("/jobs?" + tc.query.Encode())
			if r.Status != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422; body:\n%s", r.Status, r.Body)
			}
			mustContain(t, r.Body, tc.wants...)
			mustNotContain(t, r.Body, fmt.Sprintf(`data-job="%s"`, job.ID), "data-stream=", "<b>x</b>")
		})
	}

	e.b.lang = "ja"
	r := e.b.get("/jobs?from=yesterday")
	if r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("ja: status %d, want 422", r.Status)
	}
	mustContain(t, r.Body, "「yesterday」は日時として読み取れません", "正しくない絞り込み条件があります")
	r = e.b.get("/jobs?config=nope")
	mustContain(t, r.Body, "転送設定「nope」はありません")
	mustNotContain(t, r.Body, "not found")

	s := e.b.openStreamStatus("/jobs/events?state=bogus")
	if s != http.StatusBadRequest {
		t.Errorf("stream with a bad filter: status %d, want 400", s)
	}
}

// openStreamStatus requests an SSE endpoint, with header pairs added, and
// returns only the status.
func (b *browser) openStreamStatus(path string, header ...string) int {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.base+path, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return b.do(req).Status
}

func TestJobsListStream(t *testing.T) {
	e := newJobsEnv(t)
	job := e.run(protocol.JobTransfer)
	s := e.b.openStream("/jobs/events?type=transfer")
	s.waitUpdate("the queued job", func(u sseUpdate) bool {
		return u.Target == "jobs-body" && strings.Contains(u.HTML, `data-state="queued"`) && strings.Contains(u.HTML, job.ID)
	})

	pod, epoch := e.start(job)
	sendProgress(t, pod, job.ID, epoch, 4321, 100)
	s.waitUpdate("the running job", func(u sseUpdate) bool {
		return u.Target == "jobs-body" && strings.Contains(u.HTML, `data-state="running"`) && strings.Contains(u.HTML, "4,321")
	})
}

func TestUICloseEndsStreams(t *testing.T) {
	env := cptest.Start(t)
	ui, err := web.New(web.Options{API: admin.NewHandlerClient(env.Server().Handler(), env.AdminToken), AdminToken: env.AdminToken})
	if err != nil {
		t.Fatalf("web.New: %v", err)
	}
	srv := httptest.NewServer(ui.Handler())
	t.Cleanup(srv.Close)
	b := newBrowser(t, env)
	b.base = srv.URL
	b.signIn()

	s := b.openStream("/jobs/events")
	s.waitUpdate("the jobs table", func(u sseUpdate) bool { return u.Target == "jobs-body" })
	ui.Close()
	s.waitEnd()

	// A stream opened after Close ends too, so Shutdown never waits on it.
	ui.Close()
	b.openStream("/jobs/events").waitEnd()
}

func TestJobsSignedOut(t *testing.T) {
	e := newJobsEnv(t)
	job := e.run(protocol.JobTransfer)
	anon := newBrowser(t, e.env)
	for _, path := range []string{"/jobs", "/jobs?type=preview", "/jobs/" + job.ID, "/jobs/" + job.ID + "/log.txt"} {
		r := anon.get(path)
		if r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Location, "/signin") {
			t.Errorf("GET %s signed out: status %d, Location %q; want 303 to /signin", path, r.Status, r.Location)
		}
	}
	for _, path := range []string{"/jobs/events", "/jobs/" + job.ID + "/events"} {
		if before := anon.openStream(path).waitSignedOut(); len(before) != 0 {
			t.Errorf("stream %s signed out: events %v before signedout, want none", path, before)
		}
	}
	r := anon.postRaw("/jobs/"+job.ID+"/cancel", url.Values{"csrf": {e.b.csrf}})
	if r.Status != http.StatusForbidden {
		t.Errorf("cancel signed out: status %d, want 403", r.Status)
	}
	if got := e.job(job.ID).State; got != protocol.StateQueued {
		t.Errorf("job state after a signed-out cancel = %s, want queued", got)
	}
}

var streamAfter = regexp.MustCompile(`data-stream="/jobs/[^/]+/events\?after=(\d+)&amp;epoch=(\d+)"`)

func TestJobDetailFlow(t *testing.T) {
	e := newJobsEnv(t)
	job := e.run(protocol.JobTransfer)

	r := e.b.get("/jobs/" + job.ID)
	if r.Status != http.StatusOK {
		t.Fatalf("GET job: status %d, want 200", r.Status)
	}
	mustContain(t, r.Body, `id="job-summary"`, `id="job-state"`, `data-state="queued"`, `id="job-rows">0<`,
		`id="job-bytes">0 B<`, `id="job-progress"`, `id="log"`, `data-empty="No log lines yet."`, `id="job-cancel"`,
		`data-stream="/jobs/`+job.ID+`/events?after=0&amp;epoch=0"`, `href="/configs/`+e.cfg.ID+`" id="job-config">orders<`,
		`href="/clusters/`+e.cfg.ClusterID+`" id="job-cluster">tokyo<`, "not assigned yet")
	mustNotContain(t, r.Body, `id="job-chart"`, "⟦")

	pod, epoch := e.start(job)
	sendLogs(t, pod, job.ID, epoch,
		protocol.LogLine{Seq: 1, Time: e.clk.Now(), Level: "info", Message: `Reading <script>alert("x")</script> from items`},
		protocol.LogLine{Seq: 2, Time: e.clk.Now(), Level: "warn", Message: "Slow source & retries"})
	sendProgress(t, pod, job.ID, epoch, 1000, 4096)

	r = e.b.get("/jobs/" + job.ID)
	// Log times are <time> elements that app.js shows in local time; the
	// UTC text is for pages without JavaScript.
	stamp := e.clk.Now().UTC().Format("2006-01-02T15:04:05.000Z07:00")
	mustContain(t, r.Body, `<time class="ts" datetime="`+stamp+`" title="`+stamp+`" data-clock>`+
		e.clk.Now().UTC().Format("15:04:05.000Z")+`</time>`)
	mustContain(t, r.Body, `data-state="running"`, `id="job-rows">1,000<`, "ns/runner-a",
		"&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;", "Slow source &amp; retries", `class="lvl lvl-warn">WARN<`,
		"The chart of rows per second appears after the second progress report.")
	mustNotContain(t, r.Body, `<script>alert`, `id="job-chart"`)
	// An indeterminate bar has no value while the total is unknown.
	mustContain(t, r.Body, `<progress id="job-progress" aria-label="Progress">`)

	e.clk.Step(2 * time.Second)
	sendProgress(t, pod, job.ID, epoch, 1234567, 5<<20)
	r = e.b.get("/jobs/" + job.ID)
	mustContain(t, r.Body, `id="job-rows">1,234,567<`, `id="job-bytes">5.0 MiB<`, `<svg id="job-chart"`,
		`<polyline class="line"`, `<polygon class="area"`, "max 616,784 rows/s", `id="job-rate-now">616,784 rows/s<`)

	e.b.lang = "ja"
	r = e.b.get("/jobs/" + job.ID)
	mustContain(t, r.Body, `id="job-rows">1,234,567<`, "616,784行/秒", "実行中", "ジョブをキャンセル", "ランナー")
	mustNotContain(t, r.Body, "⟦")
	e.b.lang = "en"

	m := streamAfter.FindStringSubmatch(r.Body)
	if m == nil {
		t.Fatalf("job page has no stream URL with after and epoch; page:\n%s", r.Body)
	}
	if m[2] != fmt.Sprint(epoch) {
		t.Errorf("stream epoch = %s, want %d", m[2], epoch)
	}
	s := e.b.openStream("/jobs/" + job.ID + "/events?after=" + m[1] + "&epoch=" + m[2])
	s.waitUpdate("the summary", func(u sseUpdate) bool {
		return u.Target == "job-summary" && strings.Contains(u.HTML, "1,234,567")
	})
	sendLogs(t, pod, job.ID, epoch, protocol.LogLine{Seq: 3, Time: e.clk.Now(), Level: "info", Message: "<b>third</b> line"})
	u := s.waitUpdate("the new log line", func(u sseUpdate) bool { return u.Target == "log" })
	if !u.Append {
		t.Error("log update does not append")
	}
	if !strings.Contains(u.HTML, "&lt;b&gt;third&lt;/b&gt; line") || strings.Contains(u.HTML, "<b>third") {
		t.Errorf("log update does not hold the escaped third line: %s", u.HTML)
	}
	if strings.Contains(u.HTML, "Slow source") {
		t.Errorf("log update repeats a line the page already had: %s", u.HTML)
	}

	if err := pod.SendResult(e.ctx, job.ID, protocol.ResultRequest{Epoch: epoch, Succeeded: true, Rows: 1234567, Bytes: 5 << 20,
		DurationSeconds: 4, Warnings: []string{"coerced <NaN> to NULL"}}); err != nil {
		t.Fatalf("SendResult: %v", err)
	}
	finished := e.clk.Now()
	e.report(job.ID, protocol.JobStatusRequest{Epoch: epoch, Phase: protocol.PhaseSucceeded, Reason: "Completed", FinishedAt: &finished})
	updates := s.waitDone()
	var final string
	for _, u := range updates {
		if u.Target == "job-summary" {
			final = u.HTML
		}
	}
	mustContain(t, final, `data-state="succeeded"`, `value="1"`)
	mustNotContain(t, final, `id="job-cancel"`)

	r = e.b.get("/jobs/" + job.ID)
	mustContain(t, r.Body, `data-state="succeeded"`, `max="1" value="1"`, `id="job-result"`, "coerced &lt;NaN&gt; to NULL",
		`id="job-rate-average">308,642 rows/s<`, "&lt;b&gt;third&lt;/b&gt; line")
	// The runner's "Completed" reason is no news on a success.
	mustNotContain(t, r.Body, `id="job-cancel"`, "data-stream=", `id="job-rate-now">6`, `id="job-reason"`)
}

func TestJobPreview(t *testing.T) {
	e := newJobsEnv(t)
	job := e.run(protocol.JobPreview)
	pod, epoch := e.start(job)

	r := e.b.get("/jobs/" + job.ID)
	mustContain(t, r.Body, `id="preview-waiting"`, "Waiting for the preview")
	e.b.lang = "ja"
	mustContain(t, e.b.get("/jobs/"+job.ID).Body, "プレビューを待っています")
	e.b.lang = "en"

	s := e.b.openStream("/jobs/" + job.ID + "/events")
	s.waitUpdate("the waiting preview", func(u sseUpdate) bool {
		return u.Target == "job-preview" && strings.Contains(u.HTML, "preview-waiting")
	})

	preview := protocol.PreviewRequest{
		Epoch: epoch,
		Columns: []protocol.Column{
			{Name: "id", Type: "int64", SourceType: "INTEGER"},
			{Name: "<i>name</i>", Type: "string", SourceType: "TEXT", Nullable: true},
			{Name: "tags", Type: "json", Nullable: true},
		},
		Rows: [][]json.RawMessage{
			{json.RawMessage(`1`), json.RawMessage(`"<b>bold</b>"`), json.RawMessage(`null`)},
			{json.RawMessage(`12345678901234567890`), json.RawMessage(`"plain"`), json.RawMessage(`{"a":[1,2]}`)},
		},
	}
	if err := pod.SendPreview(e.ctx, job.ID, preview); err != nil {
		t.Fatalf("SendPreview: %v", err)
	}
	s.waitUpdate("the preview rows", func(u sseUpdate) bool {
		return u.Target == "job-preview" && strings.Contains(u.HTML, `id="preview-rows"`)
	})

	r = e.b.get("/jobs/" + job.ID)
	mustContain(t, r.Body, `id="preview-columns"`, `id="preview-rows"`, "&lt;i&gt;name&lt;/i&gt;", "INTEGER",
		"&lt;b&gt;bold&lt;/b&gt;", `<span class="null">NULL</span>`, "12345678901234567890",
		`<code>{&#34;a&#34;:[1,2]}</code>`, "Sample rows (2)", `max="1" value="1"`)
	mustNotContain(t, r.Body, `id="preview-withheld"`, `id="preview-waiting"`, "<b>bold</b>", "<i>name</i>")

	e.b.lang = "ja"
	r = e.b.get("/jobs/" + job.ID)
	mustContain(t, r.Body, "サンプル行（2行）", "転送元の型")
	mustNotContain(t, r.Body, "⟦")
}

func TestJobPreviewWithheld(t *testing.T) {
	e := newJobsEnv(t)
	job := e.run(protocol.JobPreview)
	pod, epoch := e.start(job)
	if err := pod.SendPreview(e.ctx, job.ID, protocol.PreviewRequest{Epoch: epoch, RowsWithheld: true,
		Columns: []protocol.Column{{Name: "id", Type: "int64"}, {Name: "email", Type: "string", Nullable: true}}}); err != nil {
		t.Fatalf("SendPreview: %v", err)
	}
	r := e.b.get("/jobs/" + job.ID)
	mustContain(t, r.Body, `id="preview-withheld"`, "This runner withholds sample rows", `id="preview-columns"`, ">email<")
	mustNotContain(t, r.Body, `id="preview-rows"`, "Sample rows", `id="preview-waiting"`)

	e.b.lang = "ja"
	r = e.b.get("/jobs/" + job.ID)
	mustContain(t, r.Body, "サンプル行を送らない設定", "列の情報だけを表示しています")
}

func TestJobCancel(t *testing.T) {
	e := newJobsEnv(t)
	job := e.run(protocol.JobTransfer)
	e.start(job)
	path := "/jobs/" + job.ID + "/cancel"

	r := e.b.get("/jobs/" + job.ID)
	mustContain(t, r.Body, `id="job-cancel"`, `action="`+path+`"`, `data-confirm="Cancel job `+job.ID+`?`)

	if r := e.b.postRaw(path, url.Values{}); r.Status != http.StatusForbidden {
		t.Errorf("cancel without a CSRF token: status %d, want 403", r.Status)
	}
	if r := e.b.postRaw(path, url.Values{"csrf": {"not-the-token"}}); r.Status != http.StatusForbidden {
		t.Errorf("cancel with a wrong CSRF token: status %d, want 403", r.Status)
	}
	if got := e.job(job.ID).State; got != protocol.StateRunning {
		t.Fatalf("job state after refused cancels = %s, want running", got)
	}

	r = e.b.post(path, nil)
	if r.Status != http.StatusSeeOther || r.Location != "/jobs/"+job.ID {
		t.Fatalf("cancel: status %d, Location %q; want 303 to /jobs/%s", r.Status, r.Location, job.ID)
	}
	got := e.job(job.ID)
	if got.State != protocol.StateCancelled {
		t.Fatalf("job state after cancel = %s, want cancelled", got.State)
	}
	r = e.b.get("/jobs/" + job.ID)
	mustContain(t, r.Body, `data-state="cancelled"`, `id="job-reason"`, protocol.ReasonCancelRequested)
	mustNotContain(t, r.Body, `id="job-cancel"`, "data-stream=")

	// A second cancel, from a page loaded before the first, finds the job
	// ended and leads to the job page with a notice.
	r = e.b.post(path, nil)
	if r.Status != http.StatusSeeOther || r.Location != "/jobs/"+job.ID+"?notice=ended" {
		t.Fatalf("cancel of an ended job: status %d, Location %q; want 303 to /jobs/%s?notice=ended", r.Status, r.Location, job.ID)
	}
	r = e.b.get(r.Location)
	if r.Status != http.StatusOK {
		t.Fatalf("job page after a second cancel: status %d, want 200", r.Status)
	}
	mustContain(t, r.Body, `id="job-notice"`, "The job had already ended as Cancelled")
	e.b.lang = "ja"
	r = e.b.get("/jobs/" + job.ID + "?notice=ended")
	mustContain(t, r.Body, "ジョブはすでに終了していたため", "キャンセル済み")
	mustNotContain(t, r.Body, "⟦")
	e.b.lang = "en"

	// The notice names only a job that has ended.
	running := e.run(protocol.JobTransfer)
	mustNotContain(t, e.b.get("/jobs/"+running.ID+"?notice=ended").Body, `id="job-notice"`)
}

func TestJobFailureReason(t *testing.T) {
	e := newJobsEnv(t)
	job := e.run(protocol.JobTransfer)
	_, epoch := e.start(job)
	e.report(job.ID, protocol.JobStatusRequest{Epoch: epoch, Phase: protocol.PhaseFailed, Reason: "OOMKilled",
		Message: `container "transfer" <em> used more than its memory limit`})
	r := e.b.get("/jobs/" + job.ID)
	mustContain(t, r.Body, `data-state="failed"`, `id="job-reason"`, `<span class="reason-code">OOMKilled</span>`,
		"container &#34;transfer&#34; &lt;em&gt; used more than its memory limit")
	// The runner's report repeats the job's reason, so the page leaves it out.
	mustNotContain(t, r.Body, `id="job-cancel"`, "<em>", `id="job-runner-report"`)

	e.b.lang = "ja"
	r = e.b.get("/jobs/" + job.ID)
	mustContain(t, r.Body, "失敗",
		`id="job-reason-message">ランナーからのメッセージ（英語）: container &#34;transfer&#34;`)
	mustNotContain(t, r.Body, "コントロールプレーンからのメッセージ", "ランナーの報告")
}

func TestJobProgressEnded(t *testing.T) {
	e := newJobsEnv(t)

	t.Run("failed transfer", func(t *testing.T) {
		job := e.run(protocol.JobTransfer)
		pod, epoch := e.start(job)
		sendProgress(t, pod, job.ID, epoch, 500, 4096)
		if err := pod.SendResult(e.ctx, job.ID, protocol.ResultRequest{Epoch: epoch, Rows: 500, Bytes: 4096,
			DurationSeconds: 2, Error: "destination refused a row", ExitCode: 1}); err != nil {
			t.Fatalf("SendResult: %v", err)
		}
		e.report(job.ID, protocol.JobStatusRequest{Epoch: epoch, Phase: protocol.PhaseFailed, Reason: "EngineFailed"})
		r := e.b.get("/jobs/" + job.ID)
		mustContain(t, r.Body, `data-state="failed"`, `id="job-rows">500<`)
		// The 500 rows written are no share of a known total.
		mustNotContain(t, r.Body, `id="job-progress"`)
	})

	t.Run("cancelled transfer", func(t *testing.T) {
		job := e.run(protocol.JobTransfer)
		pod, epoch := e.start(job)
		sendProgress(t, pod, job.ID, epoch, 70, 700)
		if r := e.b.post("/jobs/"+job.ID+"/cancel", nil); r.Status != http.StatusSeeOther {
			t.Fatalf("cancel: status %d, want 303", r.Status)
		}
		r := e.b.get("/jobs/" + job.ID)
		mustContain(t, r.Body, `data-state="cancelled"`)
		mustNotContain(t, r.Body, `id="job-progress"`)
	})

	t.Run("failed preview", func(t *testing.T) {
		job := e.run(protocol.JobPreview)
		pod, epoch := e.start(job)
		sendProgress(t, pod, job.ID, epoch, 5, 50)
		e.report(job.ID, protocol.JobStatusRequest{Epoch: epoch, Phase: protocol.PhaseFailed, Reason: "EngineFailed"})
		r := e.b.get("/jobs/" + job.ID)
		mustContain(t, r.Body, `data-state="failed"`, `<progress id="job-progress" max="20" value="5"`)
	})
}

func TestJobQueuedNoRunnerOnline(t *testing.T) {
	e := newJobsEnv(t)
	job := e.run(protocol.JobTransfer)
	r := e.b.get("/jobs/" + job.ID)
	mustContain(t, r.Body, `data-state="queued"`)
	mustNotContain(t, r.Body, `id="job-waiting"`)

	// The runner falls silent and the sweep marks it OFFLINE.
	e.clk.Step(10 * time.Minute)
	e.env.Sweep(t)
	runners, err := e.env.Admin.ListRunners(e.ctx, e.cfg.ClusterID)
	if err != nil {
		t.Fatalf("ListRunners: %v", err)
	}
	if len(runners) != 1 || runners[0].State != "OFFLINE" {
		t.Fatalf("runners after the sweep = %+v, want one OFFLINE", runners)
	}
	r = e.b.get("/jobs/" + job.ID)
	mustContain(t, r.Body, `id="job-waiting"`, "No runner of cluster tokyo is online, so the job waits until one joins.",
		`href="/clusters/`+e.cfg.ClusterID+`" id="job-waiting-cluster"`)
	e.b.lang = "ja"
	r = e.b.get("/jobs/" + job.ID)
	mustContain(t, r.Body, "クラスター tokyo にオンラインのランナーがありません")
	mustNotContain(t, r.Body, "⟦")
	e.b.lang = "en"

	// The live summary drops the notice once a runner is back.
	s := e.b.openStream("/jobs/" + job.ID + "/events")
	s.waitUpdate("the summary with the notice", func(u sseUpdate) bool {
		return u.Target == "job-summary" && strings.Contains(u.HTML, `id="job-waiting"`)
	})
	if _, err := e.runner.Join(e.ctx, protocol.JoinRequest{Name: "ns/runner-a", MaxConcurrentJobs: 4}); err != nil {
		t.Fatalf("Join: %v", err)
	}
	u := s.waitUpdate("the summary without the notice", func(u sseUpdate) bool {
		return u.Target == "job-summary" && !strings.Contains(u.HTML, `id="job-waiting"`)
	})
	mustContain(t, u.HTML, `data-state="queued"`)
}

func TestJobLongLog(t *testing.T) {
	e := newJobsEnv(t)
	job := e.run(protocol.JobTransfer)
	pod, epoch := e.start(job)
	const total = 1050
	lines := make([]protocol.LogLine, total)
	for i := range lines {
		lines[i] = protocol.LogLine{Seq: int64(i + 1), Time: e.clk.Now(), Level: "info", Message: fmt.Sprintf("line %04d <x>", i+1)}
	}
	lines[total-1].Message = "last line\nwith a second row"
	sendLogs(t, pod, job.ID, epoch, lines...)

	r := e.b.get("/jobs/" + job.ID)
	mustContain(t, r.Body, `id="log-truncated"`, "Showing the last 1,000 of 1,050 lines.",
		`href="/jobs/`+job.ID+`/log.txt"`, "line 0051 &lt;x&gt;", "line 1049 &lt;x&gt;")
	mustNotContain(t, r.Body, "line 0050 ", "line 0001 ")
	if n := strings.Count(r.Body, `<span class="line" data-id=`); n != 1000 {
		t.Errorf("page shows %d log lines, want 1000", n)
	}

	text := e.b.get("/jobs/" + job.ID + "/log.txt")
	if text.Status != http.StatusOK {
		t.Fatalf("log.txt: status %d, want 200", text.Status)
	}
	if ct := text.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Errorf("log.txt Content-Type = %q, want text/plain; charset=utf-8", ct)
	}
	rows := strings.Split(strings.TrimSuffix(text.Body, "\n"), "\n")
	if len(rows) != total+1 {
		t.Errorf("log.txt has %d lines, want %d (the last message has two)", len(rows), total+1)
	}
	stamp := e.clk.Now().UTC().Format("2006-01-02T15:04:05.000Z07:00")
	mustContain(t, text.Body, stamp+" INFO line 0001 <x>\n", stamp+" INFO line 1049 <x>\n",
		stamp+" INFO last line\n"+stamp+" INFO with a second row\n")

	e.b.lang = "ja"
	mustContain(t, e.b.get("/jobs/"+job.ID).Body, "全1,050行のうち最後の1,000行を表示しています。")
}

func TestJobNotFound(t *testing.T) {
	b := startUI(t)
	for _, path := range []string{"/jobs/no-such-job", "/jobs/no-such-job/log.txt"} {
		if r := b.get(path); r.Status != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", path, r.Status)
		}
	}
	if r := b.post("/jobs/no-such-job/cancel", nil); r.Status != http.StatusNotFound {
		t.Errorf("cancel of an unknown job: status %d, want 404", r.Status)
	}
}

func TestJobStreamBadCursor(t *testing.T) {
	e := newJobsEnv(t)
	job := e.run(protocol.JobTransfer)
	for _, q := range []string{"after=x", "after=-1", "epoch=two"} {
		if status := e.b.openStreamStatus("/jobs/" + job.ID + "/events?" + q); status != http.StatusBadRequest {
			t.Errorf("stream with %s: status %d, want 400", q, status)
		}
	}
	for _, last := range []string{"12", "x:1", "12:-1", "12:two"} {
		if status := e.b.openStreamStatus("/jobs/"+job.ID+"/events", "Last-Event-ID", last); status != http.StatusBadRequest {
			t.Errorf("stream with Last-Event-ID %q: status %d, want 400", last, status)
		}
	}
}

func TestJobStreamResumesAfterLastEventID(t *testing.T) {
	e := newJobsEnv(t)
	job := e.run(protocol.JobTransfer)
	pod, epoch := e.start(job)
	sendLogs(t, pod, job.ID, epoch,
		protocol.LogLine{Seq: 1, Time: e.clk.Now(), Level: "info", Message: "line one"},
		protocol.LogLine{Seq: 2, Time: e.clk.Now(), Level: "info", Message: "line two"})
	logs, err := e.env.Admin.JobLogs(e.ctx, job.ID, 0, 10)
	if err != nil {
		t.Fatalf("JobLogs: %v", err)
	}

	// The page loaded before any line, so its stream URL starts at 0.
	path := "/jobs/" + job.ID + "/events?after=0&epoch=0"
	first := e.b.openStream(path)
	u, id := first.waitLogUpdate()
	mustContain(t, u.HTML, "line one", "line two")
	if want := fmt.Sprintf("%d:%d", logs.Next, epoch); id != want {
		t.Errorf("log update id = %q, want %q", id, want)
	}

	// A browser that reconnects requests the same URL with the id of the
	// last event it received, and gets only the lines after it.
	again := e.b.openStream(path, "Last-Event-ID", id)
	sendLogs(t, pod, job.ID, epoch, protocol.LogLine{Seq: 3, Time: e.clk.Now(), Level: "info", Message: "line three"})
	u, _ = again.waitLogUpdate()
	mustContain(t, u.HTML, "line three")
	mustNotContain(t, u.HTML, "line one", "line two", "Attempt ")
}

// waitLogUpdate reads events until a log update, and returns it with its
// event id.
func (s *sseStream) waitLogUpdate() (sseUpdate, string) {
	s.t.Helper()
	for ev := range s.events {
		if ev.Name != "update" {
			continue
		}
		var u sseUpdate
		if err := json.Unmarshal([]byte(ev.Data), &u); err != nil {
			s.t.Fatalf("update event with invalid JSON %q: %v", ev.Data, err)
		}
		if u.Target == "log" {
			return u, ev.ID
		}
	}
	s.t.Fatal("stream ended before a log update")
	return sseUpdate{}, ""
}

func TestJobsListCapped(t *testing.T) {
	e := newJobsEnv(t)
	for range 100 {
		e.run(protocol.JobTransfer)
	}
	r := e.b.get("/jobs")
	mustContain(t, r.Body, `id="jobs-capped"`, "Showing the newest 100 jobs.")
	if n := strings.Count(r.Body, "<tr data-job="); n != 100 {
		t.Errorf("list shows %d jobs, want 100", n)
	}
	e.b.lang = "ja"
	mustContain(t, e.b.get("/jobs").Body, "新しい順に100件を表示しています。")
}

func TestJobsCataloguesMatch(t *testing.T) {
	keys := func(path string) map[string]bool {
		var m map[string]any
		if _, err := toml.DecodeFile(path, &m); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out := map[string]bool{}
		for k := range m {
			out[k] = true
		}
		return out
	}
	en, ja := keys("locales/jobs.en.toml"), keys("locales/jobs.ja.toml")
	for k := range en {
		if !ja[k] {
			t.Errorf("%s is in jobs.en.toml but not in jobs.ja.toml", k)
		}
	}
	for k := range ja {
		if !en[k] {
			t.Errorf("%s is in jobs.ja.toml but not in jobs.en.toml", k)
		}
	}
}

func TestJobLogAttempts(t *testing.T) {
	e := newJobsEnv(t)
	job := e.run(protocol.JobTransfer)
	take := func() (*client.Client, int64) {
		t.Helper()
		resp, err := e.runner.Heartbeat(e.ctx, e.runnerID, protocol.HeartbeatRequest{State: protocol.RunnerIdle, FreeSlots: 1, WaitSeconds: 1})
		if err != nil {
			t.Fatalf("Heartbeat: %v", err)
		}
		if len(resp.Assignments) != 1 {
			t.Fatalf("Assignments = %+v, want one", resp.Assignments)
		}
		return e.env.RunnerClient(t, resp.Assignments[0].JobToken), resp.Assignments[0].Epoch
	}

	pod, epoch := take()
	sendLogs(t, pod, job.ID, epoch, protocol.LogLine{Seq: 1, Time: e.clk.Now(), Level: "info", Message: "first attempt"})
	r := e.b.get("/jobs/" + job.ID)
	mustNotContain(t, r.Body, "Attempt ")
	m := streamAfter.FindStringSubmatch(r.Body)
	if m == nil {
		t.Fatalf("job page has no stream URL; page:\n%s", r.Body)
	}
	s := e.b.openStream("/jobs/" + job.ID + "/events?after=" + m[1] + "&epoch=" + m[2])

	// The assignment is never acknowledged, so its lease ends and the job
	// goes to the runner again under a new epoch.
	e.clk.Step(2 * time.Minute)
	e.env.Sweep(t)
	pod, epoch = take()
	if epoch != 2 {
		t.Fatalf("second assignment epoch = %d, want 2", epoch)
	}
	sendLogs(t, pod, job.ID, epoch, protocol.LogLine{Seq: 1, Time: e.clk.Now(), Level: "info", Message: "second attempt"})

	u := s.waitUpdate("the second attempt's line", func(u sseUpdate) bool { return u.Target == "log" })
	mustContain(t, u.HTML, `<span class="line attempt">Attempt 2</span>`, "second attempt")
	mustNotContain(t, u.HTML, "first attempt")

	r = e.b.get("/jobs/" + job.ID)
	first, separator, second := strings.Index(r.Body, "first attempt"), strings.Index(r.Body, "Attempt 2"), strings.Index(r.Body, "second attempt")
	if first < 0 || separator < first || second < separator {
		t.Errorf("log order: first line at %d, separator at %d, second line at %d; want them in that order", first, separator, second)
	}
	e.b.lang = "ja"
	mustContain(t, e.b.get("/jobs/"+job.ID).Body, "2回目の試行")
}

package web_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/controlplane/admin"
	"github.com/ferryhq/ferry/protocol"
)

// The pages escape "+" as &#43;, so ⟨U+202E⟩ reads ⟨U&#43;202E⟩ in the HTML.
func TestBidiControlsShownInPages(t *testing.T) {
	e := newJobsEnv(t)
	if _, err := e.env.Admin.CreateConnection(e.ctx, admin.CreateConnectionRequest{
		Name: "spoof", Type: "sqlite", Path: "/data/'\u202Egnp.exe'"}); err != nil {
		t.Fatalf("CreateConnection: %v", err)
	}
	r := e.b.get("/connections")
	mustContain(t, r.Body, "/data/&#39;⟨U&#43;202E⟩gnp.exe&#39;")
	mustNotContain(t, r.Body, "\u202E")

	job := e.run(protocol.JobPreview)
	pod, epoch := e.start(job)
	sendLogs(t, pod, job.ID, epoch, protocol.LogLine{Seq: 1, Time: e.clk.Now(), Level: "info", Message: "read \u2067file\u2069 \u200F"})
	if err := pod.SendPreview(e.ctx, job.ID, protocol.PreviewRequest{Epoch: epoch,
		Columns: []protocol.Column{{Name: "name", Type: "string"}},
		Rows:    [][]json.RawMessage{{json.RawMessage(`"\u202Atxt.exe\u202C"`)}}}); err != nil {
		t.Fatalf("SendPreview: %v", err)
	}
	r = e.b.get("/jobs/" + job.ID)
	mustContain(t, r.Body, "⟨U&#43;202A⟩txt.exe⟨U&#43;202C⟩", "read ⟨U&#43;2067⟩file⟨U&#43;2069⟩ ⟨U&#43;200F⟩")
	for _, c := range []string{"\u202A", "\u202C", "\u2067", "\u2069", "\u200F"} {
		if strings.Contains(r.Body, c) {
			t.Errorf("job page has the raw character %U", []rune(c)[0])
		}
	}
}

func TestPreviewLongCellShortened(t *testing.T) {
	e := newJobsEnv(t)
	job := e.run(protocol.JobPreview)
	pod, epoch := e.start(job)
	long := strings.Repeat("ab", 4650) // 9,300 characters
	medium := strings.Repeat("é", 300)
	cells, err := json.Marshal([]string{long, medium, "short"})
	if err != nil {
		t.Fatal(err)
	}
	var row []json.RawMessage
	if err := json.Unmarshal(cells, &row); err != nil {
		t.Fatal(err)
	}
	if err := pod.SendPreview(e.ctx, job.ID, protocol.PreviewRequest{Epoch: epoch,
		Columns: []protocol.Column{{Name: "a", Type: "string"}, {Name: "b", Type: "string"}, {Name: "c", Type: "string"}},
		Rows:    [][]json.RawMessage{row}}); err != nil {
		t.Fatalf("SendPreview: %v", err)
	}

	r := e.b.get("/jobs/" + job.ID)
	mustContain(t, r.Body, strings.Repeat("ab", 100)+"…", "(9,300 characters)",
		`title="`+medium+`"`, strings.Repeat("é", 200)+"…", "(300 characters)", "<td>short</td>")
	mustNotContain(t, r.Body, strings.Repeat("ab", 101), strings.Repeat("é", 201)+"…")
	if len(r.Body) > 20000 {
		t.Errorf("job page is %d bytes, want the long value left out", len(r.Body))
	}

	e.b.lang = "ja"
	mustContain(t, e.b.get("/jobs/"+job.ID).Body, "（全9,300文字）")
}

func TestJobReasonLocalized(t *testing.T) {
	e := newJobsEnv(t)
	job := e.run(protocol.JobTransfer)
	e.start(job)
	if r := e.b.post("/jobs/"+job.ID+"/cancel", nil); r.Status != http.StatusSeeOther {
		t.Fatalf("cancel: status %d, want 303", r.Status)
	}
	r := e.b.get("/jobs/" + job.ID)
	mustContain(t, r.Body, `id="job-reason-text">Cancelled by a user.<`)
	mustNotContain(t, r.Body, "admin API", `id="job-reason-message"`)
	e.b.lang = "ja"
	r = e.b.get("/jobs/" + job.ID)
	mustContain(t, r.Body, "ユーザーがキャンセルしました。")
	mustNotContain(t, r.Body, "admin API")

	failed := e.run(protocol.JobTransfer)
	_, epoch := e.start(failed)
	e.report(failed.ID, protocol.JobStatusRequest{Epoch: epoch, Phase: protocol.PhaseFailed,
		Reason: protocol.ReasonEngineFailed, Message: "source table \"items\" not found"})
	r = e.b.get("/jobs/" + failed.ID)
	mustContain(t, r.Body, "転送エンジンが失敗を報告しました。",
		`id="job-reason-message">エンジンからのメッセージ（英語）: source table &#34;items&#34; not found<`)
	mustNotContain(t, r.Body, "コントロールプレーンからのメッセージ")
	e.b.lang = "en"
	r = e.b.get("/jobs/" + failed.ID)
	mustContain(t, r.Body, "The transfer engine reported a failure.",
		`id="job-reason-message">source table &#34;items&#34; not found<`)
}

func TestJobRunnerReportShownWhenNew(t *testing.T) {
	e := newJobsEnv(t)

	// The runner confirms the cancel. The reason badge already shows the
	// cancel, so the runner's report is not shown.
	cancelled := e.run(protocol.JobTransfer)
	_, epoch := e.start(cancelled)
	if r := e.b.post("/jobs/"+cancelled.ID+"/cancel", nil); r.Status != http.StatusSeeOther {
		t.Fatalf("cancel: status %d, want 303", r.Status)
	}
	e.report(cancelled.ID, protocol.JobStatusRequest{Epoch: epoch, Phase: protocol.PhaseCancelled,
		Reason: "Cancelled", Message: "spec.cancel is set"})
	if got := e.job(cancelled.ID).OperatorPhase; got != protocol.PhaseCancelled {
		t.Fatalf("runner phase %q, want Cancelled", got)
	}
	e.b.lang = "ja"
	r := e.b.get("/jobs/" + cancelled.ID)
	mustContain(t, r.Body, `<span class="reason-code">CancelRequested</span>`)
	mustNotContain(t, r.Body, `id="job-runner-report"`, "ランナーの報告")

	// The pod ran out of memory before the cancel reached it: the report
	// names a cause that the reason does not.
	oom := e.run(protocol.JobTransfer)
	_, epoch = e.start(oom)
	if r := e.b.post("/jobs/"+oom.ID+"/cancel", nil); r.Status != http.StatusSeeOther {
		t.Fatalf("cancel: status %d, want 303", r.Status)
	}
	e.report(oom.ID, protocol.JobStatusRequest{Epoch: epoch, Phase: protocol.PhaseFailed,
		Reason: "OOMKilled", Message: "container used more than its memory limit"})
	r = e.b.get("/jobs/" + oom.ID)
	mustContain(t, r.Body, `id="job-runner-report">ランナーの報告: 失敗（理由: OOMKilled）<`)
	e.b.lang = "en"
	r = e.b.get("/jobs/" + oom.ID)
	mustContain(t, r.Body, `id="job-runner-report">The runner reported phase Failed with reason OOMKilled.<`)
}

func TestJobResultInterruptedWording(t *testing.T) {
	e := newJobsEnv(t)
	interrupted := protocol.ResultRequest{Rows: 10, DurationSeconds: 1, ExitCode: 143, Interrupted: true,
		Error: "context canceled"}

	cancelled := e.run(protocol.JobTransfer)
	pod, epoch := e.start(cancelled)
	if r := e.b.post("/jobs/"+cancelled.ID+"/cancel", nil); r.Status != http.StatusSeeOther {
		t.Fatalf("cancel: status %d, want 303", r.Status)
	}
	interrupted.Epoch = epoch
	if err := pod.SendResult(e.ctx, cancelled.ID, interrupted); err != nil {
		t.Fatalf("SendResult: %v", err)
	}

	evicted := e.run(protocol.JobTransfer)
	pod, epoch = e.start(evicted)
	interrupted.Epoch = epoch
	if err := pod.SendResult(e.ctx, evicted.ID, interrupted); err != nil {
		t.Fatalf("SendResult: %v", err)
	}
	e.report(evicted.ID, protocol.JobStatusRequest{Epoch: epoch, Phase: protocol.PhaseFailed, Reason: "Evicted",
		Message: "the node was drained"})

	mustContain(t, e.b.get("/jobs/"+cancelled.ID).Body, "<dd>Interrupted by the cancel</dd>")
	mustContain(t, e.b.get("/jobs/"+evicted.ID).Body, "<dd>Interrupted: the job&#39;s pod was stopped</dd>")
	e.b.lang = "ja"
	mustContain(t, e.b.get("/jobs/"+cancelled.ID).Body, "<dd>キャンセルにより中断</dd>")
	r := e.b.get("/jobs/" + evicted.ID)
	mustContain(t, r.Body, "<dd>Pod の停止により中断</dd>")
	mustNotContain(t, r.Body, "シグナル")
}

func TestLiveStatusTexts(t *testing.T) {
	e := newJobsEnv(t)
	job := e.run(protocol.JobTransfer)
	for _, path := range []string{"/jobs", "/jobs/" + job.ID, "/clusters/tokyo"} {
		r := e.b.get(path)
		mustContain(t, r.Body, `<span id="live-status" aria-live="polite" data-text-on="Updating live" data-text-off="Live updates paused; reconnecting"`,
			`data-text-signedout="Live updates stopped: you signed out or your sign-in expired." data-text-signin="Sign in again">`)
	}
	e.b.lang = "ja"
	mustContain(t, e.b.get("/jobs").Body, `data-text-on="自動更新中"`, `data-text-signin="もう一度サインイン"`)
}

func TestJobEmptyLogWording(t *testing.T) {
	e := newJobsEnv(t)
	job := e.run(protocol.JobTransfer)
	r := e.b.get("/jobs/" + job.ID)
	mustContain(t, r.Body, `data-empty="No log lines yet."`, `data-empty-ended="This job wrote no log lines."`)

	if r := e.b.post("/jobs/"+job.ID+"/cancel", nil); r.Status != http.StatusSeeOther {
		t.Fatalf("cancel: status %d, want 303", r.Status)
	}
	r = e.b.get("/jobs/" + job.ID)
	mustContain(t, r.Body, `data-empty="This job wrote no log lines."`)
	e.b.lang = "ja"
	mustContain(t, e.b.get("/jobs/"+job.ID).Body, `data-empty="このジョブはログを出力しませんでした。"`)
}

func TestLanguageSwitchDropsNotice(t *testing.T) {
	e := newJobsEnv(t)
	r := e.b.get("/clusters/tokyo?notice=created&x=1")
	mustContain(t, r.Body, `href="/clusters/tokyo?lang=ja&amp;x=1"`)
	mustNotContain(t, r.Body, "notice=created&amp;lang")
}

func TestTokenPageCodeSpans(t *testing.T) {
	b := startUI(t)
	for _, lang := range []string{"en", "ja"} {
		b.env.CreateCluster(t, "c-"+lang)
		b.lang = lang
		r := createToken(t, b, "c-"+lang)
		if lang == "en" {
			mustContain(t, r.Body, "<code>read -rs</code>")
		}
		mustNotContain(t, r.Body, "`")
	}
}

// fieldTag returns the start tag of the element with the id.
func fieldTag(t *testing.T, body, id string) string {
	t.Helper()
	i := strings.Index(body, ` id="`+id+`"`)
	if i < 0 {
		t.Fatalf("page has no element with id %q; page:\n%s", id, body)
	}
	start := strings.LastIndex(body[:i], "<")
	end := strings.Index(body[i:], ">")
	return body[start : i+end+1]
}

func TestFormErrorsDescribed(t *testing.T) {
	e := newJobsEnv(t)

	r := e.b.post("/clusters", url.Values{"name": {"bad name"}})
	tag := fieldTag(t, r.Body, "cluster-name")
	mustContain(t, tag, `aria-describedby="cluster-name-hint cluster-name-error"`, `aria-invalid="true"`)
	mustContain(t, r.Body, `<p class="message" id="cluster-name-error">`, `id="cluster-name-hint"`)

	r = e.b.post("/connections", url.Values{"name": {""}, "type": {"mysql"}, "port": {"99999"}})
	mustContain(t, fieldTag(t, r.Body, "conn-name"), `aria-describedby="conn-name-hint conn-name-error"`, `aria-invalid="true"`)
	mustContain(t, fieldTag(t, r.Body, "conn-port"), `aria-describedby="conn-port-hint conn-port-error"`, `aria-invalid="true"`)
	mustContain(t, r.Body, `id="conn-name-error"`, `id="conn-port-error"`, `id="conn-name-hint"`)
	mustNotContain(t, fieldTag(t, r.Body, "conn-path"), "aria-invalid")

	r = e.b.post("/configs", url.Values{"name": {"x"}, "parallelism": {"-1"}})
	mustContain(t, fieldTag(t, r.Body, "cfg-source-connection"), `aria-describedby="cfg-source-connection-error"`, `aria-invalid="true"`)
	mustContain(t, fieldTag(t, r.Body, "cfg-parallelism"), `aria-describedby="cfg-parallelism-hint cfg-parallelism-error"`)
	mustContain(t, fieldTag(t, r.Body, "cfg-mode"), `aria-describedby="cfg-mode-help cfg-mode-hint cfg-mode-error"`)
	mustContain(t, r.Body, `id="cfg-source-connection-error"`, `id="cfg-parallelism-error"`)

	r = e.b.get("/jobs?from=yesterday")
	mustContain(t, fieldTag(t, r.Body, "filter-from"), `aria-describedby="filter-time-hint filter-from-error"`, `aria-invalid="true"`)
	mustContain(t, fieldTag(t, r.Body, "filter-to"), `aria-describedby="filter-time-hint"`)
	mustNotContain(t, fieldTag(t, r.Body, "filter-to"), "aria-invalid")
	mustContain(t, r.Body, `id="filter-from-error"`)
}

func TestPagesAccessibleNames(t *testing.T) {
	e := newJobsEnv(t)
	r := e.b.get("/clusters/tokyo")
	mustContain(t, r.Body, `<th><span class="visually-hidden">Actions</span></th>`)
	body := r.Body[strings.Index(r.Body, "<body>"):]
	if first := body[strings.Index(body, "<a "):]; !strings.HasPrefix(first, `<a class="skip-link" href="#main"`) {
		t.Errorf("first link is not the skip link: %.80s", first)
	}
	mustContain(t, r.Body, `<main id="main" tabindex="-1">`, "Skip to the content")

	e.env.CreateCluster(t, "osaka")
	r = createToken(t, e.b, "osaka")
	mustContain(t, r.Body, `aria-label="Copy the token"`, `aria-label="Copy the kubectl command"`,
		`aria-label="Copy the helm command"`, `id="copy-status" role="status" aria-live="polite"`)

	job := e.run(protocol.JobTransfer)
	r = e.b.get("/jobs/" + job.ID)
	mustContain(t, r.Body, `<span id="job-state" aria-live="polite" data-announce>`, `id="live-announce" aria-live="polite"`)

	e.b.lang = "ja"
	mustContain(t, e.b.get("/connections").Body, "本文へ移動", `<span class="visually-hidden">操作</span>`)
}

// TestStylesheetNarrowScreens guards the rules that keep pages inside a
// 400 px window; screenshots with headless Chromium showed each one is
// needed.
func TestStylesheetNarrowScreens(t *testing.T) {
	b := startUI(t)
	css := b.get("/static/app.css").Body
	mustContain(t, css,
		"header.top { flex-wrap: wrap;",
		"header.top nav { order: 5; flex-basis: 100%; }",
		".table-wrap { position: relative; }",
		"main { overflow-wrap: anywhere; }",
		".stat .value { font-size: clamp(0.9rem, 9cqi, 1.3rem); overflow-wrap: anywhere; }")
}

package web_test

import (
	"context"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/controlplane/admin"
	"github.com/ferryhq/ferry/protocol"
)

// configFixture is a cluster and connections to build configurations on.
type configFixture struct {
	cluster admin.Cluster
	src     admin.Connection
	dst     admin.Connection
	csv     admin.Connection
	parquet admin.Connection
}

func newConfigFixture(t *testing.T, b *browser) configFixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	cluster, _ := b.env.CreateCluster(t, "east")
	create := func(name, typ, file string) admin.Connection {
		c, err := b.env.Admin.CreateConnection(ctx, admin.CreateConnectionRequest{Name: name, Type: typ, Path: filepath.Join(dir, file)})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	return configFixture{cluster: cluster, src: create("src", "sqlite", "src.db"), dst: create("dst", "sqlite", "dst.db"),
		csv: create("out-csv", "csv", "out.csv"), parquet: create("out-parquet", "parquet", "out.parquet")}
}

func (f configFixture) form(name string) url.Values {
	return url.Values{
		"name": {name}, "cluster": {f.cluster.ID},
		"source_connection": {f.src.ID}, "source_table": {"items"}, "columns": {"id, name ,price"}, "where": {"price > 10"},
		"dest_connection": {f.dst.ID}, "dest_table": {"items_copy"}, "mode": {"merge"}, "merge_keys": {"id"},
		"incremental": {"1"}, "incremental_columns": {"id"},
		"parallelism": {"4"}, "preview_rows": {"50"},
	}
}

func configCount(t *testing.T, b *browser) int {
	t.Helper()
	cfgs, err := b.env.Admin.ListConfigs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return len(cfgs)
}

func TestConfigCreate(t *testing.T) {
	b := startUI(t)
	f := newConfigFixture(t, b)

	form := b.get("/configs/new")
	if form.Status != http.StatusOK {
		t.Fatalf("GET /configs/new: status %d, want 200", form.Status)
	}
	mustContain(t, form.Body, `id="config-form"`, `id="cfg-name"`, `id="cfg-cluster"`, `id="cfg-source-connection"`,
		`id="cfg-source-table"`, `id="cfg-source-query"`, `id="cfg-dest-connection"`, `id="cfg-dest-table"`,
		`id="cfg-mode"`, `id="cfg-merge-keys"`, `id="cfg-incremental"`, `id="cfg-incremental-columns"`,
		`id="config-save"`, "None (cannot run)", "truncate_insert", "update rows whose merge keys match")
	mustNotContain(t, form.Body, "⟦", `id="config-no-connections"`)

	r := b.post("/configs", f.form("nightly"))
	if r.Status != http.StatusSeeOther {
		t.Fatalf("POST /configs: status %d, want 303; body:\n%s", r.Status, r.Body)
	}
	cfg, err := b.env.Admin.GetConfig(context.Background(), "nightly")
	if err != nil {
		t.Fatal(err)
	}
	if r.Location != "/configs/"+cfg.ID {
		t.Errorf("redirect to %q, want /configs/%s", r.Location, cfg.ID)
	}
	if cfg.ClusterID != f.cluster.ID || cfg.Source.Connection != f.src.ID || cfg.Destination.Connection != f.dst.ID {
		t.Errorf("stored cluster/source/destination = %q/%q/%q, want the fixture's", cfg.ClusterID, cfg.Source.Connection, cfg.Destination.Connection)
	}
	if got := strings.Join(cfg.Source.Columns, ","); got != "id,name,price" {
		t.Errorf("columns = %q, want id,name,price", got)
	}
	if cfg.Source.Table != "items" || cfg.Source.Where != "price > 10" || cfg.Destination.Table != "items_copy" {
		t.Errorf("stored source/destination = %+v / %+v", cfg.Source, cfg.Destination)
	}
	if cfg.Destination.Mode != "merge" || strings.Join(cfg.Destination.MergeKeys, ",") != "id" {
		t.Errorf("mode %q merge keys %v, want merge and [id]", cfg.Destination.Mode, cfg.Destination.MergeKeys)
	}
	if !cfg.Incremental || strings.Join(cfg.IncrementalColumns, ",") != "id" {
		t.Errorf("incremental %v columns %v, want true and [id]", cfg.Incremental, cfg.IncrementalColumns)
	}
	if cfg.Parallelism != 4 || cfg.PreviewRows != 50 {
		t.Errorf("parallelism %d preview rows %d, want 4 and 50", cfg.Parallelism, cfg.PreviewRows)
	}

	page := b.get(r.Location)
	mustContain(t, page.Body, "Configuration nightly", "items_copy", "price &gt; 10", `id="config-run"`, `id="config-preview"`,
		"No jobs yet")
	mustNotContain(t, page.Body, "⟦", `id="config-no-cluster"`, "disabled")
	list := b.get("/configs")
	mustContain(t, list.Body, `id="configs"`, `data-config="nightly"`, ">east<", "<code>merge</code>")
	mustNotContain(t, list.Body, "⟦")
}

func TestConfigCreateFileDestination(t *testing.T) {
	b := startUI(t)
	f := newConfigFixture(t, b)
	form := url.Values{"name": {"to-csv"}, "cluster": {"none"}, "source_connection": {f.src.ID}, "source_query": {"SELECT 1 AS one"},
		"dest_connection": {f.csv.ID}, "mode": {"insert"}}
	r := b.post("/configs", form)
	if r.Status != http.StatusSeeOther {
		t.Fatalf("POST: status %d, want 303; body:\n%s", r.Status, r.Body)
	}
	cfg, err := b.env.Admin.GetConfig(context.Background(), "to-csv")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Destination.Mode != "" || cfg.ClusterID != "" || cfg.Source.Query != "SELECT 1 AS one" {
		t.Errorf("stored %+v, want no mode, no cluster and the query", cfg)
	}
	mustContain(t, b.get("/configs").Body, `data-config="to-csv"`, "none (file)", "(query)")
}

func TestConfigCreateBadInput(t *testing.T) {
	b := startUI(t)
	f := newConfigFixture(t, b)
	with := func(changes map[string]string) url.Values {
		form := f.form("bad")
		for k, v := range changes {
			form.Set(k, v)
		}
		return form
	}
	cases := []struct {
		name    string
		form    url.Values
		message string
	}{
		{"missing name", with(map[string]string{"name": ""}), "Fill in this field."},
		{"invalid name", with(map[string]string{"name": "-dash"}), "Use 1 to 63 letters"},
		{"unknown cluster", with(map[string]string{"cluster": "cls_missing"}), "That cluster no longer exists"},
		{"no source connection", with(map[string]string{"source_connection": ""}), "Choose a connection."},
		{"no table or query", with(map[string]string{"source_table": ""}), "Name a table or write a query."},
		{"table and query", with(map[string]string{"source_query": "SELECT 1"}), "not both"},
		{"no destination table", with(map[string]string{"dest_table": ""}), "Fill in this field."},
		{"unknown mode", with(map[string]string{"mode": "upsert"}), "Choose one of the listed load modes."},
		{"negative parallelism", with(map[string]string{"parallelism": "-1"}), `&#34;-1&#34; is not a valid parallelism`},
		{"too many preview rows", with(map[string]string{"preview_rows": "5000"}), "from 0 to 1000"},
		{"query without incremental columns", with(map[string]string{"source_table": "", "columns": "", "where": "",
			"source_query": "SELECT 1", "incremental_columns": ""}), "needs incremental columns"},
		{"parquet source", with(map[string]string{"source_connection": f.parquet.ID}), "can only be destinations"},
		// The admin API's own messages: files have no tables.
		{"table on a file source", with(map[string]string{"source_connection": f.csv.ID}), "only for database sources"},
		{"table on a file destination", with(map[string]string{"dest_connection": f.csv.ID, "mode": "insert", "merge_keys": ""}),
			"only for database destinations"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := b.post("/configs", tc.form)
			if r.Status != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422; body:\n%s", r.Status, r.Body)
			}
			mustContain(t, r.Body, tc.message, `id="form-error"`, `id="config-form"`)
			if n := configCount(t, b); n != 0 {
				t.Errorf("%d configurations stored, want 0", n)
			}
		})
	}

	// The user's other values come back.
	r := b.post("/configs", with(map[string]string{"parallelism": "-1"}))
	mustContain(t, r.Body, `value="price &gt; 10"`, `value="items_copy"`, `value="-1"`, `class="field-error"`,
		`<option value="`+f.src.ID+`" selected>`, `<option value="merge" selected>`, `name="incremental" type="checkbox" value="1" checked`)
}

func TestConfigQueryWithColumnsOrWhere(t *testing.T) {
	b := startUI(t)
	f := newConfigFixture(t, b)
	form := f.form("query-filters")
	form.Set("source_table", "")
	form.Set("source_query", "SELECT id, name FROM items")
	form.Set("incremental_columns", "id")

	r := b.post("/configs", form)
	if r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("status %d, want 422; body:\n%s", r.Status, r.Body)
	}
	mustContain(t, fieldTag(t, r.Body, "cfg-columns"), `aria-invalid="true"`)
	mustContain(t, fieldTag(t, r.Body, "cfg-where"), `aria-invalid="true"`)
	mustContain(t, r.Body,
		`<p class="message" id="cfg-columns-error">Columns apply to a table source only.`,
		`<p class="message" id="cfg-where-error">Where applies to a table source only.`,
		`id="form-error">Some fields need fixing`)
	// The form checks it before the admin API, whose message is English.
	mustNotContain(t, r.Body, "apply to table sources only")
	if n := configCount(t, b); n != 0 {
		t.Errorf("%d configurations stored, want 0", n)
	}

	b.lang = "ja"
	form.Set("columns", "")
	r = b.post("/configs", form)
	mustContain(t, r.Body, `id="cfg-where-error">抽出条件はテーブルの転送元にだけ使えます。`)
	mustNotContain(t, r.Body, `id="cfg-columns-error"`)
	form.Set("columns", "id")
	form.Set("where", "")
	r = b.post("/configs", form)
	mustContain(t, r.Body, `id="cfg-columns-error">列の指定はテーブルの転送元にだけ使えます。`)
	mustNotContain(t, r.Body, `id="cfg-where-error"`)
	if n := configCount(t, b); n != 0 {
		t.Errorf("%d configurations stored, want 0", n)
	}

	// Without columns and where the query source is stored.
	form.Set("columns", "")
	if r := b.post("/configs", form); r.Status != http.StatusSeeOther {
		t.Fatalf("query source alone: status %d, want 303; body:\n%s", r.Status, r.Body)
	}
}

func TestConfigModeExplainedOnce(t *testing.T) {
	b := startUI(t)
	newConfigFixture(t, b)
	for _, lang := range []string{"en", "ja"} {
		b.lang = lang
		r := b.get("/configs/new")
		mustContain(t, r.Body, `<option value="insert" selected>insert</option>`, `<option value="merge">merge</option>`)
		help := map[string]string{"en": "update rows whose merge keys match", "ja": "マージキーが一致する行は更新し"}[lang]
		if n := strings.Count(r.Body, help); n != 1 {
			t.Errorf("%s: the merge explanation appears %d times, want once", lang, n)
		}
	}
}

func TestConfigFormWithoutConnections(t *testing.T) {
	b := startUI(t)
	r := b.get("/configs/new")
	mustContain(t, r.Body, `id="config-no-connections"`, `href="/connections/new"`, `href="/clusters"`)
	b.lang = "ja"
	mustContain(t, b.get("/configs/new").Body, "接続がまだありません")
}

func TestConfigEdit(t *testing.T) {
	b := startUI(t)
	f := newConfigFixture(t, b)
	b.post("/configs", f.form("editme"))
	cfg, err := b.env.Admin.GetConfig(context.Background(), "editme")
	if err != nil {
		t.Fatal(err)
	}

	form := b.get("/configs/editme/edit")
	mustContain(t, form.Body, `value="editme"`, `<option value="`+f.cluster.ID+`" selected>east</option>`,
		`value="id, name, price"`, `<option value="merge" selected>`, `value="4"`, `value="50"`)

	update := f.form("edited")
	update.Set("cluster", "none")
	update.Set("mode", "truncate_insert")
	update.Set("merge_keys", "")
	update.Del("incremental")
	r := b.post("/configs/"+cfg.ID, update)
	if r.Status != http.StatusSeeOther || r.Location != "/configs/"+cfg.ID {
		t.Fatalf("POST edit: status %d location %q, want 303 to /configs/%s; body:\n%s", r.Status, r.Location, cfg.ID, r.Body)
	}
	got, err := b.env.Admin.GetConfig(context.Background(), cfg.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "edited" || got.ClusterID != "" || got.Destination.Mode != "truncate_insert" || got.Incremental {
		t.Errorf("after the edit: name %q cluster %q mode %q incremental %v, want edited, none, truncate_insert, false",
			got.Name, got.ClusterID, got.Destination.Mode, got.Incremental)
	}

	bad := f.form("edited")
	bad.Set("preview_rows", "x")
	if r := b.post("/configs/"+cfg.ID, bad); r.Status != http.StatusUnprocessableEntity {
		t.Errorf("bad edit: status %d, want 422", r.Status)
	}
	if got, _ := b.env.Admin.GetConfig(context.Background(), cfg.ID); got.PreviewRows != 50 || got.Name != "edited" {
		t.Errorf("after a bad edit: %+v, want it unchanged", got)
	}
}

func TestConfigWithoutClusterCannotRun(t *testing.T) {
	b := startUI(t)
	f := newConfigFixture(t, b)
	form := f.form("idle")
	form.Set("cluster", "none")
	b.post("/configs", form)
	cfg, err := b.env.Admin.GetConfig(context.Background(), "idle")
	if err != nil {
		t.Fatal(err)
	}

	page := b.get("/configs/idle")
	mustContain(t, page.Body, `id="config-no-cluster"`,
		`id="config-run" disabled`, `id="config-preview" disabled`, "has no cluster")
	mustContain(t, b.get("/configs").Body, `data-config="idle"`, `<span class="muted">none</span>`)

	r := b.post("/configs/"+cfg.ID+"/run", nil)
	if r.Status != http.StatusConflict {
		t.Fatalf("run without a cluster: status %d, want 409; body:\n%s", r.Status, r.Body)
	}
	mustContain(t, r.Body, `id="config-error"`, "This configuration has no cluster, so no runner can take its jobs. Set a cluster, then run it again.")
	mustNotContain(t, r.Body, "set a cluster on the config first")
	b.lang = "ja"
	r = b.post("/configs/"+cfg.ID+"/preview", nil)
	if r.Status != http.StatusConflict {
		t.Fatalf("preview without a cluster: status %d, want 409; body:\n%s", r.Status, r.Body)
	}
	mustContain(t, r.Body, "クラスターを指定してから、もう一度実行してください。")
	mustNotContain(t, r.Body, "コントロールプレーンからのメッセージ")
	jobs, err := b.env.Admin.ListJobs(context.Background(), admin.JobListOptions{Config: cfg.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 0 {
		t.Errorf("%d jobs queued, want 0", len(jobs))
	}
}

func TestConfigRunAndPreview(t *testing.T) {
	b := startUI(t)
	f := newConfigFixture(t, b)
	b.post("/configs", f.form("go"))
	cfg, err := b.env.Admin.GetConfig(context.Background(), "go")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path    string
		jobType protocol.JobType
	}{{"/run", protocol.JobTransfer}, {"/preview", protocol.JobPreview}} {
		r := b.post("/configs/"+cfg.ID+tc.path, nil)
		if r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Location, "/jobs/") {
			t.Fatalf("POST %s: status %d location %q, want 303 to /jobs/{id}; body:\n%s", tc.path, r.Status, r.Location, r.Body)
		}
		job, err := b.env.Admin.GetJob(context.Background(), strings.TrimPrefix(r.Location, "/jobs/"))
		if err != nil {
			t.Fatal(err)
		}
		if job.Type != tc.jobType || job.ConfigID != cfg.ID {
			t.Errorf("POST %s queued a %s job of %s, want %s of %s", tc.path, job.Type, job.ConfigID, tc.jobType, cfg.ID)
		}
	}

	page := b.get("/configs/go")
	mustContain(t, page.Body, `id="config-jobs"`, `href="/jobs/job_`, ">Transfer<", ">Preview<", "Queued")
	b.lang = "ja"
	page = b.get("/configs/go")
	mustContain(t, page.Body, "転送設定 go", "今すぐ実行", "最近のジョブ", ">転送<")
	mustNotContain(t, page.Body, "⟦")
}

func TestConfigFormsRejectBadCSRF(t *testing.T) {
	b := startUI(t)
	f := newConfigFixture(t, b)
	for _, token := range []string{"", "wrong"} {
		form := f.form("csrf")
		if token != "" {
			form.Set("csrf", token)
		}
		if r := b.postRaw("/configs", form); r.Status != http.StatusForbidden {
			t.Errorf("create with CSRF token %q: status %d, want 403", token, r.Status)
		}
	}
	if n := configCount(t, b); n != 0 {
		t.Fatalf("%d configurations stored after rejected posts, want 0", n)
	}

	b.post("/configs", f.form("csrf"))
	cfg, err := b.env.Admin.GetConfig(context.Background(), "csrf")
	if err != nil {
		t.Fatal(err)
	}
	edit := f.form("csrf")
	edit.Set("dest_table", "hijacked")
	edit.Set("csrf", "wrong")
	if r := b.postRaw("/configs/"+cfg.ID, edit); r.Status != http.StatusForbidden {
		t.Errorf("edit with a wrong CSRF token: status %d, want 403", r.Status)
	}
	for _, path := range []string{"/run", "/preview"} {
		if r := b.postRaw("/configs/"+cfg.ID+path, url.Values{"csrf": {"wrong"}}); r.Status != http.StatusForbidden {
			t.Errorf("POST %s with a wrong CSRF token: status %d, want 403", path, r.Status)
		}
		if r := b.postRaw("/configs/"+cfg.ID+path, nil); r.Status != http.StatusForbidden {
			t.Errorf("POST %s without a CSRF token: status %d, want 403", path, r.Status)
		}
	}
	got, err := b.env.Admin.GetConfig(context.Background(), cfg.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Destination.Table != "items_copy" {
		t.Errorf("destination table = %q after a rejected edit, want items_copy", got.Destination.Table)
	}
	jobs, err := b.env.Admin.ListJobs(context.Background(), admin.JobListOptions{Config: cfg.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 0 {
		t.Errorf("%d jobs queued by rejected posts, want 0", len(jobs))
	}
}

func TestConfigPagesEscape(t *testing.T) {
	b := startUI(t)
	f := newConfigFixture(t, b)
	const evil = `"'><script>alert(1)</script>`
	_, err := b.env.Admin.CreateConfig(context.Background(), admin.CreateConfigRequest{
		Name: "evil", Cluster: f.cluster.ID,
		Source:      admin.ConfigSource{Connection: f.src.ID, Table: "items", Where: "name = '" + evil + "'"},
		Destination: admin.ConfigDestination{Connection: f.dst.ID, Table: "<b>copy</b>"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/configs", "/configs/evil", "/configs/evil/edit"} {
		body := b.get(path).Body
		mustNotContain(t, body, "<script>alert(1)", "<b>copy</b>")
		mustContain(t, body, "&lt;b&gt;copy&lt;/b&gt;")
	}
	mustContain(t, b.get("/configs/evil").Body, "&lt;script&gt;alert(1)&lt;/script&gt;")
}

func TestConfigPagesNeedSignIn(t *testing.T) {
	b := newBrowser(t, startUI(t).env)
	for _, path := range []string{"/configs", "/configs/new", "/configs/x", "/configs/x/edit"} {
		r := b.get(path)
		if r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Location, "/signin") {
			t.Errorf("GET %s signed out: status %d location %q, want 303 to /signin", path, r.Status, r.Location)
		}
	}
	if r := b.postRaw("/configs/x/run", nil); r.Status != http.StatusForbidden {
		t.Errorf("POST run signed out: status %d, want 403", r.Status)
	}
}

func TestConfigUnknown(t *testing.T) {
	b := startUI(t)
	for _, path := range []string{"/configs/missing", "/configs/missing/edit"} {
		if r := b.get(path); r.Status != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", path, r.Status)
		}
	}
	for _, path := range []string{"/configs/missing", "/configs/missing/run", "/configs/missing/preview"} {
		if r := b.post(path, nil); r.Status != http.StatusNotFound {
			t.Errorf("POST %s: status %d, want 404", path, r.Status)
		}
	}
}

func TestConfigListJapanese(t *testing.T) {
	b := startUI(t)
	f := newConfigFixture(t, b)
	b.post("/configs", f.form("jp"))
	b.lang = "ja"
	list := b.get("/configs")
	mustContain(t, list.Body, "<h1>転送設定</h1>", `data-config="jp"`, "転送元 → 転送先")
	mustNotContain(t, list.Body, "⟦")
	form := b.get("/configs/new")
	mustContain(t, form.Body, "転送設定の作成", "なし（実行不可）", "マージキーが一致する行は更新し")
	mustNotContain(t, form.Body, "⟦")
	r := b.post("/configs", url.Values{"name": {"jp2"}, "mode": {"insert"}})
	if r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("status %d, want 422", r.Status)
	}
	mustContain(t, r.Body, "接続を選んでください。", "修正が必要な項目があります")
}

func TestAPIMessageJapaneseLeadIn(t *testing.T) {
	b := startUI(t)
	b.lang = "ja"
	r := b.get("/configs/missing/edit")
	if r.Status != http.StatusNotFound {
		t.Fatalf("GET unknown edit: status %d, want 404", r.Status)
	}
	mustContain(t, r.Body, "コントロールプレーンからのメッセージ（英語）: config &#34;missing&#34; not found")

	// The clusters page shows the API's not-found message, whose advice
	// for the command line means nothing in the UI.
	r = b.get("/clusters/missing")
	mustContain(t, r.Body, "コントロールプレーンからのメッセージ（英語）: cluster &#34;missing&#34; not found")
	mustNotContain(t, r.Body, "controlplane cluster list")

	b.lang = "en"
	r = b.get("/clusters/missing")
	mustContain(t, r.Body, "cluster &#34;missing&#34; not found")
	mustNotContain(t, r.Body, "コントロールプレーン", "controlplane cluster list")
}

func TestConfigDuplicateNameLocalized(t *testing.T) {
	b := startUI(t)
	f := newConfigFixture(t, b)
	b.post("/configs", f.form("dup"))
	b.post("/configs", f.form("other"))
	b.lang = "ja"
	r := b.post("/configs", f.form("dup"))
	if r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("duplicate create: status %d, want 422; body:\n%s", r.Status, r.Body)
	}
	mustContain(t, r.Body, `<div class="field-error">`, "転送設定「dup」はすでにあります。別の名前にしてください。", "修正が必要な項目があります")
	mustNotContain(t, r.Body, "already exists", "コントロールプレーンからのメッセージ")

	b.lang = "en"
	other, err := b.env.Admin.GetConfig(context.Background(), "other")
	if err != nil {
		t.Fatal(err)
	}
	r = b.post("/configs/"+other.ID, f.form("dup"))
	if r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("duplicate rename: status %d, want 422", r.Status)
	}
	mustContain(t, r.Body, "A configuration named &#34;dup&#34; already exists; pick another name.")
	if n := configCount(t, b); n != 2 {
		t.Errorf("%d configurations stored, want 2", n)
	}
}

func TestConfigFormClusterChoice(t *testing.T) {
	b := startUI(t)

	// No cluster: the user must choose None on purpose.
	none := b.get("/configs/new")
	mustContain(t, none.Body, `<option value="" selected disabled>Choose a cluster</option>`, `<option value="none">None (cannot run)</option>`)

	// One cluster: it is the default.
	f := newConfigFixture(t, b)
	one := b.get("/configs/new")
	mustContain(t, one.Body, `<option value="`+f.cluster.ID+`" selected>east</option>`, `<option value="none">None (cannot run)</option>`)
	mustNotContain(t, one.Body, "Choose a cluster")

	// Several clusters: no default.
	b.env.CreateCluster(t, "west")
	several := b.get("/configs/new")
	mustContain(t, several.Body, `<option value="" selected disabled>Choose a cluster</option>`, `<option value="`+f.cluster.ID+`">east</option>`)
	b.lang = "ja"
	mustContain(t, b.get("/configs/new").Body, "クラスターを選択")
	b.lang = "en"

	// A form without a choice is rejected and stores nothing.
	form := f.form("unchosen")
	form.Del("cluster")
	r := b.post("/configs", form)
	if r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("no cluster chosen: status %d, want 422; body:\n%s", r.Status, r.Body)
	}
	mustContain(t, r.Body, "Choose the cluster whose runners run the jobs, or None to store the configuration without one.",
		`<option value="" selected disabled>Choose a cluster</option>`)
	if n := configCount(t, b); n != 0 {
		t.Errorf("%d configurations stored, want 0", n)
	}

	// Editing a configuration without a cluster shows None chosen.
	form.Set("cluster", "none")
	if r := b.post("/configs", form); r.Status != http.StatusSeeOther {
		t.Fatalf("cluster none: status %d, want 303; body:\n%s", r.Status, r.Body)
	}
	mustContain(t, b.get("/configs/unchosen/edit").Body, `<option value="none" selected>None (cannot run)</option>`)
}

func TestConfigFormParquetNotASource(t *testing.T) {
	b := startUI(t)
	f := newConfigFixture(t, b)
	r := b.get("/configs/new")
	mustContain(t, r.Body, `<option value="`+f.parquet.ID+`" disabled>out-parquet (parquet, destination only)</option>`,
		`<option value="`+f.parquet.ID+`">out-parquet (parquet)</option>`)
	src := r.Body[strings.Index(r.Body, `id="cfg-source-connection"`):strings.Index(r.Body, `id="cfg-dest-connection"`)]
	mustNotContain(t, src, `<option value="`+f.parquet.ID+`">`)
	b.lang = "ja"
	mustContain(t, b.get("/configs/new").Body, "out-parquet（parquet、転送先のみ）")
}

package web_test

import (
	"bufio"
	"context"
	"encoding/json"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/controlplane/admin"
	"github.com/ferryhq/ferry/controlplane/cptest"
	"github.com/ferryhq/ferry/controlplane/web"
	"github.com/ferryhq/ferry/protocol"
)

// hostileRunnerName is a runner name that breaks a page that does not
// escape it. The runner protocol accepts any name up to 253 characters,
// while cluster names cannot hold these characters.
const hostileRunnerName = `<b>ns</b>/"'><script>x</script>`

func listClusters(t *testing.T, b *browser) []admin.Cluster {
	t.Helper()
	clusters, err := b.env.Admin.ListClusters(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return clusters
}

func listTokens(t *testing.T, b *browser, cluster string) []admin.Token {
	t.Helper()
	tokens, err := b.env.Admin.ListTokens(context.Background(), cluster)
	if err != nil {
		t.Fatal(err)
	}
	return tokens
}

func TestClustersPageBothLanguages(t *testing.T) {
	b := startUI(t)
	b.env.CreateCluster(t, "tokyo")

	r := b.get("/clusters")
	if r.Status != http.StatusOK {
		t.Fatalf("GET /clusters: status %d, want 200", r.Status)
	}
	mustContain(t, r.Body, `id="cluster-form"`, `id="cluster-name"`, `id="cluster-create"`, `id="clusters"`,
		`data-cluster="tokyo"`, `href="/clusters/tokyo"`, "Create a cluster", "Live tokens", "1 / 2")

	b.lang = "ja"
	r = b.get("/clusters")
	if r.Status != http.StatusOK {
		t.Fatalf("GET /clusters in Japanese: status %d, want 200", r.Status)
	}
	mustContain(t, r.Body, `lang="ja"`, "クラスターの作成", "有効なトークン", `data-cluster="tokyo"`)
	mustNotContain(t, r.Body, "⟦")
}

func TestClustersEmptyState(t *testing.T) {
	b := startUI(t)
	r := b.get("/clusters")
	mustContain(t, r.Body, `id="clusters-empty"`, "No clusters yet")
}

func TestClusterCreateRedirectsToCluster(t *testing.T) {
	b := startUI(t)
	r := b.post("/clusters", url.Values{"name": {"osaka-1"}})
	if r.Status != http.StatusSeeOther {
		t.Fatalf("POST /clusters: status %d, want 303; body:\n%s", r.Status, r.Body)
	}
	if r.Location != "/clusters/osaka-1?notice=created" {
		t.Errorf("Location = %q, want /clusters/osaka-1?notice=created", r.Location)
	}
	if got := listClusters(t, b); len(got) != 1 || got[0].Name != "osaka-1" {
		t.Errorf("clusters after create = %+v, want one named osaka-1", got)
	}

	r = b.get(r.Location)
	if r.Status != http.StatusOK {
		t.Fatalf("GET cluster page: status %d, want 200", r.Status)
	}
	mustContain(t, r.Body, `id="notice"`, "Cluster created.", `id="cluster-title">osaka-1<`, `id="tokens"`,
		`id="token-create"`, `id="runners"`, `data-stream="/clusters/osaka-1/events"`, `id="live-status"`,
		"No runner has joined this cluster yet.")
	mustNotContain(t, r.Body, `id="token-create" disabled`)

	b.lang = "ja"
	r = b.get("/clusters/osaka-1")
	mustContain(t, r.Body, "登録トークン", "このクラスターに参加しているランナーはまだありません。")
	mustNotContain(t, r.Body, "⟦")
}

func TestClusterCreateBadInput(t *testing.T) {
	b := startUI(t)
	b.env.CreateCluster(t, "taken")

	cases := []struct {
		name, input, message string
	}{
		{"empty", "  ", "Fill in this field."},
		{"bad pattern", `bad name<b>"`, "Use 1 to 63 letters, digits"},
		{"too long", strings.Repeat("a", 64), "Use 1 to 63 letters, digits"},
		{"duplicate", "taken", `A cluster named &#34;taken&#34; already exists; pick another name.`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := b.post("/clusters", url.Values{"name": {tc.input}})
			if r.Status != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422; body:\n%s", r.Status, r.Body)
			}
			mustContain(t, r.Body, "Some fields need fixing", `class="field-error"`, tc.message)
			if strings.TrimSpace(tc.input) != "" {
				mustContain(t, r.Body, `value="`+html.EscapeString(tc.input)+`"`)
			}
			mustNotContain(t, r.Body, "<b>\"")
			if got := listClusters(t, b); len(got) != 1 {
				t.Errorf("clusters after a refused create = %+v, want only the one created before", got)
			}
		})
	}

	b.lang = "ja"
	r := b.post("/clusters", url.Values{"name": {""}})
	if r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("Japanese: status %d, want 422", r.Status)
	}
	mustContain(t, r.Body, "入力")
	mustNotContain(t, r.Body, "⟦")
}

func TestClusterDuplicateNameLocalized(t *testing.T) {
	b := startUI(t)
	b.env.CreateCluster(t, "taken")
	b.lang = "ja"
	r := b.post("/clusters", url.Values{"name": {"taken"}})
	if r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("duplicate create: status %d, want 422; body:\n%s", r.Status, r.Body)
	}
	mustContain(t, r.Body, `class="field-error"`, "クラスター「taken」はすでにあります。別の名前にしてください。",
		"修正が必要な項目があります")
	mustNotContain(t, r.Body, "already exists", "コントロールプレーンからのメッセージ")
	if got := listClusters(t, b); len(got) != 1 {
		t.Errorf("clusters after a refused create = %+v, want only the one created before", got)
	}
}

func TestClusterFormsRejectBadCSRF(t *testing.T) {
	b := startUI(t)
	b.env.CreateCluster(t, "tokyo")
	tokenID := listTokens(t, b, "tokyo")[0].ID

	posts := []struct {
		path string
		form url.Values
	}{
		{"/clusters", url.Values{"name": {"new-one"}}},
		{"/clusters/tokyo/tokens", url.Values{}},
		{"/clusters/tokyo/tokens/" + tokenID + "/revoke", url.Values{}},
	}
	for _, p := range posts {
		for _, csrf := range []string{"", "wrong"} {
			form := url.Values{}
			for k, v := range p.form {
				form[k] = v
			}
			if csrf != "" {
				form.Set("csrf", csrf)
			}
			r := b.postRaw(p.path, form)
			if r.Status != http.StatusForbidden {
				t.Errorf("POST %s with csrf %q: status %d, want 403", p.path, csrf, r.Status)
			}
		}
	}
	if got := listClusters(t, b); len(got) != 1 {
		t.Errorf("clusters = %+v, want only tokyo", got)
	}
	tokens := listTokens(t, b, "tokyo")
	if len(tokens) != 1 {
		t.Errorf("tokens = %+v, want the one created before", tokens)
	}
	if len(tokens) > 0 && tokens[0].RevokedAt != nil {
		t.Errorf("token %s was revoked by a post without a valid CSRF token", tokens[0].ID)
	}
}

func TestClusterPagesNeedSignIn(t *testing.T) {
	env := cptest.Start(t)
	env.CreateCluster(t, "tokyo")
	b := newBrowser(t, env)
	for _, path := range []string{"/clusters", "/clusters/tokyo"} {
		r := b.get(path)
		if r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Location, "/signin?next=") {
			t.Errorf("signed-out GET %s: status %d Location %q, want 303 to /signin", path, r.Status, r.Location)
		}
	}
}

func TestClusterPageUnknownCluster(t *testing.T) {
	b := startUI(t)
	r := b.get("/clusters/nowhere")
	if r.Status != http.StatusNotFound {
		t.Fatalf("GET unknown cluster: status %d, want 404", r.Status)
	}
	mustContain(t, r.Body, `cluster &#34;nowhere&#34; not found`)
}

func TestTokenShownOnce(t *testing.T) {
	b := startUI(t)
	if _, err := b.env.Admin.CreateCluster(context.Background(), "tokyo"); err != nil {
		t.Fatal(err)
	}
	r := createToken(t, b, "tokyo")
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
	tokens := listTokens(t, b, "tokyo")
	if len(tokens) != 1 {
		t.Fatalf("tokens after create = %+v, want one", tokens)
	}
	hint := tokens[0].Hint
	m := tokenValuePattern(r.Body)
	if m == "" || !strings.HasPrefix(m, strings.TrimSuffix(hint, "…")) {
		t.Fatalf("token page has token %q, want one that starts with the hint %q; page:\n%s", m, hint, r.Body)
	}
	// The token must work: a runner joins with it.
	if _, err := b.env.RunnerClient(t, m).Join(context.Background(), protocol.JoinRequest{Name: "ns/r", MaxConcurrentJobs: 1}); err != nil {
		t.Fatalf("join with the shown token: %v", err)
	}
	mustContain(t, r.Body, `id="token-warning"`, "shown only on this page",
		`id="token-copy" data-copy="token-value"`, `id="kubectl-command"`, `id="helm-command"`,
		"kubectl create namespace ferry-system --dry-run=client -o yaml | kubectl apply -f -\n"+
			"kubectl -n ferry-system create secret generic ferry-runner-token --from-literal=token="+m+
			" \\\n  --dry-run=client -o yaml | kubectl apply -f -",
		"helm upgrade --install ferry charts/ferry -n ferry-system --create-namespace",
		"--set runner.enabled=true",
		"--set runner.name=tokyo",
		"--set runner.controlPlaneURL="+b.env.URL,
		"--set runner.token.existingSecret=ferry-runner-token")

	r = b.get("/clusters/tokyo")
	mustNotContain(t, r.Body, m)
	mustContain(t, r.Body, "<code>"+hint+"</code>")
	r = b.get("/clusters")
	mustNotContain(t, r.Body, m)

	b.lang = "ja"
	r = createToken(t, b, "tokyo")
	mustContain(t, r.Body, "今すぐトークンをコピーしてください", "オペレーターのインストール")
	mustNotContain(t, r.Body, "⟦")
}

// createToken creates a registration token through the cluster page and
// returns the page it redirects to, the one that shows the token.
func createToken(t *testing.T, b *browser, cluster string) response {
	t.Helper()
	r := b.post("/clusters/"+cluster+"/tokens", nil)
	if r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Location, "/clusters/"+cluster+"/tokens/tok_") {
		t.Fatalf("POST tokens: status %d, Location %q; want 303 to the token's page; body:\n%s", r.Status, r.Location, r.Body)
	}
	r = b.get(r.Location)
	if r.Status != http.StatusOK {
		t.Fatalf("GET token page: status %d, want 200; body:\n%s", r.Status, r.Body)
	}
	return r
}

func TestTokenPagePostRedirectGet(t *testing.T) {
	b := startUI(t)
	if _, err := b.env.Admin.CreateCluster(context.Background(), "tokyo"); err != nil {
		t.Fatal(err)
	}
	before := len(listTokens(t, b, "tokyo"))

	r := b.post("/clusters/tokyo/tokens", nil)
	if r.Status != http.StatusSeeOther {
		t.Fatalf("POST tokens: status %d, want 303; body:\n%s", r.Status, r.Body)
	}
	tokens := listTokens(t, b, "tokyo")
	if len(tokens) != before+1 {
		t.Fatalf("tokens after create = %d, want %d", len(tokens), before+1)
	}
	newID := tokens[len(tokens)-1].ID
	showPath := "/clusters/tokyo/tokens/" + newID
	if r.Location != showPath {
		t.Errorf("Location = %q, want %q", r.Location, showPath)
	}
	mustNotContain(t, r.Body, `id="token-value"`)
	setCookie := strings.Join(r.Header.Values("Set-Cookie"), "\n")
	for _, attr := range []string{"ferry_new_token=", "Path=" + showPath, "Max-Age=300", "HttpOnly", "Secure", "SameSite=Strict"} {
		if !strings.Contains(setCookie, attr) {
			t.Errorf("flash cookie lacks %s: %s", attr, setCookie)
		}
	}
	flash := *b.cookies["ferry_new_token"]

	r = b.get(showPath)
	if r.Status != http.StatusOK {
		t.Fatalf("GET token page: status %d, want 200", r.Status)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
	if tokenValuePattern(r.Body) == "" {
		t.Fatalf("token page shows no token; page:\n%s", r.Body)
	}
	if _, ok := b.cookies["ferry_new_token"]; ok {
		t.Error("the token page left the flash cookie set")
	}
	// The language switch would reload the page and lose the token.
	mustContain(t, r.Body, `id="lang-locked"`, "Copy the token before you switch the language")
	mustNotContain(t, r.Body, `id="lang-ja"`, "?lang=")

	// A reload finds no cookie, so it goes to the cluster page, which shows
	// why. No token was created.
	r = b.get(showPath)
	if r.Status != http.StatusSeeOther || r.Location != "/clusters/tokyo?notice=tokenShown" {
		t.Fatalf("reload: status %d, Location %q; want 303 to the cluster page", r.Status, r.Location)
	}
	r = b.get(r.Location)
	mustContain(t, r.Body, `id="notice"`, "shown once and cannot be shown again")
	if got := len(listTokens(t, b, "tokyo")); got != before+1 {
		t.Errorf("tokens after the reload = %d, want %d", got, before+1)
	}

	// The flash cookie works for its own token only.
	other, err := b.env.Admin.CreateCluster(context.Background(), "osaka")
	if err != nil {
		t.Fatal(err)
	}
	b.cookies["ferry_new_token"] = &flash
	if r := b.get("/clusters/" + other.Name + "/tokens/" + newID); r.Status != http.StatusSeeOther {
		t.Errorf("flash cookie on another cluster's path: status %d, want 303", r.Status)
	}

	b.lang = "ja"
	r = createToken(t, b, "tokyo")
	mustContain(t, r.Body, `id="lang-locked"`)
	mustNotContain(t, r.Body, "⟦")
	r = b.get("/clusters/tokyo?notice=tokenShown")
	mustContain(t, r.Body, "再表示できません")
}

func TestTokenFlashNeedsSameSession(t *testing.T) {
	b := startUI(t)
	b.env.CreateCluster(t, "tokyo")
	r := b.post("/clusters/tokyo/tokens", nil)
	flash := *b.cookies["ferry_new_token"]

	other := newBrowser(t, b.env)
	other.signIn()
	other.cookies["ferry_new_token"] = &flash
	if r := other.get(r.Location); r.Status != http.StatusSeeOther {
		t.Errorf("flash cookie in another session: status %d, want 303", r.Status)
	}
}

// tokenValuePattern returns the value of the token box on a page.
func tokenValuePattern(body string) string {
	_, after, ok := strings.Cut(body, `id="token-value"`)
	if !ok {
		return ""
	}
	_, after, ok = strings.Cut(after, `value="`)
	if !ok {
		return ""
	}
	value, _, _ := strings.Cut(after, `"`)
	return value
}

func TestThirdTokenRejected(t *testing.T) {
	b := startUI(t)
	if _, err := b.env.Admin.CreateCluster(context.Background(), "tokyo"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		createToken(t, b, "tokyo")
	}
	r := b.get("/clusters/tokyo")
	mustContain(t, r.Body, `id="token-create" disabled`, `id="token-limit"`, "already has 2 live tokens")

	// A stale page can still post. The API rejects it, and the page shows
	// why.
	r = b.post("/clusters/tokyo/tokens", nil)
	if r.Status != http.StatusConflict {
		t.Fatalf("third token: status %d, want 409; body:\n%s", r.Status, r.Body)
	}
	mustContain(t, r.Body, `id="token-error"`, "This cluster already has 2 live tokens. Revoke one")
	mustNotContain(t, r.Body, "controlplane token")
	b.lang = "ja"
	r = b.post("/clusters/tokyo/tokens", nil)
	mustContain(t, r.Body, `id="token-error"`, "有効なトークンがすでに")
	mustNotContain(t, r.Body, "live registration tokens")
	mustNotContain(t, r.Body, `id="token-value"`)
	if got := listTokens(t, b, "tokyo"); len(got) != 2 {
		t.Errorf("tokens after the refused third = %d, want 2", len(got))
	}
}

func TestTokenRevoke(t *testing.T) {
	b := startUI(t)
	_, secret := b.env.CreateCluster(t, "tokyo")
	tok := listTokens(t, b, "tokyo")[0]

	r := b.get("/clusters/tokyo")
	mustContain(t, r.Body, `action="/clusters/tokyo/tokens/`+tok.ID+`/revoke"`, `data-confirm="Revoke token `)

	r = b.post("/clusters/tokyo/tokens/"+tok.ID+"/revoke", nil)
	if r.Status != http.StatusSeeOther || r.Location != "/clusters/tokyo?notice=revoked" {
		t.Fatalf("revoke: status %d Location %q, want 303 to /clusters/tokyo?notice=revoked", r.Status, r.Location)
	}
	got := listTokens(t, b, "tokyo")
	if len(got) != 1 || got[0].RevokedAt == nil {
		t.Fatalf("tokens after revoke = %+v, want the one token revoked", got)
	}
	if _, err := b.env.RunnerClient(t, secret).Join(context.Background(), protocol.JoinRequest{Name: "ns/r", MaxConcurrentJobs: 1}); err == nil {
		t.Error("join with the revoked token succeeded, want it refused")
	}

	r = b.get(r.Location)
	mustContain(t, r.Body, "Token revoked.", "Revoked")
	mustNotContain(t, r.Body, `/revoke"`)

	// Revoking again, from a stale page, shows that the token was already
	// revoked instead of an error.
	r = b.post("/clusters/tokyo/tokens/"+tok.ID+"/revoke", nil)
	if r.Status != http.StatusSeeOther || r.Location != "/clusters/tokyo?notice=alreadyRevoked" {
		t.Fatalf("second revoke: status %d Location %q, want 303 to /clusters/tokyo?notice=alreadyRevoked", r.Status, r.Location)
	}
	mustContain(t, b.get(r.Location).Body, `id="notice"`, "That token was already revoked.")
	b.lang = "ja"
	mustContain(t, b.get(r.Location).Body, "このトークンはすでに無効化されています。")

	// A token the cluster does not have is still not found.
	if r := b.post("/clusters/tokyo/tokens/tok_nosuchtoken/revoke", nil); r.Status != http.StatusNotFound {
		t.Errorf("revoke of an unknown token: status %d, want 404", r.Status)
	}
}

// joinRunner joins a runner to the cluster of token over the runner
// protocol and returns its ID.
func joinRunner(t *testing.T, env *cptest.Env, token, name string) string {
	t.Helper()
	resp, err := env.RunnerClient(t, token).Join(context.Background(),
		protocol.JoinRequest{Name: name, Version: "1.2.3-<i>", MaxConcurrentJobs: 3})
	if err != nil {
		t.Fatalf("join runner %q: %v", name, err)
	}
	return resp.RunnerID
}

func TestRunnersTableEscapesNames(t *testing.T) {
	b := startUI(t)
	_, token := b.env.CreateCluster(t, "tokyo")
	joinRunner(t, b.env, token, hostileRunnerName)

	for _, lang := range []string{"en", "ja"} {
		b.lang = lang
		r := b.get("/clusters/tokyo")
		if r.Status != http.StatusOK {
			t.Fatalf("%s: status %d, want 200", lang, r.Status)
		}
		mustContain(t, r.Body, `data-runner="`+html.EscapeString(hostileRunnerName)+`"`,
			"&lt;b&gt;ns&lt;/b&gt;", "1.2.3-&lt;i&gt;", `class="state state-`)
		mustNotContain(t, r.Body, "<script>x", "<b>ns", "⟦")
	}
	r := b.get("/clusters")
	mustContain(t, r.Body, `data-cluster="tokyo"`)
}

// readUpdates reads the update events of a stream and sends each to the
// returned channel until the stream ends.
func readUpdates(t *testing.T, b *browser, path string) <-chan map[string]any {
	t.Helper()

	// The timeout only keeps a broken stream from hanging the test.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	for _, c := range b.cookies {
		req.AddCookie(c)
	}

	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		_ = resp.Body.Close()
		t.Fatalf("GET %s: status %d content type %q, want a 200 event stream", path, resp.StatusCode, resp.Header.Get("Content-Type"))
	}

	out := make(chan map[string]any)
	go func() {
		defer close(out)
		defer func() { _ = resp.Body.Close() }()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		event := ""
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: ") && event == "update":
				var u map[string]any
				if json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &u) == nil {
					select {
					case out <- u:
					case <-ctx.Done():
						return
					}
				}
			}
		}
	}()
	return out
}

// waitUpdate returns the HTML of the first update whose HTML contains want.
func waitUpdate(t *testing.T, updates <-chan map[string]any, want string) string {
	t.Helper()
	for u := range updates {
		if u["target"] != "runners" {
			t.Errorf("update target = %v, want runners", u["target"])
		}
		h, _ := u["html"].(string)
		if strings.Contains(h, want) {
			return h
		}
	}
	t.Fatalf("stream ended before an update with %q", want)
	return ""
}

func TestClusterEventsStreamRunners(t *testing.T) {
	b := startUI(t)
	_, token := b.env.CreateCluster(t, "tokyo")
	updates := readUpdates(t, b, "/clusters/tokyo/events")

	first := waitUpdate(t, updates, `id="runners"`)
	mustContain(t, first, "No runner has joined this cluster yet.")

	runnerID := joinRunner(t, b.env, token, "ferry-system/tokyo")
	joined := waitUpdate(t, updates, `data-runner="ferry-system/tokyo"`)
	mustContain(t, joined, `id="runners"`, "1.2.3-&lt;i&gt;")

	_, err := b.env.RunnerClient(t, token).Heartbeat(context.Background(), runnerID,
		protocol.HeartbeatRequest{State: protocol.RunnerState("ACTIVE"), FreeSlots: 2, WaitSeconds: 1})
	if err != nil {
		t.Fatalf("heartbeat: %v", err)
	}
	waitUpdate(t, updates, `data-state="ACTIVE"`)
}

func TestRunnerStateMeaningShown(t *testing.T) {
	b := startUI(t)
	_, token := b.env.CreateCluster(t, "tokyo")
	runnerID := joinRunner(t, b.env, token, "ferry-system/tokyo")

	r := b.get("/clusters/tokyo")
	mustContain(t, r.Body, `data-state="IDLE">IDLE</span> <small class="muted runner-state-text">no job running</small>`)
	b.lang = "ja"
	r = b.get("/clusters/tokyo")
	mustContain(t, r.Body, `data-state="IDLE">IDLE</span> <small class="muted runner-state-text">待機中</small>`)

	_, err := b.env.RunnerClient(t, token).Heartbeat(context.Background(), runnerID,
		protocol.HeartbeatRequest{State: protocol.RunnerState("ACTIVE"), FreeSlots: 2, WaitSeconds: 1})
	if err != nil {
		t.Fatalf("heartbeat: %v", err)
	}
	r = b.get("/clusters/tokyo")
	mustContain(t, r.Body, `data-state="ACTIVE">ACTIVE</span> <small class="muted runner-state-text">実行中</small>`)
}

func TestClusterEventsNeedSignIn(t *testing.T) {
	env := cptest.Start(t)
	env.CreateCluster(t, "tokyo")
	b := newBrowser(t, env)
	req, err := http.NewRequest(http.MethodGet, env.URL+"/clusters/tokyo/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	r := b.do(req)
	if r.Status != http.StatusOK || r.Body != "event: signedout\ndata: {}\n\n" {
		t.Errorf("signed-out event stream: status %d body %q, want 200 with only a signedout event", r.Status, r.Body)
	}
}

func TestTokenPageUsesPublicURL(t *testing.T) {
	env := cptest.Start(t)
	if _, err := env.Admin.CreateCluster(context.Background(), "Tokyo_East"); err != nil {
		t.Fatal(err)
	}
	ui, err := web.New(web.Options{API: env.Admin, AdminToken: env.AdminToken, PublicURL: "https://ferry.example.com/base/"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(ui.Handler())
	t.Cleanup(srv.Close)
	b := newBrowser(t, env)
	b.base = srv.URL
	b.signIn()

	r := createToken(t, b, "Tokyo_East")
	mustContain(t, r.Body, "--set runner.controlPlaneURL=https://ferry.example.com/base \\",
		"--set runner.name=tokyo-east")
	mustNotContain(t, r.Body, srv.URL, `id="install-loopback"`)
}

func TestTokenPageWarnsOfLoopbackURL(t *testing.T) {
	b := startUI(t)
	b.env.CreateCluster(t, "tokyo")
	b.env.CreateCluster(t, "osaka")
	r := createToken(t, b, "tokyo")
	mustContain(t, r.Body, `id="install-loopback"`, b.base+" is an address on this machine",
		"Runners in a cluster usually cannot reach it", "--public-url")

	b.lang = "ja"
	r = createToken(t, b, "osaka")
	mustContain(t, r.Body, `id="install-loopback"`, "通常ここに接続できません")
}

func TestNewRejectsInvalidPublicURL(t *testing.T) {
	env := cptest.Start(t)
	for _, u := range []string{"ferry.example.com", "ftp://ferry.example.com", "https://", "https://x/?a=b"} {
		_, err := web.New(web.Options{API: env.Admin, AdminToken: env.AdminToken, PublicURL: u})
		if err == nil || !strings.Contains(err.Error(), u) {
			t.Errorf("web.New with PublicURL %q: error %v, want one naming the URL", u, err)
		}
	}
}

// commandText returns the text of the <pre> element with the given id.
func commandText(t *testing.T, body, id string) string {
	t.Helper()
	_, after, ok := strings.Cut(body, `id="`+id+`">`)
	if !ok {
		t.Fatalf("page has no element %s; page:\n%s", id, body)
	}
	text, _, _ := strings.Cut(after, "</pre>")
	return html.UnescapeString(text)
}

func TestInstallCommandsAreShellAndRerunnable(t *testing.T) {
	b := startUI(t)
	b.env.CreateCluster(t, "tokyo")
	r := createToken(t, b, "tokyo")
	for _, id := range []string{"kubectl-command", "helm-command"} {
		script := commandText(t, r.Body, id)
		out, err := exec.Command("bash", "-n", "-c", script).CombinedOutput()
		if err != nil {
			t.Errorf("%s is not valid shell: %v\n%s\nscript:\n%s", id, err, out, script)
		}
		if strings.Contains(script, "kubectl create") && strings.Count(script, "| kubectl apply -f -") != 2 {
			t.Errorf("%s creates objects without kubectl apply, so it fails on a rerun:\n%s", id, script)
		}
	}
	if helm := commandText(t, r.Body, "helm-command"); !strings.HasPrefix(helm, "helm upgrade --install ") {
		t.Errorf("helm command does not upgrade an installed release:\n%s", helm)
	}
	mustContain(t, r.Body, `id="install-rotate"`, "Step 1 is enough")

	r = b.get("/clusters")
	mustContain(t, r.Body, "one Kubernetes cluster where the Ferry operator runs jobs")
	mustNotContain(t, r.Body, "or namespace")
}

func TestRunnersEmptyHelpFollowsTokens(t *testing.T) {
	b := startUI(t)
	ctx := context.Background()
	bare, err := b.env.Admin.CreateCluster(ctx, "osaka")
	if err != nil {
		t.Fatal(err)
	}
	r := b.get("/clusters/osaka")
	mustContain(t, r.Body, `id="runners-empty-help">Create a registration token above.`)

	tok, err := b.env.Admin.CreateToken(ctx, bare.ID)
	if err != nil {
		t.Fatal(err)
	}
	r = b.get("/clusters/osaka")
	mustContain(t, r.Body, `id="runners-empty-help">A registration token is live. Install the operator with it`)
	mustNotContain(t, r.Body, "Create a registration token above.")
	waitUpdate(t, readUpdates(t, b, "/clusters/osaka/events"), "A registration token is live.")
	b.lang = "ja"
	mustContain(t, b.get("/clusters/osaka").Body, "有効な登録トークンがあります。")

	// A revoked token is no token to install with.
	if err := b.env.Admin.RevokeToken(ctx, bare.ID, tok.ID); err != nil {
		t.Fatal(err)
	}
	b.lang = "en"
	mustContain(t, b.get("/clusters/osaka").Body, `id="runners-empty-help">Create a registration token above.`)
}

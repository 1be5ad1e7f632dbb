package web_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/controlplane/web"
)

func TestSignIn(t *testing.T) {
	b := newBrowser(t, startControlPlane(t))

	r := b.get("/?from=bookmark")
	if r.Status != http.StatusSeeOther || r.Location != "/signin?next="+url.QueryEscape("/?from=bookmark") {
		t.Fatalf("signed-out GET: status %d, Location %q; want 303 to the sign-in page", r.Status, r.Location)
	}

	r = b.postRaw("/signin", url.Values{"token": {"wrong"}, "next": {"/jobs"}})
	if r.Status != http.StatusUnauthorized {
		t.Fatalf("wrong token: status %d, want 401", r.Status)
	}
	mustContain(t, r.Body, "That admin token is not right")
	if _, ok := b.cookies["ferry_session"]; ok {
		t.Fatal("a wrong token got a session cookie")
	}

	r = b.postRaw("/signin", url.Values{"token": {b.env.AdminToken}, "next": {"/jobs?state=failed"}})
	if r.Status != http.StatusSeeOther || r.Location != "/jobs?state=failed" {
		t.Fatalf("sign-in: status %d, Location %q; want 303 back to the page", r.Status, r.Location)
	}
	c := b.cookies["ferry_session"]
	if c == nil {
		t.Fatal("sign-in set no session cookie")
	}
	setCookie := strings.Join(r.Header.Values("Set-Cookie"), "\n")
	for _, attr := range []string{"Secure", "HttpOnly", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(setCookie, attr) {
			t.Errorf("session cookie lacks %s: %s", attr, setCookie)
		}
	}
	if strings.Contains(setCookie, b.env.AdminToken) {
		t.Error("the session cookie holds the admin token in the clear")
	}
}

func TestSignInRedirectStaysOnSite(t *testing.T) {
	b := newBrowser(t, startControlPlane(t))
	for _, next := range []string{"https://example.com/", "//example.com/x", "/\\example.com", "javascript:alert(1)", ""} {
		r := b.postRaw("/signin", url.Values{"token": {b.env.AdminToken}, "next": {next}})
		if r.Status != http.StatusSeeOther || r.Location != "/" {
			t.Errorf("next=%q: status %d, Location %q; want 303 to /", next, r.Status, r.Location)
		}
	}
}

func TestTamperedSessionRejected(t *testing.T) {
	b := startUI(t)
	c := b.cookies["ferry_session"]
	c.Value = c.Value[:len(c.Value)-4] + "AAAA"
	if r := b.get("/"); !strings.HasPrefix(r.Location, "/signin") {
		t.Fatalf("tampered cookie: status %d, Location %q; want 303 to sign in", r.Status, r.Location)
	}
}

func TestSignOut(t *testing.T) {
	b := startUI(t)
	if r := b.postRaw("/signout", url.Values{"csrf": {"not-the-token"}}); r.Status != http.StatusForbidden {
		t.Fatalf("sign-out with a wrong CSRF token: status %d, want 403", r.Status)
	}
	if r := b.get("/"); r.Location != "/jobs" {
		t.Fatalf("not signed in after a refused sign-out: status %d, Location %q", r.Status, r.Location)
	}
	if r := b.post("/signout", nil); r.Status != http.StatusSeeOther || r.Location != "/signin?notice=signedout" {
		t.Fatalf("sign-out: status %d, Location %q", r.Status, r.Location)
	}
	if r := b.get("/"); !strings.HasPrefix(r.Location, "/signin") {
		t.Fatalf("after sign-out: status %d, Location %q; want 303 to sign in", r.Status, r.Location)
	}
}

func TestSignOutEndsCopiedCookie(t *testing.T) {
	b := startUI(t)
	copied := *b.cookies["ferry_session"]
	csrf := b.csrf
	if r := b.post("/signout", nil); r.Status != http.StatusSeeOther {
		t.Fatalf("sign-out: status %d, want 303", r.Status)
	}

	// Someone who copied the cookie and a form's CSRF token before the
	// sign-out replays them.
	b.cookies["ferry_session"] = &copied
	if r := b.get("/clusters"); r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Location, "/signin") {
		t.Errorf("GET with the signed-out cookie: status %d, Location %q; want 303 to sign in", r.Status, r.Location)
	}
	if r := b.postRaw("/clusters", url.Values{"name": {"after-signout"}, "csrf": {csrf}}); r.Status != http.StatusForbidden {
		t.Errorf("POST with the signed-out cookie: status %d, want 403", r.Status)
	}
	clusters, err := b.env.Admin.ListClusters(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(clusters) != 0 {
		t.Errorf("a post with the signed-out cookie stored clusters: %+v", clusters)
	}

	// A new sign-in works as before.
	b.signIn()
	if r := b.get("/clusters"); r.Status != http.StatusOK {
		t.Errorf("GET after signing in again: status %d, want 200", r.Status)
	}
}

func TestCSRF(t *testing.T) {
	b := startUI(t)
	form := url.Values{"name": {"csrf-test"}}
	for name, csrf := range map[string]string{"missing": "", "wrong": "x" + b.csrf} {
		f := url.Values{}
		for k, v := range form {
			f[k] = v
		}
		if csrf != "" {
			f.Set("csrf", csrf)
		}
		if r := b.postRaw("/clusters", f); r.Status != http.StatusForbidden {
			t.Errorf("%s CSRF token: status %d, want 403", name, r.Status)
		}
	}

	// The Origin check rejects a post from another site even with the
	// right token, such as one that leaked.
	f := url.Values{"name": {"csrf-test"}, "csrf": {b.csrf}}
	req, err := http.NewRequest(http.MethodPost, b.base+"/clusters", strings.NewReader(f.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://attacker.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if r := b.do(req); r.Status != http.StatusForbidden {
		t.Errorf("cross-site post: status %d, want 403", r.Status)
	}

	clusters, err := b.env.Admin.ListClusters(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(clusters) != 0 {
		t.Errorf("refused posts stored clusters: %+v", clusters)
	}
}

func TestLanguage(t *testing.T) {
	b := newBrowser(t, startControlPlane(t))

	b.lang = "ja-JP,ja;q=0.9,en;q=0.8"
	r := b.get("/signin")
	mustContain(t, r.Body, `<html lang="ja">`, "管理トークン")

	b.lang = "fr-FR,fr;q=0.9,en;q=0.5"
	mustContain(t, b.get("/signin").Body, `<html lang="en">`, "Admin token")

	b.lang = "de"
	mustContain(t, b.get("/signin").Body, `<html lang="en">`)

	// The switch sets a cookie that wins over Accept-Language and
	// returns to the same page without the parameter.
	r = b.get("/signin?next=%2Fjobs&lang=ja")
	if r.Status != http.StatusSeeOther || r.Location != "/signin?next=%2Fjobs" {
		t.Fatalf("language switch: status %d, Location %q", r.Status, r.Location)
	}
	b.lang = "en"
	mustContain(t, b.get("/signin").Body, `<html lang="ja">`, "サインイン")

	// An unknown language keeps the current one.
	b.get("/signin?lang=xx")
	mustContain(t, b.get("/signin").Body, `<html lang="ja">`)
}

func TestSecurityHeadersAndStatic(t *testing.T) {
	b := newBrowser(t, startControlPlane(t))
	r := b.get("/signin")
	for _, h := range []string{"Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy"} {
		if r.Header.Get(h) == "" {
			t.Errorf("sign-in page lacks the %s header", h)
		}
	}
	if !strings.Contains(r.Header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Errorf("CSP allows scripts from elsewhere: %s", r.Header.Get("Content-Security-Policy"))
	}
	for _, path := range []string{"/static/app.js", "/static/app.css"} {
		if r := b.get(path); r.Status != http.StatusOK || len(r.Body) == 0 {
			t.Errorf("GET %s: status %d", path, r.Status)
		}
	}
	if r := b.get("/no-such-page"); r.Status != http.StatusNotFound {
		t.Errorf("unknown page: status %d, want 404", r.Status)
	}
}

func TestAPIsStillServed(t *testing.T) {
	env := startControlPlane(t)
	if _, err := env.Admin.ListClusters(t.Context()); err != nil {
		t.Fatalf("admin API behind the UI: %v", err)
	}
	resp, err := http.Get(env.URL + "/api/v1/clusters")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("admin API without a token: status %d, want 401", resp.StatusCode)
	}
}

func TestStaticDirectoriesNotFound(t *testing.T) {
	b := newBrowser(t, startControlPlane(t))
	r := b.get("/static/")
	if r.Status != http.StatusNotFound {
		t.Errorf("GET /static/: status %d, want 404", r.Status)
	}
	mustNotContain(t, r.Body, `href="app.js"`)
}

func TestDotSegmentsNotFound(t *testing.T) {
	b := startUI(t)
	b.env.CreateCluster(t, "tokyo")
	for _, path := range []string{"/jobs/%2e%2e", "/jobs/%2E", "/clusters/%2e", "/clusters/%2e%2e/events", "/connections/%2e%2e", "/configs/%2e"} {
		r := b.get(path)
		if r.Status != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", path, r.Status)
		}
		mustNotContain(t, r.Body, "no such endpoint", "/api/v1")
	}
	if r := b.post("/clusters/%2e%2e/tokens", nil); r.Status != http.StatusNotFound {
		t.Errorf("POST /clusters/%%2e%%2e/tokens: status %d, want 404", r.Status)
	}
	if got := listTokens(t, b, "tokyo"); len(got) != 1 {
		t.Errorf("tokens of tokyo = %d, want the one created before", len(got))
	}
}

func TestSignInWarnsOnPlainHTTP(t *testing.T) {
	b := newBrowser(t, startControlPlane(t))
	get := func(host, forwardedProto string) response {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, b.base+"/signin", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		if forwardedProto != "" {
			req.Header.Set("X-Forwarded-Proto", forwardedProto)
		}
		return b.do(req)
	}

	for _, host := range []string{"ferry.internal:8080", "10.0.0.5", "[2001:db8::1]:80"} {
		r := get(host, "")
		mustContain(t, r.Body, `id="signin-plain-http"`, "will not keep the session cookie", "http://127.0.0.1")
	}
	for _, host := range []string{"localhost:8080", "127.0.0.1:8080", "[::1]:8080"} {
		mustNotContain(t, get(host, "").Body, `id="signin-plain-http"`)
	}
	mustNotContain(t, get("ferry.example.com", "https").Body, `id="signin-plain-http"`)

	r := b.postRaw("/signin", url.Values{"token": {"wrong"}})
	mustNotContain(t, r.Body, `id="signin-plain-http"`)

	b.lang = "ja"
	r = get("ferry.internal:8080", "")
	mustContain(t, r.Body, `id="signin-plain-http"`, "SSH トンネル")
	mustNotContain(t, r.Body, "⟦")
}

func TestLanguageCookieIsNotSecure(t *testing.T) {
	b := newBrowser(t, startControlPlane(t))
	r := b.get("/signin?lang=ja")
	setCookie := r.Header.Get("Set-Cookie")
	if !strings.Contains(setCookie, "ferry_lang=ja") {
		t.Fatalf("language switch set no cookie: %q", setCookie)
	}
	if strings.Contains(setCookie, "Secure") {
		t.Errorf("language cookie is Secure, so browsers drop it over plain HTTP: %q", setCookie)
	}
}

func TestSignInRateLimit(t *testing.T) {
	env := startControlPlane(t)
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	var logs bytes.Buffer
	ui, err := web.New(web.Options{API: env.Admin, AdminToken: env.AdminToken,
		Now: func() time.Time { return now }, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	signIn := func(addr, token, lang string) *httptest.ResponseRecorder {
		t.Helper()
		req := httptest.NewRequest(http.MethodPost, "/signin", strings.NewReader(url.Values{"token": {token}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept-Language", lang)
		req.RemoteAddr = addr
		rec := httptest.NewRecorder()
		ui.Handler().ServeHTTP(rec, req)
		return rec
	}
	const guesser, admin = "192.0.2.1:40000", "198.51.100.7:50000"

	for i := range 10 {
		if rec := signIn(guesser, "wrong", "en"); rec.Code != http.StatusUnauthorized {
			t.Fatalf("wrong token %d: status %d, want 401", i+1, rec.Code)
		}
	}
	for i := range 3 {
		rec := signIn("192.0.2.1:40001", "wrong", "en")
		if rec.Code != http.StatusTooManyRequests {
			t.Fatalf("wrong token %d over the limit: status %d, want 429", i+11, rec.Code)
		}
		if got := rec.Header().Get("Retry-After"); got != "6" {
			t.Errorf("Retry-After = %q, want 6", got)
		}
		mustContain(t, rec.Body.String(), "Too many wrong admin tokens", "Wait 6 seconds")
	}
	if n := strings.Count(logs.String(), "Sign-in attempts limited"); n != 1 {
		t.Errorf("limited sign-ins logged %d times, want once; logs:\n%s", n, logs.String())
	}

	// The right token from the limited address is not even checked.
	rec := signIn(guesser, env.AdminToken, "ja")
	if rec.Code != http.StatusTooManyRequests {
		t.Fatalf("right token over the limit: status %d, want 429", rec.Code)
	}
	mustContain(t, rec.Body.String(), "6秒待ってから")
	if strings.Contains(rec.Header().Get("Set-Cookie"), "ferry_session") {
		t.Error("a sign-in over the limit got a session cookie")
	}

	// Another address, the real admin's, is not affected.
	if rec := signIn(admin, env.AdminToken, "en"); rec.Code != http.StatusSeeOther {
		t.Errorf("sign-in from another address: status %d, want 303", rec.Code)
	}

	// One more attempt every six seconds.
	now = now.Add(6 * time.Second)
	if rec := signIn(guesser, "wrong", "en"); rec.Code != http.StatusUnauthorized {
		t.Errorf("wrong token after six seconds: status %d, want 401", rec.Code)
	}
	if rec := signIn(guesser, "wrong", "en"); rec.Code != http.StatusTooManyRequests {
		t.Errorf("second wrong token after six seconds: status %d, want 429", rec.Code)
	}
}

func TestSignInRateLimitCountsFailuresOnly(t *testing.T) {
	env := startControlPlane(t)
	ui, err := web.New(web.Options{API: env.Admin, AdminToken: env.AdminToken,
		Now: func() time.Time { return time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 15 {
		req := httptest.NewRequest(http.MethodPost, "/signin", strings.NewReader(url.Values{"token": {env.AdminToken}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		ui.Handler().ServeHTTP(rec, req)
		if rec.Code != http.StatusSeeOther {
			t.Fatalf("sign-in %d with the right token: status %d, want 303", i+1, rec.Code)
		}
	}
}

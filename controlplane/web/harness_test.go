package web_test

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/controlplane/cptest"
)

// browser is a test client for the UI. It keeps cookies itself, because
// the session cookie is Secure and net/http's cookie jar keeps such cookies
// off plain-HTTP requests, while browsers send them to localhost.
type browser struct {
	t       *testing.T
	env     *cptest.Env
	base    string
	lang    string
	cookies map[string]*http.Cookie
	client  *http.Client
	// csrf is the token of the last page that had one.
	csrf string
}

// response is one HTTP response that the browser received.
type response struct {
	Status   int
	Body     string
	Location string
	Header   http.Header
}

func newBrowser(t *testing.T, env *cptest.Env) *browser {
	t.Helper()
	return &browser{
		t: t, env: env, base: env.URL, lang: "en",
		cookies: map[string]*http.Cookie{},
		client: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}},
	}
}

// startUI starts a control plane with the UI and returns a signed-in
// browser.
func startUI(t *testing.T, opts ...cptest.Option) *browser {
	t.Helper()
	b := newBrowser(t, cptest.Start(t, opts...))
	b.signIn()
	return b
}

func (b *browser) do(req *http.Request) response {
	b.t.Helper()
	if b.lang != "" {
		req.Header.Set("Accept-Language", b.lang)
	}
	for _, c := range b.cookies {
		req.AddCookie(c)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatalf("%s %s: reading the body: %v", req.Method, req.URL, err)
	}
	for _, c := range resp.Cookies() {
		if c.MaxAge < 0 {
			delete(b.cookies, c.Name)
		} else {
			b.cookies[c.Name] = c
		}
	}
	r := response{Status: resp.StatusCode, Body: string(body), Location: resp.Header.Get("Location"), Header: resp.Header}
	if m := csrfPattern.FindStringSubmatch(r.Body); m != nil {
		b.csrf = m[1]
	}
	return r
}

var csrfPattern = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// get fetches a path.
func (b *browser) get(path string) response {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.base+path, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

// post sends a form with the session's CSRF token, as a browser would
// from one of the UI's pages.
func (b *browser) post(path string, form url.Values) response {
	b.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if !form.Has("csrf") && b.csrf != "" {
		form.Set("csrf", b.csrf)
	}
	return b.postRaw(path, form)
}

// postRaw sends a form as given, without adding a CSRF token.
func (b *browser) postRaw(path string, form url.Values) response {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// signIn signs in with the admin token and loads a page to learn the
// session's CSRF token.
func (b *browser) signIn() {
	b.t.Helper()
	r := b.postRaw("/signin", url.Values{"token": {b.env.AdminToken}, "next": {"/clusters"}})
	if r.Status != http.StatusSeeOther {
		b.t.Fatalf("sign-in: status %d, want 303; body:\n%s", r.Status, r.Body)
	}
	// Every signed-in page has the sign-out form, and so the token.
	b.get("/no-such-page")
	if b.csrf == "" {
		b.t.Fatal("sign-in: no CSRF token on a signed-in page")
	}
}

// mustContain fails the test unless body has every one of wants.
func mustContain(t *testing.T, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("page lacks %q; page:\n%s", w, body)
		}
	}
}

// mustNotContain fails the test if body has any of unwanted.
func mustNotContain(t *testing.T, body string, unwanted ...string) {
	t.Helper()
	for _, u := range unwanted {
		if strings.Contains(body, u) {
			t.Errorf("page has %q, which it must not; page:\n%s", u, body)
		}
	}
}

// startControlPlane starts a control plane with the UI, signed out.
func startControlPlane(t *testing.T) *cptest.Env {
	t.Helper()
	return cptest.Start(t)
}

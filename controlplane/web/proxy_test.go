package web

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/controlplane/admin"
)

func newProxyTestUI(t *testing.T, proxies ...string) *UI {
	t.Helper()
	ui, err := New(Options{API: admin.NewHandlerClient(http.NotFoundHandler(), "admin-token"), AdminToken: "admin-token",
		TrustedProxies: proxies})
	if err != nil {
		t.Fatal(err)
	}
	return ui
}

func TestClientAddrBehindProxies(t *testing.T) {
	ui := newProxyTestUI(t, "10.0.0.0/8", "192.0.2.7")
	for _, tc := range []struct {
		name   string
		remote string
		xff    []string
		want   string
	}{
		{"direct", "198.51.100.1:5000", nil, "198.51.100.1"},
		{"untrusted peer ignores header", "198.51.100.1:5000", []string{"203.0.113.9"}, "198.51.100.1"},
		{"one proxy", "10.1.2.3:5000", []string{"203.0.113.9"}, "203.0.113.9"},
		{"forged left entry", "10.1.2.3:5000", []string{"1.1.1.1, 203.0.113.9"}, "203.0.113.9"},
		{"two proxies", "10.1.2.3:5000", []string{"203.0.113.9, 192.0.2.7"}, "203.0.113.9"},
		{"two headers", "10.1.2.3:5000", []string{"1.1.1.1", "203.0.113.9, 10.9.9.9"}, "203.0.113.9"},
		{"no header", "10.1.2.3:5000", nil, "10.1.2.3"},
		{"malformed entry", "10.1.2.3:5000", []string{"203.0.113.9, bogus"}, "10.1.2.3"},
		{"all trusted", "10.1.2.3:5000", []string{"10.2.2.2"}, "10.2.2.2"},
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = tc.remote
		for _, v := range tc.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := ui.clientAddr(r); got != tc.want {
			t.Errorf("%s: clientAddr = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestClientAddrWithoutTrustedProxies(t *testing.T) {
	ui := newProxyTestUI(t)
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = "10.1.2.3:5000"
	r.Header.Set("X-Forwarded-For", "203.0.113.9")
	if got := ui.clientAddr(r); got != "10.1.2.3" {
		t.Errorf("clientAddr = %q, want the peer 10.1.2.3", got)
	}
}

func TestInvalidTrustedProxy(t *testing.T) {
	_, err := New(Options{API: admin.NewHandlerClient(http.NotFoundHandler(), "t"), AdminToken: "t",
		TrustedProxies: []string{"10.0.0.0/33"}})
	if err == nil || !strings.Contains(err.Error(), `"10.0.0.0/33"`) {
		t.Errorf("New with a bad prefix: err = %v, want one naming the value", err)
	}
}

// TestSignInLimitPerForwardedClient has one client behind a trusted proxy
// exhaust its sign-in budget; another client behind the same proxy can
// still sign in.
func TestSignInLimitPerForwardedClient(t *testing.T) {
	ui := newProxyTestUI(t, "127.0.0.1/32")
	signIn := func(client, token string) int {
		form := url.Values{"token": {token}}
		r := httptest.NewRequest(http.MethodPost, "/signin", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.RemoteAddr = "127.0.0.1:40000"
		r.Header.Set("X-Forwarded-For", client)
		rec := httptest.NewRecorder()
		ui.Handler().ServeHTTP(rec, r)
		return rec.Code
	}
	for range signInBurst {
		if got := signIn("203.0.113.9", "wrong"); got != http.StatusUnauthorized {
			t.Fatalf("wrong token: status %d, want 401", got)
		}
	}
	if got := signIn("203.0.113.9", "wrong"); got != http.StatusTooManyRequests {
		t.Errorf("guessing client after its burst: status %d, want 429", got)
	}
	if got := signIn("198.51.100.1", "admin-token"); got != http.StatusSeeOther {
		t.Errorf("another client behind the proxy: status %d, want 303", got)
	}
}

package web

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestSessionExpires(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	s := newSessions("admin-token", time.Hour, func() time.Time { return now })
	rec := httptest.NewRecorder()
	if !s.signIn(rec, "admin-token") {
		t.Fatal("the right token was refused")
	}
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	for _, c := range rec.Result().Cookies() {
		req.AddCookie(c)
	}
	if _, ok := s.read(req); !ok {
		t.Fatal("a fresh session was refused")
	}
	now = now.Add(time.Hour)
	if _, ok := s.read(req); ok {
		t.Fatal("a session was accepted after its TTL")
	}
}

func TestRevokedSessionsArePurged(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	s := newSessions("admin-token", time.Hour, func() time.Time { return now })
	signedIn := func() *http.Request {
		rec := httptest.NewRecorder()
		if !s.signIn(rec, "admin-token") {
			t.Fatal("the right token was refused")
		}
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		for _, c := range rec.Result().Cookies() {
			req.AddCookie(c)
		}
		return req
	}

	first := signedIn()
	s.signOut(httptest.NewRecorder(), first)
	if _, ok := s.read(first); ok {
		t.Fatal("a signed-out session was accepted")
	}
	if len(s.revoked) != 1 {
		t.Fatalf("revocation set has %d entries, want 1", len(s.revoked))
	}

	// Once the first session has expired, the next sign-out drops it.
	now = now.Add(time.Hour)
	second := signedIn()
	s.signOut(httptest.NewRecorder(), second)
	if _, ok := s.read(second); ok {
		t.Fatal("the second signed-out session was accepted")
	}
	if len(s.revoked) != 1 {
		t.Errorf("revocation set has %d entries after the first expired, want 1", len(s.revoked))
	}
}

func TestNewAdminTokenEndsSessions(t *testing.T) {
	now := func() time.Time { return time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC) }
	old := newSessions("old-token", time.Hour, now)
	rec := httptest.NewRecorder()
	old.signIn(rec, "old-token")
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	for _, c := range rec.Result().Cookies() {
		req.AddCookie(c)
	}
	if _, ok := newSessions("new-token", time.Hour, now).read(req); ok {
		t.Fatal("a session signed with the old admin token was accepted after a token change")
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/jobs?state=failed": "/jobs?state=failed",
		"/":                  "/",
		"":                   "/",
		"https://x.example/": "/",
		"//x.example/":       "/",
		"/\\x.example":       "/",
		"jobs":               "/",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

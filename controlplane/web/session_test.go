package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestSessionExpires(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	s := newSessions("admin-token", time.Hour, func() time.Time { return now }, newMemoryRevocations())
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
	s := newSessions("admin-token", time.Hour, func() time.Time { return now }, newMemoryRevocations())
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
	if err := s.signOut(httptest.NewRecorder(), first); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.read(first); ok {
		t.Fatal("a signed-out session was accepted")
	}
	if len(s.revoked) != 1 {
		t.Fatalf("revocation set has %d entries, want 1", len(s.revoked))
	}

	// Once the first session has expired, the next sign-out drops it.
	now = now.Add(time.Hour)
	second := signedIn()
	if err := s.signOut(httptest.NewRecorder(), second); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.read(second); ok {
		t.Fatal("the second signed-out session was accepted")
	}
	if len(s.revoked) != 1 {
		t.Errorf("revocation set has %d entries after the first expired, want 1", len(s.revoked))
	}
}

func TestNewAdminTokenEndsSessions(t *testing.T) {
	now := func() time.Time { return time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC) }
	old := newSessions("old-token", time.Hour, now, newMemoryRevocations())
	rec := httptest.NewRecorder()
	old.signIn(rec, "old-token")
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	for _, c := range rec.Result().Cookies() {
		req.AddCookie(c)
	}
	if _, ok := newSessions("new-token", time.Hour, now, newMemoryRevocations()).read(req); ok {
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

// memoryRevocations is a revocationStore in memory, standing in for the
// admin API in unit tests of the session cache.
type memoryRevocations struct {
	revoked map[string]time.Time
	lookups int
}

func newMemoryRevocations() *memoryRevocations {
	return &memoryRevocations{revoked: map[string]time.Time{}}
}

func (m *memoryRevocations) RevokeWebSession(_ context.Context, id string, expiresAt time.Time) error {
	m.revoked[id] = expiresAt
	return nil
}

func (m *memoryRevocations) WebSessionRevoked(_ context.Context, id string) (bool, error) {
	m.lookups++
	_, ok := m.revoked[id]
	return ok, nil
}

func TestValidLookupCachedBriefly(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	store := newMemoryRevocations()
	s := newSessions("admin-token", time.Hour, func() time.Time { return now }, store)
	rec := httptest.NewRecorder()
	s.signIn(rec, "admin-token")
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	for _, c := range rec.Result().Cookies() {
		req.AddCookie(c)
	}
	var sess session
	if err := s.codec.Decode(sessionCookie, rec.Result().Cookies()[0].Value, &sess); err != nil {
		t.Fatal(err)
	}

	if _, ok := s.read(req); !ok {
		t.Fatal("a fresh session was refused")
	}
	// Another replica signs the session out. Within revocationRecheck the
	// cached lookup remains in use. After that, the sign-out takes effect
	// here.
	store.revoked[sess.ID] = now.Add(time.Hour)
	now = now.Add(revocationRecheck - time.Millisecond)
	if _, ok := s.read(req); !ok {
		t.Errorf("session rejected before revocationRecheck passed; want the cached lookup")
	}
	if store.lookups != 1 {
		t.Errorf("store lookups = %d, want 1", store.lookups)
	}
	now = now.Add(time.Millisecond)
	if _, ok := s.read(req); ok {
		t.Fatal("a session signed out on another replica was accepted after revocationRecheck")
	}
	// The sign-out is cached until the session expires.
	now = now.Add(30 * time.Minute)
	if _, ok := s.read(req); ok {
		t.Fatal("a signed-out session was accepted")
	}
	if store.lookups != 2 {
		t.Errorf("store lookups = %d, want 2", store.lookups)
	}
}

package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/securecookie"

	"github.com/ferryhq/ferry/controlplane/secrets"
)

const (
	sessionCookie = "ferry_session"
	// csrfField is the hidden form field that carries the session's CSRF
	// token.
	csrfField = "csrf"
)

// session is the content of the signed session cookie.
type session struct {
	// ID names the session in the revocation set after a sign-out.
	ID string `json:"id"`
	// CSRF is the token every form of this session posts back.
	CSRF string `json:"csrf"`
	// Expires is the end of the session in Unix seconds.
	Expires int64 `json:"exp"`
}

func (s session) checkCSRF(got string) bool {
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.CSRF)) == 1
}

// revocationStore records and looks up signed-out sessions for every
// replica that shares the database. *admin.Client implements it.
type revocationStore interface {
	RevokeWebSession(ctx context.Context, id string, expiresAt time.Time) error
	WebSessionRevoked(ctx context.Context, id string) (bool, error)
}

// revocationRecheck is how long a "not signed out" result from the
// revocation store is reused. A sign-out on another replica therefore
// takes effect on this one within revocationRecheck. On the replica that
// signs the session out, it takes effect at once.
const revocationRecheck = 2 * time.Second

// sessions signs and encrypts session cookies with keys derived from the
// admin token, so every replica that shares the token accepts the same
// sessions and a new token ends the old ones.
//
// A sign-out stores the session's ID through the admin API until the
// session would have expired, so every replica and every restart rejects
// the cookie. Each replica caches the IDs found signed out until they
// expire, and the IDs found not signed out for revocationRecheck.
type sessions struct {
	codec       *securecookie.SecureCookie
	adminToken  string
	ttl         time.Duration
	now         func() time.Time
	revocations revocationStore

	mu sync.Mutex
	// revoked maps the IDs of signed-out sessions to their expiry.
	revoked map[string]time.Time
	// valid maps the IDs the store last reported as not signed out to
	// the time of that lookup.
	valid map[string]time.Time
	// lastPurge is when expired entries were last dropped from both maps.
	lastPurge time.Time
}

func newSessions(adminToken string, ttl time.Duration, now func() time.Time, revocations revocationStore) *sessions {
	codec := securecookie.New(deriveKey(adminToken, "ferry web session signing"), deriveKey(adminToken, "ferry web session encryption"))
	codec.MaxAge(int(ttl / time.Second))
	codec.SetSerializer(securecookie.JSONEncoder{})
	return &sessions{codec: codec, adminToken: adminToken, ttl: ttl, now: now, revocations: revocations,
		revoked: map[string]time.Time{}, valid: map[string]time.Time{}}
}

func deriveKey(secret, purpose string) []byte {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(purpose))
	return mac.Sum(nil)
}

// signIn checks the admin token and, when it matches, sets a new session
// cookie.
func (s *sessions) signIn(w http.ResponseWriter, token string) bool {
	if !secrets.EqualTokens(token, s.adminToken) {
		return false
	}
	sess := session{ID: randomString(16), CSRF: randomString(32), Expires: s.now().Add(s.ttl).Unix()}
	value, err := s.codec.Encode(sessionCookie, sess)
	if err != nil {
		return false
	}
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: value, Path: "/", MaxAge: int(s.ttl / time.Second),
		Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode,
	})
	return true
}

// check returns the request's session and true when it has a valid,
// unexpired session that was not signed out. The error is set when the
// revocation store could not be read.
func (s *sessions) check(r *http.Request) (session, bool, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return session{}, false, nil
	}
	var sess session
	if err := s.codec.Decode(sessionCookie, c.Value, &sess); err != nil {
		return session{}, false, nil
	}
	if s.now().Unix() >= sess.Expires || sess.CSRF == "" || sess.ID == "" {
		return session{}, false, nil
	}
	revoked, err := s.isRevoked(r.Context(), sess)
	if err != nil {
		return session{}, false, fmt.Errorf("failed to check whether web session %s was signed out: %w", sess.ID, err)
	}
	if revoked {
		return session{}, false, nil
	}
	return sess, true, nil
}

// read returns the request's session, if it has a valid, unexpired one
// that was not signed out. A session whose sign-out could not be checked
// counts as signed out.
func (s *sessions) read(r *http.Request) (session, bool) {
	sess, ok, err := s.check(r)
	return sess, ok && err == nil
}

// signOut stores the sign-out of the request's session, if it has one, and
// clears the cookie. When the sign-out cannot be stored, it returns the
// error and leaves the cookie, so that the admin can try again.
func (s *sessions) signOut(w http.ResponseWriter, r *http.Request) error {
	if sess, ok := s.read(r); ok {
		expires := time.Unix(sess.Expires, 0)
		if err := s.revocations.RevokeWebSession(r.Context(), sess.ID, expires); err != nil {
			return fmt.Errorf("failed to store the sign-out of web session %s: %w", sess.ID, err)
		}
		s.remember(sess.ID, true, expires)
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	return nil
}

// isRevoked reports whether sess was signed out, from the cache or else
// from the revocation store.
func (s *sessions) isRevoked(ctx context.Context, sess session) (bool, error) {
	now := s.now()
	s.mu.Lock()
	_, revoked := s.revoked[sess.ID]
	checkedAt, known := s.valid[sess.ID]
	s.mu.Unlock()
	if revoked {
		return true, nil
	}
	if known && !now.Before(checkedAt) && now.Sub(checkedAt) < revocationRecheck {
		return false, nil
	}
	revoked, err := s.revocations.WebSessionRevoked(ctx, sess.ID)
	if err != nil {
		return false, err
	}
	s.remember(sess.ID, revoked, time.Unix(sess.Expires, 0))
	return revoked, nil
}

// remember caches the revocation state of a session. At most once per
// revocationRecheck, and only when called, it also drops the entries that
// no longer matter: signed-out sessions that have expired, which the
// cookie check rejects anyway, and "not signed out" lookups older than
// revocationRecheck.
func (s *sessions) remember(id string, revoked bool, expires time.Time) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if revoked {
		s.revoked[id] = expires
		delete(s.valid, id)
	} else {
		s.valid[id] = now
	}
	if now.Sub(s.lastPurge) < revocationRecheck {
		return
	}
	s.lastPurge = now
	for id, exp := range s.revoked {
		if !now.Before(exp) {
			delete(s.revoked, id)
		}
	}
	for id, at := range s.valid {
		if now.Sub(at) >= revocationRecheck {
			delete(s.valid, id)
		}
	}
}

// randomString returns n random bytes in URL-safe base64.
func randomString(n int) string {
	raw := make([]byte, n)
	_, _ = rand.Read(raw)
	return base64.RawURLEncoding.EncodeToString(raw)
}

type sessionKey struct{}

func withSession(ctx context.Context, s session) context.Context {
	return context.WithValue(ctx, sessionKey{}, s)
}

func sessionFrom(ctx context.Context) (session, bool) {
	s, ok := ctx.Value(sessionKey{}).(session)
	return s, ok
}

// safeNext returns target if it is a path on this server, or "/" otherwise,
// so that the sign-in redirect cannot send the browser elsewhere.
func safeNext(target string) string {
	if !strings.HasPrefix(target, "/") || strings.HasPrefix(target, "//") || strings.HasPrefix(target, "/\\") {
		return "/"
	}
	u, err := url.Parse(target)
	if err != nil || u.Host != "" || u.Scheme != "" {
		return "/"
	}
	return target
}

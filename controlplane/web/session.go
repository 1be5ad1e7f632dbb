package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
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

// session is what the signed session cookie holds.
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

// sessions signs and encrypts session cookies with keys derived from the
// admin token, so every replica that shares the token accepts the same
// sessions and a new token ends the old ones.
//
// A sign-out puts the session's ID into a revocation set kept in memory
// until the session would have expired. The set belongs to this process:
// with several replicas, a copy of a signed-out cookie stays valid on the
// other replicas until it expires (SessionTTL), and a restart empties the set.
type sessions struct {
	codec      *securecookie.SecureCookie
	adminToken string
	ttl        time.Duration
	now        func() time.Time

	mu sync.Mutex
	// revoked maps the IDs of signed-out sessions to their expiry.
	revoked map[string]time.Time
}

func newSessions(adminToken string, ttl time.Duration, now func() time.Time) *sessions {
	codec := securecookie.New(deriveKey(adminToken, "ferry web session signing"), deriveKey(adminToken, "ferry web session encryption"))
	codec.MaxAge(int(ttl / time.Second))
	codec.SetSerializer(securecookie.JSONEncoder{})
	return &sessions{codec: codec, adminToken: adminToken, ttl: ttl, now: now, revoked: map[string]time.Time{}}
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

// read returns the request's session, if it has a valid, unexpired one.
func (s *sessions) read(r *http.Request) (session, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return session{}, false
	}
	var sess session
	if err := s.codec.Decode(sessionCookie, c.Value, &sess); err != nil {
		return session{}, false
	}
	if s.now().Unix() >= sess.Expires || sess.CSRF == "" || sess.ID == "" || s.isRevoked(sess.ID) {
		return session{}, false
	}
	return sess, true
}

// signOut ends the request's session, if it has one, and clears the
// cookie.
func (s *sessions) signOut(w http.ResponseWriter, r *http.Request) {
	if sess, ok := s.read(r); ok {
		s.revoke(sess)
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
}

// revoke adds sess to the revocation set and drops the entries of
// sessions that have expired since, which read refuses anyway.
func (s *sessions) revoke(sess session) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, exp := range s.revoked {
		if !now.Before(exp) {
			delete(s.revoked, id)
		}
	}
	s.revoked[sess.ID] = time.Unix(sess.Expires, 0)
}

func (s *sessions) isRevoked(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.revoked[id]
	return ok
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

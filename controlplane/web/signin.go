package web

import (
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

type signInData struct {
	*view
	Next  string
	Error string
	// PlainHTTP is set when the browser will drop the Secure session
	// cookie, so signing in cannot work.
	PlainHTTP bool
	// SignedOut is set after a sign-out, to show that it worked.
	SignedOut bool
}

// signedOutNotice is the notice query value the sign-out redirect sets.
const signedOutNotice = "signedout"

// cookieWillBeDropped reports whether a browser will reject the Secure
// session cookie of r's response. That happens when the request came over
// plain HTTP, no proxy in front reports HTTPS, and the host is not a
// loopback one, because browsers accept Secure cookies over plain HTTP
// only from loopback hosts.
func cookieWillBeDropped(r *http.Request) bool {
	if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		return false
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return !isLoopbackHost(strings.Trim(host, "[]"))
}

// isLoopbackHost reports whether host, without port or brackets, is
// localhost or a loopback IP address.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (ui *UI) handleSignInForm(w http.ResponseWriter, r *http.Request) {
	if _, ok := ui.sessions.read(r); ok {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	ui.render(w, r, "signin", http.StatusOK, signInData{view: ui.newView(r, ""), Next: safeNext(r.URL.Query().Get("next")),
		PlainHTTP: cookieWillBeDropped(r), SignedOut: r.URL.Query().Get("notice") == signedOutNotice})
}

func (ui *UI) handleSignIn(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	next := safeNext(r.PostFormValue("next"))
	attempt, wait := ui.signInLimit.reserve(ui.clientAddr(r))
	if wait > 0 {
		// The token is not checked, so guessing faster than the limit
		// learns nothing.
		if attempt.firstRefusal() {
			ui.log.Warn("Sign-in attempts limited after repeated wrong admin tokens", "clientAddr", ui.clientAddr(r))
		}
		seconds := int(math.Ceil(wait.Seconds()))
		w.Header().Set("Retry-After", strconv.Itoa(seconds))
		v := ui.newView(r, "")
		ui.render(w, r, "signin", http.StatusTooManyRequests, signInData{view: v, Next: next,
			Error: v.T("signin.tooMany", "Seconds", seconds), PlainHTTP: cookieWillBeDropped(r)})
		return
	}
	if !ui.sessions.signIn(w, r.PostFormValue("token")) {
		ui.log.Warn("Sign-in rejected: wrong admin token", "clientAddr", ui.clientAddr(r), "remoteAddr", r.RemoteAddr)
		v := ui.newView(r, "")
		ui.render(w, r, "signin", http.StatusUnauthorized, signInData{view: v, Next: next, Error: v.T("signin.wrongToken"),
			PlainHTTP: cookieWillBeDropped(r)})
		return
	}
	// Only failed sign-ins count against the limit.
	attempt.cancel()
	ui.log.Info("Admin signed in to the web UI", "clientAddr", ui.clientAddr(r), "remoteAddr", r.RemoteAddr)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (ui *UI) handleSignOut(w http.ResponseWriter, r *http.Request) {
	// Signing out needs the session's CSRF token too, so that another site
	// cannot sign the admin out.
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if sess, ok := ui.sessions.read(r); ok && !sess.checkCSRF(r.PostFormValue(csrfField)) {
		ui.forbidden(w, r)
		return
	}
	if err := ui.sessions.signOut(w, r); err != nil {
		ui.apiFailure(w, r, err)
		return
	}
	http.Redirect(w, r, "/signin?notice="+signedOutNotice, http.StatusSeeOther)
}

// signInURL is the sign-in page that returns to target afterwards.
func signInURL(target string) string {
	return "/signin?next=" + url.QueryEscape(safeNext(target))
}

// Failed sign-ins allowed per client address: a burst, then one per
// interval.
const (
	signInBurst    = 10
	signInInterval = 6 * time.Second
)

// signInLimiter limits failed sign-ins per client address (see
// UI.clientAddr). Behind a reverse proxy that is not in
// Options.TrustedProxies, every client shares the proxy's address, so one
// client's wrong guesses slow down all of them. The limiters belong to
// this process.
type signInLimiter struct {
	now func() time.Time

	mu        sync.Mutex
	clients   map[string]*signInClient
	lastPurge time.Time
}

// signInClient is the limiter of one client address.
type signInClient struct {
	limiter *rate.Limiter
	// warned is set once a rejection of this burst was logged.
	warned bool
}

// signInAttempt is one sign-in that got past the limit, or was rejected.
type signInAttempt struct {
	l           *signInLimiter
	client      *signInClient
	reservation *rate.Reservation
	now         time.Time
}

func newSignInLimiter(now func() time.Time) *signInLimiter {
	return &signInLimiter{now: now, clients: map[string]*signInClient{}}
}

// reserve counts a sign-in attempt from addr. It returns how long the
// client must wait, or 0 when the attempt may go on.
func (l *signInLimiter) reserve(addr string) (signInAttempt, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.purge(now)
	c, ok := l.clients[addr]
	if !ok {
		c = &signInClient{limiter: rate.NewLimiter(rate.Every(signInInterval), signInBurst)}
		l.clients[addr] = c
	}
	res := c.limiter.ReserveN(now, 1)
	attempt := signInAttempt{l: l, client: c, reservation: res, now: now}
	if wait := res.DelayFrom(now); wait > 0 {
		res.CancelAt(now)
		return attempt, wait
	}
	return attempt, 0
}

// purge drops the limiters that have refilled their whole burst: their
// clients have stopped failing, and a new limiter would be the same.
func (l *signInLimiter) purge(now time.Time) {
	if now.Sub(l.lastPurge) < time.Minute {
		return
	}
	l.lastPurge = now
	for addr, c := range l.clients {
		if c.limiter.TokensAt(now) >= signInBurst {
			delete(l.clients, addr)
		}
	}
}

// cancel gives the attempt back, for a sign-in that succeeded.
func (a signInAttempt) cancel() {
	a.l.mu.Lock()
	defer a.l.mu.Unlock()
	a.reservation.CancelAt(a.now)
}

// firstRefusal reports whether this is the first rejected attempt of the
// client's current burst, the one to log.
func (a signInAttempt) firstRefusal() bool {
	a.l.mu.Lock()
	defer a.l.mu.Unlock()
	first := !a.client.warned
	a.client.warned = true
	return first
}

// clientAddr is the address of the client that sent r: the host of its
// remote address or, when that is a trusted proxy, the right-most
// X-Forwarded-For entry that is not a trusted proxy. Proxies append the
// address they received a request from, so the entries right of the first
// untrusted one were written by trusted proxies, and the ones left of it
// may be forged by the client.
func (ui *UI) clientAddr(r *http.Request) string {
	peer, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		peer = r.RemoteAddr
	}
	if !ui.trusted(peer) {
		return peer
	}
	var hops []string
	for _, header := range r.Header.Values("X-Forwarded-For") {
		for hop := range strings.SplitSeq(header, ",") {
			hops = append(hops, strings.TrimSpace(hop))
		}
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		addr, err := netip.ParseAddr(hops[i])
		if err != nil {
			// The client's address cannot be trusted past a malformed entry.
			break
		}
		client = addr.Unmap().String()
		if !ui.trusted(client) {
			break
		}
	}
	return client
}

// trusted reports whether host is an address in Options.TrustedProxies.
func (ui *UI) trusted(host string) bool {
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	addr = addr.Unmap()
	for _, p := range ui.proxies {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// parseTrustedProxies parses CIDR prefixes and single addresses.
func parseTrustedProxies(values []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, v := range values {
		v = strings.TrimSpace(v)
		if prefix, err := netip.ParsePrefix(v); err == nil {
			out = append(out, prefix.Masked())
			continue
		}
		addr, err := netip.ParseAddr(v)
		if err != nil {
			return nil, fmt.Errorf("web: invalid trusted proxy %q: want a CIDR prefix such as 10.0.0.0/8 or an IP address such as 10.0.0.7", v)
		}
		addr = addr.Unmap()
		out = append(out, netip.PrefixFrom(addr, addr.BitLen()))
	}
	return out, nil
}

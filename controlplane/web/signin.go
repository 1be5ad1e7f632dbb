package web

import (
	"net"
	"net/http"
	"net/url"
	"strings"
)

type signInData struct {
	*view
	Next  string
	Error string
	// PlainHTTP is set when the browser will drop the Secure session
	// cookie, so signing in cannot work.
	PlainHTTP bool
}

// cookieWillBeDropped reports whether a browser will refuse the Secure
// session cookie of r's response: the request came over plain HTTP, no
// proxy in front reports HTTPS, and the host is not a loopback one, where
// browsers accept Secure cookies over plain HTTP.
func cookieWillBeDropped(r *http.Request) bool {
	if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		return false
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return false
	}
	ip := net.ParseIP(host)
	return ip == nil || !ip.IsLoopback()
}

func (ui *UI) handleSignInForm(w http.ResponseWriter, r *http.Request) {
	if _, ok := ui.sessions.read(r); ok {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	ui.render(w, r, "signin", http.StatusOK, signInData{view: ui.newView(r, ""), Next: safeNext(r.URL.Query().Get("next")),
		PlainHTTP: cookieWillBeDropped(r)})
}

func (ui *UI) handleSignIn(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	next := safeNext(r.PostFormValue("next"))
	if !ui.sessions.signIn(w, r.PostFormValue("token")) {
		ui.log.Warn("Sign-in refused: wrong admin token", "remoteAddr", r.RemoteAddr)
		v := ui.newView(r, "")
		ui.render(w, r, "signin", http.StatusUnauthorized, signInData{view: v, Next: next, Error: v.T("signin.wrongToken"),
			PlainHTTP: cookieWillBeDropped(r)})
		return
	}
	ui.log.Info("Admin signed in to the web UI", "remoteAddr", r.RemoteAddr)
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
	ui.sessions.signOut(w, r)
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}

// signInURL is the sign-in page that returns to target afterwards.
func signInURL(target string) string {
	return "/signin?next=" + url.QueryEscape(safeNext(target))
}

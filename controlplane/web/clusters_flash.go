package web

import (
	"fmt"
	"net/http"
	"time"

	"github.com/ferryhq/ferry/controlplane/admin"
)

// A new registration token reaches its page in a flash cookie: the POST
// that creates it sets the cookie and redirects (Post/Redirect/Get), and
// the page clears it, so a reload neither creates another token nor shows
// this one again.
const (
	tokenFlashCookie = "ferry_new_token"
	tokenFlashTTL    = 5 * time.Minute
)

// tokenFlash is the content of the flash cookie, encrypted with the
// session keys.
type tokenFlash struct {
	// SessionID binds the flash to the session that created the token.
	SessionID string      `json:"sid"`
	ClusterID string      `json:"cluster"`
	Token     admin.Token `json:"token"`
	// Expires is the end of the flash in Unix seconds.
	Expires int64 `json:"exp"`
}

// tokenPath is the page that shows a new token once.
func tokenPath(cluster, tokenID string) string {
	return clusterPath(cluster) + "/tokens/" + tokenID
}

// setTokenFlash puts tok into the flash cookie for its page.
func (ui *UI) setTokenFlash(w http.ResponseWriter, r *http.Request, c admin.Cluster, tok admin.Token) error {
	sess, _ := sessionFrom(r.Context())
	flash := tokenFlash{SessionID: sess.ID, ClusterID: c.ID, Token: tok,
		Expires: ui.opts.Now().Add(tokenFlashTTL).Unix()}
	value, err := ui.sessions.codec.Encode(tokenFlashCookie, flash)
	if err != nil {
		return fmt.Errorf("failed to encode the token flash cookie: %w", err)
	}
	http.SetCookie(w, &http.Cookie{
		Name: tokenFlashCookie, Value: value, Path: tokenPath(c.Name, tok.ID),
		MaxAge: int(tokenFlashTTL / time.Second), Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode,
	})
	return nil
}

// takeTokenFlash returns the new token of the request's path and clears
// the flash cookie. It returns false when there is no valid flash for
// this session, cluster and token, such as on a reload.
func (ui *UI) takeTokenFlash(w http.ResponseWriter, r *http.Request, c admin.Cluster) (admin.Token, bool) {
	ck, err := r.Cookie(tokenFlashCookie)
	if err != nil {
		return admin.Token{}, false
	}
	http.SetCookie(w, &http.Cookie{
		Name: tokenFlashCookie, Value: "", Path: r.URL.Path, MaxAge: -1,
		Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode,
	})
	var flash tokenFlash
	if err := ui.sessions.codec.Decode(tokenFlashCookie, ck.Value, &flash); err != nil {
		return admin.Token{}, false
	}
	sess, _ := sessionFrom(r.Context())
	valid := flash.SessionID != "" && flash.SessionID == sess.ID &&
		flash.ClusterID == c.ID && flash.Token.ID == r.PathValue("tokenID") &&
		flash.Token.Token != "" && ui.opts.Now().Unix() < flash.Expires
	if !valid {
		return admin.Token{}, false
	}
	return flash.Token, true
}

package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// An update is one change a live page applies. The browser replaces the
// element with ID Target by HTML, or appends HTML to it when Append is set.
type update struct {
	Target string `json:"target"`
	HTML   string `json:"html"`
	Append bool   `json:"append,omitempty"`
	// ID, when set, is sent as the event's id. A browser that reconnects
	// sends the last one it received in the Last-Event-ID header, so an
	// appending stream can go on after what the page already has.
	ID string `json:"-"`
}

// poll returns the updates of one look at the data. done ends the stream
// after these updates, for example for a job that has ended.
type poll func(r *http.Request) (updates []update, done bool, err error)

// stream serves Server-Sent Events: it calls look every StreamInterval and
// sends each update whose HTML differs from what was sent for its target
// before, until the browser hangs up, look reports done, UI.Close is
// called or the session ends. Every replica serves its own streams from the shared store, so a
// browser may reconnect to any of them.
func (ui *UI) stream(w http.ResponseWriter, r *http.Request, look poll) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming is not supported by this connection", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	// Retry after two seconds if the connection drops.
	_, _ = fmt.Fprint(w, "retry: 2000\n\n")
	flusher.Flush()

	sent := map[string]string{}
	ticker := time.NewTicker(ui.opts.StreamInterval)
	defer ticker.Stop()
	for tick := 1; ; tick++ {
		if tick%streamSessionCheckTicks == 0 {
			valid, checked := ui.streamSessionValid(r)
			if !valid {
				if checked {
					// The page stops reconnecting and offers to sign in.
					_, _ = fmt.Fprint(w, signedOutEvent)
					flusher.Flush()
				}
				return
			}
		}
		updates, done, err := look(r)
		if err != nil {
			if r.Context().Err() != nil {
				return
			}
			ui.log.Warn("Live update failed; the browser will reconnect", "path", r.URL.Path, "error", err)
			return
		}
		for _, u := range updates {
			if !u.Append && sent[u.Target] == u.HTML {
				continue
			}
			if !u.Append {
				sent[u.Target] = u.HTML
			}
			b, err := json.Marshal(u)
			if err != nil {
				ui.log.Error("Failed to encode a live update", "target", u.Target, "error", err)
				return
			}
			if u.ID != "" {
				if _, err := fmt.Fprintf(w, "id: %s\n", u.ID); err != nil {
					return
				}
			}
			if _, err := fmt.Fprintf(w, "event: update\ndata: %s\n\n", b); err != nil {
				return
			}
		}
		if done {
			_, _ = fmt.Fprint(w, "event: done\ndata: {}\n\n")
			flusher.Flush()
			return
		}
		// A comment keeps proxies from closing an idle connection.
		if len(updates) == 0 {
			_, _ = fmt.Fprint(w, ": idle\n\n")
		}
		flusher.Flush()
		select {
		case <-r.Context().Done():
			return
		case <-ui.closing:
			return
		case <-ticker.C:
		}
	}
}

// streamSessionCheckTicks is how many looks a stream makes between checks
// of its session, so that a sign-out, even on another replica, or the
// session's expiry also ends the streams that are open.
const streamSessionCheckTicks = 3

// signedOutEvent is sent to a live page whose session was signed out or
// has expired. The page then stops reconnecting and links to the sign-in
// page.
const signedOutEvent = "event: signedout\ndata: {}\n\n"

// streamSessionValid reports whether the stream's session is still signed
// in and not expired, and whether that could be checked at all. When the
// session is not valid, the stream ends: after a signedout event when the
// session was found signed out or expired, and without one when the
// check failed, so that the browser reconnects.
func (ui *UI) streamSessionValid(r *http.Request) (valid, checked bool) {
	_, ok, err := ui.sessions.check(r)
	if err != nil {
		ui.log.Warn("Live update stream ended: failed to check its session; the browser will reconnect", "path", r.URL.Path, "error", err)
		return false, false
	}
	if !ok {
		ui.log.Info("Live update stream ended: its session was signed out or expired", "path", r.URL.Path)
	}
	return ok, true
}

// streamSignedOut sends a signedout event in response to a stream request
// without a valid session. An EventSource would follow a redirect to the
// HTML sign-in page and give up while the page shows that it is
// reconnecting.
func streamSignedOut(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = fmt.Fprint(w, signedOutEvent)
}

// isStreamRequest reports whether r comes from an EventSource, which
// accepts text/event-stream.
func isStreamRequest(r *http.Request) bool {
	return r.Method == http.MethodGet && strings.Contains(r.Header.Get("Accept"), "text/event-stream")
}

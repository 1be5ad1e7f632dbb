package server_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/controlplane/admin"
	"github.com/ferryhq/ferry/controlplane/store"
	"github.com/ferryhq/ferry/protocol/client"
)

func TestWebSessionRevocation(t *testing.T) {
	eachStore(t, func(t *testing.T, h *harness) {
		api := h.env.Admin
		expires := h.clk.Now().Add(time.Hour)
		if err := api.RevokeWebSession(h.ctx, "sess_A-1", expires); err != nil {
			t.Fatalf("RevokeWebSession: %v", err)
		}
		// A second sign-out of the same session is harmless.
		if err := api.RevokeWebSession(h.ctx, "sess_A-1", expires); err != nil {
			t.Fatalf("RevokeWebSession again: %v", err)
		}
		if revoked, err := api.WebSessionRevoked(h.ctx, "sess_A-1"); err != nil || !revoked {
			t.Errorf("WebSessionRevoked(revoked) = %t, %v; want true", revoked, err)
		}
		if revoked, err := api.WebSessionRevoked(h.ctx, "other"); err != nil || revoked {
			t.Errorf("WebSessionRevoked(unknown) = %t, %v; want false", revoked, err)
		}

		h.env.Restart()
		if revoked, err := api.WebSessionRevoked(h.ctx, "sess_A-1"); err != nil || !revoked {
			t.Errorf("WebSessionRevoked after a restart = %t, %v; want true", revoked, err)
		}

		// Once the session has expired, the API no longer lists it and the
		// sweep deletes its row.
		h.clk.Step(time.Hour)
		if revoked, err := api.WebSessionRevoked(h.ctx, "sess_A-1"); err != nil || revoked {
			t.Errorf("WebSessionRevoked after expiry = %t, %v; want false", revoked, err)
		}
		if _, err := h.env.Store().GetRevokedWebSession(h.ctx, "sess_A-1"); err != nil {
			t.Fatalf("row before the sweep: %v", err)
		}
		h.sweep()
		if _, err := h.env.Store().GetRevokedWebSession(h.ctx, "sess_A-1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("row after the sweep: err = %v, want ErrNotFound", err)
		}
	})
}

func TestWebSessionRevocationBadInput(t *testing.T) {
	eachStore(t, func(t *testing.T, h *harness) {
		api := h.env.Admin
		for _, tc := range []struct {
			id      string
			expires time.Time
			want    string
		}{
			{"", h.clk.Now().Add(time.Hour), "invalid web session ID"},
			{"a/b", h.clk.Now().Add(time.Hour), "invalid web session ID"},
			{strings.Repeat("a", admin.MaxWebSessionIDLength+1), h.clk.Now().Add(time.Hour), "invalid web session ID"},
			{"ok", time.Time{}, "missing expiresAt"},
		} {
			err := api.RevokeWebSession(h.ctx, tc.id, tc.expires)
			var apiErr *client.APIError
			if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest || !strings.Contains(apiErr.Message, tc.want) {
				t.Errorf("RevokeWebSession(%q, %v) = %v, want 400 with %q", tc.id, tc.expires, err, tc.want)
			}
		}
		// A session that has expired already is not recorded.
		if err := api.RevokeWebSession(h.ctx, "old", h.clk.Now().Add(-time.Second)); err != nil {
			t.Fatalf("RevokeWebSession of an expired session: %v", err)
		}
		if _, err := h.env.Store().GetRevokedWebSession(h.ctx, "old"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("expired session stored: err = %v, want ErrNotFound", err)
		}
	})
}

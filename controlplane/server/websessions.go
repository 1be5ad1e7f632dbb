package server

import (
	"context"
	"net/http"
	"regexp"

	"github.com/ferryhq/ferry/controlplane/admin"
	"github.com/ferryhq/ferry/controlplane/store"
)

// webSessionIDPattern is the form of web UI session IDs: URL-safe base64.
var webSessionIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

func validateWebSessionID(id string) error {
	if id == "" || len(id) > admin.MaxWebSessionIDLength || !webSessionIDPattern.MatchString(id) {
		return errorf(http.StatusBadRequest, "invalid web session ID %q: use 1 to %d letters, digits, '-' or '_'",
			id, admin.MaxWebSessionIDLength)
	}
	return nil
}

func (s *Server) handleRevokeWebSession(r *http.Request) (int, any, error) {
	var req admin.RevokeWebSessionRequest
	if err := decodeAdmin(r, &req); err != nil {
		return 0, nil, err
	}
	if err := validateWebSessionID(req.ID); err != nil {
		return 0, nil, err
	}
	if req.ExpiresAt.IsZero() {
		return 0, nil, errorf(http.StatusBadRequest, "missing expiresAt: send the session's expiry as an RFC 3339 time")
	}
	if !req.ExpiresAt.After(s.clock.Now()) {
		// The session has ended already, so there is nothing to record.
		return http.StatusNoContent, nil, nil
	}
	if err := s.store.RevokeWebSession(r.Context(), req.ID, req.ExpiresAt); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}

func (s *Server) handleGetRevokedWebSession(r *http.Request) (int, any, error) {
	id := r.PathValue("sessionID")
	if err := validateWebSessionID(id); err != nil {
		return 0, nil, err
	}
	expires, err := s.store.GetRevokedWebSession(r.Context(), id)
	if err == nil && !expires.After(s.clock.Now()) {
		// Expired but not yet deleted by the sweep.
		err = store.ErrNotFound
	}
	if err != nil {
		return 0, nil, notFoundOr(err, "web session %q is not revoked", id)
	}
	return http.StatusOK, admin.RevokedWebSession{ID: id, ExpiresAt: expires}, nil
}

// deleteExpiredWebSessions deletes the revocations of web UI sessions that
// have expired, which the UI rejects by their expiry alone.
func (s *Server) deleteExpiredWebSessions(ctx context.Context) error {
	n, err := s.store.DeleteExpiredWebSessions(ctx, s.clock.Now())
	if err != nil {
		return err
	}
	if n > 0 {
		s.log.Debug("Deleted the revocations of expired web sessions", "count", n)
	}
	return nil
}

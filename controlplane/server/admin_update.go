package server

import (
	"net/http"
	"slices"

	"github.com/ferryhq/ferry/controlplane/admin"
	"github.com/ferryhq/ferry/controlplane/store"
	"github.com/ferryhq/ferry/transfer/spec"
)

func (s *Server) handleUpdateConnection(r *http.Request) (int, any, error) {
	ctx := r.Context()
	ref := r.PathValue("connection")
	var req admin.UpdateConnectionRequest
	if err := decodeAdmin(r, &req); err != nil {
		return 0, nil, err
	}
	if _, err := s.store.GetConnection(ctx, ref); err != nil {
		return 0, nil, notFoundOr(err, "connection %q not found", ref)
	}
	if err := validateName("connection", req.Name); err != nil {
		return 0, nil, err
	}
	if req.ClearPassword && req.Password != "" {
		return 0, nil, errorf(http.StatusBadRequest, "password and clearPassword are both set; send a new password or clearPassword, not both")
	}
	if err := validateConnection(admin.CreateConnectionRequest{Name: req.Name, Type: req.Type, Host: req.Host, Port: req.Port,
		Database: req.Database, User: req.User, Password: req.Password, Path: req.Path, Params: req.Params}); err != nil {
		return 0, nil, err
	}

	var c store.Connection
	passwordChange := "kept"
	err := s.store.InTx(ctx, func(q store.Querier) error {
		old, err := q.LockConnection(ctx, ref)
		if err != nil {
			return notFoundOr(err, "connection %q not found", ref)
		}
		c = store.Connection{ID: old.ID, Name: req.Name, Type: req.Type, Host: req.Host, Port: req.Port, Database: req.Database,
			User: req.User, PasswordSealed: old.PasswordSealed, Path: req.Path, Params: req.Params, CreatedAt: old.CreatedAt}
		switch {
		case req.ClearPassword:
			c.PasswordSealed = ""
			passwordChange = "removed"
		case req.Password != "":
			// The connection ID is the sealing context, and it never changes.
			if c.PasswordSealed, err = s.opts.Sealer.Seal(req.Password, c.ID); err != nil {
				return err
			}
			passwordChange = "replaced"
		}
		if c.PasswordSealed != "" && !takesPassword(c.Type) {
			return errorf(http.StatusBadRequest, "connection %q has a stored password, and a %s connection takes none; set clearPassword to remove it", old.Name, c.Type)
		}
		return duplicateOr(q.UpdateConnection(ctx, c), "connection %q already exists; pick another name", req.Name)
	})
	if err != nil {
		return 0, nil, err
	}
	s.log.Info("Connection updated", "connectionID", c.ID, "connectionName", c.Name, "type", c.Type, "password", passwordChange)
	return http.StatusOK, toAdminConnection(c), nil
}

// takesPassword reports whether a connection of the type may store a
// password: only the database servers do.
func takesPassword(connectionType string) bool {
	t := spec.EndpointType(connectionType)
	return t == spec.TypeMySQL || t == spec.TypePostgres
}

func (s *Server) handleUpdateConfig(r *http.Request) (int, any, error) {
	ctx := r.Context()
	ref := r.PathValue("config")
	var req admin.CreateConfigRequest
	if err := decodeAdmin(r, &req); err != nil {
		return 0, nil, err
	}
	if _, err := s.store.GetConfig(ctx, ref); err != nil {
		return 0, nil, notFoundOr(err, "config %q not found", ref)
	}
	cfg, err := s.configFromRequest(ctx, req)
	if err != nil {
		return 0, nil, err
	}

	positionCleared := false
	err = s.store.InTx(ctx, func(q store.Querier) error {
		old, err := q.LockConfig(ctx, ref)
		if err != nil {
			return notFoundOr(err, "config %q not found", ref)
		}
		now := s.clock.Now().UTC()
		cfg.ID, cfg.CreatedAt, cfg.UpdatedAt = old.ID, old.CreatedAt, now
		cfg.LastRecord, cfg.SourceChangedAt = old.LastRecord, old.SourceChangedAt
		if sourceChanged(old, cfg) {
			// The stored position is a value of the old source's columns,
			// so it means nothing for the new source.
			positionCleared = len(old.LastRecord) > 0
			cfg.LastRecord, cfg.SourceChangedAt = nil, now
		}
		return duplicateOr(q.UpdateConfig(ctx, cfg), "config %q already exists; pick another name", req.Name)
	})
	if err != nil {
		return 0, nil, err
	}
	s.log.Info("Transfer config updated", "configID", cfg.ID, "configName", cfg.Name, "clusterID", cfg.ClusterID,
		"lastRecordCleared", positionCleared)
	return http.StatusOK, toAdminConfig(cfg), nil
}

// sourceChanged reports whether an update changes what an incremental run
// reads: the source connection, table or query, or the incremental columns.
func sourceChanged(old, updated store.Config) bool {
	return old.SourceConnectionID != updated.SourceConnectionID ||
		old.SourceTable != updated.SourceTable ||
		old.SourceQuery != updated.SourceQuery ||
		!slices.Equal(old.IncrementalColumns, updated.IncrementalColumns)
}

package server

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/ferryhq/ferry/controlplane/admin"
	"github.com/ferryhq/ferry/controlplane/secrets"
	"github.com/ferryhq/ferry/controlplane/store"
	"github.com/ferryhq/ferry/protocol"
	"github.com/ferryhq/ferry/transfer/spec"
)

// adminHandler is an admin API handler: it returns the response body or an
// error.
type adminHandler func(r *http.Request) (status int, body any, err error)

// adminRoute registers an admin handler behind the admin token check.
func (s *Server) adminRoute(mux *http.ServeMux, pattern string, h adminHandler) {
	mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if !secrets.EqualTokens(bearerToken(r), s.opts.AdminToken) {
			s.writeError(w, r, errorf(http.StatusUnauthorized, "missing or invalid admin token; send it as `Authorization: Bearer <token>`"))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, protocol.MaxBodyBytes)
		status, body, err := h(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if body == nil {
			w.WriteHeader(status)
			return
		}
		writeJSON(w, status, body)
	})
}

// decodeAdmin decodes an admin request body strictly.
func decodeAdmin(r *http.Request, v any) error {
	return decodeBody(nil, r, v)
}

func validateName(kind, name string) error {
	if !admin.ValidName(name) {
		return errorf(http.StatusBadRequest, "invalid %s name %q: use 1 to 63 letters, digits, '.', '_' or '-', starting with a letter or digit", kind, name)
	}
	return nil
}

func duplicateOr(err error, format string, args ...any) error {
	if errors.Is(err, store.ErrDuplicate) {
		return errorf(http.StatusConflict, format, args...)
	}
	return err
}

func (s *Server) handleCreateCluster(r *http.Request) (int, any, error) {
	var req admin.CreateClusterRequest
	if err := decodeAdmin(r, &req); err != nil {
		return 0, nil, err
	}
	if err := validateName("cluster", req.Name); err != nil {
		return 0, nil, err
	}
	c := store.Cluster{ID: secrets.NewID("cls_"), Name: req.Name, CreatedAt: s.clock.Now().UTC()}
	if err := s.store.CreateCluster(r.Context(), c); err != nil {
		return 0, nil, duplicateOr(err, "cluster %q already exists; pick another name", req.Name)
	}
	s.log.Info("Cluster created", "clusterID", c.ID, "clusterName", c.Name)
	return http.StatusCreated, toAdminCluster(c), nil
}

func (s *Server) handleListClusters(r *http.Request) (int, any, error) {
	clusters, err := s.store.ListClusters(r.Context())
	if err != nil {
		return 0, nil, err
	}
	out := make([]admin.Cluster, 0, len(clusters))
	for _, c := range clusters {
		out = append(out, toAdminCluster(c))
	}
	return http.StatusOK, out, nil
}

func (s *Server) handleGetCluster(r *http.Request) (int, any, error) {
	c, err := s.cluster(r.Context(), r.PathValue("cluster"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, toAdminCluster(c), nil
}

func (s *Server) cluster(ctx context.Context, ref string) (store.Cluster, error) {
	c, err := s.store.GetCluster(ctx, ref)
	return c, notFoundOr(err, "cluster %q not found; list clusters with `controlplane cluster list`", ref)
}

func (s *Server) handleCreateToken(r *http.Request) (int, any, error) {
	ctx := r.Context()
	if r.ContentLength != 0 {
		var req struct{}
		if err := decodeAdmin(r, &req); err != nil {
			return 0, nil, err
		}
	}
	cluster, err := s.cluster(ctx, r.PathValue("cluster"))
	if err != nil {
		return 0, nil, err
	}
	token, err := secrets.NewToken(secrets.RegistrationTokenPrefix)
	if err != nil {
		return 0, nil, err
	}
	t := store.RegistrationToken{ID: secrets.NewID("tok_"), ClusterID: cluster.ID, Hint: secrets.TokenHint(token),
		Hash: secrets.HashToken(token), CreatedAt: s.clock.Now().UTC()}
	err = s.store.InTx(ctx, func(q store.Querier) error {
		// The cluster row lock makes concurrent creations count in turn.
		if _, err := q.LockCluster(ctx, cluster.ID); err != nil {
			return err
		}
		tokens, err := q.ListRegistrationTokens(ctx, cluster.ID)
		if err != nil {
			return err
		}
		live := 0
		for _, existing := range tokens {
			if existing.RevokedAt.IsZero() {
				live++
			}
		}
		if live >= admin.MaxTokensPerCluster {
			return errorf(http.StatusConflict, "cluster %q already has %d live registration tokens; revoke one with `controlplane token revoke` first",
				cluster.Name, live)
		}
		return q.CreateRegistrationToken(ctx, t)
	})
	if err != nil {
		return 0, nil, err
	}
	s.log.Info("Registration token created", "clusterID", cluster.ID, "tokenID", t.ID)
	out := toAdminToken(t)
	out.Token = token
	return http.StatusCreated, out, nil
}

func (s *Server) handleListTokens(r *http.Request) (int, any, error) {
	cluster, err := s.cluster(r.Context(), r.PathValue("cluster"))
	if err != nil {
		return 0, nil, err
	}
	tokens, err := s.store.ListRegistrationTokens(r.Context(), cluster.ID)
	if err != nil {
		return 0, nil, err
	}
	out := make([]admin.Token, 0, len(tokens))
	for _, t := range tokens {
		out = append(out, toAdminToken(t))
	}
	return http.StatusOK, out, nil
}

func (s *Server) handleRevokeToken(r *http.Request) (int, any, error) {
	cluster, err := s.cluster(r.Context(), r.PathValue("cluster"))
	if err != nil {
		return 0, nil, err
	}
	id := r.PathValue("tokenID")
	if err := s.store.RevokeRegistrationToken(r.Context(), cluster.ID, id, s.clock.Now().UTC()); err != nil {
		return 0, nil, notFoundOr(err, "no live registration token %q in cluster %q", id, cluster.Name)
	}
	s.log.Info("Registration token revoked", "clusterID", cluster.ID, "tokenID", id)
	return http.StatusNoContent, nil, nil
}

func (s *Server) handleCreateConnection(r *http.Request) (int, any, error) {
	var req admin.CreateConnectionRequest
	if err := decodeAdmin(r, &req); err != nil {
		return 0, nil, err
	}
	if err := validateName("connection", req.Name); err != nil {
		return 0, nil, err
	}
	if err := validateConnection(req); err != nil {
		return 0, nil, err
	}
	c := store.Connection{ID: secrets.NewID("con_"), Name: req.Name, Type: req.Type, Host: req.Host, Port: req.Port,
		Database: req.Database, User: req.User, Path: req.Path, Params: req.Params, CreatedAt: s.clock.Now().UTC()}
	sealed, err := s.opts.Sealer.Seal(req.Password, c.ID)
	if err != nil {
		return 0, nil, err
	}
	c.PasswordSealed = sealed
	if err := s.store.CreateConnection(r.Context(), c); err != nil {
		return 0, nil, duplicateOr(err, "connection %q already exists; pick another name", req.Name)
	}
	s.log.Info("Connection created", "connectionID", c.ID, "connectionName", c.Name, "type", c.Type)
	return http.StatusCreated, toAdminConnection(c), nil
}

// validateConnection checks a connection on its own; the engine's rules for
// a whole job run when a configuration uses it.
func validateConnection(req admin.CreateConnectionRequest) error {
	t := spec.EndpointType(req.Type)
	switch t {
	case spec.TypeMySQL, spec.TypePostgres:
		for _, f := range []struct{ name, value string }{{"host", req.Host}, {"database", req.Database}, {"user", req.User}} {
			if f.value == "" {
				return errorf(http.StatusBadRequest, "%s is required for a %s connection", f.name, req.Type)
			}
		}
		if req.Port < 0 || req.Port > 65535 {
			return errorf(http.StatusBadRequest, "port is %d; use 1 to 65535, or 0 for the default", req.Port)
		}
		if req.Path != "" {
			return errorf(http.StatusBadRequest, "path is only for sqlite and files; remove it for %s", req.Type)
		}
	case spec.TypeSQLite, spec.TypeCSV, spec.TypeJSONL, spec.TypeParquet:
		if req.Path == "" {
			return errorf(http.StatusBadRequest, "path is required for a %s connection", req.Type)
		}
		if req.Host != "" || req.Database != "" || req.User != "" || req.Password != "" || req.Port != 0 {
			return errorf(http.StatusBadRequest, "host, port, database, user and password are only for mysql and postgres; remove them for %s", req.Type)
		}
	default:
		return errorf(http.StatusBadRequest, "type is %q; use mysql, postgres, sqlite, csv, jsonl or parquet", req.Type)
	}
	return nil
}

func (s *Server) handleListConnections(r *http.Request) (int, any, error) {
	conns, err := s.store.ListConnections(r.Context())
	if err != nil {
		return 0, nil, err
	}
	out := make([]admin.Connection, 0, len(conns))
	for _, c := range conns {
		out = append(out, toAdminConnection(c))
	}
	return http.StatusOK, out, nil
}

func (s *Server) handleGetConnection(r *http.Request) (int, any, error) {
	ref := r.PathValue("connection")
	c, err := s.store.GetConnection(r.Context(), ref)
	if err != nil {
		return 0, nil, notFoundOr(err, "connection %q not found", ref)
	}
	return http.StatusOK, toAdminConnection(c), nil
}

func (s *Server) handleCreateConfig(r *http.Request) (int, any, error) {
	ctx := r.Context()
	var req admin.CreateConfigRequest
	if err := decodeAdmin(r, &req); err != nil {
		return 0, nil, err
	}
	cfg, err := s.configFromRequest(ctx, req)
	if err != nil {
		return 0, nil, err
	}
	now := s.clock.Now().UTC()
	cfg.ID, cfg.CreatedAt, cfg.UpdatedAt = secrets.NewID("cfg_"), now, now
	if err := s.store.CreateConfig(ctx, cfg); err != nil {
		return 0, nil, duplicateOr(err, "config %q already exists; pick another name", req.Name)
	}
	s.log.Info("Transfer config created", "configID", cfg.ID, "configName", cfg.Name, "clusterID", cfg.ClusterID)
	return http.StatusCreated, toAdminConfig(cfg), nil
}

// configFromRequest checks a create or update request and returns the
// configuration it describes, without ID and times. An empty cluster
// leaves the configuration without one.
func (s *Server) configFromRequest(ctx context.Context, req admin.CreateConfigRequest) (store.Config, error) {
	if err := validateName("config", req.Name); err != nil {
		return store.Config{}, err
	}
	var clusterID string
	if req.Cluster != "" {
		cluster, err := s.cluster(ctx, req.Cluster)
		if err != nil {
			return store.Config{}, errorf(http.StatusBadRequest, "cluster %q not found; create it first or fix the name", req.Cluster)
		}
		clusterID = cluster.ID
	}
	src, err := s.store.GetConnection(ctx, req.Source.Connection)
	if err != nil {
		return store.Config{}, errorf(http.StatusBadRequest, "source connection %q not found", req.Source.Connection)
	}
	dst, err := s.store.GetConnection(ctx, req.Destination.Connection)
	if err != nil {
		return store.Config{}, errorf(http.StatusBadRequest, "destination connection %q not found", req.Destination.Connection)
	}
	cfg := store.Config{
		Name: req.Name, ClusterID: clusterID,
		SourceConnectionID: src.ID, SourceTable: req.Source.Table, SourceQuery: req.Source.Query,
		SourceColumns: req.Source.Columns, SourceWhere: req.Source.Where,
		DestinationConnectionID: dst.ID, DestinationTable: req.Destination.Table,
		DestinationMode: req.Destination.Mode, MergeKeys: req.Destination.MergeKeys,
		Incremental: req.Incremental, IncrementalColumns: req.IncrementalColumns,
		Parallelism: req.Parallelism, PreviewRows: req.PreviewRows,
	}
	if err := s.validateConfig(cfg, src, dst); err != nil {
		return store.Config{}, err
	}
	return cfg, nil
}

// validateConfig runs the engine's own job validation on the document a
// transfer job of the configuration would get.
func (s *Server) validateConfig(cfg store.Config, src, dst store.Connection) error {
	// The engine checks the destination table before the mode, and for a
	// file destination it reports only that mode is not allowed there. A
	// misspelt mode is the likelier mistake, so it is reported first.
	switch spec.Mode(cfg.DestinationMode) {
	case "", spec.ModeInsert, spec.ModeTruncateInsert, spec.ModeReplace, spec.ModeMerge:
	default:
		return errorf(http.StatusBadRequest, "destination.mode: invalid value %q; use insert, truncate_insert, replace or merge", cfg.DestinationMode)
	}
	doc, err := s.buildSpec(protocol.JobTransfer, cfg, src, dst)
	if err != nil {
		return err
	}
	if _, err := spec.Decode(doc); err != nil {
		return errorf(http.StatusBadRequest, "%v", err)
	}
	return nil
}

func (s *Server) handleListConfigs(r *http.Request) (int, any, error) {
	cfgs, err := s.store.ListConfigs(r.Context())
	if err != nil {
		return 0, nil, err
	}
	out := make([]admin.Config, 0, len(cfgs))
	for _, c := range cfgs {
		out = append(out, toAdminConfig(c))
	}
	return http.StatusOK, out, nil
}

func (s *Server) handleGetConfig(r *http.Request) (int, any, error) {
	ref := r.PathValue("config")
	c, err := s.store.GetConfig(r.Context(), ref)
	if err != nil {
		return 0, nil, notFoundOr(err, "config %q not found", ref)
	}
	return http.StatusOK, toAdminConfig(c), nil
}

func (s *Server) handleRunJob(r *http.Request) (int, any, error) {
	ctx := r.Context()
	var req admin.RunJobRequest
	if err := decodeAdmin(r, &req); err != nil {
		return 0, nil, err
	}
	if req.Type == "" {
		req.Type = protocol.JobTransfer
	}
	if req.Type != protocol.JobTransfer && req.Type != protocol.JobPreview {
		return 0, nil, errorf(http.StatusBadRequest, "type is %q; use transfer or preview", req.Type)
	}
	cfg, err := s.store.GetConfig(ctx, req.Config)
	if err != nil {
		return 0, nil, notFoundOr(err, "config %q not found; list configs with `controlplane config list`", req.Config)
	}
	if cfg.ClusterID == "" {
		return 0, nil, errorf(http.StatusConflict, "config %q has no cluster, so no runner can take its jobs; set a cluster on the config first", cfg.Name)
	}
	now := s.clock.Now().UTC()
	job := store.Job{ID: secrets.NewID("job_"), ConfigID: cfg.ID, ConfigName: cfg.Name, ClusterID: cfg.ClusterID,
		Type: req.Type, State: protocol.StateQueued, CreatedAt: now, UpdatedAt: now}
	if err := s.store.CreateJob(ctx, job); err != nil {
		return 0, nil, err
	}
	s.logJob(job, "Job queued", "type", string(job.Type))
	s.wakeForJob(ctx, job.ClusterID)
	return http.StatusCreated, toAdminJob(job), nil
}

func (s *Server) handleListJobs(r *http.Request) (int, any, error) {
	ctx := r.Context()
	q := r.URL.Query()
	f := store.JobFilter{}
	if ref := q.Get("config"); ref != "" {
		cfg, err := s.store.GetConfig(ctx, ref)
		if err != nil {
			return 0, nil, notFoundOr(err, "config %q not found", ref)
		}
		f.ConfigID = cfg.ID
	}
	if ref := q.Get("cluster"); ref != "" {
		c, err := s.cluster(ctx, ref)
		if err != nil {
			return 0, nil, err
		}
		f.ClusterID = c.ID
	}
	if err := parseJobFilter(q, &f); err != nil {
		return 0, nil, err
	}
	jobs, err := s.store.ListJobs(ctx, f)
	if err != nil {
		return 0, nil, err
	}
	out := make([]admin.Job, 0, len(jobs))
	for _, j := range jobs {
		out = append(out, toAdminJob(j))
	}
	return http.StatusOK, out, nil
}

func (s *Server) handleGetJob(r *http.Request) (int, any, error) {
	id := r.PathValue("jobID")
	job, err := s.store.GetJob(r.Context(), id)
	if err != nil {
		return 0, nil, notFoundOr(err, "job %q not found", id)
	}
	return http.StatusOK, toAdminJob(job), nil
}

func (s *Server) handleCancelJob(r *http.Request) (int, any, error) {
	ctx := r.Context()
	id := r.PathValue("jobID")
	var job store.Job
	err := s.store.InTx(ctx, func(q store.Querier) error {
		var err error
		job, err = q.LockJob(ctx, id)
		if err != nil {
			return notFoundOr(err, "job %q not found", id)
		}
		if job.State.IsTerminal() {
			return errorf(http.StatusConflict, "job %q already ended as %s", id, job.State)
		}
		// A job on a runner keeps a pending cancellation for its next
		// heartbeat; a queued job simply ends.
		job.CancelPending = job.RunnerID != ""
		return s.finish(ctx, q, &job, protocol.StateCancelled, protocol.ReasonCancelRequested, "cancelled through the admin API", s.clock.Now())
	})
	if err != nil {
		return 0, nil, err
	}
	if job.CancelPending {
		s.wakeForCancel(ctx, job.ClusterID)
	}
	return http.StatusOK, toAdminJob(job), nil
}

func (s *Server) handleJobLogsAdmin(r *http.Request) (int, any, error) {
	ctx := r.Context()
	id := r.PathValue("jobID")
	q := r.URL.Query()
	var after int64
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return 0, nil, errorf(http.StatusBadRequest, "after is %q; use the `next` value of the previous page, or 0", v)
		}
		after = n
	}
	limit := 1000
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			return 0, nil, errorf(http.StatusBadRequest, "limit is %q; use 1 to 10000", v)
		}
		limit = n
	}
	job, err := s.store.GetJob(ctx, id)
	if err != nil {
		return 0, nil, notFoundOr(err, "job %q not found", id)
	}
	lines, err := s.store.ListLogs(ctx, id, after, limit)
	if err != nil {
		return 0, nil, err
	}
	out := admin.LogsResponse{Lines: make([]admin.LogLine, 0, len(lines)), Next: after, State: job.State}
	for _, l := range lines {
		out.Lines = append(out.Lines, admin.LogLine{ID: l.ID, Epoch: l.Epoch, Seq: l.Seq, Time: l.Time, Level: l.Level, Message: l.Message})
		out.Next = l.ID
	}
	return http.StatusOK, out, nil
}

func (s *Server) handleListRunners(r *http.Request) (int, any, error) {
	clusterID := ""
	if ref := r.URL.Query().Get("cluster"); ref != "" {
		c, err := s.cluster(r.Context(), ref)
		if err != nil {
			return 0, nil, err
		}
		clusterID = c.ID
	}
	runners, err := s.store.ListRunners(r.Context(), clusterID)
	if err != nil {
		return 0, nil, err
	}
	out := make([]admin.Runner, 0, len(runners))
	for _, rn := range runners {
		out = append(out, toAdminRunner(rn))
	}
	return http.StatusOK, out, nil
}

package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ferryhq/ferry/protocol"
)

// Querier reads and writes rows, inside a transaction or outside one.
type Querier interface {
	CreateCluster(ctx context.Context, c Cluster) error
	// GetCluster finds a cluster by ID or by name.
	GetCluster(ctx context.Context, idOrName string) (Cluster, error)
	ListClusters(ctx context.Context) ([]Cluster, error)
	// LockCluster reads a cluster by ID and, on PostgreSQL, locks its row.
	LockCluster(ctx context.Context, id string) (Cluster, error)

	CreateRegistrationToken(ctx context.Context, t RegistrationToken) error
	GetRegistrationTokenByHash(ctx context.Context, hash []byte) (RegistrationToken, error)
	ListRegistrationTokens(ctx context.Context, clusterID string) ([]RegistrationToken, error)
	// RevokeRegistrationToken sets revoked_at on a live token of the cluster.
	RevokeRegistrationToken(ctx context.Context, clusterID, id string, at time.Time) error

	CreateRunner(ctx context.Context, r Runner) error
	UpdateRunner(ctx context.Context, r Runner) error
	GetRunner(ctx context.Context, id string) (Runner, error)
	// LockRunner reads a runner and, on PostgreSQL, locks its row.
	LockRunner(ctx context.Context, id string) (Runner, error)
	GetRunnerByName(ctx context.Context, clusterID, name string) (Runner, error)
	// ListRunners lists the runners of a cluster, or all when clusterID is empty.
	ListRunners(ctx context.Context, clusterID string) ([]Runner, error)
	// ListSilentRunners lists runners not OFFLINE whose last heartbeat is
	// before the given time.
	ListSilentRunners(ctx context.Context, before time.Time) ([]Runner, error)

	CreateConnection(ctx context.Context, c Connection) error
	GetConnection(ctx context.Context, idOrName string) (Connection, error)
	// LockConnection reads a connection by ID or name and, on PostgreSQL,
	// locks its row.
	LockConnection(ctx context.Context, idOrName string) (Connection, error)
	ListConnections(ctx context.Context) ([]Connection, error)
	// UpdateConnection writes every field of a connection but its ID and
	// creation time. It returns ErrDuplicate when another connection has
	// the name.
	UpdateConnection(ctx context.Context, c Connection) error

	CreateConfig(ctx context.Context, c Config) error
	GetConfig(ctx context.Context, idOrName string) (Config, error)
	// LockConfig reads a configuration by ID or name and, on PostgreSQL,
	// locks its row.
	LockConfig(ctx context.Context, idOrName string) (Config, error)
	// UpdateConfig writes every field of a configuration but its ID and
	// creation time. It returns ErrDuplicate when another configuration
	// has the name.
	UpdateConfig(ctx context.Context, c Config) error
	ListConfigs(ctx context.Context) ([]Config, error)
	SetConfigLastRecord(ctx context.Context, id string, lastRecord json.RawMessage, at time.Time) error

	CreateJob(ctx context.Context, j Job) error
	UpdateJob(ctx context.Context, j Job) error
	GetJob(ctx context.Context, id string) (Job, error)
	// LockJob reads a job and, on PostgreSQL, locks its row.
	LockJob(ctx context.Context, id string) (Job, error)
	ListJobs(ctx context.Context, f JobFilter) ([]Job, error)
	// ClaimQueuedJobs returns up to limit queued jobs of a cluster, oldest
	// first, locked on PostgreSQL with SKIP LOCKED so that concurrent
	// dispatchers take different jobs.
	ClaimQueuedJobs(ctx context.Context, clusterID string, limit int) ([]Job, error)
	// ListExpiredLeases lists assigned jobs whose lease ended before now.
	ListExpiredLeases(ctx context.Context, now time.Time) ([]Job, error)

	CreateJobToken(ctx context.Context, t JobToken) error
	GetJobToken(ctx context.Context, hash []byte) (JobToken, error)

	// AppendLogs stores lines, ignoring those whose (job, epoch, seq) is
	// already stored, and returns the highest seq stored for the epoch.
	AppendLogs(ctx context.Context, jobID string, epoch int64, lines []LogLine) (int64, error)
	// ListLogs returns up to limit lines of a job with an ID above afterID,
	// in arrival order.
	ListLogs(ctx context.Context, jobID string, afterID int64, limit int) ([]LogLine, error)

	// AppendProgress stores a progress sample of a job.
	AppendProgress(ctx context.Context, p ProgressSample) error
	// LastProgress returns the newest progress sample of a job and the
	// number of samples stored for it, or a zero sample and 0.
	LastProgress(ctx context.Context, jobID string) (ProgressSample, int, error)
	// ListProgress returns the progress samples of a job, oldest first.
	ListProgress(ctx context.Context, jobID string) ([]ProgressSample, error)

	// GetSetting returns the value of a server-wide setting, or ErrNotFound.
	GetSetting(ctx context.Context, name string) (string, error)
	// CreateSetting stores a setting, or returns ErrDuplicate when one of
	// that name exists, so concurrent replicas keep the first value.
	CreateSetting(ctx context.Context, name, value string) error

	// RevokeWebSession records that the web UI session id was signed out.
	// expiresAt is when the session ends anyway. Revoking a revoked
	// session again changes nothing.
	RevokeWebSession(ctx context.Context, id string, expiresAt time.Time) error
	// GetRevokedWebSession returns the expiry of a revoked web UI session,
	// or ErrNotFound when the session was not revoked (or its row was
	// deleted after it expired).
	GetRevokedWebSession(ctx context.Context, id string) (time.Time, error)
	// DeleteExpiredWebSessions deletes the revocations of sessions that
	// expired at or before the given time and returns how many it deleted.
	DeleteExpiredWebSessions(ctx context.Context, before time.Time) (int64, error)
}

// runner is the method set that *sql.DB and *sql.Tx share.
type runner interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// queries implements Querier over a database or a transaction.
type queries struct {
	run     runner
	dialect Dialect
}

func (q queries) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	res, err := q.run.ExecContext(ctx, rebind(q.dialect, query), args...)
	if err != nil && isUniqueViolation(err) {
		return nil, fmt.Errorf("%w: %v", ErrDuplicate, err)
	}
	return res, err
}

func (q queries) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return q.run.QueryContext(ctx, rebind(q.dialect, query), args...)
}

func (q queries) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return q.run.QueryRowContext(ctx, rebind(q.dialect, query), args...)
}

// forUpdate returns the row-lock clause of the dialect.
func (q queries) forUpdate(skipLocked bool) string {
	if q.dialect != Postgres {
		return ""
	}
	if skipLocked {
		return " FOR UPDATE SKIP LOCKED"
	}
	return " FOR UPDATE"
}

// SQLite extended result codes of unique violations, from sqlite3.h.
const (
	sqliteConstraintPrimaryKey = 1555
	sqliteConstraintUnique     = 2067
)

func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23505" // unique_violation
	}
	var sqliteErr interface{ Code() int }
	if errors.As(err, &sqliteErr) {
		code := sqliteErr.Code()
		return code == sqliteConstraintUnique || code == sqliteConstraintPrimaryKey
	}
	return false
}

// mustAffect returns ErrNotFound when an update changed no row.
func mustAffect(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

// nanos stores a time; the zero time is 0.
func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// fromNanos reads a time stored by nanos, in UTC.
func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func encodeJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		// Only string slices and maps are stored this way; they always encode.
		panic(err)
	}
	return string(b)
}

func decodeStrings(s string) []string {
	var out []string
	_ = json.Unmarshal([]byte(s), &out)
	return out
}

// Clusters.

func (q queries) CreateCluster(ctx context.Context, c Cluster) error {
	_, err := q.exec(ctx, "INSERT INTO clusters (id, name, created_at) VALUES (?, ?, ?)", c.ID, c.Name, nanos(c.CreatedAt))
	return err
}

func (q queries) GetCluster(ctx context.Context, idOrName string) (Cluster, error) {
	var c Cluster
	var created int64
	err := q.queryRow(ctx, "SELECT id, name, created_at FROM clusters WHERE id = ? OR name = ? ORDER BY id = ? DESC LIMIT 1",
		idOrName, idOrName, idOrName).Scan(&c.ID, &c.Name, &created)
	c.CreatedAt = fromNanos(created)
	return c, notFound(err)
}

func (q queries) LockCluster(ctx context.Context, id string) (Cluster, error) {
	var c Cluster
	var created int64
	err := q.queryRow(ctx, "SELECT id, name, created_at FROM clusters WHERE id = ?"+q.forUpdate(false), id).Scan(&c.ID, &c.Name, &created)
	c.CreatedAt = fromNanos(created)
	return c, notFound(err)
}

func (q queries) ListClusters(ctx context.Context) ([]Cluster, error) {
	rows, err := q.query(ctx, "SELECT id, name, created_at FROM clusters ORDER BY name")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Cluster
	for rows.Next() {
		var c Cluster
		var created int64
		if err := rows.Scan(&c.ID, &c.Name, &created); err != nil {
			return nil, err
		}
		c.CreatedAt = fromNanos(created)
		out = append(out, c)
	}
	return out, rows.Err()
}

// Registration tokens.

const tokenColumns = "id, cluster_id, hint, hash, created_at, revoked_at"

func scanToken(s interface{ Scan(...any) error }) (RegistrationToken, error) {
	var t RegistrationToken
	var created, revoked int64
	err := s.Scan(&t.ID, &t.ClusterID, &t.Hint, &t.Hash, &created, &revoked)
	t.CreatedAt, t.RevokedAt = fromNanos(created), fromNanos(revoked)
	return t, err
}

func (q queries) CreateRegistrationToken(ctx context.Context, t RegistrationToken) error {
	_, err := q.exec(ctx, "INSERT INTO registration_tokens ("+tokenColumns+") VALUES (?, ?, ?, ?, ?, ?)",
		t.ID, t.ClusterID, t.Hint, t.Hash, nanos(t.CreatedAt), nanos(t.RevokedAt))
	return err
}

func (q queries) GetRegistrationTokenByHash(ctx context.Context, hash []byte) (RegistrationToken, error) {
	t, err := scanToken(q.queryRow(ctx, "SELECT "+tokenColumns+" FROM registration_tokens WHERE hash = ?", hash))
	return t, notFound(err)
}

func (q queries) ListRegistrationTokens(ctx context.Context, clusterID string) ([]RegistrationToken, error) {
	rows, err := q.query(ctx, "SELECT "+tokenColumns+" FROM registration_tokens WHERE cluster_id = ? ORDER BY created_at, id", clusterID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []RegistrationToken
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

func (q queries) RevokeRegistrationToken(ctx context.Context, clusterID, id string, at time.Time) error {
	return mustAffect(q.exec(ctx, "UPDATE registration_tokens SET revoked_at = ? WHERE id = ? AND cluster_id = ? AND revoked_at = 0",
		nanos(at), id, clusterID))
}

// Runners.

const runnerColumns = "id, cluster_id, name, version, max_concurrent_jobs, no_send_preview, state, wait_seconds, free_slots, running_jobs, last_heartbeat_at, created_at"

func scanRunner(s interface{ Scan(...any) error }) (Runner, error) {
	var r Runner
	var last, created int64
	err := s.Scan(&r.ID, &r.ClusterID, &r.Name, &r.Version, &r.MaxConcurrentJobs, &r.NoSendPreview, &r.State,
		&r.WaitSeconds, &r.FreeSlots, &r.RunningJobs, &last, &created)
	r.LastHeartbeatAt, r.CreatedAt = fromNanos(last), fromNanos(created)
	return r, err
}

func (q queries) CreateRunner(ctx context.Context, r Runner) error {
	_, err := q.exec(ctx, "INSERT INTO runners ("+runnerColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		r.ID, r.ClusterID, r.Name, r.Version, r.MaxConcurrentJobs, r.NoSendPreview, r.State, r.WaitSeconds,
		r.FreeSlots, r.RunningJobs, nanos(r.LastHeartbeatAt), nanos(r.CreatedAt))
	return err
}

func (q queries) UpdateRunner(ctx context.Context, r Runner) error {
	return mustAffect(q.exec(ctx, `UPDATE runners SET version = ?, max_concurrent_jobs = ?, no_send_preview = ?, state = ?,
		wait_seconds = ?, free_slots = ?, running_jobs = ?, last_heartbeat_at = ? WHERE id = ?`,
		r.Version, r.MaxConcurrentJobs, r.NoSendPreview, r.State, r.WaitSeconds, r.FreeSlots, r.RunningJobs,
		nanos(r.LastHeartbeatAt), r.ID))
}

func (q queries) GetRunner(ctx context.Context, id string) (Runner, error) {
	r, err := scanRunner(q.queryRow(ctx, "SELECT "+runnerColumns+" FROM runners WHERE id = ?", id))
	return r, notFound(err)
}

func (q queries) LockRunner(ctx context.Context, id string) (Runner, error) {
	r, err := scanRunner(q.queryRow(ctx, "SELECT "+runnerColumns+" FROM runners WHERE id = ?"+q.forUpdate(false), id))
	return r, notFound(err)
}

func (q queries) GetRunnerByName(ctx context.Context, clusterID, name string) (Runner, error) {
	r, err := scanRunner(q.queryRow(ctx, "SELECT "+runnerColumns+" FROM runners WHERE cluster_id = ? AND name = ?", clusterID, name))
	return r, notFound(err)
}

func (q queries) listRunners(ctx context.Context, where string, args ...any) ([]Runner, error) {
	rows, err := q.query(ctx, "SELECT "+runnerColumns+" FROM runners "+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Runner
	for rows.Next() {
		r, err := scanRunner(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func (q queries) ListRunners(ctx context.Context, clusterID string) ([]Runner, error) {
	if clusterID == "" {
		return q.listRunners(ctx, "ORDER BY cluster_id, name")
	}
	return q.listRunners(ctx, "WHERE cluster_id = ? ORDER BY name", clusterID)
}

func (q queries) ListSilentRunners(ctx context.Context, before time.Time) ([]Runner, error) {
	return q.listRunners(ctx, "WHERE state <> ? AND last_heartbeat_at < ? ORDER BY id", RunnerOffline, nanos(before))
}

// Connections.

const connectionColumns = "id, name, type, host, port, database_name, username, password_sealed, path, params, created_at"

func scanConnection(s interface{ Scan(...any) error }) (Connection, error) {
	var c Connection
	var params string
	var created int64
	err := s.Scan(&c.ID, &c.Name, &c.Type, &c.Host, &c.Port, &c.Database, &c.User, &c.PasswordSealed, &c.Path, &params, &created)
	if err == nil {
		_ = json.Unmarshal([]byte(params), &c.Params)
	}
	c.CreatedAt = fromNanos(created)
	return c, err
}

func (q queries) CreateConnection(ctx context.Context, c Connection) error {
	params := c.Params
	if params == nil {
		params = map[string]string{}
	}
	_, err := q.exec(ctx, "INSERT INTO connections ("+connectionColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		c.ID, c.Name, c.Type, c.Host, c.Port, c.Database, c.User, c.PasswordSealed, c.Path, encodeJSON(params), nanos(c.CreatedAt))
	return err
}

func (q queries) GetConnection(ctx context.Context, idOrName string) (Connection, error) {
	c, err := scanConnection(q.queryRow(ctx, "SELECT "+connectionColumns+" FROM connections WHERE id = ? OR name = ? ORDER BY id = ? DESC LIMIT 1",
		idOrName, idOrName, idOrName))
	return c, notFound(err)
}

func (q queries) LockConnection(ctx context.Context, idOrName string) (Connection, error) {
	c, err := scanConnection(q.queryRow(ctx, "SELECT "+connectionColumns+" FROM connections WHERE id = ? OR name = ? ORDER BY id = ? DESC LIMIT 1"+q.forUpdate(false),
		idOrName, idOrName, idOrName))
	return c, notFound(err)
}

func (q queries) UpdateConnection(ctx context.Context, c Connection) error {
	params := c.Params
	if params == nil {
		params = map[string]string{}
	}
	return mustAffect(q.exec(ctx, `UPDATE connections SET name = ?, type = ?, host = ?, port = ?, database_name = ?,
		username = ?, password_sealed = ?, path = ?, params = ? WHERE id = ?`,
		c.Name, c.Type, c.Host, c.Port, c.Database, c.User, c.PasswordSealed, c.Path, encodeJSON(params), c.ID))
}

func (q queries) ListConnections(ctx context.Context) ([]Connection, error) {
	rows, err := q.query(ctx, "SELECT "+connectionColumns+" FROM connections ORDER BY name")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Connection
	for rows.Next() {
		c, err := scanConnection(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// Transfer configurations.

const configColumns = `id, name, cluster_id, source_connection_id, source_table, source_query, source_columns, source_where,
	destination_connection_id, destination_table, destination_mode, merge_keys, incremental, incremental_columns,
	last_record, parallelism, preview_rows, created_at, updated_at, source_changed_at`

func scanConfig(s interface{ Scan(...any) error }) (Config, error) {
	var c Config
	var clusterID sql.NullString
	var columns, mergeKeys, incColumns, lastRecord string
	var created, updated, sourceChanged int64
	err := s.Scan(&c.ID, &c.Name, &clusterID, &c.SourceConnectionID, &c.SourceTable, &c.SourceQuery, &columns, &c.SourceWhere,
		&c.DestinationConnectionID, &c.DestinationTable, &c.DestinationMode, &mergeKeys, &c.Incremental, &incColumns,
		&lastRecord, &c.Parallelism, &c.PreviewRows, &created, &updated, &sourceChanged)
	c.ClusterID = clusterID.String
	c.SourceColumns, c.MergeKeys, c.IncrementalColumns = decodeStrings(columns), decodeStrings(mergeKeys), decodeStrings(incColumns)
	if lastRecord != "" {
		c.LastRecord = json.RawMessage(lastRecord)
	}
	c.CreatedAt, c.UpdatedAt, c.SourceChangedAt = fromNanos(created), fromNanos(updated), fromNanos(sourceChanged)
	return c, err
}

// configArgs returns the values of configColumns, in order.
func configArgs(c Config) []any {
	return []any{c.ID, c.Name, nullString(c.ClusterID), c.SourceConnectionID, c.SourceTable, c.SourceQuery,
		encodeJSON(nonNil(c.SourceColumns)), c.SourceWhere, c.DestinationConnectionID, c.DestinationTable, c.DestinationMode,
		encodeJSON(nonNil(c.MergeKeys)), c.Incremental, encodeJSON(nonNil(c.IncrementalColumns)), string(c.LastRecord),
		c.Parallelism, c.PreviewRows, nanos(c.CreatedAt), nanos(c.UpdatedAt), nanos(c.SourceChangedAt)}
}

func (q queries) CreateConfig(ctx context.Context, c Config) error {
	_, err := q.exec(ctx, "INSERT INTO transfer_configs ("+configColumns+") VALUES (?"+strings.Repeat(", ?", 19)+")", configArgs(c)...)
	return err
}

func (q queries) UpdateConfig(ctx context.Context, c Config) error {
	all := configArgs(c)
	// Name to preview_rows, then updated_at and source_changed_at, then the
	// ID for the WHERE.
	args := slices.Concat(all[1:17], all[18:20], []any{c.ID})
	return mustAffect(q.exec(ctx, `UPDATE transfer_configs SET name = ?, cluster_id = ?, source_connection_id = ?,
		source_table = ?, source_query = ?, source_columns = ?, source_where = ?, destination_connection_id = ?,
		destination_table = ?, destination_mode = ?, merge_keys = ?, incremental = ?, incremental_columns = ?,
		last_record = ?, parallelism = ?, preview_rows = ?, updated_at = ?, source_changed_at = ? WHERE id = ?`, args...))
}

// nullString stores "" as NULL, for nullable references.
func nullString(s string) sql.NullString {
	return sql.NullString{String: s, Valid: s != ""}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (q queries) GetConfig(ctx context.Context, idOrName string) (Config, error) {
	c, err := scanConfig(q.queryRow(ctx, "SELECT "+configColumns+" FROM transfer_configs WHERE id = ? OR name = ? ORDER BY id = ? DESC LIMIT 1",
		idOrName, idOrName, idOrName))
	return c, notFound(err)
}

func (q queries) LockConfig(ctx context.Context, idOrName string) (Config, error) {
	c, err := scanConfig(q.queryRow(ctx, "SELECT "+configColumns+" FROM transfer_configs WHERE id = ? OR name = ? ORDER BY id = ? DESC LIMIT 1"+q.forUpdate(false),
		idOrName, idOrName, idOrName))
	return c, notFound(err)
}

func (q queries) ListConfigs(ctx context.Context) ([]Config, error) {
	rows, err := q.query(ctx, "SELECT "+configColumns+" FROM transfer_configs ORDER BY name")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Config
	for rows.Next() {
		c, err := scanConfig(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func (q queries) SetConfigLastRecord(ctx context.Context, id string, lastRecord json.RawMessage, at time.Time) error {
	return mustAffect(q.exec(ctx, "UPDATE transfer_configs SET last_record = ?, updated_at = ? WHERE id = ?", string(lastRecord), nanos(at), id))
}

// Jobs.

const jobColumns = `id, config_id, config_name, cluster_id, type, state, reason, message, epoch, attempts, runner_id,
	lease_expires_at, cancel_pending, missing_count, missing_since, operator_phase, operator_reason, operator_message,
	operator_at, result, preview, rows_written, bytes_read, created_at, updated_at, assigned_at, started_at, finished_at`

func scanJob(s interface{ Scan(...any) error }) (Job, error) {
	var j Job
	var lease, missingSince, operatorAt, created, updated, assigned, started, finished int64
	var result, preview string
	err := s.Scan(&j.ID, &j.ConfigID, &j.ConfigName, &j.ClusterID, &j.Type, &j.State, &j.Reason, &j.Message, &j.Epoch,
		&j.Attempts, &j.RunnerID, &lease, &j.CancelPending, &j.MissingCount, &missingSince, &j.OperatorPhase,
		&j.OperatorReason, &j.OperatorMessage, &operatorAt, &result, &preview, &j.Rows, &j.Bytes,
		&created, &updated, &assigned, &started, &finished)
	j.LeaseExpiresAt, j.MissingSince, j.OperatorAt = fromNanos(lease), fromNanos(missingSince), fromNanos(operatorAt)
	j.CreatedAt, j.UpdatedAt, j.AssignedAt = fromNanos(created), fromNanos(updated), fromNanos(assigned)
	j.StartedAt, j.FinishedAt = fromNanos(started), fromNanos(finished)
	if result != "" {
		j.Result = json.RawMessage(result)
	}
	if preview != "" {
		j.Preview = json.RawMessage(preview)
	}
	return j, err
}

func jobArgs(j Job) []any {
	return []any{j.ID, j.ConfigID, j.ConfigName, j.ClusterID, string(j.Type), string(j.State), j.Reason, j.Message, j.Epoch,
		j.Attempts, j.RunnerID, nanos(j.LeaseExpiresAt), j.CancelPending, j.MissingCount, nanos(j.MissingSince),
		string(j.OperatorPhase), j.OperatorReason, j.OperatorMessage, nanos(j.OperatorAt), string(j.Result), string(j.Preview),
		j.Rows, j.Bytes, nanos(j.CreatedAt), nanos(j.UpdatedAt), nanos(j.AssignedAt), nanos(j.StartedAt), nanos(j.FinishedAt)}
}

func (q queries) CreateJob(ctx context.Context, j Job) error {
	_, err := q.exec(ctx, "INSERT INTO jobs ("+jobColumns+") VALUES (?"+strings.Repeat(", ?", 27)+")", jobArgs(j)...)
	return err
}

func (q queries) UpdateJob(ctx context.Context, j Job) error {
	args := jobArgs(j)[4:] // from type on; id, config and cluster never change
	args = append(args, j.ID)
	return mustAffect(q.exec(ctx, `UPDATE jobs SET type = ?, state = ?, reason = ?, message = ?, epoch = ?, attempts = ?,
		runner_id = ?, lease_expires_at = ?, cancel_pending = ?, missing_count = ?, missing_since = ?, operator_phase = ?,
		operator_reason = ?, operator_message = ?, operator_at = ?, result = ?, preview = ?, rows_written = ?, bytes_read = ?,
		created_at = ?, updated_at = ?, assigned_at = ?, started_at = ?, finished_at = ? WHERE id = ?`, args...))
}

func (q queries) GetJob(ctx context.Context, id string) (Job, error) {
	j, err := scanJob(q.queryRow(ctx, "SELECT "+jobColumns+" FROM jobs WHERE id = ?", id))
	return j, notFound(err)
}

func (q queries) LockJob(ctx context.Context, id string) (Job, error) {
	j, err := scanJob(q.queryRow(ctx, "SELECT "+jobColumns+" FROM jobs WHERE id = ?"+q.forUpdate(false), id))
	return j, notFound(err)
}

func (q queries) listJobs(ctx context.Context, query string, args ...any) ([]Job, error) {
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, rows.Err()
}

func (q queries) ListJobs(ctx context.Context, f JobFilter) ([]Job, error) {
	var where []string
	var args []any
	if f.ConfigID != "" {
		where, args = append(where, "config_id = ?"), append(args, f.ConfigID)
	}
	if f.ClusterID != "" {
		where, args = append(where, "cluster_id = ?"), append(args, f.ClusterID)
	}
	if f.RunnerID != "" {
		where, args = append(where, "runner_id = ?"), append(args, f.RunnerID)
	}
	if len(f.States) > 0 {
		marks := make([]string, len(f.States))
		for i, s := range f.States {
			marks[i] = "?"
			args = append(args, string(s))
		}
		where = append(where, "state IN ("+strings.Join(marks, ", ")+")")
	}
	if f.CancelPending {
		where, args = append(where, "cancel_pending = ?"), append(args, true)
	}
	if f.OperatorPhase != "" {
		where, args = append(where, "operator_phase = ?"), append(args, string(f.OperatorPhase))
	}
	if f.Type != "" {
		where, args = append(where, "type = ?"), append(args, string(f.Type))
	}
	if !f.CreatedSince.IsZero() {
		where, args = append(where, "created_at >= ?"), append(args, nanos(f.CreatedSince))
	}
	if !f.CreatedBefore.IsZero() {
		where, args = append(where, "created_at < ?"), append(args, nanos(f.CreatedBefore))
	}
	query := "SELECT " + jobColumns + " FROM jobs"
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	query += " ORDER BY created_at DESC, id DESC LIMIT ?"
	args = append(args, limit)
	return q.listJobs(ctx, query, args...)
}

func (q queries) ClaimQueuedJobs(ctx context.Context, clusterID string, limit int) ([]Job, error) {
	return q.listJobs(ctx, "SELECT "+jobColumns+" FROM jobs WHERE cluster_id = ? AND state = ? ORDER BY created_at, id LIMIT ?"+q.forUpdate(true),
		clusterID, string(protocol.StateQueued), limit)
}

func (q queries) ListExpiredLeases(ctx context.Context, now time.Time) ([]Job, error) {
	return q.listJobs(ctx, "SELECT "+jobColumns+" FROM jobs WHERE state = ? AND lease_expires_at < ? ORDER BY id",
		string(protocol.StateAssigned), nanos(now))
}

// Job tokens.

func (q queries) CreateJobToken(ctx context.Context, t JobToken) error {
	_, err := q.exec(ctx, "INSERT INTO job_tokens (hash, job_id, epoch, created_at) VALUES (?, ?, ?, ?)", t.Hash, t.JobID, t.Epoch, nanos(t.CreatedAt))
	return err
}

func (q queries) GetJobToken(ctx context.Context, hash []byte) (JobToken, error) {
	var t JobToken
	var created int64
	err := q.queryRow(ctx, "SELECT hash, job_id, epoch, created_at FROM job_tokens WHERE hash = ?", hash).Scan(&t.Hash, &t.JobID, &t.Epoch, &created)
	t.CreatedAt = fromNanos(created)
	return t, notFound(err)
}

// Logs.

func (q queries) AppendLogs(ctx context.Context, jobID string, epoch int64, lines []LogLine) (int64, error) {
	for _, l := range lines {
		_, err := q.exec(ctx, `INSERT INTO job_logs (job_id, epoch, seq, logged_at, level, message) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (job_id, epoch, seq) DO NOTHING`, jobID, epoch, l.Seq, nanos(l.Time), l.Level, l.Message)
		if err != nil {
			return 0, err
		}
	}
	var last sql.NullInt64
	err := q.queryRow(ctx, "SELECT MAX(seq) FROM job_logs WHERE job_id = ? AND epoch = ?", jobID, epoch).Scan(&last)
	return last.Int64, err
}

func (q queries) ListLogs(ctx context.Context, jobID string, afterID int64, limit int) ([]LogLine, error) {
	rows, err := q.query(ctx, "SELECT id, job_id, epoch, seq, logged_at, level, message FROM job_logs WHERE job_id = ? AND id > ? ORDER BY id LIMIT ?",
		jobID, afterID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []LogLine
	for rows.Next() {
		var l LogLine
		var at int64
		if err := rows.Scan(&l.ID, &l.JobID, &l.Epoch, &l.Seq, &at, &l.Level, &l.Message); err != nil {
			return nil, err
		}
		l.Time = fromNanos(at)
		out = append(out, l)
	}
	return out, rows.Err()
}

// Progress samples.

func (q queries) AppendProgress(ctx context.Context, p ProgressSample) error {
	_, err := q.exec(ctx, "INSERT INTO job_progress (job_id, epoch, sampled_at, rows_written, bytes_read) VALUES (?, ?, ?, ?, ?)",
		p.JobID, p.Epoch, nanos(p.Time), p.Rows, p.Bytes)
	return err
}

func (q queries) LastProgress(ctx context.Context, jobID string) (ProgressSample, int, error) {
	var count int
	if err := q.queryRow(ctx, "SELECT COUNT(*) FROM job_progress WHERE job_id = ?", jobID).Scan(&count); err != nil || count == 0 {
		return ProgressSample{}, 0, err
	}
	p := ProgressSample{JobID: jobID}
	var at int64
	err := q.queryRow(ctx, "SELECT epoch, sampled_at, rows_written, bytes_read FROM job_progress WHERE job_id = ? ORDER BY id DESC LIMIT 1",
		jobID).Scan(&p.Epoch, &at, &p.Rows, &p.Bytes)
	p.Time = fromNanos(at)
	return p, count, err
}

func (q queries) ListProgress(ctx context.Context, jobID string) ([]ProgressSample, error) {
	rows, err := q.query(ctx, "SELECT epoch, sampled_at, rows_written, bytes_read FROM job_progress WHERE job_id = ? ORDER BY id", jobID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ProgressSample
	for rows.Next() {
		p := ProgressSample{JobID: jobID}
		var at int64
		if err := rows.Scan(&p.Epoch, &at, &p.Rows, &p.Bytes); err != nil {
			return nil, err
		}
		p.Time = fromNanos(at)
		out = append(out, p)
	}
	return out, rows.Err()
}

// Settings.

func (q queries) GetSetting(ctx context.Context, name string) (string, error) {
	var value string
	err := q.queryRow(ctx, "SELECT value FROM settings WHERE name = ?", name).Scan(&value)
	return value, notFound(err)
}

func (q queries) CreateSetting(ctx context.Context, name, value string) error {
	_, err := q.exec(ctx, "INSERT INTO settings (name, value) VALUES (?, ?)", name, value)
	return err
}

// Revoked web UI sessions. Expiries are stored in Unix seconds, the
// resolution of the session cookie's own expiry.

func (q queries) RevokeWebSession(ctx context.Context, id string, expiresAt time.Time) error {
	_, err := q.exec(ctx, "INSERT INTO web_sessions_revoked (id, expires_at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING",
		id, expiresAt.Unix())
	return err
}

func (q queries) GetRevokedWebSession(ctx context.Context, id string) (time.Time, error) {
	var expires int64
	err := q.queryRow(ctx, "SELECT expires_at FROM web_sessions_revoked WHERE id = ?", id).Scan(&expires)
	if err != nil {
		return time.Time{}, notFound(err)
	}
	return time.Unix(expires, 0).UTC(), nil
}

func (q queries) DeleteExpiredWebSessions(ctx context.Context, before time.Time) (int64, error) {
	res, err := q.exec(ctx, "DELETE FROM web_sessions_revoked WHERE expires_at <= ?", before.Unix())
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// Package admin defines the control plane's admin REST API under /api/v1 and
// a Go client for it. The `controlplane` command and the cptest package use
// the client; every call carries the admin token as a bearer token.
//
// Resources that have a name (clusters, connections, transfer
// configurations) can be referenced by ID or by name wherever a request or
// path takes one.
package admin

import (
	"encoding/json"
	"regexp"
	"time"

	"github.com/ferryhq/ferry/protocol"
)

// Paths of the admin API. Placeholders in braces are IDs (or names, for
// named resources).
const (
	PathClusters = "/api/v1/clusters"
	// PathCluster is one cluster: GET returns it.
	PathCluster     = "/api/v1/clusters/{cluster}"
	PathTokens      = "/api/v1/clusters/{cluster}/tokens"
	PathToken       = "/api/v1/clusters/{cluster}/tokens/{tokenID}"
	PathConnections = "/api/v1/connections"
	// PathConnection is one connection: GET returns it and PUT replaces its
	// settings with an UpdateConnectionRequest.
	PathConnection = "/api/v1/connections/{connection}"
	PathConfigs    = "/api/v1/configs"
	// PathConfig is one transfer configuration: GET returns it and PUT
	// replaces its settings with a CreateConfigRequest.
	PathConfig = "/api/v1/configs/{config}"
	// PathJobs lists jobs (GET, filtered by the query parameters config,
	// cluster, state, type, since, until and limit) and queues one (POST).
	PathJobs      = "/api/v1/jobs"
	PathJob       = "/api/v1/jobs/{jobID}"
	PathJobCancel = "/api/v1/jobs/{jobID}/cancel"
	PathJobLogs   = "/api/v1/jobs/{jobID}/logs"
	// PathJobProgress is a job's progress history: GET returns a
	// ProgressResponse.
	PathJobProgress = "/api/v1/jobs/{jobID}/progress"
	PathRunners     = "/api/v1/runners"
	// PathWebSessionsRevoked records a web UI sign-out: POST takes a
	// RevokeWebSessionRequest and returns 204 No Content. The web UI
	// calls it so that every replica sharing the database rejects the
	// signed-out session, also after a restart.
	PathWebSessionsRevoked = "/api/v1/web-sessions/revoked"
	// PathWebSessionRevoked is one revoked web UI session: GET returns a
	// RevokedWebSession, or 404 when the session was not signed out.
	PathWebSessionRevoked = "/api/v1/web-sessions/revoked/{sessionID}"
	PathHealth            = "/healthz"
)

// MaxWebSessionIDLength is the longest web UI session ID that
// PathWebSessionsRevoked accepts.
const MaxWebSessionIDLength = 128

// RevokeWebSessionRequest records that a web UI session was signed out.
type RevokeWebSessionRequest struct {
	// ID is the session's ID from its cookie: 1 to MaxWebSessionIDLength
	// letters, digits, '-' or '_'.
	ID string `json:"id"`
	// ExpiresAt is when the session ends anyway; the control plane deletes
	// the record after this time. Required.
	ExpiresAt time.Time `json:"expiresAt"`
}

// RevokedWebSession is a web UI session that was signed out.
type RevokedWebSession struct {
	ID        string    `json:"id"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// namePattern is the rule for the names of clusters, connections and
// transfer configurations.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// ValidName reports whether name is a valid name for a cluster, a
// connection or a transfer configuration: 1 to 63 letters, digits, '.',
// '_' or '-', starting with a letter or digit.
func ValidName(name string) bool { return namePattern.MatchString(name) }

// MaxTokensPerCluster is the most live registration tokens a cluster has at
// once: two, so a token can be rotated without downtime.
const MaxTokensPerCluster = 2

// Cluster is a group of runners that shares registration tokens and jobs.
type Cluster struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"createdAt"`
}

// CreateClusterRequest creates a cluster.
type CreateClusterRequest struct {
	// Name is unique; letters, digits, '.', '_' and '-', at most 63 characters.
	Name string `json:"name"`
}

// Token is a cluster registration token. Token, the secret itself, is set
// only in the response that creates it.
type Token struct {
	ID        string `json:"id"`
	ClusterID string `json:"clusterID"`
	// Hint is the token's prefix and first characters, to tell tokens apart.
	Hint      string     `json:"hint"`
	CreatedAt time.Time  `json:"createdAt"`
	RevokedAt *time.Time `json:"revokedAt,omitempty"`
	// Token is the registration token; shown once, at creation.
	Token string `json:"token,omitempty"`
}

// Connection is a database or file endpoint, without its password.
type Connection struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Type     string `json:"type"`
	Host     string `json:"host,omitempty"`
	Port     int    `json:"port,omitempty"`
	Database string `json:"database,omitempty"`
	User     string `json:"user,omitempty"`
	// HasPassword reports whether a password is stored. The password itself
	// is never returned.
	HasPassword bool              `json:"hasPassword"`
	Path        string            `json:"path,omitempty"`
	Params      map[string]string `json:"params,omitempty"`
	CreatedAt   time.Time         `json:"createdAt"`
}

// CreateConnectionRequest creates a connection. Type is mysql, postgres,
// sqlite, csv, jsonl or parquet; servers need host, database and user,
// sqlite and files need path.
type CreateConnectionRequest struct {
	Name     string            `json:"name"`
	Type     string            `json:"type"`
	Host     string            `json:"host,omitempty"`
	Port     int               `json:"port,omitempty"`
	Database string            `json:"database,omitempty"`
	User     string            `json:"user,omitempty"`
	Password string            `json:"password,omitempty"`
	Path     string            `json:"path,omitempty"`
	Params   map[string]string `json:"params,omitempty"`
}

// UpdateConnectionRequest replaces the settings of a connection. The fields
// and their rules are those of CreateConnectionRequest, except for the
// password: an empty Password keeps the stored one, a non-empty Password
// replaces it, and ClearPassword removes it. Setting both Password and
// ClearPassword is rejected.
type UpdateConnectionRequest struct {
	Name     string            `json:"name"`
	Type     string            `json:"type"`
	Host     string            `json:"host,omitempty"`
	Port     int               `json:"port,omitempty"`
	Database string            `json:"database,omitempty"`
	User     string            `json:"user,omitempty"`
	Password string            `json:"password,omitempty"`
	Path     string            `json:"path,omitempty"`
	Params   map[string]string `json:"params,omitempty"`
	// ClearPassword removes the stored password.
	ClearPassword bool `json:"clearPassword,omitempty"`
}

// ConfigSource is the source side of a transfer configuration.
type ConfigSource struct {
	// Connection is the source connection's ID or name.
	Connection string   `json:"connection"`
	Table      string   `json:"table,omitempty"`
	Query      string   `json:"query,omitempty"`
	Columns    []string `json:"columns,omitempty"`
	Where      string   `json:"where,omitempty"`
}

// ConfigDestination is the destination side of a transfer configuration.
type ConfigDestination struct {
	// Connection is the destination connection's ID or name.
	Connection string `json:"connection"`
	Table      string `json:"table,omitempty"`
	// Mode is insert (default), truncate_insert, replace or merge.
	Mode      string   `json:"mode,omitempty"`
	MergeKeys []string `json:"mergeKeys,omitempty"`
}

// CreateConfigRequest creates a transfer configuration.
type CreateConfigRequest struct {
	Name string `json:"name"`
	// Cluster is the ID or name of the cluster whose runners run the jobs.
	// Empty stores the configuration without a cluster: it can be edited
	// but its jobs cannot run until a cluster is set.
	Cluster            string            `json:"cluster"`
	Source             ConfigSource      `json:"source"`
	Destination        ConfigDestination `json:"destination"`
	Incremental        bool              `json:"incremental,omitempty"`
	IncrementalColumns []string          `json:"incrementalColumns,omitempty"`
	// Parallelism is the number of concurrent reads; 0 lets the engine choose.
	Parallelism int `json:"parallelism,omitempty"`
	// PreviewRows is the number of rows a preview job reads; 0 means 20.
	PreviewRows int `json:"previewRows,omitempty"`
}

// Config is a transfer configuration. Connections are given by ID.
type Config struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// ClusterID is the cluster whose runners run the jobs, or empty when
	// none is set.
	ClusterID          string            `json:"clusterID"`
	Source             ConfigSource      `json:"source"`
	Destination        ConfigDestination `json:"destination"`
	Incremental        bool              `json:"incremental,omitempty"`
	IncrementalColumns []string          `json:"incrementalColumns,omitempty"`
	// LastRecord is the position where the last successful incremental run
	// stopped. The next run starts after it.
	LastRecord  json.RawMessage `json:"lastRecord,omitempty"`
	Parallelism int             `json:"parallelism,omitempty"`
	PreviewRows int             `json:"previewRows,omitempty"`
	CreatedAt   time.Time       `json:"createdAt"`
	UpdatedAt   time.Time       `json:"updatedAt"`
}

// RunJobRequest queues a job of a transfer configuration.
type RunJobRequest struct {
	// Config is the configuration's ID or name.
	Config string `json:"config"`
	// Type is transfer (default) or preview.
	Type protocol.JobType `json:"type,omitempty"`
}

// Job is one run of a transfer configuration.
type Job struct {
	ID         string            `json:"id"`
	ConfigID   string            `json:"configID"`
	ConfigName string            `json:"configName"`
	ClusterID  string            `json:"clusterID"`
	Type       protocol.JobType  `json:"type"`
	State      protocol.JobState `json:"state"`
	// Reason is a CamelCase reason for a failed or cancelled job.
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
	// Epoch numbers the current attempt; Attempts counts dispatches.
	Epoch    int64  `json:"epoch"`
	Attempts int    `json:"attempts"`
	RunnerID string `json:"runnerID,omitempty"`
	// OperatorPhase is the last phase the runner reported, kept after the
	// job has ended.
	OperatorPhase protocol.JobPhase `json:"operatorPhase,omitempty"`
	// OperatorReason is the reason of the runner's last report, such as
	// PodDeleted, or empty.
	OperatorReason string     `json:"operatorReason,omitempty"`
	Rows           int64      `json:"rows"`
	Bytes          int64      `json:"bytes"`
	CreatedAt      time.Time  `json:"createdAt"`
	AssignedAt     *time.Time `json:"assignedAt,omitempty"`
	StartedAt      *time.Time `json:"startedAt,omitempty"`
	FinishedAt     *time.Time `json:"finishedAt,omitempty"`
	// Result is the engine's summary of the current attempt, once sent.
	Result *protocol.ResultRequest `json:"result,omitempty"`
	// Preview is the column schema and sample rows of a preview job.
	Preview *protocol.PreviewRequest `json:"preview,omitempty"`
}

// Runner is a joined runner.
type Runner struct {
	ID                string `json:"id"`
	ClusterID         string `json:"clusterID"`
	Name              string `json:"name"`
	Version           string `json:"version,omitempty"`
	MaxConcurrentJobs int    `json:"maxConcurrentJobs"`
	NoSendPreview     bool   `json:"noSendPreview,omitempty"`
	// State is IDLE, ACTIVE or OFFLINE.
	State           string     `json:"state"`
	FreeSlots       int        `json:"freeSlots"`
	RunningJobs     int        `json:"runningJobs"`
	LastHeartbeatAt *time.Time `json:"lastHeartbeatAt,omitempty"`
	CreatedAt       time.Time  `json:"createdAt"`
}

// LogLine is one stored log line of a job.
type LogLine struct {
	// ID orders lines by arrival; pass the last one as `after` to follow.
	ID      int64     `json:"id"`
	Epoch   int64     `json:"epoch"`
	Seq     int64     `json:"seq"`
	Time    time.Time `json:"time"`
	Level   string    `json:"level,omitempty"`
	Message string    `json:"message"`
}

// LogsResponse is a page of a job's log lines.
type LogsResponse struct {
	Lines []LogLine `json:"lines"`
	// Next is the cursor for the next page: the last line's ID, or the
	// request's `after` when no line came.
	Next int64 `json:"next"`
	// State is the job's state when the page was read.
	State protocol.JobState `json:"state"`
}

// ProgressSample is a job's progress at one time: the totals of the attempt
// so far.
type ProgressSample struct {
	// Epoch is the attempt the sample belongs to.
	Epoch int64     `json:"epoch"`
	Time  time.Time `json:"time"`
	// Rows is the number of rows written so far.
	Rows int64 `json:"rows"`
	// Bytes is the number of bytes read so far.
	Bytes int64 `json:"bytes"`
}

// ProgressResponse is a job's progress history. The control plane stores a
// sample when rows or bytes changed and at least a second passed since the
// previous sample, plus the final totals of the result, and at most
// MaxProgressSamples per job.
type ProgressResponse struct {
	// Samples are oldest first, across all attempts of the job.
	Samples []ProgressSample `json:"samples"`
}

// MaxProgressSamples is the most progress samples stored per job: an hour
// at one sample a second. Later progress reports are not sampled, but the
// job's rows and bytes still update.
const MaxProgressSamples = 3600

package store

import (
	"encoding/json"
	"time"

	"github.com/ferryhq/ferry/protocol"
)

// Cluster is a group of runners that shares registration tokens and jobs.
type Cluster struct {
	ID        string
	Name      string
	CreatedAt time.Time
}

// RegistrationToken is a cluster's registration token, stored as its hash.
type RegistrationToken struct {
	ID        string
	ClusterID string
	// Hint is the token's prefix and first characters, for listings.
	Hint string
	// Hash is the SHA-256 hash of the token.
	Hash      []byte
	CreatedAt time.Time
	// RevokedAt is zero while the token is live.
	RevokedAt time.Time
}

// Runner is one joined runner.
type Runner struct {
	ID                string
	ClusterID         string
	Name              string
	Version           string
	MaxConcurrentJobs int
	NoSendPreview     bool
	// State is IDLE or ACTIVE as last reported, or OFFLINE.
	State string
	// WaitSeconds is the long-poll bound of the last heartbeat.
	WaitSeconds int
	// FreeSlots is the free slots of the last heartbeat.
	FreeSlots int
	// RunningJobs is the number of jobs in the last heartbeat.
	RunningJobs     int
	LastHeartbeatAt time.Time
	CreatedAt       time.Time
}

// RunnerOffline is the state the control plane derives for a silent runner.
const RunnerOffline = "OFFLINE"

// Connection is a database or file endpoint. The password is sealed.
type Connection struct {
	ID             string
	Name           string
	Type           string
	Host           string
	Port           int
	Database       string
	User           string
	PasswordSealed string
	Path           string
	Params         map[string]string
	CreatedAt      time.Time
}

// Config is a transfer configuration.
type Config struct {
	ID   string
	Name string
	// ClusterID is the cluster whose runners run the jobs, or empty (NULL in
	// the database) when none is set.
	ClusterID               string
	SourceConnectionID      string
	SourceTable             string
	SourceQuery             string
	SourceColumns           []string
	SourceWhere             string
	DestinationConnectionID string
	DestinationTable        string
	DestinationMode         string
	MergeKeys               []string
	Incremental             bool
	IncrementalColumns      []string
	// LastRecord is the position of the last successful incremental run,
	// a JSON object, or empty.
	LastRecord  json.RawMessage
	Parallelism int
	PreviewRows int
	CreatedAt   time.Time
	UpdatedAt   time.Time
	// SourceChangedAt is when an edit last changed the source connection,
	// table or query or the incremental columns, or zero.
	SourceChangedAt time.Time
}

// Job is one run of a transfer configuration, across its attempts.
type Job struct {
	ID         string
	ConfigID   string
	ConfigName string
	ClusterID  string
	Type       protocol.JobType
	State      protocol.JobState
	// Reason and Message explain a failed or cancelled job.
	Reason  string
	Message string
	// Epoch numbers the current attempt; 0 before the first dispatch.
	Epoch int64
	// Attempts counts dispatches.
	Attempts int
	// RunnerID is the runner of the current attempt, or empty.
	RunnerID       string
	LeaseExpiresAt time.Time
	// CancelPending marks a cancellation not yet sent to the runner.
	CancelPending bool
	// MissingCount counts consecutive heartbeats of the job's runner that
	// did not mention the job; MissingSince is when the first of them came.
	MissingCount int
	MissingSince time.Time
	// Operator* hold the latest status the operator reported.
	OperatorPhase   protocol.JobPhase
	OperatorReason  string
	OperatorMessage string
	OperatorAt      time.Time
	// Result is the engine's ResultRequest as JSON, or empty.
	Result json.RawMessage
	// Preview is the PreviewRequest as JSON, or empty.
	Preview    json.RawMessage
	Rows       int64
	Bytes      int64
	CreatedAt  time.Time
	UpdatedAt  time.Time
	AssignedAt time.Time
	StartedAt  time.Time
	FinishedAt time.Time
}

// JobToken maps a job token's hash to its job attempt.
type JobToken struct {
	Hash      []byte
	JobID     string
	Epoch     int64
	CreatedAt time.Time
}

// LogLine is one stored log line. ID orders lines by arrival.
type LogLine struct {
	ID      int64
	JobID   string
	Epoch   int64
	Seq     int64
	Time    time.Time
	Level   string
	Message string
}

// ProgressSample is a job attempt's rows and bytes at one time.
type ProgressSample struct {
	JobID string
	Epoch int64
	Time  time.Time
	Rows  int64
	Bytes int64
}

// JobFilter selects jobs for ListJobs. Empty fields match everything.
type JobFilter struct {
	ConfigID  string
	ClusterID string
	RunnerID  string
	States    []protocol.JobState
	// CancelPending, when set, matches only jobs with a cancellation not
	// yet sent to their runner.
	CancelPending bool
	// OperatorPhase, when set, matches only jobs whose runner last reported
	// this phase.
	OperatorPhase protocol.JobPhase
	// Type, when set, matches only jobs of this type.
	Type protocol.JobType
	// CreatedSince, when set, matches only jobs created at or after it.
	CreatedSince time.Time
	// CreatedBefore, when set, matches only jobs created before it.
	CreatedBefore time.Time
	// Limit caps the result; 0 means 100.
	Limit int
}

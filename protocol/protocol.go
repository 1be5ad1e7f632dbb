// Package protocol defines the runner protocol: the request and response
// types that a Ferry runner (the operator), a job pod (the transfer engine)
// and a control plane exchange.
//
// Every call is initiated by the runner side, over HTTPS, with JSON bodies
// and a bearer token. Runner calls (join, heartbeat, job status) carry the
// cluster's registration token; job pod calls (spec, logs, progress, preview,
// result) carry the job's own short-lived token. Every error response has the
// shape of [Error]. The OpenAPI document in docs/protocol/openapi.yaml
// describes the same types and is kept in step with them by a test.
//
// The package holds types and constants only, so that the operator, the
// engine and any control plane can share it without pulling in each other's
// dependencies.
package protocol

import (
	"encoding/json"
	"time"
)

// Paths of the runner protocol, version 1. Placeholders in braces are
// filled with the runner or job ID.
const (
	// PathJoin registers a runner with a cluster registration token.
	PathJoin = "/runner/v1/join"
	// PathHeartbeat reports the runner's state and long-polls for work.
	PathHeartbeat = "/runner/v1/runners/{runnerID}/heartbeat"
	// PathJobStatus reports a job's phase as the operator observes it.
	PathJobStatus = "/runner/v1/runners/{runnerID}/jobs/{jobID}/status"
	// PathJobSpec returns the full job, credentials included, to its pod.
	PathJobSpec = "/runner/v1/jobs/{jobID}/spec"
	// PathJobLogs appends numbered log lines of a job attempt.
	PathJobLogs = "/runner/v1/jobs/{jobID}/logs"
	// PathJobProgress reports rows and bytes moved so far.
	PathJobProgress = "/runner/v1/jobs/{jobID}/progress"
	// PathJobPreview stores the column schema and sample rows of a preview.
	PathJobPreview = "/runner/v1/jobs/{jobID}/preview"
	// PathJobResult stores the engine's final summary of an attempt.
	PathJobResult = "/runner/v1/jobs/{jobID}/result"
)

// MaxBodyBytes is the largest request body a control plane must accept.
// Log batches and previews are split by their senders to stay below it.
const MaxBodyBytes = 4 << 20

// DefaultWaitSeconds is how long a heartbeat is held open when the runner
// does not ask for another bound.
const DefaultWaitSeconds = 25

// MaxWaitSeconds is the longest a control plane holds a heartbeat open.
const MaxWaitSeconds = 60

// Error is the body of every non-2xx response.
type Error struct {
	// Code is a stable, machine-readable error code, one of the ErrorCode
	// constants.
	Code ErrorCode `json:"code"`
	// Message is a human-readable explanation that names the offending value
	// and, where there is one, the fix. It never contains a secret.
	Message string `json:"message"`
}

// ErrorCode classifies an [Error].
type ErrorCode string

// Error codes and the HTTP status each goes with.
const (
	// CodeInvalidRequest (400): malformed JSON, an unknown field, a missing or
	// out-of-range value.
	CodeInvalidRequest ErrorCode = "invalid_request"
	// CodeUnauthorized (401): the token is missing, wrong, expired or revoked.
	CodeUnauthorized ErrorCode = "unauthorized"
	// CodeForbidden (403): the token is valid but not for this runner or job.
	CodeForbidden ErrorCode = "forbidden"
	// CodeNotFound (404): the runner or job does not exist.
	CodeNotFound ErrorCode = "not_found"
	// CodeConflict (409): the write carries a stale epoch, or the job is in a
	// state that no longer accepts it.
	CodeConflict ErrorCode = "conflict"
	// CodeTooLarge (413): the body exceeds MaxBodyBytes.
	CodeTooLarge ErrorCode = "too_large"
	// CodeUnavailable (503): the control plane cannot serve the call now;
	// retry after the Retry-After header.
	CodeUnavailable ErrorCode = "unavailable"
	// CodeInternal (500): an unexpected server failure.
	CodeInternal ErrorCode = "internal"
)

// RunnerState is the state a runner reports in each heartbeat.
type RunnerState string

// Runner states reported by runners. A control plane derives a third state,
// OFFLINE, when heartbeats stop.
const (
	// RunnerIdle means the runner runs no job.
	RunnerIdle RunnerState = "IDLE"
	// RunnerActive means the runner runs at least one job.
	RunnerActive RunnerState = "ACTIVE"
)

// JobType is the kind of work a job does.
type JobType string

// Job types.
const (
	// JobTransfer moves rows from the source to the destination.
	JobTransfer JobType = "transfer"
	// JobPreview reads the first rows of the source and reports the column
	// schema and, unless the runner withholds them, the rows.
	JobPreview JobType = "preview"
)

// JobPhase is a job's phase as the runner observes it.
type JobPhase string

// Job phases reported by runners. Succeeded, Failed and Cancelled are
// terminal.
const (
	// PhasePending means the job was accepted and its pod is not running yet.
	PhasePending JobPhase = "Pending"
	// PhaseRunning means the job's pod is running.
	PhaseRunning JobPhase = "Running"
	// PhaseSucceeded means the pod ended with a successful engine summary.
	PhaseSucceeded JobPhase = "Succeeded"
	// PhaseFailed means the job ended without success; Reason says why.
	PhaseFailed JobPhase = "Failed"
	// PhaseCancelled means the job was stopped on request.
	PhaseCancelled JobPhase = "Cancelled"
)

// IsTerminal reports whether p is a final phase.
func (p JobPhase) IsTerminal() bool {
	return p == PhaseSucceeded || p == PhaseFailed || p == PhaseCancelled
}

// JoinRequest registers a runner. It is sent with the cluster registration
// token as the bearer token.
type JoinRequest struct {
	// Name identifies the runner within its cluster, for example
	// "<namespace>/<TransferRunner name>". Joining again with the same name
	// returns the same runner ID.
	Name string `json:"name"`
	// Version is the runner's software version.
	Version string `json:"version,omitempty"`
	// MaxConcurrentJobs is the most jobs the runner runs at once. Minimum 1.
	MaxConcurrentJobs int `json:"maxConcurrentJobs"`
	// NoSendPreview reports that the runner sends only the column schema of
	// previews, never sample rows.
	NoSendPreview bool `json:"noSendPreview,omitempty"`
}

// JoinResponse identifies the runner for later calls.
type JoinResponse struct {
	// RunnerID is the runner's ID, used in heartbeat and status paths.
	RunnerID string `json:"runnerID"`
	// ClusterID is the ID of the cluster the token belongs to.
	ClusterID string `json:"clusterID"`
	// ClusterName is the human-readable name of that cluster.
	ClusterName string `json:"clusterName"`
}

// HeartbeatRequest reports the runner's state and asks for work. The control
// plane holds it open for up to WaitSeconds when it has nothing to hand out.
type HeartbeatRequest struct {
	// State is IDLE or ACTIVE.
	State RunnerState `json:"state"`
	// FreeSlots is how many more jobs the runner can start now. The control
	// plane never assigns more than this.
	FreeSlots int `json:"freeSlots"`
	// Jobs lists every job the runner holds that has not yet been reported
	// terminal and acknowledged.
	Jobs []RunnerJob `json:"jobs,omitempty"`
	// Accepted acknowledges assignments the runner has taken on: their
	// TransferJob exists. An assignment not acknowledged before its lease
	// ends goes back to the queue.
	Accepted []JobRef `json:"accepted,omitempty"`
	// WaitSeconds bounds the long poll, in seconds. 0 means
	// DefaultWaitSeconds; values above MaxWaitSeconds are capped.
	WaitSeconds int `json:"waitSeconds,omitempty"`
}

// RunnerJob is one job a runner holds, with the phase it observes.
type RunnerJob struct {
	// JobID is the job's ID.
	JobID string `json:"jobID"`
	// Epoch is the attempt the runner runs.
	Epoch int64 `json:"epoch"`
	// Phase is the phase the runner observes.
	Phase JobPhase `json:"phase"`
}

// JobRef names one attempt of a job.
type JobRef struct {
	// JobID is the job's ID.
	JobID string `json:"jobID"`
	// Epoch is the attempt.
	Epoch int64 `json:"epoch"`
}

// HeartbeatResponse carries new work and cancellations.
type HeartbeatResponse struct {
	// Assignments are new jobs for this runner.
	Assignments []Assignment `json:"assignments,omitempty"`
	// Cancellations are jobs the runner must stop. They include jobs the
	// runner reported that the control plane no longer considers live on it.
	Cancellations []Cancellation `json:"cancellations,omitempty"`
	// ServerTime is the control plane's clock, for diagnostics.
	ServerTime time.Time `json:"serverTime"`
}

// Assignment hands one job attempt to a runner.
type Assignment struct {
	// JobID is the job's ID. Runners derive object names from it, so a
	// repeated assignment of the same job is recognised.
	JobID string `json:"jobID"`
	// Epoch numbers the attempt; it increases each time the job is handed
	// out again. Every write for the job carries it.
	Epoch int64 `json:"epoch"`
	// Type is transfer or preview.
	Type JobType `json:"type"`
	// JobToken authenticates the job's pod for this attempt only. It is a
	// secret: store it in a Secret, never in a custom resource or a log.
	JobToken string `json:"jobToken"`
	// LeaseExpiresAt is when the assignment returns to the queue unless the
	// runner acknowledges it first.
	LeaseExpiresAt time.Time `json:"leaseExpiresAt"`
	// ResourceClass names one of the runner's resource classes; empty means
	// the runner's default.
	ResourceClass string `json:"resourceClass,omitempty"`
	// DeadlineSeconds bounds the attempt's run time; 0 means the runner's
	// default.
	DeadlineSeconds int64 `json:"deadlineSeconds,omitempty"`
	// ConfigName is the transfer configuration's name, for display.
	ConfigName string `json:"configName,omitempty"`
}

// Cancellation asks a runner to stop a job.
type Cancellation struct {
	// JobID is the job's ID.
	JobID string `json:"jobID"`
	// Epoch is the attempt to stop.
	Epoch int64 `json:"epoch"`
	// Reason explains the cancellation, for the TransferJob status.
	Reason string `json:"reason"`
}

// JobStatusRequest reports the phase of a job attempt as the operator
// observes it. Terminal phases are resent until acknowledged.
type JobStatusRequest struct {
	// Epoch is the attempt.
	Epoch int64 `json:"epoch"`
	// Phase is the observed phase.
	Phase JobPhase `json:"phase"`
	// Reason is a CamelCase reason such as OOMKilled or DeadlineExceeded;
	// required for Failed and Cancelled.
	Reason string `json:"reason,omitempty"`
	// Message explains the reason in words.
	Message string `json:"message,omitempty"`
	// Rows is the number of rows written, when known.
	Rows int64 `json:"rows,omitempty"`
	// Bytes is the number of bytes read, when known.
	Bytes int64 `json:"bytes,omitempty"`
	// StartedAt is when the pod started.
	StartedAt *time.Time `json:"startedAt,omitempty"`
	// FinishedAt is when the pod ended.
	FinishedAt *time.Time `json:"finishedAt,omitempty"`
}

// JobStatusResponse acknowledges a status report.
type JobStatusResponse struct {
	// State is the job's state in the control plane after the report.
	State JobState `json:"state"`
}

// JobState is a job's state as the control plane stores it.
type JobState string

// Job states in the control plane.
const (
	StateQueued    JobState = "queued"
	StateAssigned  JobState = "assigned"
	StateAccepted  JobState = "accepted"
	StateRunning   JobState = "running"
	StateSucceeded JobState = "succeeded"
	StateFailed    JobState = "failed"
	StateCancelled JobState = "cancelled"
)

// JobStates returns every job state in lifecycle order.
func JobStates() []JobState {
	return []JobState{StateQueued, StateAssigned, StateAccepted, StateRunning, StateSucceeded, StateFailed, StateCancelled}
}

// IsTerminal reports whether s is a final state.
func (s JobState) IsTerminal() bool {
	return s == StateSucceeded || s == StateFailed || s == StateCancelled
}

// JobSpecResponse is the full job for its pod.
type JobSpecResponse struct {
	// JobID is the job's ID.
	JobID string `json:"jobID"`
	// Epoch is the attempt the token belongs to.
	Epoch int64 `json:"epoch"`
	// Type is transfer or preview.
	Type JobType `json:"type"`
	// NoSendPreview tells the engine to report preview columns without rows.
	NoSendPreview bool `json:"noSendPreview,omitempty"`
	// Spec is the transfer job document (the engine's transfer/spec.Job),
	// credentials included. The engine decodes it strictly, exactly as it
	// decodes a job file.
	Spec json.RawMessage `json:"spec"`
}

// LogBatch appends log lines of one attempt. Lines are numbered from 1 per
// attempt; a line whose number was already stored is ignored, so a batch may
// be resent safely.
type LogBatch struct {
	// Epoch is the attempt.
	Epoch int64 `json:"epoch"`
	// Lines are the lines, in order.
	Lines []LogLine `json:"lines"`
}

// LogLine is one log line of a job attempt.
type LogLine struct {
	// Seq numbers the line within the attempt, from 1.
	Seq int64 `json:"seq"`
	// Time is when the line was written.
	Time time.Time `json:"time"`
	// Level is info, warn or error.
	Level string `json:"level,omitempty"`
	// Message is the line's text.
	Message string `json:"message"`
}

// LogBatchResponse acknowledges a log batch.
type LogBatchResponse struct {
	// LastSeq is the highest line number stored for the attempt.
	LastSeq int64 `json:"lastSeq"`
}

// ProgressRequest reports how far an attempt has come.
type ProgressRequest struct {
	// Epoch is the attempt.
	Epoch int64 `json:"epoch"`
	// Rows is the number of rows written so far.
	Rows int64 `json:"rows"`
	// Bytes is the number of bytes read so far.
	Bytes int64 `json:"bytes"`
}

// PreviewRequest reports a preview's column schema and sample rows.
type PreviewRequest struct {
	// Epoch is the attempt.
	Epoch int64 `json:"epoch"`
	// Columns is the source's column schema, in order.
	Columns []Column `json:"columns"`
	// Rows are the sample rows, one value per column, as JSON values.
	// Empty when RowsWithheld is set.
	Rows [][]json.RawMessage `json:"rows,omitempty"`
	// RowsWithheld reports that the runner keeps rows inside the cluster
	// (noSendPreview).
	RowsWithheld bool `json:"rowsWithheld,omitempty"`
}

// Column describes one column of a schema.
type Column struct {
	// Name is the column's name, case preserved.
	Name string `json:"name"`
	// Type is the engine's type name, such as int64, decimal(12,2) or
	// timestamptz.
	Type string `json:"type"`
	// SourceType is the source database's own type name.
	SourceType string `json:"sourceType,omitempty"`
	// Nullable reports whether the column may hold NULL.
	Nullable bool `json:"nullable"`
}

// ResultRequest is the engine's final summary of an attempt.
type ResultRequest struct {
	// Epoch is the attempt.
	Epoch int64 `json:"epoch"`
	// Succeeded reports whether the engine finished without error.
	Succeeded bool `json:"succeeded"`
	// Rows is the number of rows written.
	Rows int64 `json:"rows"`
	// Bytes is the number of bytes read.
	Bytes int64 `json:"bytes"`
	// DurationSeconds is the engine's run time.
	DurationSeconds float64 `json:"durationSeconds"`
	// LastRecord is the incremental position after this run, a JSON object
	// of column name to value; the control plane passes it to the next run.
	LastRecord json.RawMessage `json:"lastRecord,omitempty"`
	// Warnings are non-fatal findings, such as coerced values.
	Warnings []string `json:"warnings,omitempty"`
	// Error is the failure, when Succeeded is false.
	Error string `json:"error,omitempty"`
	// ExitCode is the engine's exit code.
	ExitCode int `json:"exitCode"`
	// Interrupted marks a failed run that a signal stopped, such as the
	// SIGTERM of a deleted pod. Optional, default false. The control plane
	// then waits for the runner's status, which carries the reason the pod
	// stopped.
	Interrupted bool `json:"interrupted,omitempty"`
}

// Empty is the body of responses that carry nothing.
type Empty struct{}

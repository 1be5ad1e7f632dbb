package protocol

// Reasons that a control plane sets on a job it ends itself, and that a
// runner reads in a Cancellation. Reasons that the operator reports
// (OOMKilled, DeadlineExceeded, …) belong to the operator.
const (
	// ReasonLostByRunner: the runner stopped listing an accepted or running
	// job in its heartbeats.
	ReasonLostByRunner = "LostByRunner"
	// ReasonRunnerOffline: the job's runner sent no heartbeat for too long.
	ReasonRunnerOffline = "RunnerOffline"
	// ReasonLeaseExpired: the job was assigned the maximum number of times
	// and no runner acknowledged it before its lease ended.
	ReasonLeaseExpired = "LeaseExpired"
	// ReasonEngineFailed: the engine's result reported a failure.
	ReasonEngineFailed = "EngineFailed"
	// ReasonResultMissing: the runner reported success but the engine's
	// result never arrived.
	ReasonResultMissing = "ResultMissing"
	// ReasonCancelRequested: a user cancelled the job.
	ReasonCancelRequested = "CancelRequested"
	// ReasonJobNotFound: the runner holds a job the control plane does not
	// know.
	ReasonJobNotFound = "JobNotFound"
	// ReasonJobFinished: the job already ended in the control plane.
	ReasonJobFinished = "JobFinished"
	// ReasonSuperseded: the job was handed out again under a newer epoch, or
	// to another runner.
	ReasonSuperseded = "Superseded"
)

// ErrorCodeForStatus returns the error code that goes with an HTTP status,
// CodeInternal for a status with no code of its own.
func ErrorCodeForStatus(status int) ErrorCode {
	switch status {
	case 400:
		return CodeInvalidRequest
	case 401:
		return CodeUnauthorized
	case 403:
		return CodeForbidden
	case 404:
		return CodeNotFound
	case 409:
		return CodeConflict
	case 413:
		return CodeTooLarge
	case 503:
		return CodeUnavailable
	}
	return CodeInternal
}

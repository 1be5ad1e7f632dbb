package server

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/ferryhq/ferry/controlplane/store"
	"github.com/ferryhq/ferry/protocol"
)

// storedResult is the engine's result as the job stores it, with the time
// it arrived. Readers that decode it as a protocol.ResultRequest ignore
// receivedAt.
type storedResult struct {
	protocol.ResultRequest
	// ReceivedAt is when the control plane stored the result. It bounds the
	// wait for the runner's final status after an interrupted run.
	ReceivedAt time.Time `json:"receivedAt"`
}

// awaitsRunnerStatus reports whether result is from an engine that a
// signal stopped. Such a job stays open until the runner reports why its
// pod stopped, because the runner reads the precise reason (PodDeleted,
// DeadlineExceeded, Cancelled and so on) from the pod, while the engine
// receives only the stop signal.
func awaitsRunnerStatus(result protocol.ResultRequest) bool {
	return !result.Succeeded && result.Interrupted
}

// failInterruptedRuns fails the jobs whose engine was interrupted when the
// runner's final status has not come within ResultWait, so such a job
// ends even when its runner is gone. The engine's error is then the best
// reason there is.
func (s *Server) failInterruptedRuns(ctx context.Context) error {
	jobs, err := s.store.ListJobs(ctx, store.JobFilter{
		States: []protocol.JobState{protocol.StateAccepted, protocol.StateRunning}, Limit: 10000})
	if err != nil {
		return err
	}
	for _, candidate := range jobs {
		if !s.interruptedTooLong(candidate) {
			continue
		}
		err := s.store.InTx(ctx, func(q store.Querier) error {
			job, err := q.LockJob(ctx, candidate.ID)
			if err != nil {
				return err
			}
			if job.State.IsTerminal() || !s.interruptedTooLong(job) {
				return nil
			}
			var result storedResult
			if err := json.Unmarshal(job.Result, &result); err != nil {
				return fmt.Errorf("failed to decode the result of job %s: %w", job.ID, err)
			}
			msg := fmt.Sprintf("%s (the engine was stopped by a signal, and the runner reported no final status within %s)",
				result.Error, s.opts.ResultWait)
			return s.finish(ctx, q, &job, protocol.StateFailed, protocol.ReasonEngineFailed, msg, s.clock.Now())
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// interruptedTooLong reports whether job holds an interrupted engine result
// that arrived ResultWait or more ago.
func (s *Server) interruptedTooLong(job store.Job) bool {
	if len(job.Result) == 0 {
		return false
	}
	var result storedResult
	if json.Unmarshal(job.Result, &result) != nil || !awaitsRunnerStatus(result.ResultRequest) {
		return false
	}
	return s.clock.Since(result.ReceivedAt) >= s.opts.ResultWait
}

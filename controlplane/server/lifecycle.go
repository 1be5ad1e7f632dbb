package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/ferryhq/ferry/controlplane/secrets"
	"github.com/ferryhq/ferry/controlplane/store"
	"github.com/ferryhq/ferry/protocol"
)

// heartbeat records the runner's report, applies its acknowledgements,
// fails the jobs it has lost, and collects cancellations and new
// assignments, all in one transaction.
func (s *Server) heartbeat(ctx context.Context, runnerID string, req protocol.HeartbeatRequest, wait time.Duration) (protocol.HeartbeatResponse, error) {
	var resp protocol.HeartbeatResponse
	var clusterID string
	var dispatched bool
	err := s.store.InTx(ctx, func(q store.Querier) error {
		resp = protocol.HeartbeatResponse{}
		now := s.clock.Now()
		runner, err := q.LockRunner(ctx, runnerID)
		if err != nil {
			return notFoundOr(err, "runner %q not found; join again to get a runner ID", runnerID)
		}
		clusterID = runner.ClusterID
		if err := s.recordHeartbeat(ctx, q, runner, req, wait, now); err != nil {
			return err
		}
		for _, ack := range req.Accepted {
			if err := s.applyAck(ctx, q, runnerID, ack, now); err != nil {
				return err
			}
		}
		if err := s.failLostJobs(ctx, q, runnerID, req, now); err != nil {
			return err
		}
		resp.Cancellations, err = s.cancellations(ctx, q, runnerID, req, now)
		if err != nil {
			return err
		}
		resp.Assignments, err = s.dispatch(ctx, q, runner, req, now)
		dispatched = len(resp.Assignments) > 0
		return err
	})
	if err == nil && dispatched && len(resp.Assignments) == req.FreeSlots {
		// The queue may hold more jobs than this runner had room for.
		s.hub.wakeOne(clusterID)
	}
	return resp, err
}

// pollWork looks again for cancellations and assignments during a long poll.
// A cancellation wakes every long poll of the cluster, so pollWork first
// checks without a transaction whether anything is there for this runner.
// SQLite runs one writer at a time, and the check keeps a hundred woken
// runners from queueing behind each other.
func (s *Server) pollWork(ctx context.Context, runnerID, clusterID string, req protocol.HeartbeatRequest) (protocol.HeartbeatResponse, error) {
	var resp protocol.HeartbeatResponse
	if worth, err := s.worthPolling(ctx, runnerID, clusterID, req); err != nil || !worth {
		return resp, err
	}
	err := s.store.InTx(ctx, func(q store.Querier) error {
		resp = protocol.HeartbeatResponse{}
		now := s.clock.Now()
		runner, err := q.LockRunner(ctx, runnerID)
		if err != nil {
			return notFoundOr(err, "runner %q not found", runnerID)
		}
		resp.Cancellations, err = s.cancellations(ctx, q, runnerID, req, now)
		if err != nil {
			return err
		}
		resp.Assignments, err = s.dispatch(ctx, q, runner, req, now)
		return err
	})
	if err == nil && len(resp.Assignments) > 0 && len(resp.Assignments) == req.FreeSlots {
		// The queue may hold more jobs than this runner had room for.
		s.hub.wakeOne(clusterID)
	}
	return resp, err
}

// worthPolling reports whether the cluster has a queued job the runner has
// room for, or the runner has a cancellation waiting, either pending or for
// a job it reports.
func (s *Server) worthPolling(ctx context.Context, runnerID, clusterID string, req protocol.HeartbeatRequest) (bool, error) {
	if req.FreeSlots > 0 {
		queued, err := s.store.ListJobs(ctx, store.JobFilter{ClusterID: clusterID, States: []protocol.JobState{protocol.StateQueued}, Limit: 1})
		if err != nil || len(queued) > 0 {
			return true, err
		}
	}
	pending, err := s.store.ListJobs(ctx, store.JobFilter{RunnerID: runnerID, CancelPending: true, Limit: 1})
	if err != nil || len(pending) > 0 {
		return true, err
	}
	for _, j := range req.Jobs {
		job, err := s.store.GetJob(ctx, j.JobID)
		if err != nil || s.cancelReason(job, runnerID, j.Epoch, s.clock.Now()) != "" {
			return true, nil
		}
	}
	return false, nil
}

func (s *Server) recordHeartbeat(ctx context.Context, q store.Querier, runner store.Runner, req protocol.HeartbeatRequest, wait time.Duration, now time.Time) error {
	previous := runner.State
	runner.State = string(req.State)
	runner.FreeSlots = req.FreeSlots
	runner.RunningJobs = len(req.Jobs)
	runner.WaitSeconds = int(wait / time.Second)
	runner.LastHeartbeatAt = now
	if err := q.UpdateRunner(ctx, runner); err != nil {
		return fmt.Errorf("failed to record the heartbeat of runner %s: %w", runner.ID, err)
	}
	if previous != runner.State {
		s.log.Info("Runner state changed", "runnerID", runner.ID, "clusterID", runner.ClusterID, "from", previous, "to", runner.State)
	}
	return nil
}

// applyAck moves an assigned job to accepted. A late ack (lease ended or a
// newer epoch handed out) or a repeated one changes nothing.
func (s *Server) applyAck(ctx context.Context, q store.Querier, runnerID string, ack protocol.JobRef, now time.Time) error {
	job, err := q.LockJob(ctx, ack.JobID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if job.State != protocol.StateAssigned || job.Epoch != ack.Epoch || job.RunnerID != runnerID || !now.Before(s.leaseEnd(job)) {
		return nil
	}
	job.State = protocol.StateAccepted
	job.LeaseExpiresAt = time.Time{}
	job.UpdatedAt = now
	if err := q.UpdateJob(ctx, job); err != nil {
		return err
	}
	s.logJob(job, "Job accepted")
	return nil
}

// failLostJobs fails the accepted and running jobs of the runner that its
// heartbeats have left out twice in a row, or for LostAfter.
func (s *Server) failLostJobs(ctx context.Context, q store.Querier, runnerID string, req protocol.HeartbeatRequest, now time.Time) error {
	reported := map[protocol.JobRef]bool{}
	for _, j := range req.Jobs {
		reported[protocol.JobRef{JobID: j.JobID, Epoch: j.Epoch}] = true
	}
	for _, a := range req.Accepted {
		reported[a] = true
	}
	jobs, err := q.ListJobs(ctx, store.JobFilter{RunnerID: runnerID, States: []protocol.JobState{protocol.StateAccepted, protocol.StateRunning}, Limit: 10000})
	if err != nil {
		return err
	}
	for _, job := range jobs {
		if job.OperatorPhase.IsTerminal() {
			// The runner reported the end and may drop the job; the result
			// or ResultWait decides it.
			continue
		}
		if reported[protocol.JobRef{JobID: job.ID, Epoch: job.Epoch}] {
			if job.MissingCount == 0 {
				continue
			}
			job.MissingCount, job.MissingSince = 0, time.Time{}
		} else {
			job.MissingCount++
			if job.MissingSince.IsZero() {
				job.MissingSince = now
			}
			if job.MissingCount >= 2 || now.Sub(job.MissingSince) >= s.opts.LostAfter {
				msg := fmt.Sprintf("runner %s stopped reporting the job in its heartbeats", runnerID)
				if err := s.finish(ctx, q, &job, protocol.StateFailed, protocol.ReasonLostByRunner, msg, now); err != nil {
					return err
				}
				continue
			}
		}
		job.UpdatedAt = now
		if err := q.UpdateJob(ctx, job); err != nil {
			return err
		}
	}
	return nil
}

// cancellations lists the jobs the runner must stop: those it reports or
// acknowledges that are not live on it, and those a user cancelled.
func (s *Server) cancellations(ctx context.Context, q store.Querier, runnerID string, req protocol.HeartbeatRequest, now time.Time) ([]protocol.Cancellation, error) {
	var out []protocol.Cancellation
	seen := map[protocol.JobRef]bool{}
	refs := make([]protocol.JobRef, 0, len(req.Jobs)+len(req.Accepted))
	for _, j := range req.Jobs {
		refs = append(refs, protocol.JobRef{JobID: j.JobID, Epoch: j.Epoch})
	}
	refs = append(refs, req.Accepted...)
	for _, ref := range refs {
		if seen[ref] {
			continue
		}
		seen[ref] = true
		job, err := q.GetJob(ctx, ref.JobID)
		if errors.Is(err, store.ErrNotFound) {
			out = append(out, protocol.Cancellation{JobID: ref.JobID, Epoch: ref.Epoch, Reason: protocol.ReasonJobNotFound})
			continue
		}
		if err != nil {
			return nil, err
		}
		if reason := s.cancelReason(job, runnerID, ref.Epoch, now); reason != "" {
			out = append(out, protocol.Cancellation{JobID: ref.JobID, Epoch: ref.Epoch, Reason: reason})
		}
	}

	pending, err := q.ListJobs(ctx, store.JobFilter{RunnerID: runnerID, CancelPending: true, Limit: 10000})
	if err != nil {
		return nil, err
	}
	for _, job := range pending {
		ref := protocol.JobRef{JobID: job.ID, Epoch: job.Epoch}
		if !seen[ref] {
			out = append(out, protocol.Cancellation{JobID: job.ID, Epoch: job.Epoch, Reason: protocol.ReasonCancelRequested})
		}
		// The cancellation also reaches the runner through its job list, so
		// a lost response costs nothing.
		job.CancelPending = false
		job.UpdatedAt = now
		if err := q.UpdateJob(ctx, job); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// cancelReason returns why the runner must stop its attempt epoch of job,
// or "" when the attempt is live on the runner.
func (s *Server) cancelReason(job store.Job, runnerID string, epoch int64, now time.Time) string {
	switch {
	case epoch < job.Epoch || job.RunnerID != runnerID:
		return protocol.ReasonSuperseded
	case epoch > job.Epoch:
		return protocol.ReasonJobNotFound
	case job.State == protocol.StateCancelled:
		return protocol.ReasonCancelRequested
	case job.State.IsTerminal():
		// A job the engine failed ends on its own: give its pod the grace
		// period to exit before stopping it. Jobs the control plane ended
		// itself stop at once.
		if job.Reason == protocol.ReasonEngineFailed && now.Before(job.FinishedAt.Add(s.opts.JobTokenGrace)) {
			return ""
		}
		if job.Reason != "" && job.Reason != protocol.ReasonEngineFailed {
			return job.Reason
		}
		return protocol.ReasonJobFinished
	case job.State == protocol.StateQueued:
		return protocol.ReasonSuperseded
	}
	return ""
}

// dispatch assigns up to the runner's free slots of queued jobs of its
// cluster. Assignments still waiting for this runner's acknowledgement
// count against the slots, unless the runner reports or acknowledges them.
func (s *Server) dispatch(ctx context.Context, q store.Querier, runner store.Runner, req protocol.HeartbeatRequest, now time.Time) ([]protocol.Assignment, error) {
	free := req.FreeSlots
	if free <= 0 {
		return nil, nil
	}
	inFlight, err := q.ListJobs(ctx, store.JobFilter{RunnerID: runner.ID, States: []protocol.JobState{protocol.StateAssigned}, Limit: 10000})
	if err != nil {
		return nil, err
	}
	known := map[string]bool{}
	for _, j := range req.Jobs {
		known[j.JobID] = true
	}
	for _, a := range req.Accepted {
		known[a.JobID] = true
	}
	for _, j := range inFlight {
		if !known[j.ID] {
			free--
		}
	}
	if free <= 0 {
		return nil, nil
	}

	jobs, err := q.ClaimQueuedJobs(ctx, runner.ClusterID, free)
	if err != nil {
		return nil, err
	}
	out := make([]protocol.Assignment, 0, len(jobs))
	for _, job := range jobs {
		token, err := secrets.NewToken(secrets.JobTokenPrefix)
		if err != nil {
			return nil, err
		}
		job.Epoch++
		job.Attempts++
		job.State = protocol.StateAssigned
		job.RunnerID = runner.ID
		job.LeaseExpiresAt = now.Add(s.opts.LeaseDuration)
		job.AssignedAt = now
		job.UpdatedAt = now
		job.MissingCount, job.MissingSince = 0, time.Time{}
		job.OperatorPhase, job.OperatorReason, job.OperatorMessage, job.OperatorAt = "", "", "", time.Time{}
		job.Result, job.Rows, job.Bytes = nil, 0, 0
		if err := q.UpdateJob(ctx, job); err != nil {
			return nil, err
		}
		if err := q.CreateJobToken(ctx, store.JobToken{Hash: secrets.HashToken(token), JobID: job.ID, Epoch: job.Epoch, CreatedAt: now}); err != nil {
			return nil, err
		}
		out = append(out, protocol.Assignment{
			JobID: job.ID, Epoch: job.Epoch, Type: job.Type, JobToken: token,
			LeaseExpiresAt: job.LeaseExpiresAt, ConfigName: job.ConfigName,
		})
		s.logJob(job, "Job assigned", "attempt", job.Attempts, "leaseExpiresAt", job.LeaseExpiresAt)
	}
	return out, nil
}

// reportStatus applies the operator's view of a job attempt.
func (s *Server) reportStatus(ctx context.Context, runner store.Runner, jobID string, req protocol.JobStatusRequest) (protocol.JobState, error) {
	var state protocol.JobState
	err := s.store.InTx(ctx, func(q store.Querier) error {
		now := s.clock.Now()
		job, err := q.LockJob(ctx, jobID)
		if err != nil {
			return notFoundOr(err, "job %q not found", jobID)
		}
		if job.ClusterID != runner.ClusterID {
			return errorf(http.StatusForbidden, "job %q does not belong to the cluster of runner %q", jobID, runner.ID)
		}
		if err := checkEpoch(job, req.Epoch); err != nil {
			return err
		}
		if job.RunnerID != runner.ID {
			return errorf(http.StatusConflict, "job %q epoch %d is assigned to another runner", jobID, req.Epoch)
		}
		state = job.State
		if job.State.IsTerminal() {
			// Already decided. Record the report so the job shows the pod's
			// end, and acknowledge so the runner stops resending.
			return s.recordLateStatus(ctx, q, job, req, now)
		}
		if req.Rows > job.Rows {
			job.Rows = req.Rows
		}
		if req.Bytes > job.Bytes {
			job.Bytes = req.Bytes
		}
		job.OperatorPhase, job.OperatorReason, job.OperatorMessage, job.OperatorAt = req.Phase, req.Reason, req.Message, now
		job.UpdatedAt = now
		switch req.Phase {
		case protocol.PhasePending:
			if job.State == protocol.StateAssigned {
				job.State, job.LeaseExpiresAt = protocol.StateAccepted, time.Time{}
				s.logJob(job, "Job accepted")
			}
		case protocol.PhaseRunning:
			s.markRunning(&job, req.StartedAt, now)
		case protocol.PhaseSucceeded:
			s.markRunning(&job, req.StartedAt, now)
			if result, ok := decodeResult(job.Result); ok {
				// Only an interrupted run leaves a failed result on a job
				// that is still open; the engine's failure wins.
				final, reason, message := protocol.StateSucceeded, "", ""
				if !result.Succeeded {
					final, reason, message = protocol.StateFailed, protocol.ReasonEngineFailed, result.Error
				}
				if err := s.finish(ctx, q, &job, final, reason, message, now); err != nil {
					return err
				}
				state = job.State
				return nil
			}
		case protocol.PhaseFailed:
			if err := s.finish(ctx, q, &job, protocol.StateFailed, req.Reason, req.Message, now); err != nil {
				return err
			}
			state = job.State
			return nil
		case protocol.PhaseCancelled:
			if err := s.finish(ctx, q, &job, protocol.StateCancelled, req.Reason, req.Message, now); err != nil {
				return err
			}
			state = job.State
			return nil
		}
		state = job.State
		return q.UpdateJob(ctx, job)
	})
	return state, err
}

// markRunning moves an assigned or accepted job to running. The start
// time is the runner's report, or now when it sent none.
func (s *Server) markRunning(job *store.Job, startedAt *time.Time, now time.Time) {
	if job.State == protocol.StateRunning {
		return
	}
	job.State = protocol.StateRunning
	job.LeaseExpiresAt = time.Time{}
	job.StartedAt = now
	if startedAt != nil && !startedAt.IsZero() {
		job.StartedAt = s.clampStart(*job, *startedAt, now)
	}
	s.logJob(*job, "Job running")
}

// clampStart returns a start time that a runner reported, moved into
// [assignedAt, now] on the control plane's clock, or into [createdAt, now]
// for a job without an assignment time. The runner's clock may differ from
// ours, and the job page measures the duration from this start to a finish
// time that always comes from our clock. Unclamped, a runner behind would
// show a start before the job existed and one ahead a start in the future.
func (s *Server) clampStart(job store.Job, reported, now time.Time) time.Time {
	earliest := job.AssignedAt
	if earliest.IsZero() {
		earliest = job.CreatedAt
	}
	clamped := reported
	switch {
	case reported.After(now):
		clamped = now
	case reported.Before(earliest):
		clamped = earliest
	default:
		return reported
	}
	s.log.Debug("Clamped a runner's job start time outside the job's lifetime on the control plane's clock",
		"jobID", job.ID, "runnerID", job.RunnerID, "reported", reported, "clamped", clamped,
		"skew", reported.Sub(clamped).String())
	return clamped
}

// recordLateStatus stores the runner's report on a job that has already
// ended, so the job shows how the runner saw the attempt end. A late
// non-terminal report does not replace a terminal one.
func (s *Server) recordLateStatus(ctx context.Context, q store.Querier, job store.Job, req protocol.JobStatusRequest, now time.Time) error {
	if job.OperatorPhase.IsTerminal() && !req.Phase.IsTerminal() {
		return nil
	}
	if job.OperatorPhase == req.Phase && job.OperatorReason == req.Reason && job.OperatorMessage == req.Message {
		// A resent report changes nothing.
		return nil
	}
	job.OperatorPhase, job.OperatorReason, job.OperatorMessage, job.OperatorAt = req.Phase, req.Reason, req.Message, now
	job.UpdatedAt = now
	return q.UpdateJob(ctx, job)
}

// checkEpoch rejects a write for an attempt other than the job's current one.
func checkEpoch(job store.Job, epoch int64) error {
	switch {
	case epoch < job.Epoch:
		return errorf(http.StatusConflict, "stale epoch %d for job %q: attempt %d has replaced it; stop this attempt", epoch, job.ID, job.Epoch)
	case epoch > job.Epoch:
		return errorf(http.StatusConflict, "unknown epoch %d for job %q: the current attempt is %d", epoch, job.ID, job.Epoch)
	}
	return nil
}

func decodeResult(raw json.RawMessage) (protocol.ResultRequest, bool) {
	var r protocol.ResultRequest
	if len(raw) == 0 || json.Unmarshal(raw, &r) != nil {
		return r, false
	}
	return r, true
}

// finish ends a job in a terminal state, writes it, and for a successful
// incremental transfer stores the engine's lastRecord on the configuration.
func (s *Server) finish(ctx context.Context, q store.Querier, job *store.Job, state protocol.JobState, reason, message string, now time.Time) error {
	job.State, job.Reason, job.Message = state, reason, message
	job.FinishedAt, job.UpdatedAt = now, now
	job.LeaseExpiresAt = time.Time{}
	if err := q.UpdateJob(ctx, *job); err != nil {
		return err
	}
	if state == protocol.StateSucceeded && job.Type == protocol.JobTransfer {
		if result, ok := decodeResult(job.Result); ok && len(result.LastRecord) > 0 && string(result.LastRecord) != "null" {
			cfg, err := q.GetConfig(ctx, job.ConfigID)
			if err != nil {
				return err
			}
			switch {
			case !cfg.Incremental:
			case cfg.SourceChangedAt.After(job.AssignedAt):
				// The job may have read the old source, whose position
				// means nothing for the new one.
				s.logJob(*job, "Incremental position not stored: the config's source changed after the job was assigned")
			default:
				if err := q.SetConfigLastRecord(ctx, cfg.ID, result.LastRecord, now); err != nil {
					return err
				}
			}
		}
	}
	s.logJob(*job, "Job finished", "reason", reason)
	return nil
}

// logJob logs a state change of a job at info level with its IDs.
func (s *Server) logJob(job store.Job, msg string, kv ...any) {
	args := append([]any{"jobID", job.ID, "epoch", job.Epoch, "state", string(job.State),
		"runnerID", job.RunnerID, "clusterID", job.ClusterID, "configID", job.ConfigID}, kv...)
	s.log.Info(msg, args...)
}

package server

import (
	"context"
	"fmt"
	"time"

	"github.com/ferryhq/ferry/controlplane/store"
	"github.com/ferryhq/ferry/protocol"
)

// Sweep ends what time has ended: it requeues (or fails) assignments whose
// lease expired, marks silent runners OFFLINE and fails their jobs, fails
// jobs whose engine result never came, fails interrupted jobs whose
// runner never sent a final status, and deletes the revocations of expired
// web UI sessions. Run calls it every
// SweepInterval; tests call it after moving a fake clock.
func (s *Server) Sweep(ctx context.Context) error {
	if err := s.expireLeases(ctx); err != nil {
		return fmt.Errorf("failed to expire leases: %w", err)
	}
	if err := s.markSilentRunners(ctx); err != nil {
		return fmt.Errorf("failed to mark silent runners offline: %w", err)
	}
	if err := s.failMissingResults(ctx); err != nil {
		return fmt.Errorf("failed to end jobs without a result: %w", err)
	}
	if err := s.failInterruptedRuns(ctx); err != nil {
		return fmt.Errorf("failed to end interrupted jobs without a final status: %w", err)
	}
	if err := s.deleteExpiredWebSessions(ctx); err != nil {
		return fmt.Errorf("failed to delete the revocations of expired web sessions: %w", err)
	}
	return nil
}

func (s *Server) expireLeases(ctx context.Context) error {
	expired, err := s.store.ListExpiredLeases(ctx, s.clock.Now())
	if err != nil {
		return err
	}
	for _, candidate := range expired {
		requeued := false
		err := s.store.InTx(ctx, func(q store.Querier) error {
			now := s.clock.Now()
			job, err := q.LockJob(ctx, candidate.ID)
			if err != nil {
				return err
			}
			if job.State != protocol.StateAssigned || now.Before(s.leaseEnd(job)) {
				return nil
			}
			if job.Attempts >= s.opts.MaxAttempts {
				msg := fmt.Sprintf("no runner acknowledged the job in %d attempts", job.Attempts)
				return s.finish(ctx, q, &job, protocol.StateFailed, protocol.ReasonLeaseExpired, msg, now)
			}
			s.logJob(job, "Job lease expired; requeueing", "attempt", job.Attempts)
			job.State, job.RunnerID, job.LeaseExpiresAt, job.UpdatedAt = protocol.StateQueued, "", time.Time{}, now
			requeued = true
			return q.UpdateJob(ctx, job)
		})
		if err != nil {
			return err
		}
		if requeued {
			s.wakeForJob(ctx, candidate.ClusterID)
		}
	}
	return nil
}

// offlineBound is how long a runner may stay silent before it is OFFLINE.
func (s *Server) offlineBound(r store.Runner) time.Duration {
	wait := max(time.Duration(r.WaitSeconds)*time.Second, s.opts.OfflineFloor)
	return offlineBoundMultiples * wait
}

func (s *Server) markSilentRunners(ctx context.Context) error {
	now := s.clock.Now()
	candidates, err := s.store.ListSilentRunners(ctx, now.Add(-offlineBoundMultiples*s.opts.OfflineFloor))
	if err != nil {
		return err
	}
	for _, candidate := range candidates {
		err := s.store.InTx(ctx, func(q store.Querier) error {
			now := s.clock.Now()
			runner, err := q.LockRunner(ctx, candidate.ID)
			if err != nil {
				return err
			}
			// Silence counts from the server's start at the earliest: a
			// runner cannot heartbeat to a server that is down.
			silence := now.Sub(later(runner.LastHeartbeatAt, s.startedAt))
			if runner.State == store.RunnerOffline || silence < s.offlineBound(runner) {
				return nil
			}
			s.log.Info("Runner state changed", "runnerID", runner.ID, "clusterID", runner.ClusterID,
				"from", runner.State, "to", store.RunnerOffline, "silence", silence.Round(time.Second).String())
			runner.State = store.RunnerOffline
			if err := q.UpdateRunner(ctx, runner); err != nil {
				return err
			}
			jobs, err := q.ListJobs(ctx, store.JobFilter{RunnerID: runner.ID, States: []protocol.JobState{protocol.StateAccepted, protocol.StateRunning}, Limit: 10000})
			if err != nil {
				return err
			}
			for _, job := range jobs {
				msg := fmt.Sprintf("runner %s sent no heartbeat for %s", runner.ID, silence.Round(time.Second))
				if err := s.finish(ctx, q, &job, protocol.StateFailed, protocol.ReasonRunnerOffline, msg, now); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) failMissingResults(ctx context.Context) error {
	jobs, err := s.store.ListJobs(ctx, store.JobFilter{OperatorPhase: protocol.PhaseSucceeded,
		States: []protocol.JobState{protocol.StateAccepted, protocol.StateRunning}, Limit: 10000})
	if err != nil {
		return err
	}
	for _, candidate := range jobs {
		if s.clock.Since(candidate.OperatorAt) < s.opts.ResultWait {
			continue
		}
		err := s.store.InTx(ctx, func(q store.Querier) error {
			now := s.clock.Now()
			job, err := q.LockJob(ctx, candidate.ID)
			if err != nil {
				return err
			}
			if job.State.IsTerminal() || job.OperatorPhase != protocol.PhaseSucceeded || now.Sub(job.OperatorAt) < s.opts.ResultWait {
				return nil
			}
			msg := fmt.Sprintf("the runner reported success but the engine's result did not arrive within %s", s.opts.ResultWait)
			return s.finish(ctx, q, &job, protocol.StateFailed, protocol.ReasonResultMissing, msg, now)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// leaseEnd is when job's assignment returns to the queue. A lease that ran
// out while this server was down lasts a full lease past the start, because
// the runner could not acknowledge it meanwhile.
func (s *Server) leaseEnd(job store.Job) time.Time {
	return later(job.LeaseExpiresAt, s.startedAt.Add(s.opts.LeaseDuration))
}

// later returns the later of a and b.
func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

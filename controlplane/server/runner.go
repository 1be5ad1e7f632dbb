package server

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/ferryhq/ferry/controlplane/secrets"
	"github.com/ferryhq/ferry/controlplane/store"
	"github.com/ferryhq/ferry/protocol"
)

// authCluster checks the request's registration token and returns the
// cluster it belongs to.
func (s *Server) authCluster(r *http.Request) (store.RegistrationToken, error) {
	token := bearerToken(r)
	if token == "" {
		return store.RegistrationToken{}, errorf(http.StatusUnauthorized, "missing bearer token; send the cluster registration token as `Authorization: Bearer <token>`")
	}
	t, err := s.store.GetRegistrationTokenByHash(r.Context(), secrets.HashToken(token))
	if errors.Is(err, store.ErrNotFound) {
		return t, errorf(http.StatusUnauthorized, "invalid registration token; create one with `controlplane token create`")
	}
	if err != nil {
		return t, err
	}
	if !t.RevokedAt.IsZero() {
		return t, errorf(http.StatusUnauthorized, "registration token %s was revoked; give the runner a live token of its cluster", t.Hint)
	}
	return t, nil
}

// authRunner checks the registration token and that the runner in the path
// belongs to the token's cluster.
func (s *Server) authRunner(r *http.Request) (store.Runner, error) {
	t, err := s.authCluster(r)
	if err != nil {
		return store.Runner{}, err
	}
	id := r.PathValue("runnerID")
	runner, err := s.store.GetRunner(r.Context(), id)
	if err != nil {
		return runner, notFoundOr(err, "runner %q not found; join again to get a runner ID", id)
	}
	if runner.ClusterID != t.ClusterID {
		return runner, errorf(http.StatusForbidden, "runner %q does not belong to the cluster of this registration token", id)
	}
	return runner, nil
}

func (s *Server) handleJoin(w http.ResponseWriter, r *http.Request) {
	t, err := s.authCluster(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var req protocol.JoinRequest
	if err := decodeBody(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := validateJoin(req); err != nil {
		s.writeError(w, r, err)
		return
	}
	cluster, err := s.store.GetCluster(r.Context(), t.ClusterID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	runner, created, err := s.joinRunner(r.Context(), cluster.ID, req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if created {
		s.log.Info("Runner joined", "runnerID", runner.ID, "clusterID", cluster.ID, "runnerName", runner.Name, "version", runner.Version)
	} else {
		s.log.Info("Runner joined again", "runnerID", runner.ID, "clusterID", cluster.ID, "runnerName", runner.Name, "version", runner.Version)
	}
	writeJSON(w, http.StatusOK, protocol.JoinResponse{RunnerID: runner.ID, ClusterID: cluster.ID, ClusterName: cluster.Name})
}

func validateJoin(req protocol.JoinRequest) error {
	switch {
	case req.Name == "":
		return errorf(http.StatusBadRequest, "name is required; send the runner's name, such as namespace/runner")
	case len(req.Name) > 253:
		return errorf(http.StatusBadRequest, "name has %d characters; use at most 253", len(req.Name))
	case req.MaxConcurrentJobs < 1:
		return errorf(http.StatusBadRequest, "maxConcurrentJobs is %d; use 1 or more", req.MaxConcurrentJobs)
	}
	return nil
}

// joinRunner returns the runner with the request's name in the cluster,
// creating it or updating its version and capacity.
func (s *Server) joinRunner(ctx context.Context, clusterID string, req protocol.JoinRequest) (store.Runner, bool, error) {
	var runner store.Runner
	var created bool
	err := s.store.InTx(ctx, func(q store.Querier) error {
		now := s.clock.Now()
		existing, err := q.GetRunnerByName(ctx, clusterID, req.Name)
		switch {
		case err == nil:
			existing.Version, existing.MaxConcurrentJobs, existing.NoSendPreview = req.Version, req.MaxConcurrentJobs, req.NoSendPreview
			existing.LastHeartbeatAt = now
			if existing.State == store.RunnerOffline {
				existing.State = string(protocol.RunnerIdle)
			}
			runner = existing
			return q.UpdateRunner(ctx, existing)
		case errors.Is(err, store.ErrNotFound):
			runner = store.Runner{
				ID: secrets.NewID("run_"), ClusterID: clusterID, Name: req.Name, Version: req.Version,
				MaxConcurrentJobs: req.MaxConcurrentJobs, NoSendPreview: req.NoSendPreview,
				State: string(protocol.RunnerIdle), WaitSeconds: protocol.DefaultWaitSeconds,
				LastHeartbeatAt: now, CreatedAt: now,
			}
			created = true
			return q.CreateRunner(ctx, runner)
		default:
			return err
		}
	})
	if errors.Is(err, store.ErrDuplicate) {
		// Another join with the same name won the race; use its runner.
		runner, err = s.store.GetRunnerByName(ctx, clusterID, req.Name)
		return runner, false, err
	}
	return runner, created, err
}

func (s *Server) handleHeartbeat(w http.ResponseWriter, r *http.Request) {
	runner, err := s.authRunner(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var req protocol.HeartbeatRequest
	if err := decodeBody(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := validateHeartbeat(req); err != nil {
		s.writeError(w, r, err)
		return
	}
	wait := time.Duration(req.WaitSeconds) * time.Second
	if req.WaitSeconds == 0 {
		wait = protocol.DefaultWaitSeconds * time.Second
	}
	wait = min(wait, protocol.MaxWaitSeconds*time.Second)

	resp, err := s.longPoll(r.Context(), runner, req, wait)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if r.Context().Err() != nil {
		return
	}
	resp.ServerTime = s.clock.Now()
	writeJSON(w, http.StatusOK, resp)
}

// longPoll handles a heartbeat and, when there is nothing to send, waits up
// to wait for a wake-up that brings work.
func (s *Server) longPoll(ctx context.Context, runner store.Runner, req protocol.HeartbeatRequest, wait time.Duration) (protocol.HeartbeatResponse, error) {
	wantsJobs := req.FreeSlots > 0
	// Register before looking for work, so a job queued in between wakes us.
	waiter := s.hub.register(runner.ClusterID, wantsJobs)
	// done unregisters the waiter and passes on a job wake-up it received
	// but did not act on, so the job is not left for the next heartbeat.
	done := func(acted bool) {
		if s.hub.unregister(runner.ClusterID, waiter) && !acted {
			s.hub.wakeOne(runner.ClusterID)
		}
	}
	resp, err := s.heartbeat(ctx, runner.ID, req, wait)
	if err != nil || hasWork(resp) {
		done(false)
		return resp, err
	}

	timer := s.clock.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case <-waiter.ch:
		case <-timer.C():
			done(false)
			return protocol.HeartbeatResponse{}, nil
		case <-ctx.Done():
			done(false)
			return protocol.HeartbeatResponse{}, nil
		case <-s.closed:
			done(false)
			return protocol.HeartbeatResponse{}, nil
		}
		previous := waiter
		waiter = s.hub.register(runner.ClusterID, wantsJobs)
		resp, err := s.pollWork(ctx, runner.ID, runner.ClusterID, req)
		// The wake-up was acted on: pollWork took what it could.
		s.hub.unregister(runner.ClusterID, previous)
		if err != nil || hasWork(resp) {
			done(false)
			return resp, err
		}
	}
}

func hasWork(resp protocol.HeartbeatResponse) bool {
	return len(resp.Assignments) > 0 || len(resp.Cancellations) > 0
}

func validateHeartbeat(req protocol.HeartbeatRequest) error {
	switch {
	case req.State != protocol.RunnerIdle && req.State != protocol.RunnerActive:
		return errorf(http.StatusBadRequest, "state is %q; use IDLE or ACTIVE", req.State)
	case req.FreeSlots < 0:
		return errorf(http.StatusBadRequest, "freeSlots is %d; use 0 or more", req.FreeSlots)
	case req.WaitSeconds < 0:
		return errorf(http.StatusBadRequest, "waitSeconds is %d; use 0 for the default of %d or a positive number of seconds", req.WaitSeconds, protocol.DefaultWaitSeconds)
	}
	for i, j := range req.Jobs {
		if j.JobID == "" {
			return errorf(http.StatusBadRequest, "jobs[%d].jobID is empty", i)
		}
		if j.Phase != "" && !validPhase(j.Phase) {
			return errorf(http.StatusBadRequest, "jobs[%d].phase is %q; use Pending, Running, Succeeded, Failed or Cancelled", i, j.Phase)
		}
	}
	for i, a := range req.Accepted {
		if a.JobID == "" {
			return errorf(http.StatusBadRequest, "accepted[%d].jobID is empty", i)
		}
	}
	return nil
}

func validPhase(p protocol.JobPhase) bool {
	switch p {
	case protocol.PhasePending, protocol.PhaseRunning, protocol.PhaseSucceeded, protocol.PhaseFailed, protocol.PhaseCancelled:
		return true
	}
	return false
}

func (s *Server) handleJobStatus(w http.ResponseWriter, r *http.Request) {
	runner, err := s.authRunner(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var req protocol.JobStatusRequest
	if err := decodeBody(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if !validPhase(req.Phase) {
		s.writeError(w, r, errorf(http.StatusBadRequest, "phase is %q; use Pending, Running, Succeeded, Failed or Cancelled", req.Phase))
		return
	}
	if (req.Phase == protocol.PhaseFailed || req.Phase == protocol.PhaseCancelled) && req.Reason == "" {
		s.writeError(w, r, errorf(http.StatusBadRequest, "reason is required for phase %s; send a CamelCase reason such as OOMKilled", req.Phase))
		return
	}
	if req.Rows < 0 || req.Bytes < 0 {
		s.writeError(w, r, errorf(http.StatusBadRequest, "rows and bytes must be 0 or more"))
		return
	}
	state, err := s.reportStatus(r.Context(), runner, r.PathValue("jobID"), req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, protocol.JobStatusResponse{State: state})
}

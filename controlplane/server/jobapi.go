package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/ferryhq/ferry/controlplane/secrets"
	"github.com/ferryhq/ferry/controlplane/store"
	"github.com/ferryhq/ferry/protocol"
)

// authJob checks the request's job token against the job in the path and
// returns the token's epoch.
//
// A token of another job gets 403. A token of an older epoch gets 409, so a
// superseded pod learns that it must stop. The current epoch's token stops
// working (401) JobTokenGrace after the job ended.
func (s *Server) authJob(r *http.Request) (int64, error) {
	token := bearerToken(r)
	if token == "" {
		return 0, errorf(http.StatusUnauthorized, "missing bearer token; send the job token as `Authorization: Bearer <token>`")
	}
	jobID := r.PathValue("jobID")
	t, err := s.store.GetJobToken(r.Context(), secrets.HashToken(token))
	if errors.Is(err, store.ErrNotFound) {
		return 0, errorf(http.StatusUnauthorized, "invalid job token")
	}
	if err != nil {
		return 0, err
	}
	if t.JobID != jobID {
		return 0, errorf(http.StatusForbidden, "the job token belongs to another job, not %q", jobID)
	}
	job, err := s.store.GetJob(r.Context(), jobID)
	if err != nil {
		return 0, notFoundOr(err, "job %q not found", jobID)
	}
	if t.Epoch < job.Epoch {
		return 0, errorf(http.StatusConflict, "stale epoch %d for job %q: attempt %d has replaced it; stop this attempt", t.Epoch, jobID, job.Epoch)
	}
	if job.State.IsTerminal() && !s.clock.Now().Before(job.FinishedAt.Add(s.opts.JobTokenGrace)) {
		return 0, errorf(http.StatusUnauthorized, "job token expired: job %q ended at %s", jobID, job.FinishedAt.Format("2006-01-02T15:04:05Z07:00"))
	}
	return t.Epoch, nil
}

// jobWrite authenticates a job pod's write, decodes its body, and runs fn on
// the locked job after checking that the body's epoch is the token's and
// the job's current one.
func (s *Server) jobWrite(w http.ResponseWriter, r *http.Request, body any, epochOf func() int64,
	fn func(ctx context.Context, q store.Querier, job *store.Job) (any, error)) {
	tokenEpoch, err := s.authJob(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := decodeBody(w, r, body); err != nil {
		s.writeError(w, r, err)
		return
	}
	epoch := epochOf()
	if epoch != tokenEpoch {
		s.writeError(w, r, errorf(http.StatusConflict, "epoch %d in the body does not match the job token's epoch %d", epoch, tokenEpoch))
		return
	}
	ctx := r.Context()
	var out any
	err = s.store.InTx(ctx, func(q store.Querier) error {
		job, err := q.LockJob(ctx, r.PathValue("jobID"))
		if err != nil {
			return notFoundOr(err, "job %q not found", r.PathValue("jobID"))
		}
		if err := checkEpoch(job, epoch); err != nil {
			return err
		}
		out, err = fn(ctx, q, &job)
		return err
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleJobSpec(w http.ResponseWriter, r *http.Request) {
	epoch, err := s.authJob(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	resp, err := s.jobSpec(r.Context(), r.PathValue("jobID"), epoch)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) jobSpec(ctx context.Context, jobID string, epoch int64) (protocol.JobSpecResponse, error) {
	job, err := s.store.GetJob(ctx, jobID)
	if err != nil {
		return protocol.JobSpecResponse{}, notFoundOr(err, "job %q not found", jobID)
	}
	if err := checkEpoch(job, epoch); err != nil {
		return protocol.JobSpecResponse{}, err
	}
	if job.State.IsTerminal() {
		return protocol.JobSpecResponse{}, errorf(http.StatusConflict, "job %q already ended as %s; do not start it", jobID, job.State)
	}
	cfg, err := s.store.GetConfig(ctx, job.ConfigID)
	if err != nil {
		return protocol.JobSpecResponse{}, err
	}
	src, err := s.store.GetConnection(ctx, cfg.SourceConnectionID)
	if err != nil {
		return protocol.JobSpecResponse{}, err
	}
	var dst store.Connection
	if job.Type == protocol.JobTransfer {
		if dst, err = s.store.GetConnection(ctx, cfg.DestinationConnectionID); err != nil {
			return protocol.JobSpecResponse{}, err
		}
	}
	doc, err := s.buildSpec(job.Type, cfg, src, dst)
	if err != nil {
		return protocol.JobSpecResponse{}, err
	}
	noSendPreview := false
	if runner, err := s.store.GetRunner(ctx, job.RunnerID); err == nil {
		noSendPreview = runner.NoSendPreview
	}
	return protocol.JobSpecResponse{JobID: job.ID, Epoch: job.Epoch, Type: job.Type, NoSendPreview: noSendPreview, Spec: doc}, nil
}

func (s *Server) handleJobLogs(w http.ResponseWriter, r *http.Request) {
	var batch protocol.LogBatch
	s.jobWrite(w, r, &batch, func() int64 { return batch.Epoch }, func(ctx context.Context, q store.Querier, job *store.Job) (any, error) {
		lines := make([]store.LogLine, 0, len(batch.Lines))
		for i, l := range batch.Lines {
			if l.Seq < 1 {
				return nil, errorf(http.StatusBadRequest, "lines[%d].seq is %d; number lines from 1", i, l.Seq)
			}
			lines = append(lines, store.LogLine{Seq: l.Seq, Time: l.Time, Level: l.Level, Message: l.Message})
		}
		last, err := q.AppendLogs(ctx, job.ID, job.Epoch, lines)
		if err != nil {
			return nil, err
		}
		return protocol.LogBatchResponse{LastSeq: last}, nil
	})
}

func (s *Server) handleJobProgress(w http.ResponseWriter, r *http.Request) {
	var req protocol.ProgressRequest
	s.jobWrite(w, r, &req, func() int64 { return req.Epoch }, func(ctx context.Context, q store.Querier, job *store.Job) (any, error) {
		if req.Rows < 0 || req.Bytes < 0 {
			return nil, errorf(http.StatusBadRequest, "rows and bytes must be 0 or more")
		}
		if job.State.IsTerminal() {
			return protocol.Empty{}, nil
		}
		job.Rows, job.Bytes = max(job.Rows, req.Rows), max(job.Bytes, req.Bytes)
		now := s.clock.Now()
		s.markRunning(job, nil, now)
		job.UpdatedAt = now
		if err := q.UpdateJob(ctx, *job); err != nil {
			return nil, err
		}
		return protocol.Empty{}, s.sampleProgress(ctx, q, *job, now)
	})
}

func (s *Server) handleJobPreview(w http.ResponseWriter, r *http.Request) {
	var req protocol.PreviewRequest
	s.jobWrite(w, r, &req, func() int64 { return req.Epoch }, func(ctx context.Context, q store.Querier, job *store.Job) (any, error) {
		if job.Type != protocol.JobPreview {
			return nil, errorf(http.StatusConflict, "job %q is a %s job, not a preview", job.ID, job.Type)
		}
		if len(req.Columns) == 0 {
			return nil, errorf(http.StatusBadRequest, "columns is empty; send the source's column schema")
		}
		if req.RowsWithheld && len(req.Rows) > 0 {
			return nil, errorf(http.StatusBadRequest, "rowsWithheld is set but rows has %d rows; send one or the other", len(req.Rows))
		}
		for i, row := range req.Rows {
			if len(row) != len(req.Columns) {
				return nil, errorf(http.StatusBadRequest, "rows[%d] has %d values for %d columns", i, len(row), len(req.Columns))
			}
		}
		raw, err := json.Marshal(req)
		if err != nil {
			return nil, err
		}
		job.Preview, job.UpdatedAt = raw, s.clock.Now()
		return protocol.Empty{}, q.UpdateJob(ctx, *job)
	})
}

func (s *Server) handleJobResult(w http.ResponseWriter, r *http.Request) {
	var req protocol.ResultRequest
	s.jobWrite(w, r, &req, func() int64 { return req.Epoch }, func(ctx context.Context, q store.Querier, job *store.Job) (any, error) {
		if req.Rows < 0 || req.Bytes < 0 || req.DurationSeconds < 0 {
			return nil, errorf(http.StatusBadRequest, "rows, bytes and durationSeconds must be 0 or more")
		}
		if len(req.LastRecord) > 0 && string(req.LastRecord) != "null" {
			var obj map[string]json.RawMessage
			if json.Unmarshal(req.LastRecord, &obj) != nil {
				return nil, errorf(http.StatusBadRequest, "lastRecord must be a JSON object of column name to value")
			}
		}
		if len(job.Result) > 0 {
			// A resent result: the first one is kept.
			return protocol.Empty{}, nil
		}
		now := s.clock.Now()
		raw, err := json.Marshal(storedResult{ResultRequest: req, ReceivedAt: now})
		if err != nil {
			return nil, err
		}
		job.Result, job.UpdatedAt = raw, now
		if err := s.sampleFinalProgress(ctx, q, *job, req.Rows, req.Bytes, now); err != nil {
			return nil, err
		}
		if job.State.IsTerminal() {
			return protocol.Empty{}, q.UpdateJob(ctx, *job)
		}
		job.Rows, job.Bytes = max(job.Rows, req.Rows), max(job.Bytes, req.Bytes)
		switch {
		case awaitsRunnerStatus(req) && !job.OperatorPhase.IsTerminal():
			// The runner's final status names why the pod was stopped;
			// failInterruptedRuns ends the job if that status never comes.
			s.logJob(*job, "Engine stopped by a signal; waiting for the runner's final status", "error", req.Error)
			return protocol.Empty{}, q.UpdateJob(ctx, *job)
		case !req.Succeeded:
			msg := req.Error
			if msg == "" {
				msg = "the engine reported a failure without a message"
			}
			return protocol.Empty{}, s.finish(ctx, q, job, protocol.StateFailed, protocol.ReasonEngineFailed, msg, now)
		case job.OperatorPhase == protocol.PhaseSucceeded:
			return protocol.Empty{}, s.finish(ctx, q, job, protocol.StateSucceeded, "", "", now)
		}
		return protocol.Empty{}, q.UpdateJob(ctx, *job)
	})
}

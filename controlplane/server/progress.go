package server

import (
	"context"
	"net/http"
	"time"

	"github.com/ferryhq/ferry/controlplane/admin"
	"github.com/ferryhq/ferry/controlplane/store"
)

// progressInterval is the least time between two progress samples of a
// job, so a pod that reports often does not fill the table.
const progressInterval = time.Second

// sampleProgress stores the job's rows and bytes as a progress sample when
// they changed since the attempt's last sample and progressInterval has
// passed since the job's last sample. The caller holds the job's row lock,
// so the last sample cannot change meanwhile.
//
// When the cap is reached, sampling stops rather than thinning the old
// samples: progress reports stop at MaxProgressSamples-1 samples, which
// keeps the last slot for the final totals of the result.
func (s *Server) sampleProgress(ctx context.Context, q store.Querier, job store.Job, now time.Time) error {
	last, count, err := q.LastProgress(ctx, job.ID)
	if err != nil {
		return err
	}
	if count >= admin.MaxProgressSamples-1 {
		return nil
	}
	if count > 0 && now.Sub(last.Time) < progressInterval {
		return nil
	}
	var previousRows, previousBytes int64
	if count > 0 && last.Epoch == job.Epoch {
		previousRows, previousBytes = last.Rows, last.Bytes
	}
	if job.Rows == previousRows && job.Bytes == previousBytes {
		return nil
	}
	return q.AppendProgress(ctx, store.ProgressSample{JobID: job.ID, Epoch: job.Epoch, Time: now.UTC(), Rows: job.Rows, Bytes: job.Bytes})
}

// sampleFinalProgress stores the totals of an attempt's result as a
// progress sample, whatever the time since the last one, unless the job
// already has MaxProgressSamples samples.
// NOTE: a job retried after a result may find the slot kept for its final
// totals taken by an earlier attempt's result.
func (s *Server) sampleFinalProgress(ctx context.Context, q store.Querier, job store.Job, rows, bytes int64, now time.Time) error {
	_, count, err := q.LastProgress(ctx, job.ID)
	if err != nil || count >= admin.MaxProgressSamples {
		return err
	}
	return q.AppendProgress(ctx, store.ProgressSample{JobID: job.ID, Epoch: job.Epoch, Time: now.UTC(), Rows: rows, Bytes: bytes})
}

func (s *Server) handleJobProgressAdmin(r *http.Request) (int, any, error) {
	ctx := r.Context()
	id := r.PathValue("jobID")
	if _, err := s.store.GetJob(ctx, id); err != nil {
		return 0, nil, notFoundOr(err, "job %q not found", id)
	}
	samples, err := s.store.ListProgress(ctx, id)
	if err != nil {
		return 0, nil, err
	}
	out := admin.ProgressResponse{Samples: make([]admin.ProgressSample, 0, len(samples))}
	for _, p := range samples {
		out.Samples = append(out.Samples, admin.ProgressSample{Epoch: p.Epoch, Time: p.Time, Rows: p.Rows, Bytes: p.Bytes})
	}
	return http.StatusOK, out, nil
}

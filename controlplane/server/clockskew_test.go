package server_test

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferryhq/ferry/controlplane/cptest"
	"github.com/ferryhq/ferry/protocol"
)

// lockedBuffer is a log destination that tests read while the server
// writes to it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestRunnerStartTimeClamped reports start times from runner clocks ten
// minutes behind and ahead of the control plane's, and one in range.
func TestRunnerStartTimeClamped(t *testing.T) {
	logs := &lockedBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	eachStore(t, func(t *testing.T, h *harness) {
		cfg, _, r := h.setup()
		for _, tc := range []struct {
			name   string
			offset time.Duration
			// wantAssigned expects the assignment time, otherwise the
			// time of the Running report.
			wantAssigned bool
			wantReported bool
		}{
			{name: "behind", offset: -10 * time.Minute, wantAssigned: true},
			{name: "ahead", offset: 10 * time.Minute},
			{name: "in range", offset: -time.Second, wantReported: true},
		} {
			a := h.assign(r, cfg, protocol.JobTransfer)
			h.accept(r, a)
			h.clk.Step(2 * time.Second)
			reportedAt := h.clk.Now()
			started := reportedAt.Add(tc.offset)
			_, err := r.c.ReportJobStatus(h.ctx, r.id, a.JobID, protocol.JobStatusRequest{Epoch: a.Epoch,
				Phase: protocol.PhaseRunning, StartedAt: &started})
			if err != nil {
				t.Fatalf("%s: ReportJobStatus: %v", tc.name, err)
			}
			job := h.job(a.JobID)
			want := reportedAt
			switch {
			case tc.wantAssigned:
				want = *job.AssignedAt
			case tc.wantReported:
				want = started
			}
			if job.StartedAt == nil || !job.StartedAt.Equal(want) {
				t.Errorf("%s: startedAt = %v, want %v (assigned %v, reported %v)", tc.name, job.StartedAt, want, job.AssignedAt, started)
			}
			if job.StartedAt != nil && job.StartedAt.Before(job.CreatedAt) {
				t.Errorf("%s: startedAt %v is before createdAt %v", tc.name, job.StartedAt, job.CreatedAt)
			}
			if got := clampLogged(logs.String(), a.JobID, r.id); got != !tc.wantReported {
				t.Errorf("%s: clamp logged for job %s = %t, want %t; logs:\n%s", tc.name, a.JobID, got, !tc.wantReported, logs.String())
			}

			// The finish time comes from the control plane's clock, so the
			// duration is what the control plane saw.
			h.clk.Step(5 * time.Second)
			if _, err := h.env.Admin.CancelJob(h.ctx, a.JobID); err != nil {
				t.Fatal(err)
			}
			job = h.job(a.JobID)
			if job.FinishedAt == nil || job.FinishedAt.Before(*job.StartedAt) {
				t.Errorf("%s: finishedAt %v is before startedAt %v", tc.name, job.FinishedAt, job.StartedAt)
			}
			if d := job.FinishedAt.Sub(*job.StartedAt); d > 10*time.Second {
				t.Errorf("%s: duration %s, want at most the 7s the control plane saw", tc.name, d)
			}
		}
	}, cptest.WithLogger(logger))
}

// clampLogged reports whether logs have a debug line about a clamped start
// time that names the job, the runner and the skew.
func clampLogged(logs, jobID, runnerID string) bool {
	for line := range strings.SplitSeq(logs, "\n") {
		if strings.Contains(line, "level=DEBUG") && strings.Contains(line, "clamped") &&
			strings.Contains(line, "jobID="+jobID) && strings.Contains(line, "runnerID="+runnerID) &&
			strings.Contains(line, "skew=") {
			return true
		}
	}
	return false
}

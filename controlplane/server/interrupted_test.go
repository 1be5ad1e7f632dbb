package server_test

import (
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/controlplane/server"
	"github.com/ferryhq/ferry/protocol"
)

// Reasons the operator reports for a pod stopped from outside. They are
// the operator's words, so the control plane has no constants for them.
const (
	reasonPodDeleted       = "PodDeleted"
	reasonDeadlineExceeded = "DeadlineExceeded"
)

// interruptedResult is what a job pod sends when SIGTERM stopped its run.
func interruptedResult(a protocol.Assignment) protocol.ResultRequest {
	return protocol.ResultRequest{Epoch: a.Epoch, Error: "context canceled", ExitCode: 130, Interrupted: true}
}

func TestInterruptedRunTakesRunnerReason(t *testing.T) {
	eachStore(t, func(t *testing.T, h *harness) {
		cfg, _, r := h.setup()
		for _, tc := range []struct {
			phase  protocol.JobPhase
			reason string
			state  protocol.JobState
		}{
			{protocol.PhaseFailed, reasonPodDeleted, protocol.StateFailed},
			{protocol.PhaseFailed, reasonDeadlineExceeded, protocol.StateFailed},
			{protocol.PhaseCancelled, protocol.ReasonCancelRequested, protocol.StateCancelled},
		} {
			a := h.assign(r, cfg, protocol.JobTransfer)
			h.accept(r, a)
			h.status(r, a, protocol.PhaseRunning, "")
			if err := h.pod(a).SendResult(h.ctx, a.JobID, interruptedResult(a)); err != nil {
				t.Fatal(err)
			}
			if got := h.job(a.JobID).State; got != protocol.StateRunning {
				t.Errorf("%s: state after the interrupted result = %s, want running", tc.reason, got)
			}

			if got := h.status(r, a, tc.phase, tc.reason); got != tc.state {
				t.Errorf("%s: state after the runner's %s = %s, want %s", tc.reason, tc.phase, got, tc.state)
			}
			job := h.job(a.JobID)
			if job.State != tc.state {
				t.Errorf("%s: state = %s, want %s", tc.reason, job.State, tc.state)
			}
			if job.Reason != tc.reason {
				t.Errorf("reason = %q, want the runner's %q", job.Reason, tc.reason)
			}
			if job.Result == nil || !job.Result.Interrupted {
				t.Errorf("%s: result = %+v, want the engine's interrupted result kept", tc.reason, job.Result)
			}
		}
	})
}

func TestInterruptedRunFailsWithoutStatus(t *testing.T) {
	eachStore(t, func(t *testing.T, h *harness) {
		cfg, _, r := h.setup()
		a := h.assign(r, cfg, protocol.JobTransfer)
		h.accept(r, a)
		h.status(r, a, protocol.PhaseRunning, "")
		if err := h.pod(a).SendResult(h.ctx, a.JobID, interruptedResult(a)); err != nil {
			t.Fatal(err)
		}
		running := []protocol.RunnerJob{{JobID: a.JobID, Epoch: a.Epoch, Phase: protocol.PhaseRunning}}

		// The runner keeps heartbeating with the job but never reports its end.
		h.clk.Step(server.DefaultResultWait/2 + time.Second)
		r.heartbeat(protocol.HeartbeatRequest{State: protocol.RunnerActive, Jobs: running})
		h.sweep()
		if got := h.job(a.JobID).State; got != protocol.StateRunning {
			t.Fatalf("state before the result wait = %s, want running", got)
		}
		h.clk.Step(server.DefaultResultWait/2 + time.Second)
		r.heartbeat(protocol.HeartbeatRequest{State: protocol.RunnerActive, Jobs: running})
		h.sweep()
		job := h.job(a.JobID)
		if job.State != protocol.StateFailed {
			t.Errorf("state = %s, want failed", job.State)
		}
		if job.Reason != protocol.ReasonEngineFailed {
			t.Errorf("reason = %q, want %q", job.Reason, protocol.ReasonEngineFailed)
		}
		if !strings.Contains(job.Message, "context canceled") {
			t.Errorf("message %q does not carry the engine's error", job.Message)
		}
	})
}

func TestInterruptedRunThenSucceededStatus(t *testing.T) {
	eachStore(t, func(t *testing.T, h *harness) {
		cfg, _, r := h.setup()
		a := h.assign(r, cfg, protocol.JobTransfer)
		h.accept(r, a)
		if err := h.pod(a).SendResult(h.ctx, a.JobID, interruptedResult(a)); err != nil {
			t.Fatal(err)
		}
		if got := h.status(r, a, protocol.PhaseSucceeded, ""); got != protocol.StateFailed {
			t.Errorf("state after Succeeded = %s, want failed: the engine did not finish", got)
		}
		if job := h.job(a.JobID); job.Reason != protocol.ReasonEngineFailed {
			t.Errorf("reason = %q, want %q", job.Reason, protocol.ReasonEngineFailed)
		}
	})
}

func TestUninterruptedFailureEndsJobAtOnce(t *testing.T) {
	eachStore(t, func(t *testing.T, h *harness) {
		cfg, _, r := h.setup()
		a := h.assign(r, cfg, protocol.JobTransfer)
		h.accept(r, a)
		res := protocol.ResultRequest{Epoch: a.Epoch, Error: "duplicate key", ExitCode: 4}
		if err := h.pod(a).SendResult(h.ctx, a.JobID, res); err != nil {
			t.Fatal(err)
		}
		job := h.job(a.JobID)
		if job.State != protocol.StateFailed || job.Reason != protocol.ReasonEngineFailed {
			t.Errorf("job = %s/%s, want failed/EngineFailed", job.State, job.Reason)
		}
	})
}

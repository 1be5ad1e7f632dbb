package server_test

import (
	"testing"

	"github.com/ferryhq/ferry/protocol"
)

func TestLateRunnerStatusRecorded(t *testing.T) {
	eachStore(t, func(t *testing.T, h *harness) {
		cfg, _, r := h.setup()
		a := h.assign(r, cfg, protocol.JobTransfer)
		h.accept(r, a)
		h.status(r, a, protocol.PhaseRunning, "")
		res := protocol.ResultRequest{Epoch: a.Epoch, Error: "duplicate key", ExitCode: 4}
		if err := h.pod(a).SendResult(h.ctx, a.JobID, res); err != nil {
			t.Fatal(err)
		}
		if got := h.job(a.JobID).State; got != protocol.StateFailed {
			t.Fatalf("state after the failed result = %s, want failed", got)
		}

		if got := h.status(r, a, protocol.PhaseFailed, "Error"); got != protocol.StateFailed {
			t.Errorf("state returned to the late report = %s, want failed", got)
		}
		job := h.job(a.JobID)
		if job.OperatorPhase != protocol.PhaseFailed {
			t.Errorf("operatorPhase = %q, want %q from the late report", job.OperatorPhase, protocol.PhaseFailed)
		}
		if job.OperatorReason != "Error" {
			t.Errorf("operatorReason = %q, want %q from the late report", job.OperatorReason, "Error")
		}
		if job.Reason != protocol.ReasonEngineFailed {
			t.Errorf("reason = %q, want %q kept", job.Reason, protocol.ReasonEngineFailed)
		}

		// A Running report that arrives out of order does not undo the end.
		h.status(r, a, protocol.PhaseRunning, "")
		if got := h.job(a.JobID).OperatorPhase; got != protocol.PhaseFailed {
			t.Errorf("operatorPhase after a late Running = %q, want %q", got, protocol.PhaseFailed)
		}
	})
}

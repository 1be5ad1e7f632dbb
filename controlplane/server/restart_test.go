package server_test

import (
	"testing"

	"github.com/ferryhq/ferry/controlplane/server"
	"github.com/ferryhq/ferry/protocol"
)

// TestRestartGivesRunnersAnOfflineBound checks that a control plane that was
// down longer than the offline bound does not fail the jobs of a runner that
// kept running them: silence counts from the restart.
func TestRestartGivesRunnersAnOfflineBound(t *testing.T) {
	eachStore(t, func(t *testing.T, h *harness) {
		cfg, _, r := h.setup()
		a := h.assign(r, cfg, protocol.JobTransfer)
		h.accept(r, a)
		h.status(r, a, protocol.PhaseRunning, "")

		h.env.Stop()
		h.clk.Step(10 * server.DefaultOfflineFloor)
		h.env.Restart()

		h.sweep()
		if got := h.job(a.JobID).State; got != protocol.StateRunning {
			t.Fatalf("state right after the restart = %s, want running", got)
		}

		h.clk.Step(4 * server.DefaultOfflineFloor)
		h.sweep()
		job := h.job(a.JobID)
		if job.State != protocol.StateFailed || job.Reason != protocol.ReasonRunnerOffline {
			t.Errorf("job after a silent offline bound = %s/%s, want failed/RunnerOffline", job.State, job.Reason)
		}
	})
}

// TestRestartGivesAssignmentsALease checks that an assignment whose lease ran
// out while the control plane was down can still be acknowledged after the
// restart, without a new attempt.
func TestRestartGivesAssignmentsALease(t *testing.T) {
	eachStore(t, func(t *testing.T, h *harness) {
		cfg, _, r := h.setup()
		a := h.assign(r, cfg, protocol.JobTransfer)

		h.env.Stop()
		h.clk.Step(2 * server.DefaultLeaseDuration)
		h.env.Restart()

		h.sweep()
		h.accept(r, a)
		job := h.job(a.JobID)
		if job.State != protocol.StateAccepted {
			t.Errorf("state after a late acknowledgement = %s, want accepted", job.State)
		}
		if job.Epoch != a.Epoch {
			t.Errorf("epoch = %d, want the assignment's %d", job.Epoch, a.Epoch)
		}
	})
}

package cptest

import (
	"context"
	"testing"
	"time"

	"github.com/ferryhq/ferry/protocol"
)

func TestJoinHeartbeatDispatch(t *testing.T) {
	ctx := context.Background()
	env := Start(t)
	cluster, token := env.CreateCluster(t, "tokyo")
	cfg := env.CreateSQLiteConfig(t, cluster.Name, "orders")
	runner := env.RunnerClient(t, token)

	joined, err := runner.Join(ctx, protocol.JoinRequest{Name: "ns/runner", MaxConcurrentJobs: 2})
	if err != nil {
		t.Fatalf("Join: %v", err)
	}
	if joined.ClusterName != "tokyo" {
		t.Errorf("ClusterName = %q, want tokyo", joined.ClusterName)
	}

	job, err := env.Admin.RunJob(ctx, cfg.Name, protocol.JobTransfer)
	if err != nil {
		t.Fatalf("RunJob: %v", err)
	}
	resp, err := runner.Heartbeat(ctx, joined.RunnerID, protocol.HeartbeatRequest{State: protocol.RunnerIdle, FreeSlots: 2, WaitSeconds: 1})
	if err != nil {
		t.Fatalf("Heartbeat: %v", err)
	}
	if len(resp.Assignments) != 1 || resp.Assignments[0].JobID != job.ID {
		t.Fatalf("Assignments = %+v, want job %s", resp.Assignments, job.ID)
	}
	a := resp.Assignments[0]

	pod := env.RunnerClient(t, a.JobToken)
	spec, err := pod.JobSpec(ctx, a.JobID)
	if err != nil {
		t.Fatalf("JobSpec: %v", err)
	}
	if spec.Epoch != a.Epoch {
		t.Errorf("spec Epoch = %d, want %d", spec.Epoch, a.Epoch)
	}

	env.Restart()
	if _, err := runner.Heartbeat(ctx, joined.RunnerID, protocol.HeartbeatRequest{
		State: protocol.RunnerActive, FreeSlots: 1, WaitSeconds: 1,
		Accepted: []protocol.JobRef{{JobID: a.JobID, Epoch: a.Epoch}},
	}); err != nil {
		t.Fatalf("Heartbeat after restart: %v", err)
	}
	got := env.WaitJobState(t, job.ID, protocol.StateAccepted, 5*time.Second)
	if got.RunnerID != joined.RunnerID {
		t.Errorf("RunnerID = %q, want %q", got.RunnerID, joined.RunnerID)
	}
}

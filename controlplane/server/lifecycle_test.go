package server_test

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/controlplane/admin"
	"github.com/ferryhq/ferry/controlplane/secrets"
	"github.com/ferryhq/ferry/controlplane/server"
	"github.com/ferryhq/ferry/protocol"
	"github.com/ferryhq/ferry/protocol/client"
	"github.com/ferryhq/ferry/transfer/spec"
)

func TestFullLifecycle(t *testing.T) {
	eachStore(t, func(t *testing.T, h *harness) {
		cluster, token := h.env.CreateCluster(t, "tokyo")
		dir := t.TempDir()
		src, err := h.env.Admin.CreateConnection(h.ctx, admin.CreateConnectionRequest{
			Name: "pg", Type: "postgres", Host: "db.internal", Database: "shop", User: "reader", Password: "s3cret-pw"})
		if err != nil {
			t.Fatal(err)
		}
		if !src.HasPassword {
			t.Error("HasPassword = false, want true")
		}
		dst, err := h.env.Admin.CreateConnection(h.ctx, admin.CreateConnectionRequest{Name: "lake", Type: "sqlite", Path: filepath.Join(dir, "dst.db")})
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := h.env.Admin.CreateConfig(h.ctx, admin.CreateConfigRequest{
			Name: "orders", Cluster: cluster.Name,
			Source:      admin.ConfigSource{Connection: src.Name, Table: "orders"},
			Destination: admin.ConfigDestination{Connection: dst.Name, Table: "orders", Mode: "merge", MergeKeys: []string{"id"}},
			Incremental: true, IncrementalColumns: []string{"id"},
		})
		if err != nil {
			t.Fatalf("CreateConfig: %v", err)
		}
		r := h.join(token, "ns/runner", 2)

		a := h.assign(r, cfg, protocol.JobTransfer)
		if a.Epoch != 1 || !strings.HasPrefix(a.JobToken, "ferry_job_") {
			t.Errorf("assignment epoch %d token prefix %q, want epoch 1 and ferry_job_", a.Epoch, a.JobToken[:min(10, len(a.JobToken))])
		}
		if !a.LeaseExpiresAt.Equal(h.clk.Now().Add(server.DefaultLeaseDuration)) {
			t.Errorf("LeaseExpiresAt = %s, want now + %s", a.LeaseExpiresAt, server.DefaultLeaseDuration)
		}
		h.accept(r, a)

		pod := h.pod(a)
		specResp, err := pod.JobSpec(h.ctx, a.JobID)
		if err != nil {
			t.Fatalf("JobSpec: %v", err)
		}
		job, err := spec.Decode(specResp.Spec)
		if err != nil {
			t.Fatalf("spec does not decode strictly: %v", err)
		}
		if job.Source.Password.Value() != "s3cret-pw" {
			t.Error("spec source password was not decrypted")
		}
		if job.Destination.Mode != spec.ModeMerge || !job.Incremental || len(job.LastRecord) != 0 {
			t.Errorf("spec = mode %s incremental %v lastRecord %v, want merge, true, none", job.Destination.Mode, job.Incremental, job.LastRecord)
		}

		if got := h.status(r, a, protocol.PhaseRunning, ""); got != protocol.StateRunning {
			t.Errorf("state after Running = %s, want running", got)
		}
		if _, err := pod.SendLogs(h.ctx, a.JobID, protocol.LogBatch{Epoch: a.Epoch, Lines: []protocol.LogLine{{Seq: 1, Time: h.clk.Now(), Message: "reading orders"}}}); err != nil {
			t.Fatalf("SendLogs: %v", err)
		}
		if err := pod.SendProgress(h.ctx, a.JobID, protocol.ProgressRequest{Epoch: a.Epoch, Rows: 10, Bytes: 100}); err != nil {
			t.Fatalf("SendProgress: %v", err)
		}
		if err := pod.SendResult(h.ctx, a.JobID, protocol.ResultRequest{Epoch: a.Epoch, Succeeded: true, Rows: 42, Bytes: 4200,
			LastRecord: json.RawMessage(`{"id":42}`)}); err != nil {
			t.Fatalf("SendResult: %v", err)
		}
		if got := h.job(a.JobID).State; got != protocol.StateRunning {
			t.Errorf("state after the result alone = %s, want running", got)
		}
		if got := h.status(r, a, protocol.PhaseSucceeded, ""); got != protocol.StateSucceeded {
			t.Errorf("state after result and Succeeded = %s, want succeeded", got)
		}
		final := h.job(a.JobID)
		if final.Rows != 42 || final.Result == nil || final.FinishedAt == nil {
			t.Errorf("job = rows %d result %v finishedAt %v, want 42 rows, a result and an end time", final.Rows, final.Result, final.FinishedAt)
		}
		logs, err := h.env.Admin.JobLogs(h.ctx, a.JobID, 0, 0)
		if err != nil || len(logs.Lines) != 1 || logs.Lines[0].Message != "reading orders" {
			t.Errorf("JobLogs = %+v, %v; want the one line", logs, err)
		}

		// The next run starts from the stored position.
		stored, err := h.env.Admin.GetConfig(h.ctx, cfg.ID)
		if err != nil || string(stored.LastRecord) != `{"id":42}` {
			t.Fatalf("config lastRecord = %s (%v), want {\"id\":42}", stored.LastRecord, err)
		}
		r.heartbeat(protocol.HeartbeatRequest{State: protocol.RunnerIdle})
		next := h.assign(r, cfg, protocol.JobTransfer)
		nextSpec, err := h.pod(next).JobSpec(h.ctx, next.JobID)
		if err != nil {
			t.Fatal(err)
		}
		nextJob, err := spec.Decode(nextSpec.Spec)
		if err != nil {
			t.Fatal(err)
		}
		if string(nextJob.LastRecord["id"]) != "42" {
			t.Errorf("next spec lastRecord = %v, want id 42", nextJob.LastRecord)
		}
	})
}

func TestSuccessNeedsResultAndStatus(t *testing.T) {
	eachStore(t, func(t *testing.T, h *harness) {
		cfg, _, r := h.setup()

		// Status first, then result.
		a := h.assign(r, cfg, protocol.JobTransfer)
		h.accept(r, a)
		if got := h.status(r, a, protocol.PhaseSucceeded, ""); got != protocol.StateRunning {
			t.Errorf("state after Succeeded alone = %s, want running", got)
		}
		if err := h.pod(a).SendResult(h.ctx, a.JobID, protocol.ResultRequest{Epoch: a.Epoch, Succeeded: true}); err != nil {
			t.Fatal(err)
		}
		if got := h.job(a.JobID).State; got != protocol.StateSucceeded {
			t.Errorf("state after Succeeded then result = %s, want succeeded", got)
		}

		// A failed result wins over a Succeeded status.
		b := h.assign(r, cfg, protocol.JobTransfer)
		h.accept(r, b)
		if err := h.pod(b).SendResult(h.ctx, b.JobID, protocol.ResultRequest{Epoch: b.Epoch, Succeeded: false, Error: "duplicate key"}); err != nil {
			t.Fatal(err)
		}
		if got := h.status(r, b, protocol.PhaseSucceeded, ""); got != protocol.StateFailed {
			t.Errorf("state after failed result then Succeeded = %s, want failed", got)
		}
		if job := h.job(b.JobID); job.Reason != protocol.ReasonEngineFailed || job.Message != "duplicate key" {
			t.Errorf("reason %q message %q, want EngineFailed and the engine's error", job.Reason, job.Message)
		}

		// An operator failure wins over a successful result.
		c := h.assign(r, cfg, protocol.JobTransfer)
		h.accept(r, c)
		if err := h.pod(c).SendResult(h.ctx, c.JobID, protocol.ResultRequest{Epoch: c.Epoch, Succeeded: true}); err != nil {
			t.Fatal(err)
		}
		if got := h.status(r, c, protocol.PhaseFailed, "OOMKilled"); got != protocol.StateFailed {
			t.Errorf("state after result then Failed = %s, want failed", got)
		}
		if job := h.job(c.JobID); job.Reason != "OOMKilled" {
			t.Errorf("reason = %q, want OOMKilled", job.Reason)
		}

		// Succeeded without a result ends as ResultMissing, never success.
		d := h.assign(r, cfg, protocol.JobTransfer)
		h.accept(r, d)
		h.status(r, d, protocol.PhaseSucceeded, "")
		// The runner keeps heartbeating, without the job it reported done.
		h.clk.Step(server.DefaultResultWait/2 + time.Second)
		r.heartbeat(protocol.HeartbeatRequest{})
		h.clk.Step(server.DefaultResultWait/2 + time.Second)
		h.sweep()
		if job := h.job(d.JobID); job.State != protocol.StateFailed || job.Reason != protocol.ReasonResultMissing {
			t.Errorf("job = %s/%s, want failed/ResultMissing", job.State, job.Reason)
		}
	})
}

func TestDuplicateAndLateAcks(t *testing.T) {
	eachStore(t, func(t *testing.T, h *harness) {
		cfg, _, r := h.setup()
		a := h.assign(r, cfg, protocol.JobTransfer)
		h.accept(r, a)
		// A repeated ack changes nothing and is no error.
		h.accept(r, a)

		// An ack after the lease ended is ignored; the sweep requeues.
		b := h.assign(r, cfg, protocol.JobTransfer)
		h.clk.Step(server.DefaultLeaseDuration + time.Second)
		r.heartbeat(protocol.HeartbeatRequest{State: protocol.RunnerActive, Jobs: []protocol.RunnerJob{{JobID: a.JobID, Epoch: a.Epoch, Phase: protocol.PhaseRunning}},
			Accepted: []protocol.JobRef{{JobID: b.JobID, Epoch: b.Epoch}}})
		if got := h.job(b.JobID).State; got != protocol.StateAssigned {
			t.Errorf("state after a late ack = %s, want assigned", got)
		}
		h.sweep()
		if got := h.job(b.JobID); got.State != protocol.StateQueued || got.Attempts != 1 {
			t.Errorf("after the sweep: %s with %d attempts, want queued with 1", got.State, got.Attempts)
		}

		// An ack of an old epoch is ignored and gets a cancellation.
		resp := r.heartbeat(protocol.HeartbeatRequest{State: protocol.RunnerActive, FreeSlots: 1,
			Jobs: []protocol.RunnerJob{{JobID: a.JobID, Epoch: a.Epoch, Phase: protocol.PhaseRunning}}})
		if len(resp.Assignments) != 1 || resp.Assignments[0].Epoch != 2 {
			t.Fatalf("Assignments = %+v, want job %s at epoch 2", resp.Assignments, b.JobID)
		}
		resp = r.heartbeat(protocol.HeartbeatRequest{State: protocol.RunnerActive,
			Jobs:     []protocol.RunnerJob{{JobID: a.JobID, Epoch: a.Epoch, Phase: protocol.PhaseRunning}},
			Accepted: []protocol.JobRef{{JobID: b.JobID, Epoch: 1}}})
		if len(resp.Cancellations) != 1 || resp.Cancellations[0].Reason != protocol.ReasonSuperseded {
			t.Errorf("Cancellations = %+v, want one Superseded for epoch 1", resp.Cancellations)
		}
		if got := h.job(b.JobID).State; got != protocol.StateAssigned {
			t.Errorf("state after a stale-epoch ack = %s, want assigned", got)
		}
	})
}

func TestLeaseExpiryRequeuesThenFails(t *testing.T) {
	eachStore(t, func(t *testing.T, h *harness) {
		cfg, _, r := h.setup()
		job := h.runJob(cfg, protocol.JobTransfer)
		var tokens []protocol.Assignment
		for attempt := 1; attempt <= server.DefaultMaxAttempts; attempt++ {
			resp := r.heartbeat(protocol.HeartbeatRequest{FreeSlots: 1})
			if len(resp.Assignments) != 1 || resp.Assignments[0].Epoch != int64(attempt) {
				t.Fatalf("attempt %d: Assignments = %+v, want epoch %d", attempt, resp.Assignments, attempt)
			}
			tokens = append(tokens, resp.Assignments[0])
			h.clk.Step(server.DefaultLeaseDuration + time.Second)
			h.sweep()
		}
		got := h.job(job.ID)
		if got.State != protocol.StateFailed || got.Reason != protocol.ReasonLeaseExpired || got.Attempts != server.DefaultMaxAttempts {
			t.Errorf("job = %s/%s after %d attempts, want failed/LeaseExpired after %d", got.State, got.Reason, got.Attempts, server.DefaultMaxAttempts)
		}
		_ = tokens
	})
}

func TestStaleEpochWritesConflict(t *testing.T) {
	eachStore(t, func(t *testing.T, h *harness) {
		cfg, _, r := h.setup()
		first := h.assign(r, cfg, protocol.JobTransfer)
		h.clk.Step(server.DefaultLeaseDuration + time.Second)
		h.sweep()
		resp := r.heartbeat(protocol.HeartbeatRequest{FreeSlots: 1})
		if len(resp.Assignments) != 1 {
			t.Fatalf("Assignments = %+v, want the requeued job", resp.Assignments)
		}
		second := resp.Assignments[0]

		old := h.pod(first)
		_, err := old.SendLogs(h.ctx, first.JobID, protocol.LogBatch{Epoch: first.Epoch, Lines: []protocol.LogLine{{Seq: 1, Message: "x"}}})
		if !client.IsConflict(err) {
			t.Errorf("logs with the old epoch's token: %v, want 409", err)
		}
		if err := old.SendResult(h.ctx, first.JobID, protocol.ResultRequest{Epoch: first.Epoch, Succeeded: true}); !client.IsConflict(err) {
			t.Errorf("result with the old epoch's token: %v, want 409", err)
		}
		if _, err := old.JobSpec(h.ctx, first.JobID); !client.IsConflict(err) {
			t.Errorf("spec with the old epoch's token: %v, want 409", err)
		}
		// The current token with a stale epoch in the body.
		if err := h.pod(second).SendProgress(h.ctx, second.JobID, protocol.ProgressRequest{Epoch: first.Epoch}); !client.IsConflict(err) {
			t.Errorf("progress with a stale body epoch: %v, want 409", err)
		}
		// Operator status for the old epoch.
		_, err = r.c.ReportJobStatus(h.ctx, r.id, first.JobID, protocol.JobStatusRequest{Epoch: first.Epoch, Phase: protocol.PhaseRunning})
		if !client.IsConflict(err) {
			t.Errorf("status with a stale epoch: %v, want 409", err)
		}
		if got := h.job(second.JobID); got.Result != nil || got.State != protocol.StateAssigned {
			t.Errorf("job after stale writes = %s with result %v, want assigned without a result", got.State, got.Result)
		}
	})
}

func TestJobTokenExpiresAfterGrace(t *testing.T) {
	eachStore(t, func(t *testing.T, h *harness) {
		cfg, _, r := h.setup()
		a := h.assign(r, cfg, protocol.JobTransfer)
		h.accept(r, a)
		h.status(r, a, protocol.PhaseFailed, "OOMKilled")
		pod := h.pod(a)
		// Within the grace period the last lines still land.
		if _, err := pod.SendLogs(h.ctx, a.JobID, protocol.LogBatch{Epoch: a.Epoch, Lines: []protocol.LogLine{{Seq: 1, Message: "killed"}}}); err != nil {
			t.Errorf("logs within the grace period: %v", err)
		}
		if _, err := pod.JobSpec(h.ctx, a.JobID); !client.IsConflict(err) {
			t.Errorf("spec of an ended job: %v, want 409", err)
		}
		h.clk.Step(server.DefaultJobTokenGrace + time.Second)
		if _, err := pod.SendLogs(h.ctx, a.JobID, protocol.LogBatch{Epoch: a.Epoch, Lines: []protocol.LogLine{{Seq: 2, Message: "late"}}}); !client.IsUnauthorized(err) {
			t.Errorf("logs after the grace period: %v, want 401", err)
		}
	})
}

func TestTokenRotationAndRevocation(t *testing.T) {
	eachStore(t, func(t *testing.T, h *harness) {
		cluster, first := h.env.CreateCluster(t, "tokyo")
		second, err := h.env.Admin.CreateToken(h.ctx, cluster.Name)
		if err != nil {
			t.Fatalf("second token: %v", err)
		}
		if _, err := h.env.Admin.CreateToken(h.ctx, cluster.Name); !client.IsConflict(err) {
			t.Errorf("third live token: %v, want 409", err)
		}
		r1 := h.join(first, "ns/a", 1)
		r2 := h.join(second.Token, "ns/b", 1)
		r1.heartbeat(protocol.HeartbeatRequest{})
		r2.heartbeat(protocol.HeartbeatRequest{})

		tokens, err := h.env.Admin.ListTokens(h.ctx, cluster.Name)
		if err != nil || len(tokens) != 2 {
			t.Fatalf("ListTokens = %d tokens (%v), want 2", len(tokens), err)
		}
		for _, tok := range tokens {
			if tok.Token != "" {
				t.Error("ListTokens returned a token's secret")
			}
		}
		revoke := tokens[0].ID
		if tokens[1].Hint == secrets.TokenHint(first) {
			revoke = tokens[1].ID
		}
		if err := h.env.Admin.RevokeToken(h.ctx, cluster.Name, revoke); err != nil {
			t.Fatalf("RevokeToken: %v", err)
		}
		if _, err := r1.tryHeartbeat(protocol.HeartbeatRequest{}); !client.IsUnauthorized(err) {
			t.Errorf("heartbeat with the revoked token: %v, want 401", err)
		}
		if _, err := r1.c.Join(h.ctx, protocol.JoinRequest{Name: "ns/a", MaxConcurrentJobs: 1}); !client.IsUnauthorized(err) {
			t.Errorf("join with the revoked token: %v, want 401", err)
		}
		r2.heartbeat(protocol.HeartbeatRequest{})
		// With one token revoked, a new one may be created.
		if _, err := h.env.Admin.CreateToken(h.ctx, cluster.Name); err != nil {
			t.Errorf("token after a revocation: %v", err)
		}
	})
}

func TestLogResendIsIdempotent(t *testing.T) {
	eachStore(t, func(t *testing.T, h *harness) {
		cfg, _, r := h.setup()
		a := h.assign(r, cfg, protocol.JobTransfer)
		pod := h.pod(a)
		lines := func(from, to int64) protocol.LogBatch {
			b := protocol.LogBatch{Epoch: a.Epoch}
			for i := from; i <= to; i++ {
				b.Lines = append(b.Lines, protocol.LogLine{Seq: i, Time: h.clk.Now(), Message: "line"})
			}
			return b
		}
		for _, batch := range []protocol.LogBatch{lines(1, 3), lines(1, 3), lines(2, 4)} {
			resp, err := pod.SendLogs(h.ctx, a.JobID, batch)
			if err != nil {
				t.Fatal(err)
			}
			if want := batch.Lines[len(batch.Lines)-1].Seq; resp.LastSeq != max(want, 3) {
				t.Errorf("LastSeq = %d, want %d", resp.LastSeq, max(want, 3))
			}
		}
		logs, err := h.env.Admin.JobLogs(h.ctx, a.JobID, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(logs.Lines) != 4 {
			t.Errorf("stored %d lines, want 4", len(logs.Lines))
		}
		for i, l := range logs.Lines {
			if l.Seq != int64(i+1) {
				t.Errorf("line %d has seq %d", i, l.Seq)
			}
		}
	})
}

func TestFreeSlotsRespected(t *testing.T) {
	eachStore(t, func(t *testing.T, h *harness) {
		cfg, _, r := h.setup()
		for range 3 {
			h.runJob(cfg, protocol.JobTransfer)
		}
		if resp := r.heartbeat(protocol.HeartbeatRequest{FreeSlots: 0}); len(resp.Assignments) != 0 {
			t.Errorf("FreeSlots 0 got %d assignments", len(resp.Assignments))
		}
		resp := r.heartbeat(protocol.HeartbeatRequest{FreeSlots: 2})
		if len(resp.Assignments) != 2 {
			t.Fatalf("FreeSlots 2 got %d assignments, want 2", len(resp.Assignments))
		}
		// Unacknowledged assignments the runner does not mention still hold
		// their slots.
		if resp := r.heartbeat(protocol.HeartbeatRequest{FreeSlots: 2}); len(resp.Assignments) != 0 {
			t.Errorf("got %d more assignments while 2 are in flight, want 0", len(resp.Assignments))
		}
		refs := []protocol.JobRef{{JobID: resp.Assignments[0].JobID, Epoch: 1}, {JobID: resp.Assignments[1].JobID, Epoch: 1}}
		if next := r.heartbeat(protocol.HeartbeatRequest{FreeSlots: 1, Accepted: refs}); len(next.Assignments) != 1 {
			t.Errorf("FreeSlots 1 after acks got %d assignments, want 1", len(next.Assignments))
		}
	})
}

func TestRunnerOfflineFailsJobs(t *testing.T) {
	eachStore(t, func(t *testing.T, h *harness) {
		cfg, _, r := h.setup()
		a := h.assign(r, cfg, protocol.JobTransfer)
		h.accept(r, a)
		h.status(r, a, protocol.PhaseRunning, "")

		h.clk.Step(2 * server.DefaultOfflineFloor)
		h.sweep()
		if got := h.job(a.JobID).State; got != protocol.StateRunning {
			t.Fatalf("state before the offline bound = %s, want running", got)
		}
		h.clk.Step(2 * server.DefaultOfflineFloor)
		h.sweep()
		job := h.job(a.JobID)
		if job.State != protocol.StateFailed || job.Reason != protocol.ReasonRunnerOffline {
			t.Errorf("job = %s/%s, want failed/RunnerOffline", job.State, job.Reason)
		}
		runners, err := h.env.Admin.ListRunners(h.ctx, "")
		if err != nil || len(runners) != 1 || runners[0].State != "OFFLINE" {
			t.Fatalf("runners = %+v (%v), want one OFFLINE", runners, err)
		}
		// The runner comes back still running the job: it must stop it.
		resp := r.heartbeat(protocol.HeartbeatRequest{State: protocol.RunnerActive, Jobs: []protocol.RunnerJob{{JobID: a.JobID, Epoch: a.Epoch, Phase: protocol.PhaseRunning}}})
		if len(resp.Cancellations) != 1 || resp.Cancellations[0].Reason != protocol.ReasonRunnerOffline {
			t.Errorf("Cancellations = %+v, want one RunnerOffline", resp.Cancellations)
		}
	})
}

func TestJobLostByRunner(t *testing.T) {
	eachStore(t, func(t *testing.T, h *harness) {
		cfg, _, r := h.setup()
		a := h.assign(r, cfg, protocol.JobTransfer)
		h.accept(r, a)
		running := []protocol.RunnerJob{{JobID: a.JobID, Epoch: a.Epoch, Phase: protocol.PhaseRunning}}
		r.heartbeat(protocol.HeartbeatRequest{State: protocol.RunnerActive, Jobs: running})
		r.heartbeat(protocol.HeartbeatRequest{State: protocol.RunnerIdle})
		if got := h.job(a.JobID).State; got != protocol.StateAccepted {
			t.Fatalf("state after one heartbeat without the job = %s, want accepted", got)
		}
		// Mentioned again: the count starts over.
		r.heartbeat(protocol.HeartbeatRequest{State: protocol.RunnerActive, Jobs: running})
		r.heartbeat(protocol.HeartbeatRequest{State: protocol.RunnerIdle})
		r.heartbeat(protocol.HeartbeatRequest{State: protocol.RunnerIdle})
		job := h.job(a.JobID)
		if job.State != protocol.StateFailed || job.Reason != protocol.ReasonLostByRunner {
			t.Errorf("job = %s/%s, want failed/LostByRunner", job.State, job.Reason)
		}
	})
}

func TestCancelJob(t *testing.T) {
	eachStore(t, func(t *testing.T, h *harness) {
		cfg, _, r := h.setup()
		queued := h.runJob(cfg, protocol.JobTransfer)
		got, err := h.env.Admin.CancelJob(h.ctx, queued.ID)
		if err != nil || got.State != protocol.StateCancelled {
			t.Fatalf("cancel queued = %s (%v), want cancelled", got.State, err)
		}
		if _, err := h.env.Admin.CancelJob(h.ctx, queued.ID); !client.IsConflict(err) {
			t.Errorf("second cancel: %v, want 409", err)
		}

		a := h.assign(r, cfg, protocol.JobTransfer)
		h.accept(r, a)
		if _, err := h.env.Admin.CancelJob(h.ctx, a.JobID); err != nil {
			t.Fatal(err)
		}
		resp := r.heartbeat(protocol.HeartbeatRequest{State: protocol.RunnerActive})
		if len(resp.Cancellations) != 1 || resp.Cancellations[0].JobID != a.JobID || resp.Cancellations[0].Reason != protocol.ReasonCancelRequested {
			t.Errorf("Cancellations = %+v, want %s CancelRequested", resp.Cancellations, a.JobID)
		}
		if got := h.status(r, a, protocol.PhaseCancelled, "CancelRequested"); got != protocol.StateCancelled {
			t.Errorf("status ack = %s, want cancelled", got)
		}
	})
}

func TestLongPollWakes(t *testing.T) {
	eachStore(t, func(t *testing.T, h *harness) {
		cfg, _, r := h.setup()
		type result struct {
			resp protocol.HeartbeatResponse
			err  error
		}
		poll := func(req protocol.HeartbeatRequest) chan result {
			ch := make(chan result, 1)
			go func() {
				resp, err := r.c.Heartbeat(h.ctx, r.id, req)
				ch <- result{resp, err}
			}()
			h.waitForLongPoll()
			return ch
		}

		// A new job wakes an idle long poll.
		ch := poll(protocol.HeartbeatRequest{State: protocol.RunnerIdle, FreeSlots: 1})
		job := h.runJob(cfg, protocol.JobTransfer)
		res := <-ch
		if res.err != nil || len(res.resp.Assignments) != 1 || res.resp.Assignments[0].JobID != job.ID {
			t.Fatalf("woken heartbeat = %+v, %v; want job %s", res.resp, res.err, job.ID)
		}
		a := res.resp.Assignments[0]
		h.waitNoWaiters()

		// A cancellation wakes a long poll of a busy runner.
		refs := []protocol.RunnerJob{{JobID: a.JobID, Epoch: a.Epoch, Phase: protocol.PhaseRunning}}
		ch = poll(protocol.HeartbeatRequest{State: protocol.RunnerActive, Jobs: refs, Accepted: []protocol.JobRef{{JobID: a.JobID, Epoch: a.Epoch}}})
		if _, err := h.env.Admin.CancelJob(h.ctx, a.JobID); err != nil {
			t.Fatal(err)
		}
		res = <-ch
		if res.err != nil || len(res.resp.Cancellations) != 1 || res.resp.Cancellations[0].JobID != a.JobID {
			t.Fatalf("woken heartbeat = %+v, %v; want a cancellation of %s", res.resp, res.err, a.JobID)
		}
		h.waitNoWaiters()

		// With nothing to hand out, the poll ends after waitSeconds.
		ch = poll(protocol.HeartbeatRequest{State: protocol.RunnerIdle, FreeSlots: 1, WaitSeconds: 5})
		h.clk.Step(5 * time.Second)
		res = <-ch
		if res.err != nil || len(res.resp.Assignments)+len(res.resp.Cancellations) != 0 {
			t.Errorf("timed-out heartbeat = %+v, %v; want an empty response", res.resp, res.err)
		}
	})
}

func TestQueuedJobsWakeOneRunnerEach(t *testing.T) {
	eachStore(t, func(t *testing.T, h *harness) {
		cfg, token, first := h.setup()
		second := h.join(token, "ns/second", 1)
		type result struct {
			resp protocol.HeartbeatResponse
			err  error
		}
		results := make(chan result, 2)
		for _, r := range []*testRunner{first, second} {
			go func() {
				resp, err := r.c.Heartbeat(h.ctx, r.id, protocol.HeartbeatRequest{State: protocol.RunnerIdle, FreeSlots: 1})
				results <- result{resp, err}
			}()
		}
		for h.clk.Waiters() < 2 {
			time.Sleep(time.Millisecond)
		}
		h.runJob(cfg, protocol.JobTransfer)
		h.runJob(cfg, protocol.JobTransfer)
		jobs := map[string]bool{}
		for range 2 {
			res := <-results
			if res.err != nil {
				t.Fatal(res.err)
			}
			if len(res.resp.Assignments) != 1 {
				t.Fatalf("a woken runner got %d assignments, want 1", len(res.resp.Assignments))
			}
			jobs[res.resp.Assignments[0].JobID] = true
		}
		if len(jobs) != 2 {
			t.Errorf("the two runners got %d distinct jobs, want 2", len(jobs))
		}
	})
}

func TestPreviewJob(t *testing.T) {
	eachStore(t, func(t *testing.T, h *harness) {
		cfg, _, r := h.setup()
		a := h.assign(r, cfg, protocol.JobPreview)
		if a.Type != protocol.JobPreview {
			t.Fatalf("assignment type = %s, want preview", a.Type)
		}
		h.accept(r, a)
		pod := h.pod(a)
		specResp, err := pod.JobSpec(h.ctx, a.JobID)
		if err != nil {
			t.Fatal(err)
		}
		job, err := spec.Decode(specResp.Spec)
		if err != nil {
			t.Fatalf("preview spec does not decode strictly: %v", err)
		}
		if job.Type != spec.JobPreview || job.Incremental {
			t.Errorf("preview spec = type %s incremental %v, want preview without incremental", job.Type, job.Incremental)
		}
		preview := protocol.PreviewRequest{Epoch: a.Epoch,
			Columns: []protocol.Column{{Name: "id", Type: "int64"}, {Name: "name", Type: "string", Nullable: true}},
			Rows:    [][]json.RawMessage{{json.RawMessage(`1`), json.RawMessage(`"a"`)}}}
		if err := pod.SendPreview(h.ctx, a.JobID, preview); err != nil {
			t.Fatalf("SendPreview: %v", err)
		}
		bad := preview
		bad.Rows = [][]json.RawMessage{{json.RawMessage(`1`)}}
		if err := pod.SendPreview(h.ctx, a.JobID, bad); client.StatusCode(err) != 400 {
			t.Errorf("preview row with too few values: %v, want 400", err)
		}
		got := h.job(a.JobID)
		if got.Preview == nil || len(got.Preview.Columns) != 2 || len(got.Preview.Rows) != 1 {
			t.Errorf("stored preview = %+v, want 2 columns and 1 row", got.Preview)
		}

		transfer := h.assign(r, cfg, protocol.JobTransfer)
		if err := h.pod(transfer).SendPreview(h.ctx, transfer.JobID, protocol.PreviewRequest{Epoch: transfer.Epoch, Columns: preview.Columns}); !client.IsConflict(err) {
			t.Errorf("preview for a transfer job: %v, want 409", err)
		}
	})
}

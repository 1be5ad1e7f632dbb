package runner

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	transferv1 "github.com/ferryhq/ferry/api/v1alpha1"
	"github.com/ferryhq/ferry/controllers/metrics"
	"github.com/ferryhq/ferry/protocol"
)

func conditionIs(r *transferv1.TransferRunner, conditionType string, status metav1.ConditionStatus, reason string) bool {
	c := meta.FindStatusCondition(r.Status.Conditions, conditionType)
	return c != nil && c.Status == status && c.Reason == reason
}

func TestPollerJoinsAndReportsIdle(t *testing.T) {
	f := newFixture(t)
	f.startManager(testOptions)
	key, clusterID := f.createRunner("r1", 2)

	r := f.waitState(key, transferv1.RunnerIdle)

	if r.Status.RunnerID == "" {
		t.Fatal("status.runnerID is empty after the runner became Idle")
	}
	if r.Status.ClusterID != clusterID {
		t.Errorf("status.clusterID = %q, want %q", r.Status.ClusterID, clusterID)
	}
	if want := f.ns + "-r1"; r.Status.ClusterName != want {
		t.Errorf("status.clusterName = %q, want %q", r.Status.ClusterName, want)
	}
	if !conditionIs(r, transferv1.RunnerConditionJoined, metav1.ConditionTrue, transferv1.RunnerReasonJoined) {
		t.Errorf("Joined condition = %+v, want True/%s", meta.FindStatusCondition(r.Status.Conditions, transferv1.RunnerConditionJoined), transferv1.RunnerReasonJoined)
	}
	if !conditionIs(r, transferv1.RunnerConditionConnected, metav1.ConditionTrue, transferv1.RunnerReasonHeartbeatSucceeded) {
		t.Errorf("Connected condition = %+v, want True", meta.FindStatusCondition(r.Status.Conditions, transferv1.RunnerConditionConnected))
	}
	if r.Status.LastHeartbeatTime == nil {
		t.Error("status.lastHeartbeatTime is not set")
	}
	if r.Status.ObservedGeneration != r.Generation {
		t.Errorf("status.observedGeneration = %d, want %d", r.Status.ObservedGeneration, r.Generation)
	}
	want := fmt.Sprintf(`"msg"="Joined cluster \"%s\" as runner %s"`, r.Status.ClusterName, r.Status.RunnerID)
	if !f.logs.contains(want) {
		t.Errorf("logs lack %s; logs:\n%s", want, f.logs)
	}

	runners, err := f.cp.Admin.ListRunners(f.ctx, clusterID)
	if err != nil {
		t.Fatalf("failed to list runners of the control plane: %v", err)
	}
	if len(runners) != 1 || runners[0].ID != r.Status.RunnerID {
		t.Errorf("control plane runners = %+v, want one with ID %s", runners, r.Status.RunnerID)
	}
}

func TestAssignmentBecomesTransferJob(t *testing.T) {
	f := newFixture(t)
	f.startManager(testOptions)
	key, clusterID := f.createRunner("r1", 2)
	runner := f.waitState(key, transferv1.RunnerIdle)
	cfg := f.cp.CreateSQLiteConfig(t, clusterID, "orders")

	job, err := f.cp.Admin.RunJob(f.ctx, cfg.ID, protocol.JobTransfer)
	if err != nil {
		t.Fatalf("failed to run a job: %v", err)
	}
	tj := f.waitTransferJobs(1)[0]

	name := transferv1.TransferJobName(job.ID)
	if tj.Name != name {
		t.Errorf("TransferJob name = %q, want %q", tj.Name, name)
	}
	if tj.Spec.JobID != job.ID || tj.Spec.RunnerRef.Name != key.Name || tj.Spec.Type != transferv1.JobTypeTransfer {
		t.Errorf("TransferJob spec = %+v, want job %s of runner %s, type transfer", tj.Spec, job.ID, key.Name)
	}
	if tj.Spec.Epoch < 1 {
		t.Errorf("spec.epoch = %d, want >= 1", tj.Spec.Epoch)
	}
	if tj.Spec.TokenSecretName != transferv1.TokenSecretName(name) {
		t.Errorf("spec.tokenSecretName = %q, want %q", tj.Spec.TokenSecretName, transferv1.TokenSecretName(name))
	}
	wantLabels := map[string]string{
		transferv1.LabelRunner:      key.Name,
		transferv1.LabelJobID:       transferv1.JobIDLabelValue(job.ID),
		transferv1.LabelTransferJob: name,
	}
	for k, v := range wantLabels {
		if tj.Labels[k] != v {
			t.Errorf("TransferJob label %s = %q, want %q", k, tj.Labels[k], v)
		}
	}
	if !metav1.IsControlledBy(&tj, runner) {
		t.Errorf("TransferJob owners = %+v, want the TransferRunner as controller", tj.OwnerReferences)
	}

	secret := &corev1.Secret{}
	if err := f.c.Get(f.ctx, types.NamespacedName{Namespace: f.ns, Name: tj.Spec.TokenSecretName}, secret); err != nil {
		t.Fatalf("failed to get the job token Secret: %v", err)
	}
	if len(secret.Data[transferv1.TokenSecretKey]) == 0 {
		t.Error("job token Secret has no token")
	}
	if secret.Annotations[AnnotationEpoch] != strconv.FormatInt(tj.Spec.Epoch, 10) {
		t.Errorf("Secret epoch annotation = %q, want %d", secret.Annotations[AnnotationEpoch], tj.Spec.Epoch)
	}
	f.eventually("the TransferJob to own its Secret", func() bool {
		if err := f.c.Get(f.ctx, client.ObjectKeyFromObject(secret), secret); err != nil {
			t.Fatalf("failed to get the job token Secret: %v", err)
		}
		return metav1.IsControlledBy(secret, &tj)
	}, func() string { return fmt.Sprintf("owners: %+v", secret.OwnerReferences) })

	f.cp.WaitJobState(t, job.ID, protocol.StateAccepted, time.Minute)
	f.waitState(key, transferv1.RunnerActive)
}

func TestRepeatedAssignmentCreatesNothingNew(t *testing.T) {
	f := newFixture(t)
	m := f.startManager(testOptions)
	key, _ := f.createRunner("r1", 2)
	runner := f.waitState(key, transferv1.RunnerIdle)

	// Drive accept directly: the control plane never hands out the same
	// attempt twice, but a lost response or a restarted poller can.
	h := &pollerHandle{config: runnerConfig{key: key, uid: runner.UID, generation: runner.Generation, spec: runner.Spec}, nudge: make(chan struct{}, 1)}
	p := newPoller(m.pollers, h, m.pollers.log)
	a := protocol.Assignment{JobID: "Job_Repeat.1", Epoch: 3, Type: protocol.JobPreview, JobToken: "ferry_job_test"}

	for i := range 2 {
		jobs, err := p.listJobs(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		res, err := p.accept(f.ctx, a, jobs, time.Now())
		if err != nil {
			t.Fatalf("accept #%d failed: %v", i+1, err)
		}
		if res.created != (i == 0) {
			t.Errorf("accept #%d created = %v, want %v", i+1, res.created, i == 0)
		}
		if !res.ack {
			t.Errorf("accept #%d did not acknowledge the assignment", i+1)
		}
	}
	jobs := f.transferJobs()
	if len(jobs) != 1 {
		t.Fatalf("got %d TransferJobs, want 1", len(jobs))
	}
	if jobs[0].Spec.Type != transferv1.JobTypePreview {
		t.Errorf("spec.type = %q, want preview", jobs[0].Spec.Type)
	}

	// An older attempt is ignored.
	older := a
	older.Epoch = 2
	jobList, _ := p.listJobs(f.ctx)
	if res, err := p.accept(f.ctx, older, jobList, time.Now()); err != nil || res.created || res.ack {
		t.Errorf("accept of an older attempt = (%+v, %v), want nothing created or acknowledged", res, err)
	}

	// A newer attempt of a finished job replaces its TransferJob and token.
	f.finishJob(&jobs[0])
	newer := a
	newer.Epoch = 4
	newer.JobToken = "ferry_job_newer"
	jobList, _ = p.listJobs(f.ctx)
	if res, err := p.accept(f.ctx, newer, jobList, time.Now()); err != nil || !res.created {
		t.Fatalf("accept of a newer attempt = (%+v, %v), want a created TransferJob", res, err)
	}
	jobs = f.transferJobs()
	if len(jobs) != 1 || jobs[0].Spec.Epoch != 4 {
		t.Fatalf("TransferJobs after the newer attempt = %d, first epoch %d; want 1 with epoch 4", len(jobs), jobs[0].Spec.Epoch)
	}
	secret := &corev1.Secret{}
	if err := f.c.Get(f.ctx, types.NamespacedName{Namespace: f.ns, Name: jobs[0].Spec.TokenSecretName}, secret); err != nil {
		t.Fatal(err)
	}
	if got := string(secret.Data[transferv1.TokenSecretKey]); got != newer.JobToken {
		t.Error("job token Secret still holds the older attempt's token")
	}
	if !metav1.IsControlledBy(secret, &jobs[0]) {
		t.Errorf("Secret owners = %+v, want the new TransferJob", secret.OwnerReferences)
	}
}

func TestCancellationMarksTransferJob(t *testing.T) {
	f := newFixture(t)
	f.startManager(testOptions)
	key, clusterID := f.createRunner("r1", 2)
	f.waitState(key, transferv1.RunnerIdle)
	cfg := f.cp.CreateSQLiteConfig(t, clusterID, "orders")
	job, err := f.cp.Admin.RunJob(f.ctx, cfg.ID, protocol.JobTransfer)
	if err != nil {
		t.Fatal(err)
	}
	f.waitTransferJobs(1)
	f.cp.WaitJobState(t, job.ID, protocol.StateAccepted, time.Minute)

	if _, err := f.cp.Admin.CancelJob(f.ctx, job.ID); err != nil {
		t.Fatalf("failed to cancel the job: %v", err)
	}

	var tj transferv1.TransferJob
	f.eventually("spec.cancel on the TransferJob", func() bool {
		tj = f.transferJobs()[0]
		return tj.Spec.Cancel
	}, func() string { return fmt.Sprintf("spec: %+v", tj.Spec) })
	if want := "by the control plane (" + protocol.ReasonCancelRequested + ")"; tj.Spec.CancelReason != want {
		t.Errorf("spec.cancelReason = %q, want %q", tj.Spec.CancelReason, want)
	}
}

func TestControlPlaneDownThenBack(t *testing.T) {
	f := newFixture(t)
	f.startManager(testOptions)
	key, _ := f.createRunner("r1", 2)
	f.waitState(key, transferv1.RunnerIdle)

	f.cp.Stop()
	r := f.waitState(key, transferv1.RunnerDisconnected)
	if !conditionIs(r, transferv1.RunnerConditionConnected, metav1.ConditionFalse, transferv1.RunnerReasonHeartbeatFailed) {
		t.Errorf("Connected condition = %+v, want False/%s", meta.FindStatusCondition(r.Status.Conditions, transferv1.RunnerConditionConnected), transferv1.RunnerReasonHeartbeatFailed)
	}

	f.cp.Restart()
	r = f.waitState(key, transferv1.RunnerIdle)
	if !conditionIs(r, transferv1.RunnerConditionConnected, metav1.ConditionTrue, transferv1.RunnerReasonHeartbeatSucceeded) {
		t.Errorf("Connected condition = %+v, want True", meta.FindStatusCondition(r.Status.Conditions, transferv1.RunnerConditionConnected))
	}
}

func TestRevokedTokenThenNewSecret(t *testing.T) {
	f := newFixture(t)
	f.startManager(testOptions)
	key, clusterID := f.createRunner("r1", 2)
	f.waitState(key, transferv1.RunnerIdle)

	tokens, err := f.cp.Admin.ListTokens(f.ctx, clusterID)
	if err != nil || len(tokens) != 1 {
		t.Fatalf("ListTokens = %+v, %v; want one token", tokens, err)
	}
	if err := f.cp.Admin.RevokeToken(f.ctx, clusterID, tokens[0].ID); err != nil {
		t.Fatalf("failed to revoke the token: %v", err)
	}
	r := f.waitState(key, transferv1.RunnerUnauthorized)
	cond := meta.FindStatusCondition(r.Status.Conditions, transferv1.RunnerConditionAuthorized)
	if cond == nil || cond.Status != metav1.ConditionFalse || cond.Reason != transferv1.RunnerReasonTokenRejected {
		t.Fatalf("Authorized condition = %+v, want False/%s", cond, transferv1.RunnerReasonTokenRejected)
	}

	fresh, err := f.cp.Admin.CreateToken(f.ctx, clusterID)
	if err != nil {
		t.Fatal(err)
	}
	f.writeTokenSecret("r1-token", fresh.Token)
	r = f.waitState(key, transferv1.RunnerIdle)
	if !conditionIs(r, transferv1.RunnerConditionAuthorized, metav1.ConditionTrue, transferv1.RunnerReasonTokenAccepted) {
		t.Errorf("Authorized condition = %+v, want True", meta.FindStatusCondition(r.Status.Conditions, transferv1.RunnerConditionAuthorized))
	}
	if f.logs.contains(fresh.Token) {
		t.Error("logs contain the registration token")
	}
}

func TestMissingTokenSecret(t *testing.T) {
	f := newFixture(t)
	f.startManager(testOptions)
	runner := &transferv1.TransferRunner{
		ObjectMeta: metav1.ObjectMeta{Name: "r1", Namespace: f.ns},
		Spec: transferv1.TransferRunnerSpec{
			ControlPlaneURL:   f.cp.URL,
			TokenSecretRef:    transferv1.SecretKeyRef{Name: "absent"},
			MaxConcurrentJobs: 1,
			PollWaitSeconds:   1,
		},
	}
	if err := f.c.Create(f.ctx, runner); err != nil {
		t.Fatal(err)
	}
	key := client.ObjectKeyFromObject(runner)
	r := f.waitState(key, transferv1.RunnerUnauthorized)
	if !conditionIs(r, transferv1.RunnerConditionAuthorized, metav1.ConditionFalse, transferv1.RunnerReasonTokenSecretInvalid) {
		t.Errorf("Authorized condition = %+v, want False/%s", meta.FindStatusCondition(r.Status.Conditions, transferv1.RunnerConditionAuthorized), transferv1.RunnerReasonTokenSecretInvalid)
	}

	// Creating the Secret restarts the poller.
	_, token := f.cp.CreateCluster(t, f.ns+"-late")
	f.writeTokenSecret("absent", token)
	f.waitState(key, transferv1.RunnerIdle)
}

func TestMaxConcurrentJobsRespected(t *testing.T) {
	f := newFixture(t)
	f.startManager(testOptions)
	key, clusterID := f.createRunner("r1", 2)
	f.waitState(key, transferv1.RunnerIdle)
	cfg := f.cp.CreateSQLiteConfig(t, clusterID, "orders")
	var jobIDs []string
	for range 3 {
		job, err := f.cp.Admin.RunJob(f.ctx, cfg.ID, protocol.JobTransfer)
		if err != nil {
			t.Fatal(err)
		}
		jobIDs = append(jobIDs, job.ID)
	}
	jobs := f.waitTransferJobs(2)

	// Two heartbeats later the third job is still queued.
	first := f.runner(key).Status.LastHeartbeatTime
	for range 2 {
		f.waitRunner(key, "a later heartbeat", func(r *transferv1.TransferRunner) bool {
			return r.Status.LastHeartbeatTime != nil && r.Status.LastHeartbeatTime.After(first.Time)
		})
		first = f.runner(key).Status.LastHeartbeatTime
	}
	if n := len(f.transferJobs()); n != 2 {
		t.Fatalf("got %d TransferJobs with maxConcurrentJobs 2, want 2", n)
	}
	if r := f.runner(key); r.Status.RunningJobs != 2 || r.Status.State != transferv1.RunnerActive {
		t.Errorf("status running = %d, state %s; want 2, Active", r.Status.RunningJobs, r.Status.State)
	}
	taken := map[string]bool{}
	for _, tj := range f.transferJobs() {
		taken[tj.Spec.JobID] = true
	}
	for _, id := range jobIDs {
		if taken[id] {
			continue
		}
		job, err := f.cp.Admin.GetJob(f.ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if job.State != protocol.StateQueued {
			t.Errorf("job %s without a TransferJob is %s in the control plane, want queued", id, job.State)
		}
	}

	// A finished job frees a slot for the third.
	f.finishJob(&jobs[0])
	f.waitTransferJobs(3)
}

func TestNewManagerTakesOverTransferJobs(t *testing.T) {
	f := newFixture(t)
	first := f.startManager(testOptions)
	key, clusterID := f.createRunner("r1", 3)
	before := f.waitState(key, transferv1.RunnerIdle)
	cfg := f.cp.CreateSQLiteConfig(t, clusterID, "orders")
	job, err := f.cp.Admin.RunJob(f.ctx, cfg.ID, protocol.JobTransfer)
	if err != nil {
		t.Fatal(err)
	}
	f.waitTransferJobs(1)
	f.cp.WaitJobState(t, job.ID, protocol.StateAccepted, time.Minute)
	first.stop()

	// While no manager runs, take an assignment as the runner would and
	// create its TransferJob without acknowledging it: the state a poller
	// leaves when it stops between creating and acknowledging.
	cp := f.cp.RunnerClient(t, f.tokenOf("r1-token"))
	join, err := cp.Join(f.ctx, protocol.JoinRequest{Name: key.String(), MaxConcurrentJobs: 3})
	if err != nil {
		t.Fatal(err)
	}
	if join.RunnerID != before.Status.RunnerID {
		t.Fatalf("joining again returned runner %s, want %s", join.RunnerID, before.Status.RunnerID)
	}
	unacked, err := f.cp.Admin.RunJob(f.ctx, cfg.ID, protocol.JobTransfer)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := cp.Heartbeat(f.ctx, join.RunnerID, protocol.HeartbeatRequest{
		State: protocol.RunnerActive, FreeSlots: 1, WaitSeconds: 1,
		Jobs: []protocol.RunnerJob{{JobID: job.ID, Epoch: f.transferJobs()[0].Spec.Epoch, Phase: protocol.PhasePending}},
	})
	if err != nil || len(resp.Assignments) != 1 {
		t.Fatalf("heartbeat = %+v, %v; want one assignment", resp, err)
	}
	h := &pollerHandle{config: runnerConfig{key: key, uid: before.UID, generation: before.Generation, spec: before.Spec}, nudge: make(chan struct{}, 1)}
	p := newPoller(first.pollers, h, first.pollers.log)
	jobs, err := p.listJobs(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.accept(f.ctx, resp.Assignments[0], jobs, time.Now()); err != nil {
		t.Fatalf("accept failed: %v", err)
	}

	f.startManager(testOptions)
	f.cp.WaitJobState(t, unacked.ID, protocol.StateAccepted, time.Minute)
	after := f.waitRunner(key, "a heartbeat of the new manager", func(r *transferv1.TransferRunner) bool {
		return r.Status.State == transferv1.RunnerActive && r.Status.RunningJobs == 2
	})
	if after.Status.RunnerID != before.Status.RunnerID {
		t.Errorf("runner ID after restart = %s, want %s", after.Status.RunnerID, before.Status.RunnerID)
	}
	if n := len(f.transferJobs()); n != 2 {
		t.Errorf("got %d TransferJobs after the restart, want 2", n)
	}
	got, err := f.cp.Admin.GetJob(f.ctx, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != protocol.StateAccepted {
		t.Errorf("job taken over from the first manager is %s in the control plane, want accepted", got.State)
	}
}

// tokenOf returns the token stored in a Secret of the fixture's namespace.
func (f *fixture) tokenOf(secretName string) string {
	f.t.Helper()
	secret := &corev1.Secret{}
	if err := f.c.Get(f.ctx, types.NamespacedName{Namespace: f.ns, Name: secretName}, secret); err != nil {
		f.t.Fatal(err)
	}
	return string(secret.Data[transferv1.TokenSecretKey])
}

func TestDeletedRunnerStopsPoller(t *testing.T) {
	f := newFixture(t)
	m := f.startManager(testOptions)
	key, _ := f.createRunner("r1", 1)
	f.waitState(key, transferv1.RunnerIdle)
	if got := m.pollers.Running(); len(got) != 1 || got[0] != key {
		t.Fatalf("running pollers = %v, want [%s]", got, key)
	}

	if err := f.c.Delete(f.ctx, f.runner(key)); err != nil {
		t.Fatal(err)
	}
	f.eventually("the poller to stop", func() bool { return f.logs.contains("Stopped poller of deleted TransferRunner") },
		func() string { return "logs:\n" + f.logs.String() })
	if got := m.pollers.Running(); len(got) != 0 {
		t.Errorf("running pollers = %v after the runner was deleted, want none", got)
	}
}

// panicOnce is an HTTP transport that panics on its first request.
type panicOnce struct {
	panicked atomic.Bool
}

func (p *panicOnce) RoundTrip(req *http.Request) (*http.Response, error) {
	if p.panicked.CompareAndSwap(false, true) {
		panic("test transport panic")
	}
	return http.DefaultTransport.RoundTrip(req)
}

func TestPanickingPollerRestarts(t *testing.T) {
	f := newFixture(t)
	opts := testOptions
	opts.HTTPClient = &http.Client{Transport: &panicOnce{}}
	f.startManager(opts)
	key, _ := f.createRunner("r1", 1)

	f.waitState(key, transferv1.RunnerIdle)

	var m dto.Metric
	if err := metrics.PollerRestarts.WithLabelValues(key.String()).Write(&m); err != nil {
		t.Fatal(err)
	}
	if got := m.GetCounter().GetValue(); got != 1 {
		t.Errorf("poller panics metric = %v, want 1", got)
	}
	if !f.logs.contains("Poller panicked, restarting it") {
		t.Errorf("logs lack the panic; logs:\n%s", f.logs)
	}
}

func TestReadyCheckFailsOnStalePoller(t *testing.T) {
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clocktesting.NewFakeClock(start)
	s := NewPollers(nil, nil, clk, testr.New(t), Options{})
	key := types.NamespacedName{Namespace: "ns", Name: "r1"}
	h := &pollerHandle{config: runnerConfig{key: key, spec: transferv1.TransferRunnerSpec{PollWaitSeconds: 10}}, started: start}
	s.running[key] = h

	if err := s.ReadyCheck(nil); err != nil {
		t.Fatalf("ReadyCheck at start = %v, want nil", err)
	}
	clk.SetTime(start.Add(59 * time.Second))
	if err := s.ReadyCheck(nil); err != nil {
		t.Fatalf("ReadyCheck after 59 s with pollWait 10 s = %v, want nil", err)
	}
	clk.SetTime(start.Add(61 * time.Second))
	if err := s.ReadyCheck(nil); err == nil {
		t.Fatal("ReadyCheck after 61 s without a heartbeat = nil, want an error")
	}
	h.heartbeatSucceeded(clk.Now())
	if err := s.ReadyCheck(nil); err != nil {
		t.Fatalf("ReadyCheck after a heartbeat = %v, want nil", err)
	}
}

func TestPollerLogsNoURLUserInfo(t *testing.T) {
	f := newFixture(t)
	m := f.startManager(testOptions)
	f.writeTokenSecret("r1-token", "registration-token")

	// The CRD rejects user information in controlPlaneURL, so only a runner
	// stored before that rule has one; the poller is given such a spec
	// directly. Nothing listens on port 9 of the loopback, so every join
	// fails and its error, which quotes the URL, is logged.
	m.pollers.Ensure(runnerConfig{
		key:        types.NamespacedName{Namespace: f.ns, Name: "r1"},
		uid:        "uid-1",
		generation: 1,
		spec: transferv1.TransferRunnerSpec{
			ControlPlaneURL: "http://ferry-user:secret-password@127.0.0.1:9/cp",
			TokenSecretRef:  transferv1.SecretKeyRef{Name: "r1-token", Key: transferv1.TokenSecretKey},
			PollWaitSeconds: 1,
		},
	})
	f.eventually("a failed join in the log", func() bool {
		return f.logs.contains("Started poller") && f.logs.contains("Control plane call failed")
	}, f.logs.String)

	logs := f.logs.String()
	for _, secret := range []string{"secret-password", "ferry-user"} {
		if strings.Contains(logs, secret) {
			t.Errorf("log contains %q from the URL's user information:\n%s", secret, logs)
		}
	}
	if !strings.Contains(logs, "http://127.0.0.1:9/cp") {
		t.Errorf("log does not name the URL without its user information:\n%s", logs)
	}
}

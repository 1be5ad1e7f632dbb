package controllers

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	testingclock "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	transferv1 "github.com/ferryhq/ferry/api/v1alpha1"
	"github.com/ferryhq/ferry/controlplane/cptest"
	"github.com/ferryhq/ferry/protocol"
	cpclient "github.com/ferryhq/ferry/protocol/client"
)

// waitTimeout bounds every wait for the reconciler in these tests. It is a
// ceiling for slow machines, not a performance target.
const waitTimeout = 30 * time.Second

// jobFixture is one TransferJob test: a namespace with a TransferRunner, a
// manager running the TransferJob reconciler on a fake clock, and, when
// asked for, a real control plane the runner has joined.
type jobFixture struct {
	t      *testing.T
	ctx    context.Context
	c      client.Client
	ns     string
	clock  *testingclock.FakeClock
	runner *transferv1.TransferRunner
	// stopManager stops the manager that newJobFixture started.
	stopManager func()

	// Set only with a control plane.
	cp           *cptest.Env
	runnerClient *cpclient.Client
	configID     string
}

type fixtureOptions struct {
	// controlPlane starts a real control plane and joins the runner to it.
	controlPlane bool
	// runner changes the TransferRunner before it is created.
	runner func(*transferv1.TransferRunner)
}

func newJobFixture(t *testing.T, opts fixtureOptions) *jobFixture {
	t.Helper()
	c := newTestClient(t)
	f := &jobFixture{
		t:     t,
		ctx:   context.Background(),
		c:     c,
		ns:    newTestNamespace(t, c),
		clock: testingclock.NewFakeClock(time.Now()),
	}

	// Without a control plane, the runner never joins, so reports fail and
	// are retried; the tests that use it check the status only.
	url, registrationToken := "http://127.0.0.1:9", "unused-registration-token"
	var cluster string
	if opts.controlPlane {
		f.cp = cptest.Start(t)
		created, token := f.cp.CreateCluster(t, f.ns)
		cluster, url, registrationToken = created.Name, f.cp.URL, token
		f.configID = f.cp.CreateSQLiteConfig(t, cluster, "orders").ID
	}

	f.create(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "registration", Namespace: f.ns},
		StringData: map[string]string{"token": registrationToken},
	})
	f.runner = &transferv1.TransferRunner{
		ObjectMeta: metav1.ObjectMeta{Name: "runner", Namespace: f.ns},
		Spec: transferv1.TransferRunnerSpec{
			ControlPlaneURL: url,
			TokenSecretRef:  transferv1.SecretKeyRef{Name: "registration"},
			JobTemplate: transferv1.JobPodTemplate{
				Image:  "registry.example/ferry:test",
				Labels: map[string]string{"team": "data", transferv1.LabelRunner: "overridden"},
				Env:    []corev1.EnvVar{{Name: "EXTRA", Value: "1"}, {Name: EnvJobToken, Value: "must-not-win"}},
			},
			ResourceClasses: []transferv1.ResourceClass{{
				Name: "small",
				Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{
					corev1.ResourceMemory: resource.MustParse("256Mi"),
				}},
			}},
		},
	}
	if opts.runner != nil {
		opts.runner(f.runner)
	}
	f.create(f.runner)

	if opts.controlPlane {
		f.runnerClient = f.cp.RunnerClient(t, registrationToken)
		joined, err := f.runnerClient.Join(f.ctx, protocol.JoinRequest{Name: f.ns + "/runner", MaxConcurrentJobs: 2})
		if err != nil {
			t.Fatalf("failed to join the control plane: %v", err)
		}
		f.runner.Status = transferv1.TransferRunnerStatus{
			RunnerID: joined.RunnerID, ClusterID: joined.ClusterID, ClusterName: joined.ClusterName,
			State: transferv1.RunnerIdle,
		}
		if err := c.Status().Update(f.ctx, f.runner); err != nil {
			t.Fatalf("failed to record the runner ID: %v", err)
		}
	}

	f.stopManager = f.startManager()
	return f
}

// startManager starts a manager running the TransferJob reconciler, as a
// new operator process would, and returns its stop function.
func (f *jobFixture) startManager() func() {
	f.t.Helper()
	_, stop := startTestManager(f.t, f.ns, func(mgr ctrl.Manager) error {
		return (&TransferJobReconciler{Clock: f.clock, JobImage: "registry.example/ferry:default"}).SetupWithManager(mgr)
	})
	return stop
}

func (f *jobFixture) create(obj client.Object) {
	f.t.Helper()
	if err := f.c.Create(f.ctx, obj); err != nil {
		f.t.Fatalf("failed to create %T %s: %v", obj, obj.GetName(), err)
	}
}

// createJob creates a TransferJob for jobID and its token Secret, owned by
// the TransferJob as the runner's poller creates them.
func (f *jobFixture) createJob(jobID string, epoch int64, mutate func(*transferv1.TransferJob)) *transferv1.TransferJob {
	f.t.Helper()
	name := transferv1.TransferJobName(jobID)
	tj := &transferv1.TransferJob{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns, Labels: map[string]string{
			transferv1.LabelRunner:      f.runner.Name,
			transferv1.LabelJobID:       transferv1.JobIDLabelValue(jobID),
			transferv1.LabelTransferJob: name,
		}},
		Spec: transferv1.TransferJobSpec{
			RunnerRef:       transferv1.RunnerRef{Name: f.runner.Name},
			JobID:           jobID,
			Epoch:           epoch,
			TokenSecretName: transferv1.TokenSecretName(name),
		},
	}
	if mutate != nil {
		mutate(tj)
	}
	f.create(tj)
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: tj.Spec.TokenSecretName, Namespace: f.ns},
		StringData: map[string]string{transferv1.TokenSecretKey: "job-token-" + jobID},
	}
	if err := controllerutil.SetControllerReference(tj, secret, testScheme); err != nil {
		f.t.Fatal(err)
	}
	f.create(secret)
	return tj
}

// assign runs a transfer in the control plane, takes its assignment with a
// heartbeat and acknowledges it, as the runner's poller does.
func (f *jobFixture) assign() protocol.Assignment {
	f.t.Helper()
	job, err := f.cp.Admin.RunJob(f.ctx, f.configID, protocol.JobTransfer)
	if err != nil {
		f.t.Fatalf("failed to run a job: %v", err)
	}
	var assignment *protocol.Assignment
	for attempt := 0; assignment == nil && attempt < 10; attempt++ {
		resp, err := f.runnerClient.Heartbeat(f.ctx, f.runner.Status.RunnerID, protocol.HeartbeatRequest{State: protocol.RunnerIdle, FreeSlots: 1, WaitSeconds: 1})
		if err != nil {
			f.t.Fatalf("heartbeat failed: %v", err)
		}
		for i := range resp.Assignments {
			if resp.Assignments[i].JobID == job.ID {
				assignment = &resp.Assignments[i]
			}
		}
	}
	if assignment == nil {
		f.t.Fatalf("job %s was not assigned to the runner", job.ID)
	}
	_, err = f.runnerClient.Heartbeat(f.ctx, f.runner.Status.RunnerID, protocol.HeartbeatRequest{
		State: protocol.RunnerActive, Accepted: []protocol.JobRef{{JobID: assignment.JobID, Epoch: assignment.Epoch}}, WaitSeconds: 1,
	})
	if err != nil {
		f.t.Fatalf("failed to acknowledge the assignment: %v", err)
	}
	return *assignment
}

// getJob reads the TransferJob named name.
func (f *jobFixture) getJob(name string) *transferv1.TransferJob {
	f.t.Helper()
	tj := &transferv1.TransferJob{}
	if err := f.c.Get(f.ctx, types.NamespacedName{Namespace: f.ns, Name: name}, tj); err != nil {
		f.t.Fatalf("failed to get TransferJob %s: %v", name, err)
	}
	return tj
}

// waitJob waits until the TransferJob satisfies check, and returns it.
func (f *jobFixture) waitJob(name string, check func(*transferv1.TransferJob) error) *transferv1.TransferJob {
	f.t.Helper()
	var tj *transferv1.TransferJob
	eventually(f.t, waitTimeout, func() error {
		tj = &transferv1.TransferJob{}
		if err := f.c.Get(f.ctx, types.NamespacedName{Namespace: f.ns, Name: name}, tj); err != nil {
			return err
		}
		return check(tj)
	})
	return tj
}

// waitPhase waits until the TransferJob reaches phase.
func (f *jobFixture) waitPhase(name string, phase transferv1.JobPhase) *transferv1.TransferJob {
	f.t.Helper()
	return f.waitJob(name, func(tj *transferv1.TransferJob) error {
		if tj.Status.Phase != phase {
			return fmt.Errorf("phase is %q (reason %q, message %q), want %s", tj.Status.Phase, tj.Status.Reason, tj.Status.Message, phase)
		}
		return nil
	})
}

// waitCondition waits until the TransferJob has the condition with status.
func (f *jobFixture) waitCondition(name, conditionType string, status metav1.ConditionStatus) *transferv1.TransferJob {
	f.t.Helper()
	return f.waitJob(name, func(tj *transferv1.TransferJob) error {
		cond := meta.FindStatusCondition(tj.Status.Conditions, conditionType)
		if cond == nil || cond.Status != status {
			return fmt.Errorf("condition %s is %+v, want status %s", conditionType, cond, status)
		}
		return nil
	})
}

// waitPod waits for the TransferJob's pod and returns it.
func (f *jobFixture) waitPod(tj *transferv1.TransferJob) *corev1.Pod {
	f.t.Helper()
	pod := &corev1.Pod{}
	key := types.NamespacedName{Namespace: f.ns, Name: transferv1.PodName(tj.Name, tj.Spec.Epoch)}
	eventually(f.t, waitTimeout, func() error { return f.c.Get(f.ctx, key, pod) })
	return pod
}

// waitPodGone waits until the pod no longer exists.
func (f *jobFixture) waitPodGone(pod *corev1.Pod) {
	f.t.Helper()
	eventually(f.t, waitTimeout, func() error {
		err := f.c.Get(f.ctx, client.ObjectKeyFromObject(pod), &corev1.Pod{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		return fmt.Errorf("pod %s still exists", pod.Name)
	})
}

// listPods returns the pods in the fixture's namespace.
func (f *jobFixture) listPods() []corev1.Pod {
	f.t.Helper()
	list := &corev1.PodList{}
	if err := f.c.List(f.ctx, list, client.InNamespace(f.ns)); err != nil {
		f.t.Fatalf("failed to list pods: %v", err)
	}
	return list.Items
}

// setPodStatus plays the kubelet: it writes the pod's status as mutate
// leaves it.
func (f *jobFixture) setPodStatus(pod *corev1.Pod, mutate func(*corev1.PodStatus)) {
	f.t.Helper()
	err := retryOnConflict(func() error {
		if err := f.c.Get(f.ctx, client.ObjectKeyFromObject(pod), pod); err != nil {
			return err
		}
		mutate(&pod.Status)
		return f.c.Status().Update(f.ctx, pod)
	})
	if err != nil {
		f.t.Fatalf("failed to write the status of pod %s: %v", pod.Name, err)
	}
}

// poke changes an annotation of obj so that the reconciler runs again, for
// example after the test stepped the fake clock.
func (f *jobFixture) poke(obj client.Object) {
	f.t.Helper()
	err := retryOnConflict(func() error {
		if err := f.c.Get(f.ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		annotations := obj.GetAnnotations()
		if annotations == nil {
			annotations = map[string]string{}
		}
		annotations["test.ferry.dev/poke"] = time.Now().Format(time.RFC3339Nano)
		obj.SetAnnotations(annotations)
		return f.c.Update(f.ctx, obj)
	})
	// A reconcile started by an earlier event may already have deleted the
	// object; the poke's purpose, a reconcile, has then happened.
	if err != nil && !apierrors.IsNotFound(err) {
		f.t.Fatalf("failed to poke %s: %v", obj.GetName(), err)
	}
}

func retryOnConflict(fn func() error) error {
	var err error
	for range 10 {
		if err = fn(); !apierrors.IsConflict(err) {
			return err
		}
	}
	return err
}

// Kubelet-like container states.

func runningStatus(startedAt time.Time) func(*corev1.PodStatus) {
	return func(s *corev1.PodStatus) {
		s.Phase = corev1.PodRunning
		s.StartTime = ptr.To(metav1.NewTime(startedAt))
		s.ContainerStatuses = []corev1.ContainerStatus{{
			Name: transferv1.JobContainerName, Image: "registry.example/ferry:test",
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(startedAt)}},
		}}
	}
}

func terminatedStatus(phase corev1.PodPhase, terminated corev1.ContainerStateTerminated) func(*corev1.PodStatus) {
	return func(s *corev1.PodStatus) {
		s.Phase = phase
		if terminated.StartedAt.IsZero() {
			terminated.StartedAt = metav1.NewTime(time.Now().Add(-time.Minute).Truncate(time.Second))
		}
		if terminated.FinishedAt.IsZero() {
			terminated.FinishedAt = metav1.NewTime(time.Now().Truncate(time.Second))
		}
		s.StartTime = ptr.To(terminated.StartedAt)
		s.ContainerStatuses = []corev1.ContainerStatus{{
			Name: transferv1.JobContainerName, Image: "registry.example/ferry:test",
			State: corev1.ContainerState{Terminated: &terminated},
		}}
	}
}

func waitingStatus(reason, message string) func(*corev1.PodStatus) {
	return func(s *corev1.PodStatus) {
		s.Phase = corev1.PodPending
		s.ContainerStatuses = []corev1.ContainerStatus{{
			Name: transferv1.JobContainerName, Image: "registry.example/ferry:test",
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: message}},
		}}
	}
}

package controllers

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	transferv1 "github.com/ferryhq/ferry/api/v1alpha1"
	"github.com/ferryhq/ferry/protocol"
)

const engineSummaryJSON = `{"rows":1200,"bytes":56000,"durationSeconds":4.2,"lastRecord":{"id":1200},"warnings":[],"exitCode":0}`

func TestTransferJobCreatesHardenedPod(t *testing.T) {
	f := newJobFixture(t, fixtureOptions{})
	tj := f.createJob("Job_42", 3, func(tj *transferv1.TransferJob) { tj.Spec.ResourceClass = "small" })
	pod := f.waitPod(tj)

	spec := pod.Spec
	if spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("restartPolicy = %s, want Never", spec.RestartPolicy)
	}
	if got := ptr.Deref(spec.ActiveDeadlineSeconds, 0); got != 21600 {
		t.Errorf("activeDeadlineSeconds = %d, want the runner default 21600", got)
	}
	if got := ptr.Deref(spec.AutomountServiceAccountToken, true); got {
		t.Errorf("automountServiceAccountToken = true, want false")
	}
	if sc := spec.SecurityContext; sc == nil || !ptr.Deref(sc.RunAsNonRoot, false) || ptr.Deref(sc.RunAsUser, 0) != 65532 {
		t.Errorf("pod securityContext = %+v, want runAsNonRoot and runAsUser 65532", sc)
	}
	if sc := spec.SecurityContext; sc == nil || sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod seccompProfile = %+v, want RuntimeDefault", sc)
	}
	if got := pod.Annotations[transferv1.AnnotationSafeToEvict]; got != "false" {
		t.Errorf("annotation %s = %q, want \"false\"", transferv1.AnnotationSafeToEvict, got)
	}
	wantLabels := map[string]string{
		transferv1.LabelRunner:      "runner",
		transferv1.LabelJobID:       transferv1.JobIDLabelValue("Job_42"),
		transferv1.LabelTransferJob: tj.Name,
		"team":                      "data",
	}
	for key, want := range wantLabels {
		if got := pod.Labels[key]; got != want {
			t.Errorf("label %s = %q, want %q", key, got, want)
		}
	}
	if !metav1.IsControlledBy(pod, tj) {
		t.Errorf("pod is not controlled by the TransferJob: %+v", pod.OwnerReferences)
	}

	if len(spec.Containers) != 1 {
		t.Fatalf("pod has %d containers, want 1", len(spec.Containers))
	}
	container := spec.Containers[0]
	if container.Name != transferv1.JobContainerName {
		t.Errorf("container name = %s, want %s", container.Name, transferv1.JobContainerName)
	}
	if container.Image != "registry.example/ferry:test" {
		t.Errorf("image = %s, want the runner template's", container.Image)
	}
	if strings.Join(container.Command, " ") != jobCommand {
		t.Errorf("command = %q, want [%s]", container.Command, jobCommand)
	}
	if strings.Join(container.Args, " ") != "pod" {
		t.Errorf("args = %q, want [pod]", container.Args)
	}
	if container.TerminationMessagePath != "/dev/termination-log" || container.TerminationMessagePolicy != corev1.TerminationMessageReadFile {
		t.Errorf("termination message = %s %s, want /dev/termination-log File", container.TerminationMessagePath, container.TerminationMessagePolicy)
	}
	csc := container.SecurityContext
	if csc == nil || !ptr.Deref(csc.ReadOnlyRootFilesystem, false) {
		t.Errorf("readOnlyRootFilesystem not set: %+v", csc)
	}
	if csc == nil || ptr.Deref(csc.AllowPrivilegeEscalation, true) {
		t.Errorf("allowPrivilegeEscalation not false: %+v", csc)
	}
	if csc == nil || csc.Capabilities == nil || len(csc.Capabilities.Drop) != 1 || csc.Capabilities.Drop[0] != "ALL" {
		t.Errorf("capabilities = %+v, want drop ALL", csc)
	}
	if limit := container.Resources.Limits[corev1.ResourceMemory]; limit.String() != "256Mi" {
		t.Errorf("memory limit = %s, want the small class's 256Mi", limit.String())
	}
	if len(container.VolumeMounts) == 0 || container.VolumeMounts[0].MountPath != "/tmp" {
		t.Errorf("volumeMounts = %+v, want an emptyDir at /tmp", container.VolumeMounts)
	}
	if len(spec.Volumes) == 0 || spec.Volumes[0].EmptyDir == nil {
		t.Errorf("volumes = %+v, want an emptyDir", spec.Volumes)
	}

	env := map[string]corev1.EnvVar{}
	for _, v := range container.Env {
		env[v.Name] = v
	}
	for name, want := range map[string]string{EnvControlPlaneURL: "http://127.0.0.1:9", EnvJobID: "Job_42", EnvJobEpoch: "3", EnvJobType: "transfer", "EXTRA": "1"} {
		if got := env[name].Value; got != want {
			t.Errorf("env %s = %q, want %q", name, got, want)
		}
	}
	token := env[EnvJobToken]
	if token.Value != "" || token.ValueFrom == nil || token.ValueFrom.SecretKeyRef == nil ||
		token.ValueFrom.SecretKeyRef.Name != tj.Spec.TokenSecretName || token.ValueFrom.SecretKeyRef.Key != "token" {
		t.Errorf("env %s = %+v, want it from Secret %s key token", EnvJobToken, token, tj.Spec.TokenSecretName)
	}

	got := f.waitCondition(tj.Name, transferv1.JobConditionPodCreated, metav1.ConditionTrue)
	if got.Status.Phase != transferv1.JobPending {
		t.Errorf("phase = %s, want Pending", got.Status.Phase)
	}
	if got.Status.PodName != pod.Name {
		t.Errorf("podName = %s, want %s", got.Status.PodName, pod.Name)
	}
	if got.Status.ObservedGeneration != got.Generation {
		t.Errorf("observedGeneration = %d, want %d", got.Status.ObservedGeneration, got.Generation)
	}
}

func TestTransferJobCreatesOnePod(t *testing.T) {
	f := newJobFixture(t, fixtureOptions{})
	tj := f.createJob("one-pod", 1, nil)
	f.waitCondition(tj.Name, transferv1.JobConditionPodCreated, metav1.ConditionTrue)

	for range 3 {
		f.poke(tj)
	}
	// The Running phase shows that the reconciler ran after the pokes.
	pod := f.waitPod(tj)
	f.setPodStatus(pod, runningStatus(time.Now()))
	f.waitPhase(tj.Name, transferv1.JobRunning)
	if pods := f.listPods(); len(pods) != 1 {
		t.Errorf("namespace has %d pods after repeated reconciles, want 1", len(pods))
	}
}

func TestTransferJobFailureReasons(t *testing.T) {
	tests := []struct {
		name        string
		status      func(*corev1.PodStatus)
		wantPhase   transferv1.JobPhase
		wantReason  string
		wantMessage string
		wantRows    int64
	}{
		{
			name:        "succeeded with summary",
			status:      terminatedStatus(corev1.PodSucceeded, corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed", Message: engineSummaryJSON}),
			wantPhase:   transferv1.JobSucceeded,
			wantReason:  transferv1.JobReasonCompleted,
			wantMessage: "moved 1200 rows, 56000 bytes",
			wantRows:    1200,
		},
		{
			name:        "exit 0 without summary",
			status:      terminatedStatus(corev1.PodSucceeded, corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"}),
			wantPhase:   transferv1.JobFailed,
			wantReason:  transferv1.JobReasonNoSummary,
			wantMessage: "without writing its summary",
		},
		{
			name:        "OOMKilled",
			status:      terminatedStatus(corev1.PodFailed, corev1.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled"}),
			wantPhase:   transferv1.JobFailed,
			wantReason:  transferv1.JobReasonOOMKilled,
			wantMessage: "memory limit",
		},
		{
			name: "evicted",
			status: func(s *corev1.PodStatus) {
				terminatedStatus(corev1.PodFailed, corev1.ContainerStateTerminated{ExitCode: 137, Reason: "Error"})(s)
				s.Reason, s.Message = "Evicted", "The node was low on resource: memory."
			},
			wantPhase:   transferv1.JobFailed,
			wantReason:  transferv1.JobReasonEvicted,
			wantMessage: "low on resource: memory",
		},
		{
			name: "deadline exceeded",
			status: func(s *corev1.PodStatus) {
				terminatedStatus(corev1.PodFailed, corev1.ContainerStateTerminated{ExitCode: 137, Reason: "Error"})(s)
				s.Reason, s.Message = "DeadlineExceeded", "Pod was active on the node longer than the specified deadline"
			},
			wantPhase:   transferv1.JobFailed,
			wantReason:  transferv1.JobReasonDeadlineExceeded,
			wantMessage: "deadline of 21600s",
		},
		{
			name: "error exit code",
			status: terminatedStatus(corev1.PodFailed, corev1.ContainerStateTerminated{
				ExitCode: 3, Reason: "Error", Message: `{"rows":10,"bytes":99,"error":"connection refused by source","exitCode":3}`,
			}),
			wantPhase:   transferv1.JobFailed,
			wantReason:  transferv1.JobReasonError,
			wantMessage: "engine exited with code 3: connection refused by source",
			wantRows:    10,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newJobFixture(t, fixtureOptions{})
			tj := f.createJob("reason-"+strings.ReplaceAll(tt.name, " ", "-"), 1, nil)
			pod := f.waitPod(tj)
			f.setPodStatus(pod, tt.status)

			got := f.waitPhase(tj.Name, tt.wantPhase)
			if got.Status.Reason != tt.wantReason {
				t.Errorf("reason = %s, want %s", got.Status.Reason, tt.wantReason)
			}
			if !strings.Contains(got.Status.Message, tt.wantMessage) {
				t.Errorf("message = %q, want it to contain %q", got.Status.Message, tt.wantMessage)
			}
			if got.Status.Rows != tt.wantRows {
				t.Errorf("rows = %d, want %d", got.Status.Rows, tt.wantRows)
			}
			if got.Status.CompletionTime == nil || got.Status.Duration == "" {
				t.Errorf("completionTime = %v, duration = %q, want both set", got.Status.CompletionTime, got.Status.Duration)
			}
			complete := meta.FindStatusCondition(got.Status.Conditions, transferv1.JobConditionComplete)
			if complete == nil || complete.Status != metav1.ConditionTrue || complete.Reason != tt.wantReason {
				t.Errorf("Complete condition = %+v, want True with reason %s", complete, tt.wantReason)
			}
			f.waitPodGone(pod)
		})
	}
}

func TestTransferJobPodDeleted(t *testing.T) {
	f := newJobFixture(t, fixtureOptions{})
	tj := f.createJob("pod-deleted", 1, nil)
	pod := f.waitPod(tj)
	f.waitCondition(tj.Name, transferv1.JobConditionPodCreated, metav1.ConditionTrue)

	if err := f.c.Delete(f.ctx, pod, client.GracePeriodSeconds(0)); err != nil {
		t.Fatalf("failed to delete the pod: %v", err)
	}
	got := f.waitPhase(tj.Name, transferv1.JobFailed)
	if got.Status.Reason != transferv1.JobReasonPodDeleted {
		t.Errorf("reason = %s, want %s", got.Status.Reason, transferv1.JobReasonPodDeleted)
	}
	if pods := f.listPods(); len(pods) != 0 {
		t.Errorf("namespace has %d pods, want 0: a deleted pod must not be replaced", len(pods))
	}
}

func TestTransferJobImagePullGrace(t *testing.T) {
	f := newJobFixture(t, fixtureOptions{})
	tj := f.createJob("image-pull", 1, nil)
	pod := f.waitPod(tj)
	f.setPodStatus(pod, waitingStatus("ImagePullBackOff", `Back-off pulling image "registry.example/ferry:test"`))

	waiting := f.waitCondition(tj.Name, transferv1.JobConditionPodWaiting, metav1.ConditionTrue)
	if waiting.Status.Phase != transferv1.JobPending {
		t.Errorf("phase within the grace period = %s, want Pending", waiting.Status.Phase)
	}

	f.clock.Step(DefaultImagePullGrace + time.Second)
	f.poke(pod)
	got := f.waitPhase(tj.Name, transferv1.JobFailed)
	if got.Status.Reason != transferv1.JobReasonImagePullFailed {
		t.Errorf("reason = %s, want %s", got.Status.Reason, transferv1.JobReasonImagePullFailed)
	}
	if !strings.Contains(got.Status.Message, "Back-off pulling image") {
		t.Errorf("message = %q, want the kubelet's message", got.Status.Message)
	}
	f.waitPodGone(pod)
}

func TestTransferJobUnschedulable(t *testing.T) {
	f := newJobFixture(t, fixtureOptions{})
	tj := f.createJob("unschedulable", 1, nil)
	pod := f.waitPod(tj)
	schedulerMessage := "0/3 nodes are available: 3 Insufficient memory."
	f.setPodStatus(pod, func(s *corev1.PodStatus) {
		s.Phase = corev1.PodPending
		s.Conditions = []corev1.PodCondition{{
			Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable,
			Message: schedulerMessage, LastTransitionTime: metav1.NewTime(f.clock.Now()),
		}}
	})

	f.poke(pod)
	time.Sleep(200 * time.Millisecond) // lets a wrong early failure show up
	if got := f.getJob(tj.Name); got.Status.Phase.IsTerminal() {
		t.Fatalf("job ended %s/%s within the unschedulable bound", got.Status.Phase, got.Status.Reason)
	}

	f.clock.Step(DefaultUnschedulableTimeout)
	f.poke(pod)
	got := f.waitPhase(tj.Name, transferv1.JobFailed)
	if got.Status.Reason != transferv1.JobReasonUnschedulable {
		t.Errorf("reason = %s, want %s", got.Status.Reason, transferv1.JobReasonUnschedulable)
	}
	if !strings.Contains(got.Status.Message, schedulerMessage) {
		t.Errorf("message = %q, want the scheduler's message", got.Status.Message)
	}
}

func TestTransferJobDeadlineOfStuckPod(t *testing.T) {
	f := newJobFixture(t, fixtureOptions{})
	tj := f.createJob("stuck", 1, func(tj *transferv1.TransferJob) { tj.Spec.DeadlineSeconds = 120 })
	pod := f.waitPod(tj)
	if got := ptr.Deref(pod.Spec.ActiveDeadlineSeconds, 0); got != 120 {
		t.Errorf("activeDeadlineSeconds = %d, want the job's 120", got)
	}
	f.waitCondition(tj.Name, transferv1.JobConditionPodCreated, metav1.ConditionTrue)

	f.clock.Step(120*time.Second + DefaultDeadlineGrace)
	f.poke(pod)
	got := f.waitPhase(tj.Name, transferv1.JobFailed)
	if got.Status.Reason != transferv1.JobReasonDeadlineExceeded {
		t.Errorf("reason = %s, want %s", got.Status.Reason, transferv1.JobReasonDeadlineExceeded)
	}
	f.waitPodGone(pod)
}

func TestTransferJobUnknownResourceClass(t *testing.T) {
	f := newJobFixture(t, fixtureOptions{})
	tj := f.createJob("unknown-class", 1, func(tj *transferv1.TransferJob) { tj.Spec.ResourceClass = "huge" })

	got := f.waitPhase(tj.Name, transferv1.JobFailed)
	if got.Status.Reason != transferv1.JobReasonUnknownResourceClass {
		t.Errorf("reason = %s, want %s", got.Status.Reason, transferv1.JobReasonUnknownResourceClass)
	}
	if !strings.Contains(got.Status.Message, `"huge"`) || !strings.Contains(got.Status.Message, "small") {
		t.Errorf("message = %q, want the class and the defined ones", got.Status.Message)
	}
	if pods := f.listPods(); len(pods) != 0 {
		t.Errorf("namespace has %d pods, want none", len(pods))
	}
}

func TestTransferJobInvalidPodSpec(t *testing.T) {
	// A label value with spaces passes the CRD's schema, which does not
	// check label values, and fails the API server's pod validation.
	f := newJobFixture(t, fixtureOptions{runner: func(r *transferv1.TransferRunner) {
		r.Spec.JobTemplate.Labels = map[string]string{"team": "data team"}
	}})
	tj := f.createJob("invalid-pod", 1, nil)

	got := f.waitPhase(tj.Name, transferv1.JobFailed)
	if got.Status.Reason != transferv1.JobReasonInvalidPodSpec {
		t.Errorf("reason = %s, want %s", got.Status.Reason, transferv1.JobReasonInvalidPodSpec)
	}
	if !strings.Contains(got.Status.Message, "is invalid") || !strings.Contains(got.Status.Message, "data team") {
		t.Errorf("message = %q, want the API server's validation error", got.Status.Message)
	}
	if pods := f.listPods(); len(pods) != 0 {
		t.Errorf("namespace has %d pods, want none", len(pods))
	}
	eventually(t, waitTimeout, func() error {
		list := &eventsv1.EventList{}
		if err := f.c.List(f.ctx, list, client.InNamespace(f.ns)); err != nil {
			return err
		}
		for _, e := range list.Items {
			if e.Regarding.Name == tj.Name && e.Reason == transferv1.JobReasonInvalidPodSpec && e.Type == corev1.EventTypeWarning {
				return nil
			}
		}
		return fmt.Errorf("no %s warning event on TransferJob %s among %d events", transferv1.JobReasonInvalidPodSpec, tj.Name, len(list.Items))
	})
}

func TestTransferJobPodForbiddenByAdmission(t *testing.T) {
	// The PodSecurity admission plugin of the API server forbids
	// hostNetwork in a namespace that enforces the baseline level.
	f := newJobFixture(t, fixtureOptions{runner: func(r *transferv1.TransferRunner) {
		r.Spec.JobTemplate.HostNetwork = true
	}})
	ns := &corev1.Namespace{}
	if err := f.c.Get(f.ctx, types.NamespacedName{Name: f.ns}, ns); err != nil {
		t.Fatal(err)
	}
	ns.Labels["pod-security.kubernetes.io/enforce"] = "baseline"
	if err := f.c.Update(f.ctx, ns); err != nil {
		t.Fatalf("failed to label namespace %s: %v", f.ns, err)
	}
	tj := f.createJob("forbidden-pod", 1, nil)

	got := f.waitPhase(tj.Name, transferv1.JobFailed)
	if got.Status.Reason != transferv1.JobReasonInvalidPodSpec {
		t.Errorf("reason = %s, want %s", got.Status.Reason, transferv1.JobReasonInvalidPodSpec)
	}
	if !strings.Contains(got.Status.Message, "violates PodSecurity") {
		t.Errorf("message = %q, want the admission plugin's message", got.Status.Message)
	}
}

func TestTransferJobPodEventsInMessage(t *testing.T) {
	f := newJobFixture(t, fixtureOptions{})
	tj := f.createJob("events", 1, nil)
	pod := f.waitPod(tj)
	f.create(&corev1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: pod.Name + ".probe", Namespace: f.ns},
		InvolvedObject: corev1.ObjectReference{
			Kind: "Pod", Namespace: f.ns, Name: pod.Name, UID: pod.UID, APIVersion: "v1",
		},
		Type: corev1.EventTypeWarning, Reason: "FailedMount", Message: "MountVolume.SetUp failed for volume \"data\"",
		Count: 3, FirstTimestamp: metav1.Now(), LastTimestamp: metav1.Now(),
		Source: corev1.EventSource{Component: "kubelet"},
	})
	f.create(&corev1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: pod.Name + ".dns", Namespace: f.ns},
		InvolvedObject: corev1.ObjectReference{
			Kind: "Pod", Namespace: f.ns, Name: pod.Name, UID: pod.UID, APIVersion: "v1",
		},
		Type: corev1.EventTypeWarning, Reason: "MissingClusterDNS",
		Message: `pod: "` + pod.Name + `". kubelet does not have ClusterDNS IP configured and cannot create Pod using "ClusterFirst" policy. Falling back to "Default" policy.`,
		Count:   1, FirstTimestamp: metav1.Now(), LastTimestamp: metav1.Now(),
		Source: corev1.EventSource{Component: "kubelet"},
	})
	f.setPodStatus(pod, terminatedStatus(corev1.PodFailed, corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error"}))

	got := f.waitPhase(tj.Name, transferv1.JobFailed)
	if !strings.Contains(got.Status.Message, `FailedMount: MountVolume.SetUp failed for volume "data" (x3)`) {
		t.Errorf("message = %q, want the pod's warning event", got.Status.Message)
	}
	if strings.Contains(got.Status.Message, "MissingClusterDNS") {
		t.Errorf("message = %q, want no MissingClusterDNS event", got.Status.Message)
	}
}

func TestTransferJobCancelWhilePending(t *testing.T) {
	f := newJobFixture(t, fixtureOptions{})
	tj := f.createJob("cancel-pending", 1, nil)
	pod := f.waitPod(tj)
	f.waitCondition(tj.Name, transferv1.JobConditionPodCreated, metav1.ConditionTrue)

	cancelJob(t, f, tj.Name, "user pressed stop")
	got := f.waitPhase(tj.Name, transferv1.JobCancelled)
	if got.Status.Reason != transferv1.JobReasonCancelled {
		t.Errorf("reason = %s, want %s", got.Status.Reason, transferv1.JobReasonCancelled)
	}
	if want := "cancel requested: user pressed stop"; got.Status.Message != want {
		t.Errorf("message = %q, want %q: a cancel set by hand must not be attributed to the control plane", got.Status.Message, want)
	}
	f.waitPodGone(pod)
}

func TestTransferJobCancelBeforePod(t *testing.T) {
	f := newJobFixture(t, fixtureOptions{})
	tj := f.createJob("cancel-early", 1, func(tj *transferv1.TransferJob) {
		tj.Spec.Cancel, tj.Spec.CancelReason = true, "cancelled before pickup"
	})
	f.waitPhase(tj.Name, transferv1.JobCancelled)
	if pods := f.listPods(); len(pods) != 0 {
		t.Errorf("namespace has %d pods, want none for a job cancelled before it started", len(pods))
	}
}

func TestTransferJobCancelWhileRunning(t *testing.T) {
	f := newJobFixture(t, fixtureOptions{})
	tj := f.createJob("cancel-running", 1, nil)
	pod := f.waitPod(tj)
	f.setPodStatus(pod, runningStatus(time.Now()))
	f.waitPhase(tj.Name, transferv1.JobRunning)

	cancelJob(t, f, tj.Name, "superseded by a newer run")
	got := f.waitPhase(tj.Name, transferv1.JobCancelled)
	if got.Status.StartTime == nil {
		t.Errorf("startTime not kept after cancellation")
	}
	f.waitPodGone(pod)
}

func cancelJob(t *testing.T, f *jobFixture, name, reason string) {
	t.Helper()
	patch := []byte(fmt.Sprintf(`{"spec":{"cancel":true,"cancelReason":%q}}`, reason))
	tj := &transferv1.TransferJob{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns}}
	if err := f.c.Patch(f.ctx, tj, client.RawPatch(types.MergePatchType, patch)); err != nil {
		t.Fatalf("failed to cancel TransferJob %s: %v", name, err)
	}
}

func TestTransferJobReportsToControlPlane(t *testing.T) {
	f := newJobFixture(t, fixtureOptions{controlPlane: true})
	assignment := f.assign()
	tj := f.createJob(assignment.JobID, assignment.Epoch, nil)
	pod := f.waitPod(tj)

	f.setPodStatus(pod, runningStatus(time.Now().Truncate(time.Second)))
	f.waitCondition(tj.Name, transferv1.JobConditionReported, metav1.ConditionFalse)
	f.cp.WaitJobState(t, assignment.JobID, protocol.StateRunning, waitTimeout)

	// The engine sends its result with the job token before it exits.
	engine := f.cp.RunnerClient(t, assignment.JobToken)
	err := engine.SendResult(f.ctx, assignment.JobID, protocol.ResultRequest{Epoch: assignment.Epoch, Succeeded: true, Rows: 1200, Bytes: 56000, DurationSeconds: 4.2})
	if err != nil {
		t.Fatalf("failed to send the engine result: %v", err)
	}
	f.setPodStatus(pod, terminatedStatus(corev1.PodSucceeded, corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed", Message: engineSummaryJSON}))

	got := f.waitCondition(tj.Name, transferv1.JobConditionReported, metav1.ConditionTrue)
	if got.Status.Phase != transferv1.JobSucceeded {
		t.Errorf("phase = %s, want Succeeded", got.Status.Phase)
	}
	if reason := reportedReason(got); reason != transferv1.JobReasonAcknowledged {
		t.Errorf("Reported reason = %s, want %s", reason, transferv1.JobReasonAcknowledged)
	}
	job := f.cp.WaitJobState(t, assignment.JobID, protocol.StateSucceeded, waitTimeout)
	if job.Rows != 1200 {
		t.Errorf("control plane rows = %d, want 1200", job.Rows)
	}
}

func TestTransferJobReportRetriedWhileControlPlaneDown(t *testing.T) {
	f := newJobFixture(t, fixtureOptions{controlPlane: true})
	assignment := f.assign()
	tj := f.createJob(assignment.JobID, assignment.Epoch, nil)
	pod := f.waitPod(tj)
	f.setPodStatus(pod, runningStatus(time.Now().Truncate(time.Second)))
	f.cp.WaitJobState(t, assignment.JobID, protocol.StateRunning, waitTimeout)

	f.cp.Stop()
	f.setPodStatus(pod, terminatedStatus(corev1.PodFailed, corev1.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled"}))
	f.waitJob(tj.Name, func(got *transferv1.TransferJob) error {
		cond := meta.FindStatusCondition(got.Status.Conditions, transferv1.JobConditionReported)
		if got.Status.Reason != transferv1.JobReasonOOMKilled || cond == nil || !strings.Contains(cond.Message, "failed, retrying") {
			return fmt.Errorf("reason %q, Reported condition %+v: want OOMKilled and a failed report", got.Status.Reason, cond)
		}
		return nil
	})

	f.cp.Restart()
	got := f.waitCondition(tj.Name, transferv1.JobConditionReported, metav1.ConditionTrue)
	if reason := reportedReason(got); reason != transferv1.JobReasonAcknowledged {
		t.Errorf("Reported reason = %s, want %s", reason, transferv1.JobReasonAcknowledged)
	}
	job := f.cp.WaitJobState(t, assignment.JobID, protocol.StateFailed, waitTimeout)
	if job.Reason != transferv1.JobReasonOOMKilled {
		t.Errorf("control plane reason = %s, want %s", job.Reason, transferv1.JobReasonOOMKilled)
	}
}

func TestTransferJobTTLCleanup(t *testing.T) {
	f := newJobFixture(t, fixtureOptions{
		controlPlane: true,
		runner:       func(r *transferv1.TransferRunner) { r.Spec.TTLSecondsAfterFinished = ptr.To[int32](60) },
	})
	assignment := f.assign()
	tj := f.createJob(assignment.JobID, assignment.Epoch, nil)
	pod := f.waitPod(tj)
	// The TTL counts from the container's end, on the reconciler's clock.
	finished := f.clock.Now().Truncate(time.Second)
	f.setPodStatus(pod, terminatedStatus(corev1.PodFailed, corev1.ContainerStateTerminated{
		ExitCode: 2, Reason: "Error", StartedAt: metav1.NewTime(finished.Add(-time.Minute)), FinishedAt: metav1.NewTime(finished),
	}))
	f.waitCondition(tj.Name, transferv1.JobConditionReported, metav1.ConditionTrue)

	f.poke(tj)
	time.Sleep(200 * time.Millisecond) // lets a premature deletion show up
	f.getJob(tj.Name)

	f.clock.Step(61 * time.Second)
	f.poke(tj)
	eventually(t, waitTimeout, func() error {
		err := f.c.Get(f.ctx, client.ObjectKeyFromObject(tj), &transferv1.TransferJob{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("TransferJob still exists (get error: %v)", err)
	})
	err := f.c.Get(f.ctx, types.NamespacedName{Namespace: f.ns, Name: tj.Spec.TokenSecretName}, &corev1.Secret{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("token Secret after the TTL: get error %v, want NotFound", err)
	}
}

func TestTransferJobTakenOverByNewManager(t *testing.T) {
	f := newJobFixture(t, fixtureOptions{controlPlane: true})
	assignment := f.assign()
	tj := f.createJob(assignment.JobID, assignment.Epoch, nil)
	pod := f.waitPod(tj)
	f.setPodStatus(pod, runningStatus(time.Now().Truncate(time.Second)))
	f.waitPhase(tj.Name, transferv1.JobRunning)

	// The first operator stops; the pod ends while no operator runs.
	f.stopManager()
	f.setPodStatus(pod, terminatedStatus(corev1.PodFailed, corev1.ContainerStateTerminated{ExitCode: 4, Reason: "Error"}))

	f.startManager()
	got := f.waitCondition(tj.Name, transferv1.JobConditionReported, metav1.ConditionTrue)
	if got.Status.Reason != transferv1.JobReasonError {
		t.Errorf("reason = %s, want %s", got.Status.Reason, transferv1.JobReasonError)
	}
	if !strings.Contains(got.Status.Message, "exited with code 4") {
		t.Errorf("message = %q, want the exit code", got.Status.Message)
	}
	job := f.cp.WaitJobState(t, assignment.JobID, protocol.StateFailed, waitTimeout)
	if job.Reason != transferv1.JobReasonError {
		t.Errorf("control plane reason = %s, want %s", job.Reason, transferv1.JobReasonError)
	}
	f.waitPodGone(pod)
	if pods := f.listPods(); len(pods) != 0 {
		t.Errorf("namespace has %d pods after the takeover, want 0", len(pods))
	}
}

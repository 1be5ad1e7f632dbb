package controllers

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"

	transferv1 "github.com/ferryhq/ferry/api/v1alpha1"
)

var testPolicy = podPolicy{imagePullGrace: 30 * time.Second, unschedulableTimeout: 5 * time.Minute}

// terminatedPod returns a pod in phase with the job container terminated.
func terminatedPod(phase corev1.PodPhase, terminated corev1.ContainerStateTerminated) *corev1.Pod {
	return &corev1.Pod{
		Spec: corev1.PodSpec{ActiveDeadlineSeconds: ptr.To[int64](600)},
		Status: corev1.PodStatus{
			Phase: phase,
			ContainerStatuses: []corev1.ContainerStatus{{
				Name:  transferv1.JobContainerName,
				State: corev1.ContainerState{Terminated: &terminated},
			}},
		},
	}
}

func TestObserveFinishedPod(t *testing.T) {
	summary := `{"rows":12,"bytes":3400,"durationSeconds":1.5,"lastRecord":{"id":9},"warnings":["w1"],"exitCode":0,"futureKey":true}`
	tests := []struct {
		name        string
		pod         *corev1.Pod
		wantPhase   transferv1.JobPhase
		wantReason  string
		wantMessage string
		wantRows    int64
		wantBytes   int64
	}{
		{
			name:        "exit 0 with summary",
			pod:         terminatedPod(corev1.PodSucceeded, corev1.ContainerStateTerminated{ExitCode: 0, Message: summary}),
			wantPhase:   transferv1.JobSucceeded,
			wantReason:  transferv1.JobReasonCompleted,
			wantMessage: "moved 12 rows, 3400 bytes; 1 warnings: w1",
			wantRows:    12,
			wantBytes:   3400,
		},
		{
			name:        "exit 0 without summary",
			pod:         terminatedPod(corev1.PodSucceeded, corev1.ContainerStateTerminated{ExitCode: 0}),
			wantPhase:   transferv1.JobFailed,
			wantReason:  transferv1.JobReasonNoSummary,
			wantMessage: "without writing its summary",
		},
		{
			name:        "exit 0 with truncated summary",
			pod:         terminatedPod(corev1.PodSucceeded, corev1.ContainerStateTerminated{ExitCode: 0, Message: `{"rows":12,"by`}),
			wantPhase:   transferv1.JobFailed,
			wantReason:  transferv1.JobReasonNoSummary,
			wantMessage: "without writing its summary",
		},
		{
			name:        "exit 0 with summary lacking rows",
			pod:         terminatedPod(corev1.PodSucceeded, corev1.ContainerStateTerminated{ExitCode: 0, Message: `{"bytes":1}`}),
			wantPhase:   transferv1.JobFailed,
			wantReason:  transferv1.JobReasonNoSummary,
			wantMessage: "without writing its summary",
		},
		{
			name:        "exit 0 with error in summary",
			pod:         terminatedPod(corev1.PodSucceeded, corev1.ContainerStateTerminated{ExitCode: 0, Message: `{"rows":0,"error":"boom"}`}),
			wantPhase:   transferv1.JobFailed,
			wantReason:  transferv1.JobReasonError,
			wantMessage: "boom",
		},
		{
			name:        "exit 3 with summary error",
			pod:         terminatedPod(corev1.PodFailed, corev1.ContainerStateTerminated{ExitCode: 3, Reason: "Error", Message: `{"rows":5,"bytes":7,"error":"duplicate key","exitCode":3}`}),
			wantPhase:   transferv1.JobFailed,
			wantReason:  transferv1.JobReasonError,
			wantMessage: "engine exited with code 3: duplicate key",
			wantRows:    5,
			wantBytes:   7,
		},
		{
			name:        "exit 2 with plain message",
			pod:         terminatedPod(corev1.PodFailed, corev1.ContainerStateTerminated{ExitCode: 2, Message: "panic: nil map\n"}),
			wantPhase:   transferv1.JobFailed,
			wantReason:  transferv1.JobReasonError,
			wantMessage: "engine exited with code 2: panic: nil map",
		},
		{
			name:        "OOMKilled",
			pod:         terminatedPod(corev1.PodFailed, corev1.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled"}),
			wantPhase:   transferv1.JobFailed,
			wantReason:  transferv1.JobReasonOOMKilled,
			wantMessage: "memory limit",
		},
		{
			name: "evicted",
			pod: func() *corev1.Pod {
				p := terminatedPod(corev1.PodFailed, corev1.ContainerStateTerminated{ExitCode: 137})
				p.Status.Reason, p.Status.Message = "Evicted", "The node was low on resource: ephemeral-storage."
				return p
			}(),
			wantPhase:   transferv1.JobFailed,
			wantReason:  transferv1.JobReasonEvicted,
			wantMessage: "low on resource: ephemeral-storage",
		},
		{
			name: "deadline exceeded",
			pod: func() *corev1.Pod {
				p := terminatedPod(corev1.PodFailed, corev1.ContainerStateTerminated{ExitCode: 137})
				p.Status.Reason = "DeadlineExceeded"
				return p
			}(),
			wantPhase:   transferv1.JobFailed,
			wantReason:  transferv1.JobReasonDeadlineExceeded,
			wantMessage: "deadline of 600s",
		},
		{
			name: "preempted",
			pod: func() *corev1.Pod {
				p := terminatedPod(corev1.PodFailed, corev1.ContainerStateTerminated{ExitCode: 143})
				p.Status.Conditions = []corev1.PodCondition{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: "PreemptionByScheduler", Message: "preempted by a higher priority pod"}}
				return p
			}(),
			wantPhase:   transferv1.JobFailed,
			wantReason:  transferv1.JobReasonEvicted,
			wantMessage: "PreemptionByScheduler",
		},
		{
			name: "killed by a pod deletion",
			pod: func() *corev1.Pod {
				p := terminatedPod(corev1.PodFailed, corev1.ContainerStateTerminated{ExitCode: 143, Reason: "Error"})
				p.DeletionTimestamp = ptr.To(metav1.Now())
				return p
			}(),
			wantPhase:   transferv1.JobFailed,
			wantReason:  transferv1.JobReasonPodDeleted,
			wantMessage: "engine exited with code 143",
		},
		{
			name:        "failed without container status",
			pod:         &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodFailed, Reason: "NodeLost", Message: "node went away"}},
			wantPhase:   transferv1.JobFailed,
			wantReason:  transferv1.JobReasonError,
			wantMessage: "NodeLost node went away",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obs := observePod(tt.pod, time.Now(), nil, testPolicy)
			if obs.phase != tt.wantPhase {
				t.Errorf("phase = %s, want %s", obs.phase, tt.wantPhase)
			}
			if obs.reason != tt.wantReason {
				t.Errorf("reason = %s, want %s", obs.reason, tt.wantReason)
			}
			if !strings.Contains(obs.message, tt.wantMessage) {
				t.Errorf("message = %q, want it to contain %q", obs.message, tt.wantMessage)
			}
			if obs.rows != tt.wantRows {
				t.Errorf("rows = %d, want %d", obs.rows, tt.wantRows)
			}
			if obs.bytes != tt.wantBytes {
				t.Errorf("bytes = %d, want %d", obs.bytes, tt.wantBytes)
			}
		})
	}
}

func TestObservePodImagePullGrace(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	pod := &corev1.Pod{Status: corev1.PodStatus{
		Phase: corev1.PodPending,
		ContainerStatuses: []corev1.ContainerStatus{{
			Name:  transferv1.JobContainerName,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: "Back-off pulling image \"nope:1\""}},
		}},
	}}

	first := observePod(pod, now, nil, testPolicy)
	if first.phase != transferv1.JobPending {
		t.Errorf("phase at first sight = %s, want Pending", first.phase)
	}
	if first.waiting == nil || first.waiting.Reason != "ImagePullBackOff" {
		t.Errorf("waiting = %+v, want ImagePullBackOff", first.waiting)
	}
	if first.recheckAfter != 30*time.Second {
		t.Errorf("recheckAfter = %s, want 30s", first.recheckAfter)
	}

	since := now.Add(-10 * time.Second)
	within := observePod(pod, now, &since, testPolicy)
	if within.phase != transferv1.JobPending {
		t.Errorf("phase within grace = %s, want Pending", within.phase)
	}
	if within.recheckAfter != 20*time.Second {
		t.Errorf("recheckAfter within grace = %s, want 20s", within.recheckAfter)
	}

	since = now.Add(-30 * time.Second)
	after := observePod(pod, now, &since, testPolicy)
	if after.phase != transferv1.JobFailed {
		t.Errorf("phase after grace = %s, want Failed", after.phase)
	}
	if after.reason != transferv1.JobReasonImagePullFailed {
		t.Errorf("reason after grace = %s, want %s", after.reason, transferv1.JobReasonImagePullFailed)
	}
	if !strings.Contains(after.message, `nope:1`) {
		t.Errorf("message = %q, want the kubelet's message", after.message)
	}
}

func TestObservePodUnschedulable(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	pod := func(since time.Time) *corev1.Pod {
		return &corev1.Pod{Status: corev1.PodStatus{
			Phase: corev1.PodPending,
			Conditions: []corev1.PodCondition{{
				Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable,
				Message: "0/3 nodes are available: 3 Insufficient memory.", LastTransitionTime: metav1.NewTime(since),
			}},
		}}
	}

	within := observePod(pod(now.Add(-time.Minute)), now, nil, testPolicy)
	if within.phase != transferv1.JobPending {
		t.Errorf("phase within bound = %s, want Pending", within.phase)
	}
	if within.recheckAfter != 4*time.Minute {
		t.Errorf("recheckAfter = %s, want 4m", within.recheckAfter)
	}

	after := observePod(pod(now.Add(-5*time.Minute)), now, nil, testPolicy)
	if after.reason != transferv1.JobReasonUnschedulable {
		t.Errorf("reason = %s, want %s", after.reason, transferv1.JobReasonUnschedulable)
	}
	if !strings.Contains(after.message, "3 Insufficient memory") {
		t.Errorf("message = %q, want the scheduler's message", after.message)
	}
}

func TestObservePodRunning(t *testing.T) {
	started := metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	pod := &corev1.Pod{Status: corev1.PodStatus{
		Phase: corev1.PodRunning,
		ContainerStatuses: []corev1.ContainerStatus{{
			Name:  transferv1.JobContainerName,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: started}},
		}},
	}}
	obs := observePod(pod, started.Add(time.Minute), nil, testPolicy)
	if obs.phase != transferv1.JobRunning {
		t.Errorf("phase = %s, want Running", obs.phase)
	}
	if obs.startTime == nil || !obs.startTime.Equal(&started) {
		t.Errorf("startTime = %v, want %v", obs.startTime, started)
	}
}

func TestJobResourcesCappedByTemplate(t *testing.T) {
	runner := &transferv1.TransferRunner{Spec: transferv1.TransferRunnerSpec{
		JobTemplate: transferv1.JobPodTemplate{Resources: corev1.ResourceRequirements{
			Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi"), corev1.ResourceCPU: resource.MustParse("2")},
		}},
		ResourceClasses: []transferv1.ResourceClass{{
			Name: "large",
			Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("4Gi")},
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("8Gi")},
			},
		}},
	}}

	got, err := jobResources("large", runner)
	if err != nil {
		t.Fatalf("jobResources: %v", err)
	}
	if limit := got.Limits[corev1.ResourceMemory]; limit.String() != "1Gi" {
		t.Errorf("memory limit = %s, want the template's 1Gi", limit.String())
	}
	if limit := got.Limits[corev1.ResourceCPU]; limit.String() != "2" {
		t.Errorf("cpu limit = %s, want the template's 2", limit.String())
	}
	if request := got.Requests[corev1.ResourceMemory]; request.String() != "1Gi" {
		t.Errorf("memory request = %s, want it lowered to the 1Gi limit", request.String())
	}

	_, err = jobResources("huge", runner)
	if err == nil || !strings.Contains(err.Error(), `"huge"`) || !strings.Contains(err.Error(), "large") {
		t.Errorf("error for an unknown class = %v, want it to name the class and the defined ones", err)
	}
}

func TestFoldEvents(t *testing.T) {
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	events := []corev1.Event{
		{Type: corev1.EventTypeWarning, Reason: "BackOff", Message: "Back-off pulling image", Count: 4, LastTimestamp: metav1.NewTime(base.Add(2 * time.Second))},
		{Type: corev1.EventTypeNormal, Reason: "Scheduled", Message: "assigned to node-1", LastTimestamp: metav1.NewTime(base)},
		{Type: corev1.EventTypeWarning, Reason: "Failed", Message: "Failed to pull image: not found", LastTimestamp: metav1.NewTime(base.Add(time.Second))},
	}
	got := foldEvents("image pull failed", events)
	want := "image pull failed; pod events: Failed: Failed to pull image: not found; BackOff: Back-off pulling image (x4)"
	if got != want {
		t.Errorf("foldEvents = %q, want %q", got, want)
	}
	if got := foldEvents("unchanged", nil); got != "unchanged" {
		t.Errorf("foldEvents without events = %q, want the message unchanged", got)
	}
}

func TestTruncateMessage(t *testing.T) {
	long := strings.Repeat("é", maxMessageLength)
	got := truncateMessage(long)
	if len(got) > maxMessageLength {
		t.Errorf("len = %d, want at most %d", len(got), maxMessageLength)
	}
	if !strings.HasSuffix(got, "...") {
		t.Errorf("truncated message does not end with ...")
	}
	if !strings.HasPrefix(got, "é") || strings.ContainsRune(got, '\uFFFD') {
		t.Errorf("truncation split a rune")
	}
}

func TestReportRetryDelay(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		sinceCompletion time.Duration
		want            time.Duration
	}{
		{0, minReportRetryDelay},
		{10 * time.Second, 5 * time.Second},
		{time.Hour, maxReportRetryDelay},
	}
	for _, tt := range tests {
		completion := metav1.NewTime(now.Add(-tt.sinceCompletion))
		if got := reportRetryDelay(now, &completion); got != tt.want {
			t.Errorf("reportRetryDelay after %s = %s, want %s", tt.sinceCompletion, got, tt.want)
		}
	}
}

func TestIsPodRejected(t *testing.T) {
	podResource := schema.GroupResource{Resource: "pods"}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"invalid", apierrors.NewInvalid(schema.GroupKind{Kind: "Pod"}, "job-pod", nil), true},
		{"forbidden by admission", apierrors.NewForbidden(podResource, "job-pod", errors.New("violates PodSecurity \"baseline:latest\": host namespaces")), true},
		{"forbidden by the authorizer", apierrors.NewForbidden(podResource, "", errors.New(`User "ferry" cannot create resource "pods"`)), false},
		{"exceeded quota", apierrors.NewForbidden(podResource, "job-pod", errors.New("exceeded quota: pods, requested: pods=1, used: pods=10, limited: pods=10")), false},
		{"forbidden for another pod", apierrors.NewForbidden(podResource, "other-pod", errors.New("violates PodSecurity")), false},
		{"server timeout", apierrors.NewServerTimeout(podResource, "create", 1), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := isPodRejected(fmt.Errorf("wrapped: %w", tt.err), "job-pod"); got != tt.want {
				t.Errorf("isPodRejected(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

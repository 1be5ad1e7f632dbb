package controllers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	transferv1 "github.com/ferryhq/ferry/api/v1alpha1"
)

// maxMessageLength keeps status.message below the CRD's bound of 4096.
const maxMessageLength = 4000

// maxFoldedEvents is the number of distinct pod warning events kept in a
// status message.
const maxFoldedEvents = 5

// podReasonEvicted and podReasonDeadlineExceeded are the pod status reasons
// the kubelet sets when it evicts a pod and when activeDeadlineSeconds
// passes.
const (
	podReasonEvicted          = "Evicted"
	podReasonDeadlineExceeded = "DeadlineExceeded"
)

// imagePullWaitingReasons are container waiting reasons that fail a job with
// ImagePullFailed once they last longer than the image pull grace period.
var imagePullWaitingReasons = map[string]bool{
	"ErrImagePull":      true,
	"ImagePullBackOff":  true,
	"InvalidImageName":  true,
	"ErrImageNeverPull": true,
}

// createWaitingReasons are container waiting reasons that fail a job with
// Error once they last longer than the same grace period, such as a missing
// token Secret.
var createWaitingReasons = map[string]bool{
	"CreateContainerConfigError": true,
	"CreateContainerError":       true,
}

// podPolicy holds the bounds that turn a waiting pod into a failed job.
type podPolicy struct {
	// imagePullGrace is how long a container may wait on an image pull or
	// container creation error.
	imagePullGrace time.Duration
	// unschedulableTimeout is how long a pod may stay unschedulable.
	unschedulableTimeout time.Duration
}

// podObservation is the job state derived from its pod.
type podObservation struct {
	// phase is Pending, Running or a terminal phase.
	phase transferv1.JobPhase
	// reason and message explain a terminal phase.
	reason  string
	message string
	// startTime is when the container started, if it has.
	startTime *metav1.Time
	// finishTime is when the container ended, if it has.
	finishTime *metav1.Time
	// rows and bytes come from the engine's summary.
	rows, bytes int64
	// waiting is the container's waiting state while it counts against the
	// grace period; nil otherwise.
	waiting *corev1.ContainerStateWaiting
	// recheckAfter is when a grace period ends, if one runs.
	recheckAfter time.Duration
}

// engineSummary is the JSON summary the engine writes to its termination
// message. Unknown keys are ignored.
type engineSummary struct {
	Rows            *int64   `json:"rows"`
	Bytes           *int64   `json:"bytes"`
	DurationSeconds float64  `json:"durationSeconds"`
	Warnings        []string `json:"warnings"`
	Error           string   `json:"error"`
	ExitCode        *int     `json:"exitCode"`
}

// parseSummary decodes the engine's termination message. It returns false
// when the message is not a JSON object with a rows count, which is what a
// crash before the engine's final write leaves behind.
func parseSummary(message string) (engineSummary, bool) {
	var s engineSummary
	trimmed := bytes.TrimSpace([]byte(message))
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return s, false
	}
	if err := json.Unmarshal(trimmed, &s); err != nil || s.Rows == nil {
		return engineSummary{}, false
	}
	return s, true
}

// observePod maps the pod's state to the job's state. waitingSince is when
// the PodWaiting condition turned True, or nil.
func observePod(pod *corev1.Pod, now time.Time, waitingSince *time.Time, policy podPolicy) podObservation {
	container := jobContainerStatus(pod)
	obs := podObservation{phase: transferv1.JobPending}
	if container != nil && container.State.Running != nil {
		obs.startTime = ptrTime(container.State.Running.StartedAt)
	}
	if container != nil && container.State.Terminated != nil {
		obs.startTime = ptrTime(container.State.Terminated.StartedAt)
		obs.finishTime = ptrTime(container.State.Terminated.FinishedAt)
	}
	if obs.startTime == nil && pod.Status.StartTime != nil && pod.Status.Phase != corev1.PodPending {
		obs.startTime = pod.Status.StartTime.DeepCopy()
	}

	switch pod.Status.Phase {
	case corev1.PodSucceeded, corev1.PodFailed:
		observeFinishedPod(pod, container, &obs)
		return obs
	case corev1.PodRunning:
		obs.phase = transferv1.JobRunning
		return obs
	}

	if disrupted := disruptionCondition(pod); disrupted != nil && !pod.DeletionTimestamp.IsZero() {
		obs.phase, obs.reason = transferv1.JobFailed, transferv1.JobReasonEvicted
		obs.message = fmt.Sprintf("pod was disrupted before it finished (%s): %s", disrupted.Reason, disrupted.Message)
		return obs
	}

	if cond := podCondition(pod, corev1.PodScheduled); cond != nil && cond.Status == corev1.ConditionFalse && cond.Reason == corev1.PodReasonUnschedulable {
		waited := now.Sub(cond.LastTransitionTime.Time)
		if waited >= policy.unschedulableTimeout {
			obs.phase, obs.reason = transferv1.JobFailed, transferv1.JobReasonUnschedulable
			obs.message = fmt.Sprintf("pod could not be scheduled for %s: %s", policy.unschedulableTimeout, cond.Message)
			return obs
		}
		obs.recheckAfter = policy.unschedulableTimeout - waited
		return obs
	}

	if container != nil && container.State.Waiting != nil {
		waiting := container.State.Waiting
		if imagePullWaitingReasons[waiting.Reason] || createWaitingReasons[waiting.Reason] {
			obs.waiting = waiting.DeepCopy()
			since := now
			if waitingSince != nil {
				since = *waitingSince
			}
			waited := now.Sub(since)
			if waited < policy.imagePullGrace {
				obs.recheckAfter = policy.imagePullGrace - waited
				return obs
			}
			obs.phase, obs.reason = transferv1.JobFailed, transferv1.JobReasonImagePullFailed
			if createWaitingReasons[waiting.Reason] {
				obs.reason = transferv1.JobReasonError
			}
			obs.message = fmt.Sprintf("container %s for %s: %s", waiting.Reason, waited.Round(time.Second), waiting.Message)
		}
	}
	return obs
}

// observeFinishedPod fills obs for a pod in phase Succeeded or Failed. A pod
// that failed with an exit code after someone deleted it ends PodDeleted,
// because the exit code only reflects the kill.
func observeFinishedPod(pod *corev1.Pod, container *corev1.ContainerStatus, obs *podObservation) {
	observeExit(pod, container, obs)
	if obs.reason == transferv1.JobReasonError && !pod.DeletionTimestamp.IsZero() {
		obs.reason = transferv1.JobReasonPodDeleted
		obs.message = "pod was deleted before it finished; " + obs.message
	}
}

// observeExit fills obs from the pod's status reason and the container's
// exit.
func observeExit(pod *corev1.Pod, container *corev1.ContainerStatus, obs *podObservation) {
	obs.phase = transferv1.JobFailed
	var terminated *corev1.ContainerStateTerminated
	if container != nil {
		terminated = container.State.Terminated
	}
	var summary engineSummary
	hasSummary := false
	if terminated != nil {
		summary, hasSummary = parseSummary(terminated.Message)
	}
	if hasSummary {
		obs.rows = *summary.Rows
		if summary.Bytes != nil {
			obs.bytes = *summary.Bytes
		}
	}

	switch {
	case pod.Status.Reason == podReasonEvicted:
		obs.reason = transferv1.JobReasonEvicted
		obs.message = "pod was evicted: " + pod.Status.Message
	case pod.Status.Reason == podReasonDeadlineExceeded:
		obs.reason = transferv1.JobReasonDeadlineExceeded
		obs.message = fmt.Sprintf("job ran longer than its deadline of %ds and was stopped", ptrValue(pod.Spec.ActiveDeadlineSeconds))
	case terminated != nil && terminated.Reason == "OOMKilled":
		obs.reason = transferv1.JobReasonOOMKilled
		obs.message = "container exceeded its memory limit and was killed"
		if limit := memoryLimit(pod); limit != "" {
			obs.message = fmt.Sprintf("container exceeded its memory limit of %s and was killed; use a larger resource class", limit)
		}
	case disruptionCondition(pod) != nil:
		cond := disruptionCondition(pod)
		obs.reason = transferv1.JobReasonEvicted
		obs.message = fmt.Sprintf("pod was disrupted (%s): %s", cond.Reason, cond.Message)
	case terminated == nil:
		obs.reason = transferv1.JobReasonError
		obs.message = fmt.Sprintf("pod ended in phase %s without a container result", pod.Status.Phase)
		if pod.Status.Reason != "" || pod.Status.Message != "" {
			obs.message += fmt.Sprintf(": %s %s", pod.Status.Reason, pod.Status.Message)
		}
	case terminated.ExitCode == 0 && !hasSummary:
		obs.reason = transferv1.JobReasonNoSummary
		obs.message = "engine exited 0 without writing its summary to the termination message, so the job's outcome is unknown"
	case terminated.ExitCode == 0 && summary.Error != "":
		obs.reason = transferv1.JobReasonError
		obs.message = "engine exited 0 but reported an error: " + summary.Error
	case terminated.ExitCode == 0:
		obs.phase, obs.reason = transferv1.JobSucceeded, transferv1.JobReasonCompleted
		obs.message = fmt.Sprintf("moved %d rows, %d bytes", obs.rows, obs.bytes)
		if len(summary.Warnings) > 0 {
			obs.message += fmt.Sprintf("; %d warnings: %s", len(summary.Warnings), strings.Join(summary.Warnings, "; "))
		}
	default:
		obs.reason = transferv1.JobReasonError
		obs.message = fmt.Sprintf("engine exited with code %d", terminated.ExitCode)
		switch {
		case summary.Error != "":
			obs.message += ": " + summary.Error
		case !hasSummary && strings.TrimSpace(terminated.Message) != "":
			obs.message += ": " + strings.TrimSpace(terminated.Message)
		case terminated.Reason != "" && terminated.Reason != "Error":
			obs.message += " (" + terminated.Reason + ")"
		}
	}
}

// jobContainerStatus returns the status of the job container, or nil.
func jobContainerStatus(pod *corev1.Pod) *corev1.ContainerStatus {
	for i := range pod.Status.ContainerStatuses {
		if pod.Status.ContainerStatuses[i].Name == transferv1.JobContainerName {
			return &pod.Status.ContainerStatuses[i]
		}
	}
	return nil
}

// podCondition returns the pod condition of type t, or nil.
func podCondition(pod *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == t {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
}

// disruptionCondition returns the pod's DisruptionTarget condition when it
// is True: the pod is being stopped by preemption, eviction or node
// shutdown.
func disruptionCondition(pod *corev1.Pod) *corev1.PodCondition {
	cond := podCondition(pod, corev1.DisruptionTarget)
	if cond == nil || cond.Status != corev1.ConditionTrue {
		return nil
	}
	return cond
}

// setCondition sets a condition of tj, stamped with the observed generation
// and, when its status changes, with now.
func setCondition(tj *transferv1.TransferJob, conditionType string, status metav1.ConditionStatus, reason, message string, now time.Time) {
	meta.SetStatusCondition(&tj.Status.Conditions, metav1.Condition{
		Type:               conditionType,
		Status:             status,
		Reason:             reason,
		Message:            truncateMessage(message),
		ObservedGeneration: tj.Generation,
		LastTransitionTime: metav1.NewTime(now),
	})
}

// isConditionTrue reports whether tj has the condition conditionType with
// status True.
func isConditionTrue(tj *transferv1.TransferJob, conditionType string) bool {
	return meta.IsStatusConditionTrue(tj.Status.Conditions, conditionType)
}

// finishJob moves tj to a terminal phase. The job's pod is deleted and the
// state reported to the control plane by later reconciles, which start from
// this status.
func finishJob(tj *transferv1.TransferJob, phase transferv1.JobPhase, reason, message string, finishTime *metav1.Time, now time.Time) {
	completion := metav1.NewTime(now)
	if finishTime != nil && !finishTime.IsZero() {
		completion = *finishTime.DeepCopy()
	}
	tj.Status.Phase = phase
	tj.Status.Reason = reason
	tj.Status.Message = truncateMessage(message)
	tj.Status.CompletionTime = &completion
	if tj.Status.StartTime != nil {
		tj.Status.Duration = completion.Sub(tj.Status.StartTime.Time).Round(time.Second).String()
	} else {
		tj.Status.Duration = "0s"
	}
	meta.RemoveStatusCondition(&tj.Status.Conditions, transferv1.JobConditionPodWaiting)
	setCondition(tj, transferv1.JobConditionComplete, metav1.ConditionTrue, reason, message, now)
	setCondition(tj, transferv1.JobConditionReported, metav1.ConditionFalse, transferv1.JobReasonReportPending, "terminal state not yet reported to the control plane", now)
}

// ignoredEventReasons are reasons of pod warning events that carry no
// information about a job's failure. The kubelet warns MissingClusterDNS on every pod with
// dnsPolicy ClusterFirst when it has no cluster DNS address configured, and
// falls back to the node's resolver, through which job pods still work.
var ignoredEventReasons = map[string]bool{
	"MissingClusterDNS": true,
}

// foldEvents appends the pod's last maxFoldedEvents distinct warning events,
// except those of ignoredEventReasons, to message, oldest first, each once
// with its count, so the status shows what Kubernetes reported.
func foldEvents(message string, events []corev1.Event) string {
	type entry struct {
		text  string
		count int32
		last  time.Time
	}

	var order []string
	byText := map[string]*entry{}
	for _, e := range events {
		if e.Type != corev1.EventTypeWarning || ignoredEventReasons[e.Reason] {
			continue
		}
		text := e.Reason + ": " + strings.TrimSpace(e.Message)
		count := max(e.Count, 1)
		if e.Series != nil {
			count = max(count, e.Series.Count)
		}
		last := eventTime(e)
		if existing, ok := byText[text]; ok {
			existing.count += count
			existing.last = maxTime(existing.last, last)
			continue
		}
		byText[text] = &entry{text: text, count: count, last: last}
		order = append(order, text)
	}

	if len(order) == 0 {
		return message
	}
	entries := make([]*entry, 0, len(order))
	for _, text := range order {
		entries = append(entries, byText[text])
	}
	slices.SortStableFunc(entries, func(a, b *entry) int { return a.last.Compare(b.last) })
	entries = entries[max(0, len(entries)-maxFoldedEvents):]

	parts := make([]string, 0, len(entries))
	for _, e := range entries {
		if e.count > 1 {
			parts = append(parts, fmt.Sprintf("%s (x%d)", e.text, e.count))
		} else {
			parts = append(parts, e.text)
		}
	}
	return message + "; pod events: " + strings.Join(parts, "; ")
}

// eventTime returns the latest time an event records.
func eventTime(e corev1.Event) time.Time {
	t := e.LastTimestamp.Time
	if e.Series != nil {
		t = maxTime(t, e.Series.LastObservedTime.Time)
	}
	return maxTime(t, e.EventTime.Time)
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// truncateMessage shortens s to maxMessageLength bytes on a rune boundary.
func truncateMessage(s string) string {
	if len(s) <= maxMessageLength {
		return s
	}
	cut := maxMessageLength - len("...")
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

func ptrTime(t metav1.Time) *metav1.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func ptrValue[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

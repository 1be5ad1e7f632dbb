// Package controllers contains the operator's reconcilers: the TransferRunner
// reconciler with its control-plane poller, and the TransferJob reconciler
// that runs each job as one pod and reports its fate.
package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	transferv1 "github.com/ferryhq/ferry/api/v1alpha1"
)

// Default bounds of TransferJobReconciler.
const (
	// DefaultImagePullGrace is how long a job container may wait on an
	// image pull error before the job fails with ImagePullFailed. The
	// kubelet retries pulls with backoff, so a brief registry outage passes
	// within it.
	DefaultImagePullGrace = 30 * time.Second
	// DefaultUnschedulableTimeout is how long a job pod may stay
	// unschedulable before the job fails with Unschedulable, long enough
	// for a cluster autoscaler to add a node.
	DefaultUnschedulableTimeout = 5 * time.Minute
	// DefaultDeadlineGrace is added to a job's deadline, counted from pod
	// creation, before the operator itself fails a job the kubelet has not
	// stopped, such as a pod stuck before it starts.
	DefaultDeadlineGrace = 10 * time.Minute
)

// conflictRequeueDelay is how long a reconcile whose status write met a
// newer version of the TransferJob waits before it runs again.
const conflictRequeueDelay = 100 * time.Millisecond

// runnerMissingRecheck is how often a TransferJob whose TransferRunner is
// missing is looked at again.
const runnerMissingRecheck = 30 * time.Second

// TransferJobReconciler runs each TransferJob as exactly one hardened pod,
// records the pod's fate in the TransferJob status, reports the terminal
// state to the control plane until it is acknowledged, and deletes finished
// TransferJobs after their TTL.
type TransferJobReconciler struct {
	client.Client
	// APIReader reads from the API server without the cache: the token
	// Secrets, pod events, and a pod the cache has not seen yet.
	APIReader client.Reader
	// Scheme contains the API types, for owner references.
	Scheme *runtime.Scheme
	// Recorder emits Events on TransferJobs.
	Recorder events.EventRecorder
	// Clock is the time source of grace periods, retries and TTLs. Default:
	// the real clock.
	Clock clock.PassiveClock
	// JobImage is the job image used when a runner's jobTemplate.image is
	// empty.
	JobImage string
	// NewStatusReporter creates the control plane client for reports.
	// Default: NewStatusReporter.
	NewStatusReporter StatusReporterFactory
	// ImagePullGrace defaults to DefaultImagePullGrace.
	ImagePullGrace time.Duration
	// UnschedulableTimeout defaults to DefaultUnschedulableTimeout.
	UnschedulableTimeout time.Duration
	// DeadlineGrace defaults to DefaultDeadlineGrace.
	DeadlineGrace time.Duration
	// MaxConcurrentReconciles defaults to 4.
	MaxConcurrentReconciles int
}

// +kubebuilder:rbac:groups=transfer.ferry.dev,resources=transferjobs,verbs=get;list;watch;delete
// +kubebuilder:rbac:groups=transfer.ferry.dev,resources=transferjobs/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=transfer.ferry.dev,resources=transferrunners,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;delete
// +kubebuilder:rbac:groups="",resources=events,verbs=list
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// jobReconcile is the state of one reconcile of one TransferJob.
type jobReconcile struct {
	// tj is the TransferJob; its status is written once at the end.
	tj *transferv1.TransferJob
	// now is the reconcile's time, read once from the clock.
	now time.Time
	// deleted is true when the reconcile deleted tj, so no status is
	// written.
	deleted bool
	// events are emitted once the status write succeeds.
	events []pendingEvent
	// finished is true when the job became terminal in this reconcile.
	finished bool
	// podCreated is true when this reconcile created the pod.
	podCreated bool
}

// pendingEvent is an Event to emit on the TransferJob.
type pendingEvent struct {
	eventType, reason, action, note string
}

func (rec *jobReconcile) event(eventType, reason, action, note string) {
	rec.events = append(rec.events, pendingEvent{eventType: eventType, reason: reason, action: action, note: note})
}

// Reconcile brings one TransferJob one step closer to done.
func (r *TransferJobReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	tj := &transferv1.TransferJob{}
	if err := r.Get(ctx, req.NamespacedName, tj); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	// A TransferJob being deleted needs nothing: the garbage collector
	// removes its pod and Secret.
	if !tj.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}

	log := logf.FromContext(ctx).WithValues("jobID", tj.Spec.JobID, "epoch", tj.Spec.Epoch)
	ctx = logf.IntoContext(ctx, log)
	original := tj.DeepCopy()
	rec := &jobReconcile{tj: tj, now: r.Clock.Now()}

	result, err := r.reconcileJob(ctx, rec)
	if rec.deleted {
		return result, err
	}
	if writeErr := r.writeStatus(ctx, original, tj); writeErr != nil {
		// A conflict means another writer, usually the poller or an
		// earlier reconcile, changed the TransferJob after the cache
		// served it. The change brings a new reconcile; the requeue only
		// guards against a missed watch event. The next reconcile repeats
		// this one's steps: observe records a pod that already exists as
		// created, and reports are sent again.
		if err == nil && apierrors.IsConflict(writeErr) {
			log.V(1).Info("TransferJob changed during the reconcile; requeueing", "error", writeErr.Error())
			return ctrl.Result{RequeueAfter: conflictRequeueDelay}, nil
		}
		return ctrl.Result{}, errors.Join(err, writeErr)
	}
	r.afterStatusWrite(ctx, rec)
	return result, err
}

// reconcileJob runs the step that the TransferJob's state calls for.
func (r *TransferJobReconciler) reconcileJob(ctx context.Context, rec *jobReconcile) (ctrl.Result, error) {
	tj := rec.tj

	// A finished job needs its pod removed, its state delivered and its TTL
	// honoured; nothing else.
	if tj.Status.Phase.IsTerminal() {
		return r.reconcileFinished(ctx, rec)
	}
	initStatus(tj, rec.now)

	pod, err := r.getPod(ctx, tj)
	if err != nil {
		return ctrl.Result{}, err
	}

	// A cancellation stops the pod, unless the pod has already finished.
	// Then the pod's outcome is kept, because the data has moved.
	if tj.Spec.Cancel && !podFinished(pod) {
		return ctrl.Result{}, r.cancel(ctx, rec, pod)
	}

	runner, err := r.getRunner(ctx, tj)
	if err != nil {
		return ctrl.Result{}, err
	}
	// The runner owns its TransferJobs, so the garbage collector deletes
	// this one soon unless the runner is recreated.
	if runner == nil {
		tj.Status.Message = fmt.Sprintf("waiting for TransferRunner %q, which does not exist", tj.Spec.RunnerRef.Name)
		return ctrl.Result{RequeueAfter: runnerMissingRecheck}, nil
	}

	// A pod that was created and has vanished ends the job: creating a
	// second pod could run the job twice.
	if pod == nil && isConditionTrue(tj, transferv1.JobConditionPodCreated) {
		r.finish(rec, transferv1.JobFailed, transferv1.JobReasonPodDeleted,
			fmt.Sprintf("pod %s was deleted before it finished", transferv1.PodName(tj.Name, tj.Spec.Epoch)), nil)
		return ctrl.Result{}, nil
	}

	if pod == nil {
		return r.startPod(ctx, rec, runner)
	}
	return r.observe(ctx, rec, pod, runner)
}

// reconcileFinished deletes the finished pod, then reports the terminal
// state, then deletes the TransferJob once its TTL has passed.
func (r *TransferJobReconciler) reconcileFinished(ctx context.Context, rec *jobReconcile) (ctrl.Result, error) {
	if err := r.deleteFinishedPod(ctx, rec.tj); err != nil {
		return ctrl.Result{}, err
	}
	if !isConditionTrue(rec.tj, transferv1.JobConditionReported) {
		return r.reportTerminal(ctx, rec)
	}
	return r.expireFinished(ctx, rec)
}

// initStatus fills the status of a TransferJob seen for the first time.
func initStatus(tj *transferv1.TransferJob, now time.Time) {
	if tj.Status.Phase != "" {
		return
	}
	tj.Status.Phase = transferv1.JobPending
	tj.Status.PodName = transferv1.PodName(tj.Name, tj.Spec.Epoch)
	setCondition(tj, transferv1.JobConditionPodCreated, metav1.ConditionFalse, transferv1.JobReasonPodPending, "pod not created yet", now)
	setCondition(tj, transferv1.JobConditionComplete, metav1.ConditionFalse, transferv1.JobReasonInProgress, "job has not finished", now)
	setCondition(tj, transferv1.JobConditionReported, metav1.ConditionFalse, transferv1.JobReasonReportPending, "no state reported yet", now)
}

// startPod creates the job's pod. A job whose resource class the runner does
// not define, or whose pod the API server rejects, fails without a pod.
func (r *TransferJobReconciler) startPod(ctx context.Context, rec *jobReconcile, runner *transferv1.TransferRunner) (ctrl.Result, error) {
	tj := rec.tj
	pod, err := r.createPod(ctx, tj, runner)
	var unknownClass *errUnknownResourceClass
	if errors.As(err, &unknownClass) {
		r.finish(rec, transferv1.JobFailed, transferv1.JobReasonUnknownResourceClass, unknownClass.Error(), nil)
		return ctrl.Result{}, nil
	}
	var rejected *errPodRejected
	if errors.As(err, &rejected) {
		message := fmt.Sprintf("the API server rejected pod %s: %s; check spec.jobTemplate of TransferRunner %s and the namespace's admission policies",
			tj.Status.PodName, rejected.Error(), runner.Name)
		r.finish(rec, transferv1.JobFailed, transferv1.JobReasonInvalidPodSpec, message, nil)
		return ctrl.Result{}, nil
	}
	if err != nil {
		return ctrl.Result{}, err
	}

	tj.Status.PodName = pod.Name
	tj.Status.Message = ""
	setCondition(tj, transferv1.JobConditionPodCreated, metav1.ConditionTrue, transferv1.JobReasonPodCreated,
		fmt.Sprintf("created pod %s", pod.Name), rec.now)
	rec.podCreated = true
	rec.event(corev1.EventTypeNormal, transferv1.JobReasonPodCreated, "CreatePod", fmt.Sprintf("Created pod %s", pod.Name))
	logf.FromContext(ctx).V(1).Info("Created job pod", "pod", klog.KObj(pod))
	return ctrl.Result{RequeueAfter: r.untilDeadline(tj, runner, rec.now)}, nil
}

// observe records the pod's state in the status, failing the job when the
// pod has waited too long or outlived its deadline.
func (r *TransferJobReconciler) observe(ctx context.Context, rec *jobReconcile, pod *corev1.Pod, runner *transferv1.TransferRunner) (ctrl.Result, error) {
	tj := rec.tj
	var waitingSince *time.Time
	if cond := meta.FindStatusCondition(tj.Status.Conditions, transferv1.JobConditionPodWaiting); cond != nil && cond.Status == metav1.ConditionTrue {
		waitingSince = &cond.LastTransitionTime.Time
	}
	obs := observePod(pod, rec.now, waitingSince, r.policy())

	// The status write that recorded the pod's creation may have been lost
	// to a conflict. Recording it now, with the pod's creation time, keeps
	// the deadline counting from the right moment and makes a later
	// deletion of the pod end the job.
	if !isConditionTrue(tj, transferv1.JobConditionPodCreated) {
		setCondition(tj, transferv1.JobConditionPodCreated, metav1.ConditionTrue, transferv1.JobReasonPodCreated,
			fmt.Sprintf("created pod %s", pod.Name), pod.CreationTimestamp.Time)
	}
	tj.Status.PodName = pod.Name
	if obs.startTime != nil && tj.Status.StartTime == nil {
		tj.Status.StartTime = obs.startTime
	}
	if obs.waiting != nil {
		setCondition(tj, transferv1.JobConditionPodWaiting, metav1.ConditionTrue, obs.waiting.Reason, obs.waiting.Message, rec.now)
	} else {
		meta.RemoveStatusCondition(&tj.Status.Conditions, transferv1.JobConditionPodWaiting)
	}

	if obs.phase.IsTerminal() {
		tj.Status.Rows, tj.Status.Bytes = obs.rows, obs.bytes
		message := obs.message
		if obs.phase == transferv1.JobFailed {
			message = r.withPodEvents(ctx, pod, message)
		}
		r.finish(rec, obs.phase, obs.reason, message, obs.finishTime)
		return ctrl.Result{}, nil
	}

	// The kubelet enforces activeDeadlineSeconds only on a started pod;
	// this bound also ends a pod that never starts.
	untilDeadline := r.untilDeadline(tj, runner, rec.now)
	if untilDeadline <= 0 {
		if err := r.deletePod(ctx, pod); err != nil {
			return ctrl.Result{}, err
		}
		r.finish(rec, transferv1.JobFailed, transferv1.JobReasonDeadlineExceeded,
			r.withPodEvents(ctx, pod, fmt.Sprintf("pod %s did not finish within the job's deadline of %ds plus %s (pod phase %s); the pod was deleted",
				pod.Name, jobDeadlineSeconds(tj, runner), r.DeadlineGrace, pod.Status.Phase)), nil)
		return ctrl.Result{}, nil
	}

	wasRunning := tj.Status.Phase == transferv1.JobRunning
	tj.Status.Phase = obs.phase
	if obs.phase == transferv1.JobRunning && !wasRunning && reportedReason(tj) == transferv1.JobReasonReportPending {
		r.reportRunning(ctx, rec, runner)
	}

	requeue := untilDeadline
	if obs.recheckAfter > 0 {
		requeue = min(requeue, obs.recheckAfter)
	}
	return ctrl.Result{RequeueAfter: requeue}, nil
}

// cancel deletes the pod, if any, and ends the job Cancelled.
func (r *TransferJobReconciler) cancel(ctx context.Context, rec *jobReconcile, pod *corev1.Pod) error {
	if err := r.deletePod(ctx, pod); err != nil {
		return err
	}
	// spec.cancel is set by the runner's poller on the control plane's
	// request, or by hand. Only cancelReason shows which, so the message
	// names no origin.
	message := "cancel requested through spec.cancel without a cancelReason"
	if rec.tj.Spec.CancelReason != "" {
		message = "cancel requested: " + rec.tj.Spec.CancelReason
	}
	if pod == nil {
		message += "; no pod was running"
	}
	r.finish(rec, transferv1.JobCancelled, transferv1.JobReasonCancelled, message, nil)
	return nil
}

// finish moves the job to a terminal phase and queues the matching Event.
func (r *TransferJobReconciler) finish(rec *jobReconcile, phase transferv1.JobPhase, reason, message string, finishTime *metav1.Time) {
	finishJob(rec.tj, phase, reason, message, finishTime, rec.now)
	rec.finished = true
	eventType := corev1.EventTypeWarning
	if phase == transferv1.JobSucceeded {
		eventType = corev1.EventTypeNormal
	}
	rec.event(eventType, reason, "Finish", fmt.Sprintf("Job %s: %s", phase, rec.tj.Status.Message))
}

// deleteFinishedPod deletes the pod of a terminal job, whose outcome the
// status already records. It reads the cache only: a pod the cache does
// not show was already deleted by an earlier reconcile.
func (r *TransferJobReconciler) deleteFinishedPod(ctx context.Context, tj *transferv1.TransferJob) error {
	pod := &corev1.Pod{}
	key := types.NamespacedName{Namespace: tj.Namespace, Name: transferv1.PodName(tj.Name, tj.Spec.Epoch)}
	if err := r.Get(ctx, key, pod); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("failed to get Pod %s: %w", key, err)
	}
	if !metav1.IsControlledBy(pod, tj) {
		return nil
	}
	return r.deletePod(ctx, pod)
}

// getRunner returns the TransferJob's TransferRunner, or nil when it does
// not exist.
func (r *TransferJobReconciler) getRunner(ctx context.Context, tj *transferv1.TransferJob) (*transferv1.TransferRunner, error) {
	runner := &transferv1.TransferRunner{}
	key := types.NamespacedName{Namespace: tj.Namespace, Name: tj.Spec.RunnerRef.Name}
	if err := r.Get(ctx, key, runner); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("failed to get TransferRunner %s: %w", key, err)
	}
	return runner, nil
}

// untilDeadline returns the time left before the operator fails the job
// itself: the job's deadline plus DeadlineGrace, counted from the pod's
// creation, or from now when there is no pod yet.
func (r *TransferJobReconciler) untilDeadline(tj *transferv1.TransferJob, runner *transferv1.TransferRunner, now time.Time) time.Duration {
	start := now
	if cond := meta.FindStatusCondition(tj.Status.Conditions, transferv1.JobConditionPodCreated); cond != nil && cond.Status == metav1.ConditionTrue {
		start = cond.LastTransitionTime.Time
	}
	deadline := time.Duration(jobDeadlineSeconds(tj, runner))*time.Second + r.DeadlineGrace
	return start.Add(deadline).Sub(now)
}

// withPodEvents appends the pod's warning events to message. Failing to
// list them loses only detail, so the error is logged, not returned.
func (r *TransferJobReconciler) withPodEvents(ctx context.Context, pod *corev1.Pod, message string) string {
	list := &corev1.EventList{}
	err := r.APIReader.List(ctx, list, client.InNamespace(pod.Namespace), client.MatchingFieldsSelector{
		Selector: fields.AndSelectors(
			fields.OneTermEqualSelector("involvedObject.name", pod.Name),
			fields.OneTermEqualSelector("involvedObject.uid", string(pod.UID)),
		),
	})
	if err != nil {
		logf.FromContext(ctx).Info("Failed to list the pod's events; the status message omits them", "pod", klog.KObj(pod), "error", err)
		return message
	}
	return foldEvents(message, list.Items)
}

// writeStatus writes tj's status if it changed. The patch carries the
// resourceVersion, so a status computed from a stale cache is rejected and
// the reconcile retried.
func (r *TransferJobReconciler) writeStatus(ctx context.Context, original, tj *transferv1.TransferJob) error {
	tj.Status.ObservedGeneration = tj.Generation
	if equality.Semantic.DeepEqual(original.Status, tj.Status) {
		return nil
	}
	patch := client.MergeFromWithOptions(original, client.MergeFromWithOptimisticLock{})
	if err := r.Status().Patch(ctx, tj, patch); err != nil {
		return fmt.Errorf("failed to update the status of TransferJob %s/%s: %w", tj.Namespace, tj.Name, err)
	}
	return nil
}

// afterStatusWrite emits the reconcile's Events and metrics, which must not
// repeat when a failed status write makes the reconcile run again.
func (r *TransferJobReconciler) afterStatusWrite(ctx context.Context, rec *jobReconcile) {
	tj := rec.tj
	for _, e := range rec.events {
		r.Recorder.Eventf(tj, nil, e.eventType, e.reason, e.action, "%s", truncateNote(e.note))
	}
	if rec.podCreated {
		observePickup(tj, rec.now)
	}
	if rec.finished {
		jobsFinished.WithLabelValues(string(tj.Status.Phase), tj.Status.Reason).Inc()
		logf.FromContext(ctx).Info("Job finished", "phase", tj.Status.Phase, "reason", tj.Status.Reason, "rows", tj.Status.Rows, "bytes", tj.Status.Bytes)
	}
}

// policy returns the reconciler's grace periods.
func (r *TransferJobReconciler) policy() podPolicy {
	return podPolicy{imagePullGrace: r.ImagePullGrace, unschedulableTimeout: r.UnschedulableTimeout}
}

// SetupWithManager fills the reconciler's defaults and registers it with
// mgr, watching TransferJobs and the pods they own.
func (r *TransferJobReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Client == nil {
		r.Client = mgr.GetClient()
	}
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	if r.Scheme == nil {
		r.Scheme = mgr.GetScheme()
	}
	if r.Recorder == nil {
		r.Recorder = mgr.GetEventRecorder("transferjob-controller")
	}
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	if r.NewStatusReporter == nil {
		r.NewStatusReporter = NewStatusReporter
	}
	if r.ImagePullGrace <= 0 {
		r.ImagePullGrace = DefaultImagePullGrace
	}
	if r.UnschedulableTimeout <= 0 {
		r.UnschedulableTimeout = DefaultUnschedulableTimeout
	}
	if r.DeadlineGrace <= 0 {
		r.DeadlineGrace = DefaultDeadlineGrace
	}
	if r.MaxConcurrentReconciles <= 0 {
		r.MaxConcurrentReconciles = 4
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&transferv1.TransferJob{}).
		Owns(&corev1.Pod{}).
		Named("transferjob").
		WithOptions(controller.Options{MaxConcurrentReconciles: r.MaxConcurrentReconciles}).
		Complete(r)
}

// JobPodSelector selects the pods of TransferJobs. A manager's cache should
// hold only these pods: the TransferJob reconciler needs no others.
func JobPodSelector() labels.Selector {
	req, err := labels.NewRequirement(transferv1.LabelTransferJob, selection.Exists, nil)
	if err != nil {
		panic(fmt.Sprintf("invalid job pod selector: %v", err))
	}
	return labels.NewSelector().Add(*req)
}

// podFinished reports whether pod exists and has ended.
func podFinished(pod *corev1.Pod) bool {
	return pod != nil && (pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed)
}

// truncateNote shortens an Event note to the API's limit of 1 KiB.
func truncateNote(note string) string {
	const maxNote = 1024
	if len(note) <= maxNote {
		return note
	}
	cut := maxNote - len("...")
	for cut > 0 && !isRuneStart(note[cut]) {
		cut--
	}
	return note[:cut] + "..."
}

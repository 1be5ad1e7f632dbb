package controllers

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	transferv1 "github.com/ferryhq/ferry/api/v1alpha1"
	"github.com/ferryhq/ferry/protocol"
	cpclient "github.com/ferryhq/ferry/protocol/client"
)

// Bounds of the terminal-state report retries. The delay grows with the
// time since the job finished, so a long outage costs few calls.
const (
	reportTimeout        = 15 * time.Second
	runningReportTimeout = 5 * time.Second
	minReportRetryDelay  = time.Second
	maxReportRetryDelay  = time.Minute
)

// StatusReporter sends job states to a control plane. A
// *cpclient.Client implements it.
type StatusReporter interface {
	// ReportJobStatus reports the state of one job attempt.
	ReportJobStatus(ctx context.Context, runnerID, jobID string, req protocol.JobStatusRequest) (protocol.JobStatusResponse, error)
}

// StatusReporterFactory returns a StatusReporter for the control plane at
// controlPlaneURL that authenticates with token.
type StatusReporterFactory func(controlPlaneURL string, token cpclient.TokenSource) (StatusReporter, error)

// NewStatusReporter returns a protocol client that makes a single attempt
// per call, because the reconciler retries failed reports with its own
// backoff.
func NewStatusReporter(controlPlaneURL string, token cpclient.TokenSource) (StatusReporter, error) {
	return cpclient.New(controlPlaneURL, token,
		cpclient.WithRetry(cpclient.RetryPolicy{MaxAttempts: 1}),
		cpclient.WithUserAgent("ferry-operator"))
}

// reportTerminal delivers the terminal state to the control plane. A 404 or
// 409 answer also ends the retries, because the control plane has moved on
// from this attempt; any other failure is retried with backoff.
func (r *TransferJobReconciler) reportTerminal(ctx context.Context, rec *jobReconcile) (ctrl.Result, error) {
	tj := rec.tj
	log := logf.FromContext(ctx)
	retry := ctrl.Result{RequeueAfter: reportRetryDelay(rec.now, tj.Status.CompletionTime)}

	runner, err := r.getRunner(ctx, tj)
	if err != nil {
		return ctrl.Result{}, err
	}
	if runner == nil {
		setCondition(tj, transferv1.JobConditionReported, metav1.ConditionFalse, transferv1.JobReasonReportPending,
			fmt.Sprintf("TransferRunner %q not found, so the terminal state cannot be reported", tj.Spec.RunnerRef.Name), rec.now)
		return retry, nil
	}

	resp, err := r.sendStatus(ctx, tj, runner, reportTimeout)
	switch {
	case err == nil:
		setCondition(tj, transferv1.JobConditionReported, metav1.ConditionTrue, transferv1.JobReasonAcknowledged,
			fmt.Sprintf("control plane acknowledged phase %s; its job state is %s", tj.Status.Phase, resp.State), rec.now)
		rec.event(corev1.EventTypeNormal, transferv1.JobReasonAcknowledged, "Report",
			fmt.Sprintf("Control plane acknowledged phase %s", tj.Status.Phase))
		return ctrl.Result{}, nil
	case cpclient.IsConflict(err) || cpclient.IsNotFound(err):
		setCondition(tj, transferv1.JobConditionReported, metav1.ConditionTrue, transferv1.JobReasonSuperseded,
			fmt.Sprintf("control plane rejected the report because it has moved on from epoch %d: %v", tj.Spec.Epoch, err), rec.now)
		rec.event(corev1.EventTypeWarning, transferv1.JobReasonSuperseded, "Report",
			fmt.Sprintf("Control plane rejected phase %s for epoch %d: %v", tj.Status.Phase, tj.Spec.Epoch, err))
		return ctrl.Result{}, nil
	default:
		reportFailures.Inc()
		log.Info("Failed to report the terminal state; retrying", "error", err, "phase", tj.Status.Phase, "retryAfter", retry.RequeueAfter)
		setCondition(tj, transferv1.JobConditionReported, metav1.ConditionFalse, transferv1.JobReasonReportPending,
			fmt.Sprintf("report of phase %s failed, retrying: %v", tj.Status.Phase, err), rec.now)
		return retry, nil
	}
}

// reportRunning reports the Running phase to the control plane once. It is
// best effort: the terminal report is what must arrive.
func (r *TransferJobReconciler) reportRunning(ctx context.Context, rec *jobReconcile, runner *transferv1.TransferRunner) {
	_, err := r.sendStatus(ctx, rec.tj, runner, runningReportTimeout)
	if err != nil {
		logf.FromContext(ctx).V(1).Info("Failed to report the Running phase; the terminal report follows later", "error", err)
		return
	}
	setCondition(rec.tj, transferv1.JobConditionReported, metav1.ConditionFalse, transferv1.JobReasonRunningReported,
		"control plane knows the job runs; the terminal state is not reported yet", rec.now)
}

// sendStatus reports tj's current phase with the runner's registration
// token.
func (r *TransferJobReconciler) sendStatus(ctx context.Context, tj *transferv1.TransferJob, runner *transferv1.TransferRunner, timeout time.Duration) (protocol.JobStatusResponse, error) {
	if runner.Status.RunnerID == "" {
		return protocol.JobStatusResponse{}, fmt.Errorf("TransferRunner %s/%s has no runner ID yet because it has not joined the control plane", runner.Namespace, runner.Name)
	}
	reporter, err := r.NewStatusReporter(runner.Spec.ControlPlaneURL, r.registrationToken(runner))
	if err != nil {
		return protocol.JobStatusResponse{}, fmt.Errorf("failed to create a control plane client for TransferRunner %s/%s: %w", runner.Namespace, runner.Name, transferv1.WithoutUserInfo(err))
	}
	req := protocol.JobStatusRequest{
		Epoch:   tj.Spec.Epoch,
		Phase:   protocol.JobPhase(tj.Status.Phase),
		Reason:  tj.Status.Reason,
		Message: tj.Status.Message,
		Rows:    tj.Status.Rows,
		Bytes:   tj.Status.Bytes,
	}
	if tj.Status.StartTime != nil {
		req.StartedAt = &tj.Status.StartTime.Time
	}
	if tj.Status.CompletionTime != nil {
		req.FinishedAt = &tj.Status.CompletionTime.Time
	}

	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := reporter.ReportJobStatus(ctx, runner.Status.RunnerID, tj.Spec.JobID, req)
	if err != nil {
		return resp, fmt.Errorf("failed to report phase %s of job %s to %s: %w", tj.Status.Phase, tj.Spec.JobID,
			transferv1.RedactURL(runner.Spec.ControlPlaneURL), transferv1.WithoutUserInfo(err))
	}
	return resp, nil
}

// registrationToken returns a TokenSource that reads the runner's
// registration token from its Secret at each call, so a rotated token is
// used at once. The Secret is read from the API server, not a cache, so the
// operator keeps no Secret in memory.
func (r *TransferJobReconciler) registrationToken(runner *transferv1.TransferRunner) cpclient.TokenSource {
	ref := runner.Spec.TokenSecretRef
	key := types.NamespacedName{Namespace: runner.Namespace, Name: ref.Name}
	dataKey := ref.Key
	if dataKey == "" {
		dataKey = "token"
	}
	return func(ctx context.Context) (string, error) {
		secret := &corev1.Secret{}
		if err := r.APIReader.Get(ctx, key, secret); err != nil {
			return "", fmt.Errorf("failed to read the registration token Secret %s: %w", key, err)
		}
		token := strings.TrimSpace(string(secret.Data[dataKey]))
		if token == "" {
			return "", fmt.Errorf("registration token Secret %s has no value under key %q; store the cluster registration token there", key, dataKey)
		}
		return token, nil
	}
}

// reportRetryDelay returns the wait before the next report attempt: half
// the time since the job finished, within [minReportRetryDelay,
// maxReportRetryDelay].
func reportRetryDelay(now time.Time, completion *metav1.Time) time.Duration {
	if completion == nil {
		return minReportRetryDelay
	}
	return min(max(now.Sub(completion.Time)/2, minReportRetryDelay), maxReportRetryDelay)
}

// expireFinished deletes a reported TransferJob and its token Secret once
// the runner's ttlSecondsAfterFinished has passed since completion.
func (r *TransferJobReconciler) expireFinished(ctx context.Context, rec *jobReconcile) (ctrl.Result, error) {
	tj := rec.tj
	runner, err := r.getRunner(ctx, tj)
	if err != nil {
		return ctrl.Result{}, err
	}
	ttl := time.Duration(defaultTTLSecondsAfterFinished) * time.Second
	if runner != nil && runner.Spec.TTLSecondsAfterFinished != nil {
		ttl = time.Duration(*runner.Spec.TTLSecondsAfterFinished) * time.Second
	}
	finished := rec.now
	if tj.Status.CompletionTime != nil {
		finished = tj.Status.CompletionTime.Time
	}
	if wait := finished.Add(ttl).Sub(rec.now); wait > 0 {
		return ctrl.Result{RequeueAfter: wait}, nil
	}

	if err := r.deleteTokenSecret(ctx, tj); err != nil {
		return ctrl.Result{}, err
	}
	err = r.Delete(ctx, tj, client.Preconditions{UID: &tj.UID}, client.PropagationPolicy(metav1.DeletePropagationBackground))
	if err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, fmt.Errorf("failed to delete expired TransferJob %s/%s: %w", tj.Namespace, tj.Name, err)
	}
	rec.deleted = true
	logf.FromContext(ctx).Info("Deleted finished TransferJob after its TTL", "ttl", ttl)
	return ctrl.Result{}, nil
}

// deleteTokenSecret deletes the job token Secret if tj owns it. A Secret
// that tj does not own is left alone, because spec.tokenSecretName could
// name any Secret of the namespace.
func (r *TransferJobReconciler) deleteTokenSecret(ctx context.Context, tj *transferv1.TransferJob) error {
	secret := &metav1.PartialObjectMetadata{}
	secret.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	key := types.NamespacedName{Namespace: tj.Namespace, Name: tj.Spec.TokenSecretName}
	if err := r.APIReader.Get(ctx, key, secret); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("failed to get the job token Secret %s: %w", key, err)
	}
	if !isOwnedBy(secret, tj) {
		logf.FromContext(ctx).Info("Kept the job token Secret because the TransferJob does not own it", "secret", key)
		return nil
	}
	err := r.Delete(ctx, secret, client.Preconditions{UID: &secret.UID})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("failed to delete the job token Secret %s: %w", key, err)
	}
	return nil
}

// isOwnedBy reports whether obj has an owner reference to owner.
func isOwnedBy(obj metav1.Object, owner metav1.Object) bool {
	for _, ref := range obj.GetOwnerReferences() {
		if ref.UID == owner.GetUID() {
			return true
		}
	}
	return false
}

// reportedReason returns the reason of tj's Reported condition, or "".
func reportedReason(tj *transferv1.TransferJob) string {
	if cond := meta.FindStatusCondition(tj.Status.Conditions, transferv1.JobConditionReported); cond != nil {
		return cond.Reason
	}
	return ""
}

package runner

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	transferv1 "github.com/ferryhq/ferry/api/v1alpha1"
	"github.com/ferryhq/ferry/controllers/metrics"
	"github.com/ferryhq/ferry/protocol"
)

// AnnotationEpoch is the annotation on a job token Secret that holds the
// attempt (epoch) whose token the Secret contains.
const AnnotationEpoch = "transfer.ferry.dev/epoch"

// nudgeInterval is the least time between two long polls replaced after a
// TransferJob change.
const nudgeInterval = time.Second

// runnerJobs are the TransferJobs of one runner, as listed before a
// heartbeat.
type runnerJobs struct {
	byName map[string]*transferv1.TransferJob
	// unfinished counts jobs not in a terminal phase: each holds a slot.
	unfinished int
	// unreported are the jobs whose Reported condition is not True.
	unreported []protocol.RunnerJob
	byPhase    map[transferv1.JobPhase]int
}

// listJobs reads the runner's TransferJobs from the API server, not the
// cache, so a TransferJob created a moment ago counts against the free slots.
func (p *poller) listJobs(ctx context.Context) (runnerJobs, error) {
	var list transferv1.TransferJobList
	err := p.pollers.apiReader.List(ctx, &list,
		client.InNamespace(p.config.key.Namespace),
		client.MatchingLabels{transferv1.LabelRunner: p.config.key.Name})
	if err != nil {
		return runnerJobs{}, &kubeError{err: fmt.Errorf("failed to list TransferJobs of runner %s: %w", p.config.key, err)}
	}
	jobs := runnerJobs{
		byName:  make(map[string]*transferv1.TransferJob, len(list.Items)),
		byPhase: map[transferv1.JobPhase]int{},
	}
	for i := range list.Items {
		tj := &list.Items[i]
		if tj.Spec.RunnerRef.Name != p.config.key.Name {
			continue
		}
		jobs.byName[tj.Name] = tj
		phase := jobPhase(tj)
		jobs.byPhase[phase]++
		if !phase.IsTerminal() {
			jobs.unfinished++
		}
		if !meta.IsStatusConditionTrue(tj.Status.Conditions, transferv1.JobConditionReported) {
			jobs.unreported = append(jobs.unreported, protocol.RunnerJob{
				JobID: tj.Spec.JobID, Epoch: tj.Spec.Epoch, Phase: protocol.JobPhase(phase),
			})
		}
	}
	sort.Slice(jobs.unreported, func(i, j int) bool { return jobs.unreported[i].JobID < jobs.unreported[j].JobID })
	return jobs, nil
}

// jobPhase returns the phase of tj, Pending before the reconciler set one.
func jobPhase(tj *transferv1.TransferJob) transferv1.JobPhase {
	if tj.Status.Phase == "" {
		return transferv1.JobPending
	}
	return tj.Status.Phase
}

// adoptExisting queues an acknowledgement for every unfinished TransferJob
// found when the poller starts. A previous poller may have created them and
// stopped before its acknowledgement reached the control plane; a repeated
// acknowledgement is harmless.
func (p *poller) adoptExisting(jobs runnerJobs) {
	for _, tj := range jobs.byName {
		if !jobPhase(tj).IsTerminal() && !tj.Spec.Cancel {
			p.pendingAcks[tj.Spec.JobID] = protocol.JobRef{JobID: tj.Spec.JobID, Epoch: tj.Spec.Epoch}
		}
	}
	p.adoptedExisting = true
	if len(jobs.byName) > 0 {
		p.log.Info("Found existing TransferJobs", "transferJobs", len(jobs.byName), "unfinished", jobs.unfinished)
	}
}

// heartbeat sends one heartbeat with the runner's jobs and pending
// acknowledgements, then acts on the assignments and cancellations of the
// response.
func (p *poller) heartbeat(ctx context.Context) error {
	jobs, err := p.listJobs(ctx)
	if err != nil {
		return err
	}
	if !p.adoptedExisting {
		p.adoptExisting(jobs)
	}
	p.recordJobMetrics(jobs)

	maxJobs := int(p.config.spec.MaxConcurrentJobs)
	req := protocol.HeartbeatRequest{
		State:       protocol.RunnerIdle,
		FreeSlots:   max(0, maxJobs-jobs.unfinished),
		Jobs:        jobs.unreported,
		Accepted:    p.sortedAcks(),
		WaitSeconds: int(p.config.pollWait() / time.Second),
	}
	if jobs.unfinished > 0 {
		req.State = protocol.RunnerActive
	}

	clk := p.pollers.clock
	started := clk.Now()
	resp, err := p.sendHeartbeat(ctx, req)
	if errors.Is(err, errNudged) {
		return nil
	}
	if err != nil {
		return &callError{op: "heartbeat", err: err}
	}
	finished := clk.Now()
	metrics.HeartbeatDuration.WithLabelValues(p.config.key.String()).Observe(finished.Sub(started).Seconds())
	p.handle.heartbeatSucceeded(finished)
	for _, ack := range req.Accepted {
		if p.pendingAcks[ack.JobID] == ack {
			delete(p.pendingAcks, ack.JobID)
		}
	}

	if len(resp.Assignments) > 0 {
		metrics.AssignmentsReceived.WithLabelValues(p.config.key.String()).Add(float64(len(resp.Assignments)))
	}
	accepted, firstErr := p.acceptAll(ctx, resp.Assignments, jobs, finished)
	for _, c := range resp.Cancellations {
		if err := p.cancel(ctx, c, jobs); err != nil {
			p.log.Error(err, "Failed to mark TransferJob cancelled; the next heartbeat repeats the cancellation",
				"jobID", c.JobID, "epoch", c.Epoch)
			firstErr = cmpErr(firstErr, err)
		}
	}

	running := jobs.unfinished + accepted
	p.status.setHeartbeat(ctx, running, metav1.NewTime(finished))
	return firstErr
}

func cmpErr(first, next error) error {
	if first != nil {
		return first
	}
	return next
}

// sendHeartbeat sends req, bounded by the long-poll wait plus a slack. When
// req has no free slot, a nudge (a TransferJob change, which may have freed
// one) cancels the long poll so a fresh heartbeat reports the slot. Nothing
// is lost, because the protocol forbids assignments beyond FreeSlots.
func (p *poller) sendHeartbeat(ctx context.Context, req protocol.HeartbeatRequest) (protocol.HeartbeatResponse, error) {
	hbCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	hbCtx, cancelTimeout := context.WithTimeout(hbCtx, p.config.pollWait()+heartbeatSlack)
	defer cancelTimeout()

	if req.FreeSlots == 0 {
		watchDone := make(chan struct{})
		defer close(watchDone)
		go func() {
			select {
			case <-p.handle.nudge:
			case <-watchDone:
				return
			}
			// Wait out nudgeInterval so a burst of TransferJob updates
			// replaces at most one long poll per interval.
			select {
			case <-p.pollers.clock.After(nudgeInterval):
				cancel(errNudged)
			case <-watchDone:
			}
		}()
	}
	resp, err := p.cp.Heartbeat(hbCtx, p.runnerID, req)
	if err != nil && context.Cause(hbCtx) == errNudged && ctx.Err() == nil {
		return resp, errNudged
	}
	return resp, err
}

// sortedAcks returns the pending acknowledgements ordered by job ID.
func (p *poller) sortedAcks() []protocol.JobRef {
	acks := make([]protocol.JobRef, 0, len(p.pendingAcks))
	for _, ack := range p.pendingAcks {
		acks = append(acks, ack)
	}
	sort.Slice(acks, func(i, j int) bool { return acks[i].JobID < acks[j].JobID })
	return acks
}

// recordJobMetrics sets the per-phase job gauges of the runner.
func (p *poller) recordJobMetrics(jobs runnerJobs) {
	runner := p.config.key.String()
	for _, phase := range []transferv1.JobPhase{transferv1.JobPending, transferv1.JobRunning, transferv1.JobSucceeded, transferv1.JobFailed, transferv1.JobCancelled} {
		metrics.Jobs.WithLabelValues(runner, string(phase)).Set(float64(jobs.byPhase[phase]))
	}
}

// acceptWorkers is how many assignments of one heartbeat response a poller
// accepts at once.
const acceptWorkers = 8

// acceptResult is the outcome of accepting one assignment.
type acceptResult struct {
	// ack is set when the assignment's TransferJob exists and is this
	// attempt, so the next heartbeat acknowledges it.
	ack bool
	// created is set when this call created the TransferJob.
	created bool
}

// acceptAll accepts the assignments with up to acceptWorkers at once, queues
// the acknowledgements and returns how many TransferJobs it created and the
// first error.
func (p *poller) acceptAll(ctx context.Context, assignments []protocol.Assignment, jobs runnerJobs, receivedAt time.Time) (created int, firstErr error) {
	results := make([]acceptResult, len(assignments))
	errs := make([]error, len(assignments))
	slots := make(chan struct{}, acceptWorkers)
	var wg sync.WaitGroup
	for i, a := range assignments {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			results[i], errs[i] = p.accept(ctx, a, jobs, receivedAt)
		})
	}
	wg.Wait()

	for i, a := range assignments {
		if errs[i] != nil {
			p.log.Error(errs[i], "Failed to accept assignment; it returns to the queue when its lease ends unless a later attempt succeeds",
				"jobID", a.JobID, "epoch", a.Epoch)
			firstErr = cmpErr(firstErr, errs[i])
		}
		if results[i].ack {
			p.pendingAcks[a.JobID] = protocol.JobRef{JobID: a.JobID, Epoch: a.Epoch}
		}
		if results[i].created {
			created++
		}
	}
	return created, firstErr
}

// accept turns an assignment into a token Secret and a TransferJob. The
// Secret is created first, so it exists before the job's pod does. A repeated
// assignment of an attempt whose TransferJob exists creates nothing and is
// acknowledged again. accept only reads the poller's state, so several run
// at once.
func (p *poller) accept(ctx context.Context, a protocol.Assignment, jobs runnerJobs, receivedAt time.Time) (acceptResult, error) {
	name := transferv1.TransferJobName(a.JobID)
	log := p.log.WithValues("jobID", a.JobID, "epoch", a.Epoch, "transferJob", name)

	existing := jobs.byName[name]
	if existing != nil && existing.Spec.JobID != a.JobID {
		return acceptResult{}, fmt.Errorf("TransferJob %s/%s belongs to job %s, not to assigned job %s", p.config.key.Namespace, name, existing.Spec.JobID, a.JobID)
	}
	if existing != nil {
		switch {
		case existing.Spec.Epoch == a.Epoch:
			log.V(1).Info("Assignment repeated; the TransferJob exists")
			return acceptResult{ack: true}, p.ensureSecretOwner(ctx, existing, nil)
		case existing.Spec.Epoch > a.Epoch:
			log.Info("Ignored assignment of an older attempt", "existingEpoch", existing.Spec.Epoch)
			return acceptResult{}, nil
		default:
			replaced, err := p.replaceOlderAttempt(ctx, existing, a, log)
			if err != nil || !replaced {
				return acceptResult{}, err
			}
		}
	}

	secret, err := p.writeTokenSecret(ctx, name, a)
	if err != nil {
		return acceptResult{}, err
	}
	tj, err := p.createTransferJob(ctx, name, a, receivedAt)
	if apierrors.IsAlreadyExists(err) {
		// Created between the list and now, by a previous poller of this
		// runner: accept it when it is this attempt.
		current := &transferv1.TransferJob{}
		if err := p.pollers.apiReader.Get(ctx, types.NamespacedName{Namespace: p.config.key.Namespace, Name: name}, current); err != nil {
			return acceptResult{}, &kubeError{err: fmt.Errorf("failed to read TransferJob %s/%s: %w", p.config.key.Namespace, name, err)}
		}
		if current.Spec.JobID != a.JobID || current.Spec.Epoch != a.Epoch {
			return acceptResult{}, fmt.Errorf("TransferJob %s/%s exists for job %s attempt %d, not for assigned attempt %d",
				current.Namespace, current.Name, current.Spec.JobID, current.Spec.Epoch, a.Epoch)
		}
		return acceptResult{ack: true}, p.ensureSecretOwner(ctx, current, nil)
	}
	if err != nil {
		return acceptResult{}, &kubeError{err: fmt.Errorf("failed to create TransferJob %s/%s: %w", p.config.key.Namespace, name, err)}
	}
	metrics.PickupLatency.Observe(p.pollers.clock.Since(receivedAt).Seconds())
	log.Info("Accepted assignment", "type", a.Type)
	return acceptResult{ack: true, created: true}, p.ensureSecretOwner(ctx, tj, secret)
}

// replaceOlderAttempt handles an assignment of a newer attempt of a job
// whose TransferJob still holds an older one. A finished TransferJob is
// deleted so the new attempt can take its name. An unfinished one is
// cancelled first and the assignment left unacknowledged: the control plane
// assigns the job again after the lease, by then the old attempt has ended.
// replaced reports whether the name is free now.
func (p *poller) replaceOlderAttempt(ctx context.Context, old *transferv1.TransferJob, a protocol.Assignment, log logr.Logger) (replaced bool, err error) {
	if !jobPhase(old).IsTerminal() {
		log.Info("Cancelling the older attempt of a reassigned job before accepting the new one", "existingEpoch", old.Spec.Epoch)
		reason := fmt.Sprintf("superseded by attempt %d of the job", a.Epoch)
		return false, p.requestCancel(ctx, old, reason)
	}
	// Take the token Secret over before the old TransferJob goes, so the
	// garbage collector does not delete it with its old owner.
	if _, err := p.writeTokenSecret(ctx, old.Name, a); err != nil {
		return false, err
	}
	log.Info("Deleting the finished older attempt of a reassigned job", "existingEpoch", old.Spec.Epoch)
	err = p.pollers.client.Delete(ctx, old, client.Preconditions{UID: &old.UID})
	if err != nil && !apierrors.IsNotFound(err) {
		return false, &kubeError{err: fmt.Errorf("failed to delete TransferJob %s/%s of attempt %d: %w", old.Namespace, old.Name, old.Spec.Epoch, err)}
	}
	return true, nil
}

// jobLabels returns the labels of a job's TransferJob and Secret.
func (p *poller) jobLabels(name, jobID string) map[string]string {
	return map[string]string{
		transferv1.LabelRunner:      p.config.key.Name,
		transferv1.LabelJobID:       transferv1.JobIDLabelValue(jobID),
		transferv1.LabelTransferJob: name,
	}
}

// runnerOwner returns an owner reference to the runner.
func (p *poller) runnerOwner(controller bool) metav1.OwnerReference {
	return metav1.OwnerReference{
		APIVersion:         transferv1.GroupVersion.String(),
		Kind:               "TransferRunner",
		Name:               p.config.key.Name,
		UID:                p.config.uid,
		Controller:         ptr.To(controller),
		BlockOwnerDeletion: ptr.To(true),
	}
}

// writeTokenSecret creates the Secret with the job token of attempt a, or
// updates it when it holds another attempt's token. Until the TransferJob
// exists the runner owns the Secret, so it is collected with the runner if
// the TransferJob is never created.
func (p *poller) writeTokenSecret(ctx context.Context, transferJobName string, a protocol.Assignment) (*corev1.Secret, error) {
	epoch := strconv.FormatInt(a.Epoch, 10)
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:            transferv1.TokenSecretName(transferJobName),
			Namespace:       p.config.key.Namespace,
			Labels:          p.jobLabels(transferJobName, a.JobID),
			Annotations:     map[string]string{AnnotationEpoch: epoch},
			OwnerReferences: []metav1.OwnerReference{p.runnerOwner(false)},
		},
		Type:      corev1.SecretTypeOpaque,
		Immutable: ptr.To(false),
		Data:      map[string][]byte{transferv1.TokenSecretKey: []byte(a.JobToken)},
	}
	err := p.pollers.client.Create(ctx, secret)
	if err == nil {
		return secret, nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return nil, &kubeError{err: fmt.Errorf("failed to create job token Secret %s/%s: %w", secret.Namespace, secret.Name, err)}
	}

	current := &corev1.Secret{}
	if err := p.pollers.apiReader.Get(ctx, client.ObjectKeyFromObject(secret), current); err != nil {
		return nil, &kubeError{err: fmt.Errorf("failed to read job token Secret %s/%s: %w", secret.Namespace, secret.Name, err)}
	}
	if current.Annotations[AnnotationEpoch] == epoch {
		return current, nil
	}
	// The Secret holds an older attempt's token. Its owner becomes the
	// runner again, because the garbage collector deletes it once the old
	// TransferJob is gone.
	current.Labels = secret.Labels
	current.Annotations = secret.Annotations
	current.OwnerReferences = secret.OwnerReferences
	current.Data = secret.Data
	err = p.pollers.client.Update(ctx, current)
	if apierrors.IsNotFound(err) {
		// Collected with the old TransferJob between the read and the update.
		return p.writeTokenSecret(ctx, transferJobName, a)
	}
	if err != nil {
		return nil, &kubeError{err: fmt.Errorf("failed to update job token Secret %s/%s for attempt %d: %w", secret.Namespace, secret.Name, a.Epoch, err)}
	}
	return current, nil
}

// createTransferJob creates the TransferJob of attempt a, owned by the
// runner.
func (p *poller) createTransferJob(ctx context.Context, name string, a protocol.Assignment, receivedAt time.Time) (*transferv1.TransferJob, error) {
	jobType := transferv1.JobTypeTransfer
	if a.Type == protocol.JobPreview {
		jobType = transferv1.JobTypePreview
	}
	tj := &transferv1.TransferJob{
		ObjectMeta: metav1.ObjectMeta{
			Name:            name,
			Namespace:       p.config.key.Namespace,
			Labels:          p.jobLabels(name, a.JobID),
			Annotations:     map[string]string{metrics.AssignedAtAnnotation: receivedAt.UTC().Format(time.RFC3339Nano)},
			OwnerReferences: []metav1.OwnerReference{p.runnerOwner(true)},
		},
		Spec: transferv1.TransferJobSpec{
			RunnerRef:       transferv1.RunnerRef{Name: p.config.key.Name},
			JobID:           a.JobID,
			Epoch:           a.Epoch,
			Type:            jobType,
			ResourceClass:   a.ResourceClass,
			DeadlineSeconds: a.DeadlineSeconds,
			TokenSecretName: transferv1.TokenSecretName(name),
		},
	}
	if err := p.pollers.client.Create(ctx, tj); err != nil {
		return nil, err
	}
	return tj, nil
}

// ensureSecretOwner makes tj the controller owner of its token Secret, so
// the Secret is collected with the TransferJob. secret is the Secret as just
// written, or nil to read it.
func (p *poller) ensureSecretOwner(ctx context.Context, tj *transferv1.TransferJob, secret *corev1.Secret) error {
	key := types.NamespacedName{Namespace: tj.Namespace, Name: tj.Spec.TokenSecretName}
	if secret == nil {
		secret = &corev1.Secret{}
		if err := p.pollers.apiReader.Get(ctx, key, secret); err != nil {
			if apierrors.IsNotFound(err) {
				// Deleted with a finished TransferJob; nothing to own.
				return nil
			}
			return &kubeError{err: fmt.Errorf("failed to read job token Secret %s: %w", key, err)}
		}
	}
	if metav1.IsControlledBy(secret, tj) {
		return nil
	}
	if secret.Annotations[AnnotationEpoch] != strconv.FormatInt(tj.Spec.Epoch, 10) {
		// The Secret holds another attempt's token: leave it to that attempt.
		return nil
	}
	patch := client.MergeFromWithOptions(secret.DeepCopy(), client.MergeFromWithOptimisticLock{})
	secret.OwnerReferences = []metav1.OwnerReference{{
		APIVersion:         transferv1.GroupVersion.String(),
		Kind:               "TransferJob",
		Name:               tj.Name,
		UID:                tj.UID,
		Controller:         ptr.To(true),
		BlockOwnerDeletion: ptr.To(true),
	}}
	if err := p.pollers.client.Patch(ctx, secret, patch); err != nil {
		return &kubeError{err: fmt.Errorf("failed to set TransferJob %s/%s as owner of Secret %s: %w", tj.Namespace, tj.Name, key, err)}
	}
	return nil
}

// cancel marks the TransferJob of a cancelled attempt. A job without a
// TransferJob, a finished one, or one of another attempt needs nothing.
func (p *poller) cancel(ctx context.Context, c protocol.Cancellation, jobs runnerJobs) error {
	tj := jobs.byName[transferv1.TransferJobName(c.JobID)]
	if tj == nil || tj.Spec.JobID != c.JobID || tj.Spec.Epoch != c.Epoch {
		return nil
	}
	if jobPhase(tj).IsTerminal() || tj.Spec.Cancel {
		return nil
	}
	// The reason names the control plane, because the TransferJob's
	// status message shows only the reason, and spec.cancel may also be
	// set by hand.
	reason := "by the control plane"
	if c.Reason != "" {
		reason += " (" + c.Reason + ")"
	}
	p.log.Info("Cancelling TransferJob on request of the control plane", "jobID", c.JobID, "epoch", c.Epoch, "reason", reason)
	return p.requestCancel(ctx, tj, reason)
}

// requestCancel sets spec.cancel and spec.cancelReason on tj; the
// TransferJob reconciler stops the pod.
func (p *poller) requestCancel(ctx context.Context, tj *transferv1.TransferJob, reason string) error {
	if tj.Spec.Cancel {
		return nil
	}
	patch := client.MergeFrom(tj.DeepCopy())
	tj.Spec.Cancel = true
	tj.Spec.CancelReason = reason
	if err := p.pollers.client.Patch(ctx, tj, patch); err != nil && !apierrors.IsNotFound(err) {
		return &kubeError{err: fmt.Errorf("failed to cancel TransferJob %s/%s: %w", tj.Namespace, tj.Name, err)}
	}
	return nil
}

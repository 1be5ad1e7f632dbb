package runner

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	transferv1 "github.com/ferryhq/ferry/api/v1alpha1"
	"github.com/ferryhq/ferry/protocol"
)

// maxConditionMessage bounds condition messages built from errors.
const maxConditionMessage = 1024

// statusWriter keeps the status a poller wants its TransferRunner to show
// and writes it through the API server. A write that changes the state, the
// join result or a condition goes out at once. A write that only moves the
// heartbeat time or the running jobs waits until StatusInterval has passed
// since the previous write.
type statusWriter struct {
	p *poller

	desired transferv1.TransferRunnerStatus
	// written is the status of the last successful write; lastWrite its time.
	written   *transferv1.TransferRunnerStatus
	lastWrite time.Time
}

func newStatusWriter(p *poller) statusWriter {
	return statusWriter{p: p}
}

func (w *statusWriter) setCondition(conditionType string, status metav1.ConditionStatus, reason, message string) {
	if len(message) > maxConditionMessage {
		message = message[:maxConditionMessage] + "..."
	}
	meta.SetStatusCondition(&w.desired.Conditions, metav1.Condition{
		Type:               conditionType,
		Status:             status,
		Reason:             reason,
		Message:            message,
		ObservedGeneration: w.p.config.generation,
	})
}

// setConnecting records the start of a poller.
func (w *statusWriter) setConnecting(ctx context.Context) {
	w.desired.State = transferv1.RunnerConnecting
	w.flush(ctx)
}

// setInvalidURL records a control-plane URL the client rejects.
func (w *statusWriter) setInvalidURL(ctx context.Context, err error) {
	w.desired.State = transferv1.RunnerDisconnected
	w.setCondition(transferv1.RunnerConditionConnected, metav1.ConditionFalse, transferv1.RunnerReasonHeartbeatFailed,
		fmt.Sprintf("spec.controlPlaneURL is invalid: %v; set it to the control plane's http(s)://host[:port] URL", err))
	w.flush(ctx)
}

// setJoined records the join result.
func (w *statusWriter) setJoined(ctx context.Context, resp protocol.JoinResponse) {
	w.desired.RunnerID = resp.RunnerID
	w.desired.ClusterID = resp.ClusterID
	w.desired.ClusterName = resp.ClusterName
	w.setCondition(transferv1.RunnerConditionJoined, metav1.ConditionTrue, transferv1.RunnerReasonJoined,
		fmt.Sprintf("Joined cluster %q as runner %s", resp.ClusterName, resp.RunnerID))
	w.setCondition(transferv1.RunnerConditionAuthorized, metav1.ConditionTrue, transferv1.RunnerReasonTokenAccepted,
		"The control plane accepted the registration token")
	w.flush(ctx)
}

// setHeartbeat records a successful heartbeat.
func (w *statusWriter) setHeartbeat(ctx context.Context, running int, at metav1.Time) {
	w.desired.State = transferv1.RunnerIdle
	if running > 0 {
		w.desired.State = transferv1.RunnerActive
	}
	w.desired.RunningJobs = int32(running)
	w.desired.LastHeartbeatTime = &at
	w.setCondition(transferv1.RunnerConditionConnected, metav1.ConditionTrue, transferv1.RunnerReasonHeartbeatSucceeded,
		"Heartbeats to the control plane succeed")
	w.setCondition(transferv1.RunnerConditionAuthorized, metav1.ConditionTrue, transferv1.RunnerReasonTokenAccepted,
		"The control plane accepted the registration token")
	w.flush(ctx)
}

// setTokenRejected records a 401 or 403 to the registration token.
func (w *statusWriter) setTokenRejected(ctx context.Context, err error) {
	ref := w.p.config.spec.TokenSecretRef
	w.desired.State = transferv1.RunnerUnauthorized
	w.setCondition(transferv1.RunnerConditionAuthorized, metav1.ConditionFalse, transferv1.RunnerReasonTokenRejected,
		fmt.Sprintf("The control plane rejected the registration token in Secret %s (%v); update the Secret with a valid token of the cluster",
			ref.Name, err))
	if w.desired.RunnerID == "" {
		w.setCondition(transferv1.RunnerConditionJoined, metav1.ConditionFalse, transferv1.RunnerReasonJoinFailed, err.Error())
	}
	w.flush(ctx)
}

// setTokenSecretInvalid records a token Secret that cannot be used.
func (w *statusWriter) setTokenSecretInvalid(ctx context.Context, err *tokenSecretError) {
	w.desired.State = transferv1.RunnerUnauthorized
	w.setCondition(transferv1.RunnerConditionAuthorized, metav1.ConditionFalse, transferv1.RunnerReasonTokenSecretInvalid, capitalize(err.Error()))
	w.flush(ctx)
}

// setDisconnected records consecutive failures to reach the control plane.
func (w *statusWriter) setDisconnected(ctx context.Context, err error, failures int) {
	w.desired.State = transferv1.RunnerDisconnected
	w.setCondition(transferv1.RunnerConditionConnected, metav1.ConditionFalse, transferv1.RunnerReasonHeartbeatFailed,
		fmt.Sprintf("%d consecutive calls to the control plane failed, the last with: %v", failures, err))
	var call *callError
	if errors.As(err, &call) && call.op == "join" {
		w.setCondition(transferv1.RunnerConditionJoined, metav1.ConditionFalse, transferv1.RunnerReasonJoinFailed, err.Error())
	}
	w.flush(ctx)
}

// significant reports whether the desired status differs from the written
// one in more than the heartbeat time and running jobs.
func (w *statusWriter) significant() bool {
	if w.written == nil {
		return true
	}
	d, o := &w.desired, w.written
	if d.State != o.State || d.RunnerID != o.RunnerID || d.ClusterID != o.ClusterID || d.ClusterName != o.ClusterName {
		return true
	}
	if len(d.Conditions) != len(o.Conditions) {
		return true
	}
	for _, c := range d.Conditions {
		old := meta.FindStatusCondition(o.Conditions, c.Type)
		if old == nil || old.Status != c.Status || old.Reason != c.Reason || old.Message != c.Message || old.ObservedGeneration != c.ObservedGeneration {
			return true
		}
	}
	return false
}

// flush writes the desired status unless the write is throttled. A failed
// write is logged and retried with the next change: the poller goes on.
func (w *statusWriter) flush(ctx context.Context) {
	now := w.p.pollers.clock.Now()
	if !w.significant() {
		if w.written.RunningJobs == w.desired.RunningJobs && !w.heartbeatMoved() {
			return
		}
		if now.Sub(w.lastWrite) < w.p.pollers.options.StatusInterval {
			return
		}
	}
	if err := w.write(ctx); err != nil {
		if ctx.Err() == nil {
			w.p.log.Error(err, "Failed to write TransferRunner status; retrying with the next change")
		}
		return
	}
	written := *w.desired.DeepCopy()
	w.written = &written
	w.lastWrite = now
}

func (w *statusWriter) heartbeatMoved() bool {
	a, b := w.desired.LastHeartbeatTime, w.written.LastHeartbeatTime
	if a == nil || b == nil {
		return a != b
	}
	return !a.Equal(b)
}

// write patches the runner's status from desired, rereading the runner on a
// conflict.
func (w *statusWriter) write(ctx context.Context) error {
	key := w.p.config.key
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		runner := &transferv1.TransferRunner{}
		if err := w.p.pollers.apiReader.Get(ctx, key, runner); err != nil {
			if apierrors.IsNotFound(err) {
				return nil // Deleted: the reconciler stops this poller.
			}
			return fmt.Errorf("failed to read TransferRunner %s: %w", key, err)
		}
		if runner.UID != w.p.config.uid {
			return nil // Replaced by a new runner of the same name.
		}
		patch := client.MergeFromWithOptions(runner.DeepCopy(), client.MergeFromWithOptimisticLock{})
		st := &runner.Status
		// Until this poller has joined, the previous join result stays: the
		// TransferJob reconciler reports with that runner ID.
		if w.desired.RunnerID != "" {
			st.RunnerID, st.ClusterID, st.ClusterName = w.desired.RunnerID, w.desired.ClusterID, w.desired.ClusterName
		}
		st.State = w.desired.State
		st.RunningJobs = w.desired.RunningJobs
		if w.desired.LastHeartbeatTime != nil {
			st.LastHeartbeatTime = w.desired.LastHeartbeatTime
		}
		st.ObservedGeneration = w.p.config.generation
		for _, c := range w.desired.Conditions {
			meta.SetStatusCondition(&st.Conditions, c)
		}
		if err := w.p.pollers.client.Status().Patch(ctx, runner, patch); err != nil {
			return fmt.Errorf("failed to patch status of TransferRunner %s: %w", key, err)
		}
		return nil
	})
}

// capitalize upper-cases the first letter of s, for condition messages.
func capitalize(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}

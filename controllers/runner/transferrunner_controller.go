package runner

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	transferv1 "github.com/ferryhq/ferry/api/v1alpha1"
)

// TokenSecretIndex is the field index of TransferRunners by the name of
// their token Secret (spec.tokenSecretRef.name).
const TokenSecretIndex = ".spec.tokenSecretRef.name"

// TransferRunnerReconciler keeps one poller running per TransferRunner: it
// starts a poller for a new runner, restarts it when the runner's spec or
// its token Secret changes, and stops it when the runner is deleted. The
// pollers write the runner's status.
type TransferRunnerReconciler struct {
	client.Client
	// Pollers runs the pollers.
	Pollers *Pollers
}

// +kubebuilder:rbac:groups=transfer.ferry.dev,resources=transferrunners,verbs=get;list;watch
// +kubebuilder:rbac:groups=transfer.ferry.dev,resources=transferrunners/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=transfer.ferry.dev,resources=transferjobs,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update;patch

// Reconcile makes the poller of one TransferRunner match the runner.
func (r *TransferRunnerReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	runner := &transferv1.TransferRunner{}
	if err := r.Get(ctx, req.NamespacedName, runner); err != nil {
		if apierrors.IsNotFound(err) {
			r.Pollers.Remove(req.NamespacedName)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("failed to get TransferRunner %s: %w", req.NamespacedName, err)
	}
	// A runner being deleted takes no new work; the garbage collector
	// deletes its TransferJobs after it.
	if !runner.DeletionTimestamp.IsZero() {
		r.Pollers.Remove(req.NamespacedName)
		return ctrl.Result{}, nil
	}

	secretVersion, err := r.tokenSecretVersion(ctx, runner)
	if err != nil {
		return ctrl.Result{}, err
	}
	r.Pollers.Ensure(runnerConfig{
		key:           req.NamespacedName,
		uid:           runner.UID,
		generation:    runner.Generation,
		secretVersion: secretVersion,
		spec:          *runner.Spec.DeepCopy(),
	})
	// The event may be a TransferJob that finished and freed a slot.
	r.Pollers.Nudge(req.NamespacedName)
	logf.FromContext(ctx).V(1).Info("Poller in place", "generation", runner.Generation, "secretResourceVersion", secretVersion)
	return ctrl.Result{}, nil
}

// tokenSecretVersion returns the resourceVersion of the runner's token
// Secret, or "" if the Secret does not exist. The poller reports a missing
// Secret in the runner's status.
func (r *TransferRunnerReconciler) tokenSecretVersion(ctx context.Context, runner *transferv1.TransferRunner) (string, error) {
	secret := &metav1.PartialObjectMetadata{}
	secret.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	key := types.NamespacedName{Namespace: runner.Namespace, Name: runner.Spec.TokenSecretRef.Name}
	if err := r.Get(ctx, key, secret); err != nil {
		if apierrors.IsNotFound(err) {
			return "", nil
		}
		return "", fmt.Errorf("failed to get token Secret %s of TransferRunner %s/%s: %w", key, runner.Namespace, runner.Name, err)
	}
	return secret.ResourceVersion, nil
}

// runnersForSecret maps a Secret to the TransferRunners whose token it holds.
func (r *TransferRunnerReconciler) runnersForSecret(ctx context.Context, secret client.Object) []reconcile.Request {
	var runners transferv1.TransferRunnerList
	if err := r.List(ctx, &runners, client.InNamespace(secret.GetNamespace()), client.MatchingFields{TokenSecretIndex: secret.GetName()}); err != nil {
		logf.FromContext(ctx).Error(err, "Failed to list TransferRunners of token Secret", "secret", client.ObjectKeyFromObject(secret))
		return nil
	}
	requests := make([]reconcile.Request, 0, len(runners.Items))
	for _, runner := range runners.Items {
		requests = append(requests, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&runner)})
	}
	return requests
}

// SetupWithManager registers the reconciler and the pollers with mgr. It
// watches TransferRunners (spec changes and deletions), the metadata of
// Secrets, mapped to the runners that use them, and the TransferJobs the
// runners own.
func (r *TransferRunnerReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Client == nil {
		r.Client = mgr.GetClient()
	}
	if r.Pollers == nil {
		return fmt.Errorf("TransferRunnerReconciler.Pollers is nil; create it with NewPollers")
	}
	if err := mgr.Add(r.Pollers); err != nil {
		return fmt.Errorf("failed to add the pollers to the manager: %w", err)
	}
	err := mgr.GetFieldIndexer().IndexField(context.Background(), &transferv1.TransferRunner{}, TokenSecretIndex,
		func(obj client.Object) []string {
			return []string{obj.(*transferv1.TransferRunner).Spec.TokenSecretRef.Name}
		})
	if err != nil {
		return fmt.Errorf("failed to index TransferRunners by token Secret: %w", err)
	}
	return ctrl.NewControllerManagedBy(mgr).
		// Status writes of the pollers do not change the generation and
		// need no reconcile.
		For(&transferv1.TransferRunner{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Owns(&transferv1.TransferJob{}).
		WatchesMetadata(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.runnersForSecret),
			builder.WithPredicates(predicate.ResourceVersionChangedPredicate{})).
		Named("transferrunner").
		Complete(r)
}

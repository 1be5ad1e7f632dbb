package controllers

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/events"
	testingclock "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	transferv1 "github.com/ferryhq/ferry/api/v1alpha1"
)

func TestTransferJobStatusConflictRequeues(t *testing.T) {
	c := newTestClient(t)
	ns := newTestNamespace(t, c)
	ctx := t.Context()

	runner := validRunner(ns)
	runner.GenerateName, runner.Name = "", "runner"
	if err := c.Create(ctx, runner); err != nil {
		t.Fatalf("failed to create the TransferRunner: %v", err)
	}
	tj := validJob(ns)
	tj.GenerateName, tj.Name = "", "conflict"
	if err := c.Create(ctx, tj); err != nil {
		t.Fatalf("failed to create the TransferJob: %v", err)
	}

	// Another writer changes the TransferJob right after the reconciler
	// reads it, as the poller does when it sets spec.cancel, so the
	// reconciler's status write carries a stale resourceVersion.
	base, err := client.NewWithWatch(envtestConfig(t), client.Options{Scheme: testScheme})
	if err != nil {
		t.Fatalf("failed to create a client: %v", err)
	}
	changeAfterGet := true
	intercepted := interceptor.NewClient(base, interceptor.Funcs{
		Get: func(ctx context.Context, cl client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if err := cl.Get(ctx, key, obj, opts...); err != nil {
				return err
			}
			if _, ok := obj.(*transferv1.TransferJob); ok && changeAfterGet {
				changeAfterGet = false
				other := &transferv1.TransferJob{}
				if err := c.Get(ctx, key, other); err != nil {
					return err
				}
				other.Annotations = map[string]string{"test.ferry.dev/changed": "true"}
				return c.Update(ctx, other)
			}
			return nil
		},
	})

	r := &TransferJobReconciler{
		Client:               intercepted,
		APIReader:            c,
		Scheme:               testScheme,
		Recorder:             events.NewFakeRecorder(10),
		Clock:                testingclock.NewFakeClock(time.Now()),
		JobImage:             "registry.example/ferry:test",
		NewStatusReporter:    NewStatusReporter,
		ImagePullGrace:       DefaultImagePullGrace,
		UnschedulableTimeout: DefaultUnschedulableTimeout,
		DeadlineGrace:        DefaultDeadlineGrace,
	}
	req := ctrl.Request{NamespacedName: client.ObjectKeyFromObject(tj)}

	result, err := r.Reconcile(ctx, req)
	if err != nil {
		t.Fatalf("Reconcile after a status conflict returned error %v, want a quiet requeue", err)
	}
	if result.RequeueAfter <= 0 {
		t.Errorf("RequeueAfter = %s, want a requeue after the conflict", result.RequeueAfter)
	}

	// The next reconcile finds the pod the first one created and records it.
	if _, err := r.Reconcile(ctx, req); err != nil {
		t.Fatalf("second Reconcile failed: %v", err)
	}
	got := &transferv1.TransferJob{}
	if err := c.Get(ctx, req.NamespacedName, got); err != nil {
		t.Fatal(err)
	}
	if !isConditionTrue(got, transferv1.JobConditionPodCreated) {
		t.Errorf("conditions = %+v, want PodCreated=True", got.Status.Conditions)
	}
	pods := &corev1.PodList{}
	if err := c.List(ctx, pods, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != 1 {
		t.Errorf("namespace has %d pods, want 1", len(pods.Items))
	}
}

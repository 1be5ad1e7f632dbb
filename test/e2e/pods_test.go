//go:build cluster

package e2e

import (
	"context"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	transferv1 "github.com/ferryhq/ferry/api/v1alpha1"
)

// podHistory is what a podRecorder saw of one pod, with the local times of the watch events.
type podHistory struct {
	name  string
	jobID string
	// added is when the pod's creation was seen. running stays zero until the pod is seen in
	// phase Running, and finished until the pod ends or is deleted.
	added, running, finished time.Time
}

// podRecorder watches the pods of a namespace for a test and keeps every pod it saw, even
// pods deleted between two looks, which a poll of the pod list would miss.
type podRecorder struct {
	mu         sync.Mutex
	pods       map[types.UID]*podHistory
	order      []types.UID
	maxRunning int
	lastErr    error
}

// recordPods starts a podRecorder on the scenario's namespace until the test ends.
func (s *scenario) recordPods() *podRecorder {
	t := s.t
	t.Helper()
	var list corev1.PodList
	if err := sys.kube.List(bg(t), &list, client.InNamespace(s.namespace)); err != nil {
		t.Fatalf("failed to list pods: %v", err)
	}
	r := &podRecorder{pods: map[types.UID]*podHistory{}}
	for i := range list.Items {
		r.observe(watch.Added, &list.Items[i])
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() {
		cancel()
		<-done
	})
	go func() {
		defer close(done)
		r.watch(ctx, s.namespace, list.ResourceVersion)
	}()
	return r
}

// watch follows pod events from resourceVersion, starting a new watch when one ends.
func (r *podRecorder) watch(ctx context.Context, namespace, resourceVersion string) {
	for ctx.Err() == nil {
		w, err := sys.kube.Watch(ctx, &corev1.PodList{}, client.InNamespace(namespace),
			&client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: resourceVersion, AllowWatchBookmarks: true}})
		if err != nil {
			r.setErr(err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		for event := range w.ResultChan() {
			pod, ok := event.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			resourceVersion = pod.ResourceVersion
			if event.Type != watch.Bookmark {
				r.observe(event.Type, pod)
			}
		}
		w.Stop()
	}
}

func (r *podRecorder) setErr(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lastErr = err
}

func (r *podRecorder) observe(eventType watch.EventType, pod *corev1.Pod) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	h, ok := r.pods[pod.UID]
	if !ok {
		h = &podHistory{name: pod.Name, jobID: pod.Labels[transferv1.LabelJobID], added: now}
		r.pods[pod.UID] = h
		r.order = append(r.order, pod.UID)
	}
	if pod.Status.Phase == corev1.PodRunning && h.running.IsZero() {
		h.running = now
	}
	ended := pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed || eventType == watch.Deleted
	if ended && h.finished.IsZero() {
		h.finished = now
	}
	running := 0
	for _, p := range r.pods {
		if !p.running.IsZero() && p.finished.IsZero() {
			running++
		}
	}
	r.maxRunning = max(r.maxRunning, running)
}

// snapshot returns copies of the recorded pods in the order they were first seen, and the
// most pods seen running at once.
func (r *podRecorder) snapshot() ([]podHistory, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]podHistory, 0, len(r.order))
	for _, uid := range r.order {
		out = append(out, *r.pods[uid])
	}
	return out, r.maxRunning
}

// podsOfJob returns the recorded pods of a control-plane job.
func (r *podRecorder) podsOfJob(jobID string) []podHistory {
	all, _ := r.snapshot()
	var out []podHistory
	for _, p := range all {
		if p.jobID == transferv1.JobIDLabelValue(jobID) {
			out = append(out, p)
		}
	}
	return out
}

// waitRunning waits until n pods are running at the same time, and fails t otherwise.
func (r *podRecorder) waitRunning(t *testing.T, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		_, maxRunning := r.snapshot()
		if maxRunning >= n {
			return
		}
		if time.Now().After(deadline) {
			r.mu.Lock()
			err := r.lastErr
			r.mu.Unlock()
			t.Fatalf("at most %d pods ran at once within %s, want %d (last watch error: %v)", maxRunning, timeout, n, err)
		}
		time.Sleep(pollInterval)
	}
}

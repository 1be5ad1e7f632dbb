package runner

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	transferv1 "github.com/ferryhq/ferry/api/v1alpha1"
	"github.com/ferryhq/ferry/controlplane/cptest"
	"github.com/ferryhq/ferry/protocol"
)

const (
	// burstJobs is the number of jobs queued at once.
	burstJobs = 1000
	// burstRunners × burstSlots slots take the whole burst at once;
	// maxConcurrentJobs is at most 64 per runner.
	burstRunners = 16
	burstSlots   = 64
)

// BenchmarkAssignmentBurst runs the manager binary as a child process
// against envtest and the in-process control plane, and queues burstJobs
// jobs at once for burstRunners runners. It measures the time until every
// job has a TransferJob and a pod, and the manager's peak RSS. The
// TransferJob reconciler creates the pods, and none starts because envtest
// runs no kubelet.
//
//	make bench-operator
func BenchmarkAssignmentBurst(b *testing.B) {
	for range b.N {
		runAssignmentBurst(b)
	}
}

func runAssignmentBurst(b *testing.B) {
	cfg := envtestConfig(b)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	c, err := client.New(cfg, client.Options{Scheme: testScheme})
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()

	// The manager binary and a kubeconfig for it.
	managerBin := filepath.Join(dir, "manager")
	build := exec.Command("go", "build", "-o", managerBin, "../../cmd/manager")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		b.Fatalf("failed to build the manager: %v", err)
	}
	envMu.Lock()
	user, err := testEnv.AddUser(envtest.User{Name: "bench-manager", Groups: []string{"system:masters"}}, nil)
	envMu.Unlock()
	if err != nil {
		b.Fatal(err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		b.Fatal(err)
	}
	kubeconfigPath := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfigPath, kubeconfig, 0o600); err != nil {
		b.Fatal(err)
	}

	// The control plane, a namespace, the token Secret and the runners.
	cp := cptest.Start(b, cptest.WithLogger(discardLogger()))
	cluster, token := cp.CreateCluster(b, "bench")
	config := cp.CreateSQLiteConfig(b, cluster.ID, "bench")
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "bench-"}}
	if err := c.Create(ctx, ns); err != nil {
		b.Fatal(err)
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "registration", Namespace: ns.Name},
		Data:       map[string][]byte{transferv1.TokenSecretKey: []byte(token)},
	}
	if err := c.Create(ctx, secret); err != nil {
		b.Fatal(err)
	}
	for i := range burstRunners {
		runner := &transferv1.TransferRunner{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("runner-%02d", i), Namespace: ns.Name},
			Spec: transferv1.TransferRunnerSpec{
				ControlPlaneURL:   cp.URL,
				TokenSecretRef:    transferv1.SecretKeyRef{Name: secret.Name},
				MaxConcurrentJobs: burstSlots,
			},
		}
		if err := c.Create(ctx, runner); err != nil {
			b.Fatal(err)
		}
	}

	manager := exec.Command(managerBin,
		"--kubeconfig", kubeconfigPath,
		"--metrics-bind-address", "0",
		"--health-probe-bind-address", "0",
		"--job-image", "ferry:bench",
		"--zap-log-level", "error")
	manager.Stdout, manager.Stderr = os.Stderr, os.Stderr
	if err := manager.Start(); err != nil {
		b.Fatalf("failed to start the manager: %v", err)
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = manager.Process.Kill()
			_ = manager.Wait()
		}
	}()
	waitIdle(ctx, b, c, ns.Name)

	b.ResetTimer()
	start := time.Now()
	queueJobs(ctx, b, cp, config.ID)
	queued := time.Since(start)
	toTransferJobs, toPods := waitForObjects(ctx, b, c, ns.Name, start)
	b.StopTimer()

	if err := manager.Process.Signal(syscall.SIGTERM); err != nil {
		b.Fatal(err)
	}
	if err := manager.Wait(); err != nil {
		b.Logf("manager exited with %v", err)
	}
	stopped = true
	peakRSS := float64(manager.ProcessState.SysUsage().(*syscall.Rusage).Maxrss) / 1024 // KiB to MiB

	b.ReportMetric(queued.Seconds(), "s-queue")
	b.ReportMetric(toTransferJobs.Seconds(), "s-to-all-transferjobs")
	b.ReportMetric(toPods.Seconds(), "s-to-all-pods")
	b.ReportMetric(peakRSS, "MiB-peak-rss")
	b.Logf("%d jobs over %d runners: queued in %s, all TransferJobs after %s, all pods after %s, manager peak RSS %.1f MiB",
		burstJobs, burstRunners, queued.Round(time.Millisecond), toTransferJobs.Round(time.Millisecond), toPods.Round(time.Millisecond), peakRSS)
}

// waitIdle waits until every runner of namespace ns is Idle.
func waitIdle(ctx context.Context, b *testing.B, c client.Client, ns string) {
	for {
		var runners transferv1.TransferRunnerList
		if err := c.List(ctx, &runners, client.InNamespace(ns)); err != nil {
			b.Fatal(err)
		}
		idle := 0
		for _, r := range runners.Items {
			if r.Status.State == transferv1.RunnerIdle {
				idle++
			}
		}
		if idle == burstRunners {
			return
		}
		select {
		case <-ctx.Done():
			b.Fatalf("only %d of %d runners became Idle", idle, burstRunners)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// queueJobs queues burstJobs jobs from 8 goroutines.
func queueJobs(ctx context.Context, b *testing.B, cp *cptest.Env, configID string) {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			for next.Add(1) <= burstJobs {
				if _, err := cp.Admin.RunJob(ctx, configID, protocol.JobTransfer); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatalf("failed to queue a job: %v", err)
	}
}

// waitForObjects polls until burstJobs TransferJobs and pods exist in ns and
// returns the time from start to each.
func waitForObjects(ctx context.Context, b *testing.B, c client.Client, ns string, start time.Time) (toTransferJobs, toPods time.Duration) {
	for toTransferJobs == 0 || toPods == 0 {
		if toTransferJobs == 0 {
			var jobs metav1.PartialObjectMetadataList
			jobs.SetGroupVersionKind(transferv1.GroupVersion.WithKind("TransferJobList"))
			if err := c.List(ctx, &jobs, client.InNamespace(ns)); err != nil {
				b.Fatal(err)
			}
			if len(jobs.Items) >= burstJobs {
				toTransferJobs = time.Since(start)
			}
		}
		var pods metav1.PartialObjectMetadataList
		pods.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("PodList"))
		if err := c.List(ctx, &pods, client.InNamespace(ns)); err != nil {
			b.Fatal(err)
		}
		if len(pods.Items) >= burstJobs {
			toPods = time.Since(start)
			if toTransferJobs == 0 {
				toTransferJobs = toPods
			}
		}
		select {
		case <-ctx.Done():
			b.Fatalf("timed out with %d pods", len(pods.Items))
		case <-time.After(100 * time.Millisecond):
		}
	}
	return toTransferJobs, toPods
}

// discardLogger drops the control plane's logs, which would dominate the
// benchmark's output.
func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

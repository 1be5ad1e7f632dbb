package chart

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/ferryhq/ferry/api/v1alpha1"
	"github.com/ferryhq/ferry/controlplane/cptest"
)

var (
	managerOnce sync.Once
	managerPath string
	managerErr  error
)

// managerBinary builds ./cmd/manager once per test binary and returns its path.
func managerBinary(t *testing.T) string {
	t.Helper()
	managerOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ferry-chart-manager-")
		if err != nil {
			managerErr = err
			return
		}
		managerPath = filepath.Join(dir, "manager")
		cmd := exec.Command("go", "build", "-o", managerPath, "./cmd/manager")
		cmd.Dir = repoRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			managerErr = fmt.Errorf("failed to build ./cmd/manager: %w\n%s", err, out)
		}
	})
	if managerErr != nil {
		t.Fatal(managerErr)
	}
	return managerPath
}

// lockedBuffer collects a process's output for failure messages.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestManagerJoinsWithChartRBAC installs the chart's objects in envtest, runs the real manager
// with the rendered Deployment's arguments as the chart's ServiceAccount, and waits for the
// TransferRunner to join a real control plane. It fails when the chart's RBAC misses a
// permission the manager uses at start-up or while joining and heartbeating.
func TestManagerJoinsWithChartRBAC(t *testing.T) {
	cases := []struct {
		name        string
		clusterWide bool
	}{
		{"cluster-wide", true},
		{"namespaced", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			runManagerWithChartRBAC(t, "chart-manager-"+tc.name, tc.clusterWide)
		})
	}
}

func runManagerWithChartRBAC(t *testing.T, namespace string, clusterWide bool) {
	c := apiServer(t)
	ctx := context.Background()
	controlPlane := cptest.Start(t)
	_, token := controlPlane.CreateCluster(t, namespace)

	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}); err != nil {
		t.Fatalf("create namespace %s: %v", namespace, err)
	}
	values := map[string]any{
		// A name of its own, because ClusterRoles are shared with the other tests of envtest.
		"fullnameOverride": namespace,
		"rbac":             map[string]any{"clusterWide": clusterWide},
		"runner": map[string]any{
			"enabled":         true,
			"controlPlaneURL": controlPlane.URL,
			"token":           map[string]any{"value": token},
		},
	}
	out, err := runHelm(t, templateArgsIn(t, namespace, values)...)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeObjects(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, obj := range objs {
		if err := c.Create(ctx, obj); err != nil {
			t.Fatalf("create %s %s: %v", obj.GetKind(), obj.GetName(), err)
		}
	}
	var deploy appsv1.Deployment
	objs.one(t, "Deployment", &deploy)
	container := deploy.Spec.Template.Spec.Containers[0]

	// Authenticate as the chart's ServiceAccount, so only the chart's RBAC applies.
	envMu.Lock()
	user, err := testEnv.AddUser(envtest.User{
		Name:   "system:serviceaccount:" + namespace + ":" + deploy.Spec.Template.Spec.ServiceAccountName,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"},
	}, nil)
	envMu.Unlock()
	if err != nil {
		t.Fatalf("add envtest user: %v", err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	kubeconfigPath := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfigPath, kubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}

	// The rendered arguments, with the listeners moved to free loopback ports and the Lease
	// namespace given explicitly, because outside a pod the manager cannot read its own.
	args := []string{"--kubeconfig=" + kubeconfigPath, "--leader-election-namespace=" + namespace}
	for _, arg := range container.Args {
		switch {
		case strings.HasPrefix(arg, "--metrics-bind-address="):
			args = append(args, "--metrics-bind-address=127.0.0.1:0")
		case strings.HasPrefix(arg, "--health-probe-bind-address="):
			args = append(args, "--health-probe-bind-address=127.0.0.1:0")
		default:
			args = append(args, arg)
		}
	}
	var logs lockedBuffer
	cmd := exec.Command(managerBinary(t), args...)
	cmd.Env = append(os.Environ(), "WATCH_NAMESPACE="+envValue(container, "WATCH_NAMESPACE"), "KUBECONFIG=")
	cmd.Stdout = &logs
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})

	// Wait for the runner to join and heartbeat, or for the manager to exit. The bound only
	// turns a hang into a failure with the manager's log.
	key := types.NamespacedName{Namespace: namespace, Name: objs.find("TransferRunner")[0].GetName()}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		var runner v1alpha1.TransferRunner
		if err := c.Get(ctx, key, &runner); err != nil {
			t.Fatalf("get TransferRunner: %v", err)
		}
		if runner.Status.State == v1alpha1.RunnerIdle {
			break
		}
		select {
		case <-exited:
			t.Fatalf("manager exited (%v) before the runner joined; its log:\n%s", waitErr, logs.String())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("TransferRunner state is %q, want Idle; manager log:\n%s", runner.Status.State, logs.String())
		}
	}

	if strings.Contains(logs.String(), "forbidden") {
		t.Errorf("manager log reports forbidden requests; the chart's RBAC misses a permission:\n%s", logs.String())
	}
}

//go:build cluster

// Package e2e runs the whole Ferry system on the local single-node cluster. The reference
// control plane (SQLite store) and the manager run as child processes on the host, job pods
// run the image that `make image` builds, and MariaDB and PostgreSQL servers come from
// internal/testdb. Every address is 127.0.0.1.
//
// TestMain builds the binaries and the image, starts the cluster (hack/cluster-up.sh) once for
// the whole package, and stops it at the end unless FERRY_KEEP_CLUSTER=1. Each test works in
// its own namespace with its own control-plane cluster and TransferRunner; one test installs
// the Helm chart (charts/ferry) in place of the host-process manager. The tests run in
// source order and share the manager and the control plane, which some of them kill and
// restart, so they never run in parallel.
//
// Run them with make test-e2e, as root. Without root every test is skipped.
package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	transferv1 "github.com/ferryhq/ferry/api/v1alpha1"
	"github.com/ferryhq/ferry/controlplane/admin"
	"github.com/ferryhq/ferry/internal/testdb"
)

// jobImage is the tag that `make image` gives the image and that the job pods run.
const jobImage = "ferry:dev"

// system is the running whole: cluster, control plane and manager.
type system struct {
	repoRoot   string
	binDir     string
	workDir    string
	kubeconfig string
	kubectl    string
	// apiserverURL is the local cluster's kube-apiserver, https://127.0.0.1:PORT.
	apiserverURL string
	// clusterStarted records that the suite ran cluster-up, so that stop runs cluster-down.
	clusterStarted bool

	controlPlaneURL string
	adminToken      string
	controlPlane    *process
	manager         *process

	admin *admin.Client
	kube  client.WithWatch
}

var (
	sys *system
	// skipReason, when set, skips every test: the suite cannot run on this machine.
	skipReason string
)

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	if os.Getuid() != 0 {
		skipReason = "the local cluster needs root for the kubelet, containerd and runc"
		return m.Run()
	}
	s, err := startSystem()
	if s != nil {
		defer s.stop()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: failed to start the system: %v\n", err)
		return 1
	}
	sys = s
	return testdb.Main(m)
}

// requireSystem skips t when the suite cannot run here.
func requireSystem(t *testing.T) {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
}

// startSystem builds, starts the cluster, installs the CRDs and starts the control plane and
// the manager. On error it returns what it started so far, for stop.
func startSystem() (*system, error) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp("", "ferry-e2e-")
	if err != nil {
		return nil, fmt.Errorf("failed to create a work directory: %w", err)
	}
	s := &system{repoRoot: root, binDir: filepath.Join(root, "bin"), workDir: work,
		kubeconfig: filepath.Join(root, ".cluster", "kubeconfig")}
	logf("work directory with the logs of the control plane and the manager: %s", work)

	steps := []struct {
		name string
		run  func() error
	}{
		{"check that no demo runs", s.checkNoDemo},
		{"build the binaries, the image and helm", func() error { return s.command("make", "build", "image", "helm") }},
		{"start the local cluster", func() error {
			s.clusterStarted = true
			return s.command("hack/cluster-up.sh")
		}},
		{"import the image", func() error { return s.command("hack/cluster-import.sh", filepath.Join(s.binDir, "ferry-image.tar")) }},
		{"install the CRDs", s.installCRDs},
		{"connect to the cluster", s.connect},
		{"start the control plane", s.startControlPlane},
		{"start the manager", s.startManager},
	}
	for _, step := range steps {
		start := time.Now()
		if err := step.run(); err != nil {
			return s, fmt.Errorf("%s: %w", step.name, err)
		}
		logf("%s: done in %s", step.name, time.Since(start).Round(time.Millisecond))
	}
	return s, nil
}

// stop stops the manager and the control plane, then the cluster unless FERRY_KEEP_CLUSTER=1.
func (s *system) stop() {
	for _, p := range []*process{s.manager, s.controlPlane} {
		if p != nil {
			if err := p.stop(); err != nil {
				logf("%v", err)
			}
		}
	}
	if !s.clusterStarted {
		return
	}
	if os.Getenv("FERRY_KEEP_CLUSTER") == "1" {
		logf("FERRY_KEEP_CLUSTER=1: leaving the cluster running; stop it with make cluster-down")
		return
	}
	if err := s.command("hack/cluster-down.sh"); err != nil {
		logf("failed to stop the cluster: %v", err)
	}
}

// checkNoDemo fails when `make demo` left its manager running: it would reconcile the suite's
// TransferRunners too, because it watches every namespace of the same cluster.
func (s *system) checkNoDemo() error {
	pidText, err := os.ReadFile(filepath.Join(s.repoRoot, ".demo", "pids", "manager.pid"))
	if err != nil {
		return nil
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(pidText)))
	if err != nil || syscall.Kill(pid, 0) != nil {
		return nil
	}
	return fmt.Errorf("the manager of make demo runs (pid %d) and would share the cluster; stop it with make demo-down", pid)
}

// command runs a program from the repository root and returns its output in the error.
func (s *system) command(name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Dir = s.repoRoot
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

func (s *system) installCRDs() error {
	out, err := exec.Command(filepath.Join(s.repoRoot, "hack", "kube-binaries.sh"), "dir").Output()
	if err != nil {
		return fmt.Errorf("failed to locate kubectl: %w", err)
	}
	s.kubectl = filepath.Join(strings.TrimSpace(string(out)), "kubectl")
	if err := s.command(s.kubectl, "--kubeconfig", s.kubeconfig, "apply", "-f", "config/crd/bases"); err != nil {
		return err
	}
	// kubectl wait fails at once while a new CRD has no status yet, so retry it.
	deadline := time.Now().Add(time.Minute)
	for {
		err := s.command(s.kubectl, "--kubeconfig", s.kubeconfig, "wait", "--for", "condition=Established", "--timeout", "10s",
			"crd/transferrunners.transfer.ferry.dev", "crd/transferjobs.transfer.ferry.dev")
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(time.Second)
	}
}

func (s *system) connect() error {
	cfg, err := clientcmd.BuildConfigFromFlags("", s.kubeconfig)
	if err != nil {
		return fmt.Errorf("failed to load %s: %w", s.kubeconfig, err)
	}
	s.apiserverURL = cfg.Host
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		return err
	}
	if err := transferv1.AddToScheme(scheme); err != nil {
		return err
	}
	s.kube, err = client.NewWithWatch(cfg, client.Options{Scheme: scheme})
	return err
}

// startControlPlane runs `controlplane serve` on a free loopback port with a SQLite store, a
// new admin token and a new encryption key.
func (s *system) startControlPlane() error {
	key, err := exec.Command(filepath.Join(s.binDir, "controlplane"), "gen-key").Output()
	if err != nil {
		return fmt.Errorf("controlplane gen-key: %w", err)
	}

	s.adminToken = "ferry_admin_" + randomHex(24)
	keyFile := filepath.Join(s.workDir, "encryption.key")
	tokenFile := filepath.Join(s.workDir, "admin-token")
	if err := os.WriteFile(keyFile, key, 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(tokenFile, []byte(s.adminToken+"\n"), 0o600); err != nil {
		return err
	}

	port, err := freePort()
	if err != nil {
		return err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	s.controlPlaneURL = "http://" + addr
	s.controlPlane = &process{
		name: "controlplane",
		path: filepath.Join(s.binDir, "controlplane"),
		args: []string{"serve", "--listen", addr, "--db", "sqlite://" + filepath.Join(s.workDir, "controlplane.db"),
			"--admin-token-file", tokenFile, "--encryption-key-file", keyFile},
		logPath: filepath.Join(s.workDir, "controlplane.log"),
	}
	if err := s.controlPlane.start(); err != nil {
		return err
	}
	if err := s.waitControlPlane(time.Minute); err != nil {
		return err
	}
	s.admin, err = admin.NewClient(s.controlPlaneURL, s.adminToken)
	return err
}

// waitControlPlane polls the health endpoint until it returns 200 OK.
func (s *system) waitControlPlane(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Get(s.controlPlaneURL + admin.PathHealth)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		if !s.controlPlane.running() {
			return fmt.Errorf("the control plane exited; log %s:\n%s", s.controlPlane.logPath, tailFile(s.controlPlane.logPath))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the control plane at %s is not healthy after %s: %w", s.controlPlaneURL, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// startManager runs the manager on the host against the local cluster. Metrics and health
// probes are off, so that nothing else on the host collides with their ports.
func (s *system) startManager() error {
	s.manager = &process{
		name:    "manager",
		path:    filepath.Join(s.binDir, "manager"),
		args:    []string{"--job-image", jobImage, "--metrics-bind-address", "0", "--health-probe-bind-address", "0"},
		env:     []string{"KUBECONFIG=" + s.kubeconfig},
		logPath: filepath.Join(s.workDir, "manager.log"),
	}
	return s.manager.start()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("failed to find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "e2e: "+format+"\n", args...)
}

// bg returns a context for one call to the cluster or the control plane.
func bg(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

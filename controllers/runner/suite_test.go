package runner

// The envtest suite of the runner package: one kube-apiserver and etcd for
// the whole package, started on first use with the CRDs that controller-gen
// generates into config/crd/bases, and the real control plane in-process
// (controlplane/cptest) as the peer. Each test works in a namespace of its
// own with its own manager and control plane. Tests play the TransferJob
// reconciler's part by writing TransferJob status.
//
// The binaries come from hack/envtest.sh:
//
//	export KUBEBUILDER_ASSETS="$(hack/envtest.sh path)"
//	go test -race ./controllers/runner/

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/go-logr/logr/testr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	transferv1 "github.com/ferryhq/ferry/api/v1alpha1"
	"github.com/ferryhq/ferry/controlplane/cptest"
)

// testScheme contains the built-in types and the transfer.ferry.dev types.
var testScheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(transferv1.AddToScheme(s))
	return s
}()

var (
	envOnce   sync.Once
	envMu     sync.Mutex
	testEnv   *envtest.Environment
	envConfig *rest.Config
	envErr    error
)

func TestMain(m *testing.M) {
	ctrl.SetLogger(logr.Discard())
	code := m.Run()
	envMu.Lock()
	if testEnv != nil {
		if err := testEnv.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "failed to stop envtest: %v\n", err)
		}
	}
	envMu.Unlock()
	os.Exit(code)
}

// envtestConfig starts the shared kube-apiserver on first use and returns a
// client configuration for it.
func envtestConfig(t testing.TB) *rest.Config {
	t.Helper()
	envOnce.Do(func() {
		if os.Getenv("KUBEBUILDER_ASSETS") == "" {
			envErr = errors.New(`KUBEBUILDER_ASSETS is not set; run: export KUBEBUILDER_ASSETS="$(hack/envtest.sh path)"`)
			return
		}
		env := &envtest.Environment{
			CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases")},
			ErrorIfCRDPathMissing: true,
		}
		envConfig, envErr = env.Start()
		envMu.Lock()
		testEnv = env
		envMu.Unlock()
	})
	if envErr != nil {
		t.Fatalf("failed to start envtest: %v", envErr)
	}
	return rest.CopyConfig(envConfig)
}

// testOptions make pollers retry fast, so failure tests take seconds.
var testOptions = Options{
	Version:                   "test",
	RetryInitialInterval:      50 * time.Millisecond,
	RetryMaxInterval:          200 * time.Millisecond,
	UnauthorizedRetryInterval: 200 * time.Millisecond,
	DisconnectedAfter:         2,
	StatusInterval:            100 * time.Millisecond,
	MinHeartbeatInterval:      50 * time.Millisecond,
}

// fixture is one test's namespace, control plane and client.
type fixture struct {
	t      *testing.T
	ctx    context.Context
	ns     string
	c      client.Client
	cp     *cptest.Env
	logs   *logBuffer
	cancel context.CancelFunc
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	c, err := client.New(envtestConfig(t), client.Options{Scheme: testScheme})
	if err != nil {
		t.Fatalf("failed to create a client: %v", err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "runner-"}}
	if err := c.Create(context.Background(), ns); err != nil {
		t.Fatalf("failed to create a namespace: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return &fixture{t: t, ctx: ctx, ns: ns.Name, c: c, cp: cptest.Start(t), logs: &logBuffer{}, cancel: cancel}
}

// testManager is a running manager with the runner reconciler and its pollers.
type testManager struct {
	pollers *Pollers
	stop    func()
}

// startManager starts a manager whose cache contains only the fixture's
// namespace, with the TransferRunner reconciler and pollers using opts.
// The returned stop function stops it, and so does the end of the test.
func (f *fixture) startManager(opts Options) *testManager {
	t := f.t
	t.Helper()
	mgr, err := ctrl.NewManager(envtestConfig(t), ctrl.Options{
		Scheme:                 testScheme,
		Logger:                 testr.NewWithOptions(t, testr.Options{Verbosity: 1}),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  cache.Options{DefaultNamespaces: map[string]cache.Config{f.ns: {}}},
		Client:                 client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Secret{}}}},
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatalf("failed to create a manager: %v", err)
	}
	log := logr.New(newTeeSink(testr.NewWithOptions(t, testr.Options{Verbosity: 1}).GetSink(), f.logs))
	pollers := NewPollers(mgr.GetClient(), mgr.GetAPIReader(), clock.RealClock{}, log, opts)
	if err := (&TransferRunnerReconciler{Pollers: pollers}).SetupWithManager(mgr); err != nil {
		t.Fatalf("failed to set up the reconciler: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("manager stopped with an error: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return &testManager{pollers: pollers, stop: stop}
}

// createRunner creates a cluster in the control plane, the token Secret and
// a TransferRunner named name that uses it, and returns the runner's key
// and the cluster's ID.
func (f *fixture) createRunner(name string, maxJobs int32) (types.NamespacedName, string) {
	t := f.t
	t.Helper()
	cluster, token := f.cp.CreateCluster(t, f.ns+"-"+name)
	f.writeTokenSecret(name+"-token", token)
	runner := &transferv1.TransferRunner{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns},
		Spec: transferv1.TransferRunnerSpec{
			ControlPlaneURL:   f.cp.URL,
			TokenSecretRef:    transferv1.SecretKeyRef{Name: name + "-token"},
			MaxConcurrentJobs: maxJobs,
			PollWaitSeconds:   1,
		},
	}
	if err := f.c.Create(f.ctx, runner); err != nil {
		t.Fatalf("failed to create TransferRunner %s: %v", name, err)
	}
	return client.ObjectKeyFromObject(runner), cluster.ID
}

// writeTokenSecret creates or updates the registration token Secret.
func (f *fixture) writeTokenSecret(name, token string) {
	f.t.Helper()
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns}}
	err := f.c.Get(f.ctx, client.ObjectKeyFromObject(secret), secret)
	secret.Data = map[string][]byte{transferv1.TokenSecretKey: []byte(token)}
	switch {
	case err == nil:
		err = f.c.Update(f.ctx, secret)
	default:
		err = f.c.Create(f.ctx, secret)
	}
	if err != nil {
		f.t.Fatalf("failed to write token Secret %s: %v", name, err)
	}
}

// runner reads a TransferRunner.
func (f *fixture) runner(key types.NamespacedName) *transferv1.TransferRunner {
	f.t.Helper()
	r := &transferv1.TransferRunner{}
	if err := f.c.Get(f.ctx, key, r); err != nil {
		f.t.Fatalf("failed to get TransferRunner %s: %v", key, err)
	}
	return r
}

// waitRunner polls the runner until cond returns true and returns it.
func (f *fixture) waitRunner(key types.NamespacedName, what string, cond func(*transferv1.TransferRunner) bool) *transferv1.TransferRunner {
	f.t.Helper()
	var last *transferv1.TransferRunner
	f.eventually(what, func() bool {
		last = f.runner(key)
		return cond(last)
	}, func() string { return fmt.Sprintf("status: %+v", last.Status) })
	return last
}

// waitState waits for the runner to reach state.
func (f *fixture) waitState(key types.NamespacedName, state transferv1.RunnerState) *transferv1.TransferRunner {
	f.t.Helper()
	return f.waitRunner(key, "runner state "+string(state), func(r *transferv1.TransferRunner) bool {
		return r.Status.State == state
	})
}

// transferJobs lists the TransferJobs of the namespace.
func (f *fixture) transferJobs() []transferv1.TransferJob {
	f.t.Helper()
	var list transferv1.TransferJobList
	if err := f.c.List(f.ctx, &list, client.InNamespace(f.ns)); err != nil {
		f.t.Fatalf("failed to list TransferJobs: %v", err)
	}
	return list.Items
}

// waitTransferJobs waits until the namespace holds n TransferJobs.
func (f *fixture) waitTransferJobs(n int) []transferv1.TransferJob {
	f.t.Helper()
	var jobs []transferv1.TransferJob
	f.eventually(fmt.Sprintf("%d TransferJobs", n), func() bool {
		jobs = f.transferJobs()
		return len(jobs) == n
	}, func() string { return fmt.Sprintf("%d TransferJobs", len(jobs)) })
	return jobs
}

// finishJob plays the TransferJob reconciler: it marks the job Succeeded
// and its terminal state reported.
func (f *fixture) finishJob(tj *transferv1.TransferJob) {
	f.t.Helper()
	tj.Status.Phase = transferv1.JobSucceeded
	tj.Status.Reason = transferv1.JobReasonCompleted
	meta.SetStatusCondition(&tj.Status.Conditions, metav1.Condition{
		Type: transferv1.JobConditionReported, Status: metav1.ConditionTrue, Reason: transferv1.JobReasonAcknowledged,
		Message: "test",
	})
	if err := f.c.Status().Update(f.ctx, tj); err != nil {
		f.t.Fatalf("failed to update status of TransferJob %s: %v", tj.Name, err)
	}
}

// eventually polls cond until it returns true or the fixture's context
// ends; describe explains the last state in the failure.
func (f *fixture) eventually(what string, cond func() bool, describe func() string) {
	f.t.Helper()
	for !cond() {
		select {
		case <-f.ctx.Done():
			f.t.Fatalf("timed out waiting for %s; %s", what, describe())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// logBuffer collects log messages for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) add(line string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.WriteString(line)
	b.buf.WriteByte('\n')
}

func (b *logBuffer) contains(s string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Contains(b.buf.String(), s)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// teeSink sends log entries to a test logger and, formatted by funcr, to a
// logBuffer.
type teeSink struct {
	logr.LogSink
	capture logr.LogSink
}

func newTeeSink(sink logr.LogSink, buf *logBuffer) *teeSink {
	capture := funcr.New(func(prefix, args string) { buf.add(args) }, funcr.Options{Verbosity: 1}).GetSink()
	return &teeSink{LogSink: sink, capture: capture}
}

func (s *teeSink) Info(level int, msg string, kv ...any) {
	s.LogSink.Info(level, msg, kv...)
	s.capture.Info(level, msg, kv...)
}

func (s *teeSink) Error(err error, msg string, kv ...any) {
	s.LogSink.Error(err, msg, kv...)
	s.capture.Error(err, msg, kv...)
}

func (s *teeSink) WithValues(kv ...any) logr.LogSink {
	return &teeSink{LogSink: s.LogSink.WithValues(kv...), capture: s.capture.WithValues(kv...)}
}

func (s *teeSink) WithName(name string) logr.LogSink {
	return &teeSink{LogSink: s.LogSink.WithName(name), capture: s.capture.WithName(name)}
}

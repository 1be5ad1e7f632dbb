package controllers

// The envtest suite: one kube-apiserver and etcd for the whole package,
// started on first use with the CRDs that controller-gen generates into
// config/crd/bases. Each test works in a namespace of its own and starts its
// own manager, whose cache watches only that namespace, so tests do not read
// each other's objects and may use their own fake clocks.
//
// The binaries come from hack/envtest.sh:
//
//	export KUBEBUILDER_ASSETS="$(hack/envtest.sh path)"
//	go test -race ./controllers/...

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/testr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	transferv1 "github.com/ferryhq/ferry/api/v1alpha1"
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
	// Managers log through testr; this silences controller-runtime's
	// warning about the unset global logger.
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

// envtestConfig starts the shared kube-apiserver on first use and returns
// a client configuration for it.
func envtestConfig(t testing.TB) *rest.Config {
	t.Helper()
	envOnce.Do(func() {
		if os.Getenv("KUBEBUILDER_ASSETS") == "" {
			envErr = errors.New(`KUBEBUILDER_ASSETS is not set; run: export KUBEBUILDER_ASSETS="$(hack/envtest.sh path)"`)
			return
		}
		env := &envtest.Environment{
			CRDDirectoryPaths:     []string{filepath.Join("..", "config", "crd", "bases")},
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

// newTestClient returns a client that reads from the API server directly.
func newTestClient(t testing.TB) client.Client {
	t.Helper()
	c, err := client.New(envtestConfig(t), client.Options{Scheme: testScheme})
	if err != nil {
		t.Fatalf("failed to create a client: %v", err)
	}
	return c
}

// newTestNamespace creates a namespace with a generated name for one test.
// envtest runs no namespace controller, so the namespace is not deleted
// afterwards; its name is unique, so later tests are unaffected.
func newTestNamespace(t testing.TB, c client.Client) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "test-"}}
	if err := c.Create(context.Background(), ns); err != nil {
		t.Fatalf("failed to create a namespace: %v", err)
	}
	return ns.Name
}

// startTestManager starts a manager whose cache watches only namespace ns and
// only the pods of TransferJobs, and registers reconcilers with setup. The
// manager stops when stop is called or the test ends, whichever is first.
func startTestManager(t testing.TB, ns string, setup func(mgr ctrl.Manager) error) (mgr ctrl.Manager, stop func()) {
	t.Helper()
	mgr, err := ctrl.NewManager(envtestConfig(t), ctrl.Options{
		Scheme:                 testScheme,
		Logger:                 testr.NewWithInterface(t, testr.Options{Verbosity: 1}),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache: cache.Options{
			DefaultNamespaces: map[string]cache.Config{ns: {}},
			ByObject:          map[client.Object]cache.ByObject{&corev1.Pod{}: {Label: JobPodSelector()}},
		},
		// Every test registers the same controllers in a new manager.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatalf("failed to create a manager: %v", err)
	}
	if err := setup(mgr); err != nil {
		t.Fatalf("failed to set up the manager: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("manager stopped with an error: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		t.Fatal("manager cache did not sync")
	}
	return mgr, stop
}

// eventually calls check until it returns nil or timeout passes, then fails
// the test with check's last error.
func eventually(t testing.TB, timeout time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %s: %v", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

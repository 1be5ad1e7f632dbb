package chart

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/ferryhq/ferry/api/v1alpha1"
)

var (
	envOnce   sync.Once
	envMu     sync.Mutex
	testEnv   *envtest.Environment
	envConfig *rest.Config
	envErr    error
)

func TestMain(m *testing.M) {
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

// apiServer starts envtest's kube-apiserver once, with the chart's own CRDs installed, and
// returns a client for it.
func apiServer(t *testing.T) client.Client {
	t.Helper()
	envOnce.Do(func() {
		if os.Getenv("KUBEBUILDER_ASSETS") == "" {
			envErr = errors.New(`KUBEBUILDER_ASSETS is not set; run: export KUBEBUILDER_ASSETS="$(hack/envtest.sh path)"`)
			return
		}
		env := &envtest.Environment{
			CRDDirectoryPaths:     []string{filepath.Join(chartDir, "crds")},
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
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(rest.CopyConfig(envConfig), client.Options{Scheme: scheme})
	if err != nil {
		t.Fatalf("failed to create a client: %v", err)
	}
	return c
}

// TestAPIServerAcceptsRenderedObjects creates every rendered object of each value set in a real
// kube-apiserver, which validates them against the built-in schemas and against the chart's
// CRDs, CEL rules included. PodMonitor is left out because its CRD belongs to the Prometheus
// Operator.
func TestAPIServerAcceptsRenderedObjects(t *testing.T) {
	c := apiServer(t)
	ctx := context.Background()

	names := make([]string, 0, len(valueSets))
	for name := range valueSets {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			namespace := "chart-" + name
			if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}); err != nil {
				t.Fatalf("create namespace %s: %v", namespace, err)
			}
			out, err := runHelm(t, templateArgsIn(t, namespace, valueSets[name])...)
			if err != nil {
				t.Fatal(err)
			}
			objs, err := decodeObjects(out)
			if err != nil {
				t.Fatalf("decode helm template output: %v", err)
			}
			for _, obj := range objs {
				if obj.GetKind() == "PodMonitor" {
					continue
				}
				if err := c.Create(ctx, obj); err != nil {
					t.Errorf("API server rejected %s %s: %v", obj.GetKind(), obj.GetName(), err)
				}
			}
		})
	}
}

// TestAPIServerRejectsInvalidRunner checks that the API server applies the chart's CRD schema
// to a rendered TransferRunner, so the acceptance test above cannot pass by validating nothing.
func TestAPIServerRejectsInvalidRunner(t *testing.T) {
	c := apiServer(t)
	ctx := context.Background()
	const namespace = "chart-invalid-runner"
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}); err != nil {
		t.Fatal(err)
	}
	values := map[string]any{"runner": runnerValues(map[string]any{"existingSecret": "s"})}
	objs := render(t, values)
	runner := objs.find("TransferRunner")[0]
	runner.SetNamespace(namespace)
	// The schema rejects this name too; bypass it to see the CRD's own check.
	classes := runner.Object["spec"].(map[string]any)["resourceClasses"].([]any)
	classes[0].(map[string]any)["name"] = "Large_Class"

	err := c.Create(ctx, runner)
	if err == nil {
		t.Fatal("API server accepted a resource class named Large_Class")
	}
	if !strings.Contains(err.Error(), "resourceClasses") {
		t.Errorf("error does not name resourceClasses: %v", err)
	}
}

// TestManagerPodMeetsRestrictedPodSecurity creates a pod from the rendered Deployment's template
// in a namespace that enforces the restricted Pod Security Standard. The API server's
// PodSecurity admission rejects a pod that breaks it.
func TestManagerPodMeetsRestrictedPodSecurity(t *testing.T) {
	c := apiServer(t)
	ctx := context.Background()
	const namespace = "chart-restricted"
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name:   namespace,
		Labels: map[string]string{"pod-security.kubernetes.io/enforce": "restricted"},
	}}
	if err := c.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}

	var deploy appsv1.Deployment
	render(t, nil).one(t, "Deployment", &deploy)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "manager", Namespace: namespace, Labels: deploy.Spec.Template.Labels},
		Spec:       deploy.Spec.Template.Spec,
	}
	// The ServiceAccount does not exist in this namespace; admission does not need it.
	pod.Spec.ServiceAccountName = ""
	if err := c.Create(ctx, pod); err != nil {
		t.Errorf("restricted Pod Security rejected the manager pod: %v", err)
	}

	// A pod that breaks the standard is rejected, so the check above is not vacuous.
	privileged := pod.DeepCopy()
	privileged.Name = "manager-privileged"
	privileged.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation = ptr.To(true)
	if err := c.Create(ctx, privileged); err == nil {
		t.Error("restricted Pod Security admitted a pod with allowPrivilegeEscalation: true")
	}
}

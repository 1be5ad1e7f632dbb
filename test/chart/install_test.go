package chart

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/ferryhq/ferry/api/v1alpha1"
)

// helmKubeconfig writes a kubeconfig for envtest's API server and returns its path.
func helmKubeconfig(t *testing.T) string {
	t.Helper()
	apiServer(t)
	envMu.Lock()
	user, err := testEnv.AddUser(envtest.User{Name: "helm", Groups: []string{"system:masters"}}, nil)
	envMu.Unlock()
	if err != nil {
		t.Fatalf("add envtest user: %v", err)
	}
	data, err := user.KubeConfig()
	if err != nil {
		t.Fatalf("kubeconfig for envtest user: %v", err)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestHelmInstallUpgradeUninstall runs helm install, upgrade and uninstall against envtest's
// API server. No pod runs there, so it checks the objects and the release, not the manager.
func TestHelmInstallUpgradeUninstall(t *testing.T) {
	c := apiServer(t)
	kubeconfig := helmKubeconfig(t)
	ctx := context.Background()
	const namespace = "chart-install"

	install := writeValues(t, map[string]any{"runner": runnerValues(map[string]any{"value": "reg-token-install"})})
	out, err := runHelm(t, "install", releaseName, chartDir, "--namespace", namespace, "--create-namespace",
		"--kubeconfig", kubeconfig, "-f", install)
	if err != nil {
		t.Fatal(err)
	}
	// NOTES.txt prints the next commands.
	for _, want := range []string{"rollout status deployment/ferry", "get transferrunners ferry"} {
		if !strings.Contains(out, want) {
			t.Errorf("helm install output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "reg-token-install") {
		t.Errorf("helm install output contains the registration token:\n%s", out)
	}

	var runner v1alpha1.TransferRunner
	if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: "ferry"}, &runner); err != nil {
		t.Fatalf("get the installed TransferRunner: %v", err)
	}
	if runner.Spec.MaxConcurrentJobs != 4 {
		t.Errorf("installed maxConcurrentJobs = %d, want 4", runner.Spec.MaxConcurrentJobs)
	}
	var secret corev1.Secret
	if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: "ferry-runner-token"}, &secret); err != nil {
		t.Fatalf("get the token Secret: %v", err)
	}

	upgrade := writeValues(t, map[string]any{"runner": map[string]any{"maxConcurrentJobs": 8}})
	if _, err := runHelm(t, "upgrade", releaseName, chartDir, "--namespace", namespace,
		"--kubeconfig", kubeconfig, "--reuse-values", "-f", upgrade); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: "ferry"}, &runner); err != nil {
		t.Fatalf("get the upgraded TransferRunner: %v", err)
	}
	if runner.Spec.MaxConcurrentJobs != 8 {
		t.Errorf("upgraded maxConcurrentJobs = %d, want 8", runner.Spec.MaxConcurrentJobs)
	}

	if _, err := runHelm(t, "uninstall", releaseName, "--namespace", namespace, "--kubeconfig", kubeconfig); err != nil {
		t.Fatal(err)
	}
	err = c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: "ferry"}, &appsv1.Deployment{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("Deployment after uninstall: err = %v, want NotFound", err)
	}
	// Helm keeps CRDs on uninstall, so TransferJob history survives.
	crd := &unstructured.Unstructured{}
	crd.SetAPIVersion("apiextensions.k8s.io/v1")
	crd.SetKind("CustomResourceDefinition")
	if err := c.Get(ctx, client.ObjectKey{Name: "transferrunners.transfer.ferry.dev"}, crd); err != nil {
		t.Errorf("CRD after uninstall: %v, want it kept", err)
	}
}

// Package chart tests the Helm chart in charts/ferry: it runs `helm lint` and `helm template`
// with several value sets and checks the rendered objects.
//
// The helm binary is $HELM, or bin/helm, which hack/helm/build.sh builds from helm.sh/helm/v4
// when it is missing (`make helm` does the same ahead of time).
package chart

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

const (
	releaseName      = "ferry"
	releaseNamespace = "ferry-system"
)

var (
	repoRoot = mustAbs("../..")
	chartDir = filepath.Join(repoRoot, "charts", "ferry")

	helmOnce sync.Once
	helmPath string
	helmErr  error
)

func mustAbs(rel string) string {
	abs, err := filepath.Abs(rel)
	if err != nil {
		panic(err)
	}
	return abs
}

// helm returns the path of the helm binary, building it once per test binary when it is missing.
func helm(t *testing.T) string {
	t.Helper()
	helmOnce.Do(func() {
		helmPath = os.Getenv("HELM")
		if helmPath == "" {
			helmPath = filepath.Join(repoRoot, "bin", "helm")
		}
		// go test runs in the package directory, so a relative path would name the wrong file.
		if !filepath.IsAbs(helmPath) {
			helmErr = fmt.Errorf("HELM=%q is not an absolute path; set it to an absolute path or unset it to use bin/helm", helmPath)
			return
		}
		if _, err := os.Stat(helmPath); err == nil {
			return
		}
		// build.sh writes to $HELM when set, so a custom path is built in place too.
		cmd := exec.Command(filepath.Join(repoRoot, "hack", "helm", "build.sh"))
		cmd.Env = append(os.Environ(), "HELM="+helmPath)
		out, err := cmd.CombinedOutput()
		if err != nil {
			helmErr = fmt.Errorf("failed to build helm with hack/helm/build.sh: %w\n%s", err, out)
		}
	})
	if helmErr != nil {
		t.Fatal(helmErr)
	}
	return helmPath
}

// runHelm runs helm with args and returns its standard output; a non-zero exit is returned as
// an error that carries standard error.
func runHelm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(helm(t), args...)
	// Keep helm away from the developer's own configuration, cache and kubeconfig.
	home := t.TempDir()
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
		"KUBECONFIG="+filepath.Join(home, "kubeconfig"),
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %w\nstdout:\n%s\nstderr:\n%s",
			strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}

// writeValues writes values as a YAML file for helm's -f flag and returns its path.
func writeValues(t *testing.T, values map[string]any) string {
	t.Helper()
	data, err := yaml.Marshal(values)
	if err != nil {
		t.Fatalf("marshal values: %v", err)
	}
	path := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// templateArgs are the `helm template` arguments that render the chart with values into the
// release namespace.
func templateArgs(t *testing.T, values map[string]any, extra ...string) []string {
	return templateArgsIn(t, releaseNamespace, values, extra...)
}

// templateArgsIn are the `helm template` arguments that render the chart with values into
// namespace.
func templateArgsIn(t *testing.T, namespace string, values map[string]any, extra ...string) []string {
	args := []string{"template", releaseName, chartDir, "--namespace", namespace}
	if values != nil {
		args = append(args, "-f", writeValues(t, values))
	}
	return append(args, extra...)
}

// render runs `helm template` with values and returns the rendered objects.
func render(t *testing.T, values map[string]any, extra ...string) objects {
	t.Helper()
	out, err := runHelm(t, templateArgs(t, values, extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeObjects(out)
	if err != nil {
		t.Fatalf("decode helm template output: %v\n%s", err, out)
	}
	return objs
}

// renderError runs `helm template` with values that must be rejected and returns the error text.
func renderError(t *testing.T, values map[string]any) string {
	t.Helper()
	out, err := runHelm(t, templateArgs(t, values)...)
	if err == nil {
		t.Fatalf("helm template accepted values %v; rendered:\n%s", values, out)
	}
	return err.Error()
}

// objects are rendered Kubernetes objects in manifest order.
type objects []*unstructured.Unstructured

func decodeObjects(manifest string) (objects, error) {
	var objs objects
	decoder := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(manifest), 4096)
	for {
		var obj map[string]any
		if err := decoder.Decode(&obj); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, err
		}
		if obj == nil {
			continue // an empty document, e.g. a template whose condition is false
		}
		objs = append(objs, &unstructured.Unstructured{Object: obj})
	}
}

// find returns the objects of kind.
func (objs objects) find(kind string) objects {
	var found objects
	for _, obj := range objs {
		if obj.GetKind() == kind {
			found = append(found, obj)
		}
	}
	return found
}

// kinds returns the sorted kinds of objs, for failure messages.
func (objs objects) kinds() []string {
	kinds := make([]string, 0, len(objs))
	for _, obj := range objs {
		kinds = append(kinds, obj.GetKind()+"/"+obj.GetName())
	}
	sort.Strings(kinds)
	return kinds
}

// one returns the single object of kind and converts it into out, a typed API object.
func (objs objects) one(t *testing.T, kind string, out any) {
	t.Helper()
	found := objs.find(kind)
	if len(found) != 1 {
		t.Fatalf("rendered %d objects of kind %s, want 1; rendered: %v", len(found), kind, objs.kinds())
	}
	if err := convert(found[0], out); err != nil {
		t.Fatal(err)
	}
}

// named returns the object of kind with name, or nil.
func (objs objects) named(kind, name string) *unstructured.Unstructured {
	for _, obj := range objs.find(kind) {
		if obj.GetName() == name {
			return obj
		}
	}
	return nil
}

// convert converts a rendered object into out, a typed API object, rejecting unknown fields.
func convert(obj *unstructured.Unstructured, out any) error {
	if obj == nil {
		return errors.New("object not rendered")
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(obj.Object, out, true); err != nil {
		return fmt.Errorf("convert %s %s: %w", obj.GetKind(), obj.GetName(), err)
	}
	return nil
}

// mustJSON returns obj as JSON text, for searching it.
func mustJSON(t *testing.T, obj *unstructured.Unstructured) string {
	t.Helper()
	data, err := obj.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// containerPort returns the number of the container port named name, or 0.
func containerPort(c corev1.Container, name string) int32 {
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	return 0
}

// envValue returns the literal value of the container's environment variable name.
func envValue(c corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

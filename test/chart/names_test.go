package chart

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// longRelease is 53 characters, the longest release name helm v4.3 accepts.
const longRelease = "a-release-name-of-fifty-three-characters-for-testing1"

// renderRelease runs `helm template` for release with values and returns the rendered objects.
func renderRelease(t *testing.T, release string, values map[string]any) objects {
	t.Helper()
	out, err := runHelm(t, "template", release, chartDir, "--namespace", releaseNamespace, "-f", writeValues(t, values))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeObjects(out)
	if err != nil {
		t.Fatalf("decode helm template output: %v\n%s", err, out)
	}
	return objs
}

// everyObjectValues enables every optional object, so that each generated name is rendered.
func everyObjectValues(extra map[string]any) map[string]any {
	values := map[string]any{
		"runner":  runnerValues(map[string]any{"value": "reg-token-value"}),
		"metrics": map[string]any{"podMonitor": map[string]any{"enabled": true}},
	}
	for k, v := range extra {
		values[k] = v
	}
	return values
}

func TestLongNamesFitDNSLabels(t *testing.T) {
	if len(longRelease) != 53 {
		t.Fatalf("longRelease has %d characters, want 53", len(longRelease))
	}
	cases := []struct {
		name    string
		release string
		values  map[string]any
	}{
		{"53-character release", longRelease, everyObjectValues(nil)},
		{"63-character fullnameOverride", releaseName, everyObjectValues(map[string]any{"fullnameOverride": strings.Repeat("f", 63)})},
		{"long nameOverride", longRelease, everyObjectValues(map[string]any{"nameOverride": "another-chart-name"})},
		{"cluster-wide RBAC", longRelease, everyObjectValues(map[string]any{"rbac": map[string]any{"clusterWide": true}})},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			objs := renderRelease(t, tc.release, tc.values)
			seen := map[string]bool{}
			for _, obj := range objs {
				if obj.GetKind() == "CustomResourceDefinition" {
					continue
				}
				name := obj.GetName()
				// A Service name is a DNS-1035 label; the chart keeps every name a DNS-1123 label.
				check := validation.IsDNS1123Label
				if obj.GetKind() == "Service" {
					check = validation.IsDNS1035Label
				}
				if problems := check(name); len(problems) > 0 {
					t.Errorf("%s name %q (%d characters) is invalid: %s", obj.GetKind(), name, len(name), strings.Join(problems, "; "))
				}
				key := obj.GetKind() + "/" + name
				if seen[key] {
					t.Errorf("two objects are named %s", key)
				}
				seen[key] = true
			}
			if svc := objs.find("Service"); len(svc) != 1 || !strings.HasSuffix(svc[0].GetName(), "-metrics") {
				t.Errorf("Services = %v, want one whose name ends in -metrics", objs.find("Service").kinds())
			}
		})
	}
}

func TestShortNamesUnchanged(t *testing.T) {
	objs := render(t, everyObjectValues(nil))
	for _, want := range []string{"Service/ferry-metrics", "NetworkPolicy/ferry-jobs", "Role/ferry-manager",
		"RoleBinding/ferry-leader-election", "Secret/ferry-runner-token", "Deployment/ferry"} {
		kind, name, _ := strings.Cut(want, "/")
		if objs.named(kind, name) == nil {
			t.Errorf("%s not rendered; rendered: %v", want, objs.kinds())
		}
	}
}

func TestNameOverridesValidated(t *testing.T) {
	for _, key := range []string{"nameOverride", "fullnameOverride"} {
		for _, value := range []string{"UPPER_case", "-leading-dash", "trailing-dash-", "dots.in.name", strings.Repeat("a", 64)} {
			t.Run(key+"="+value, func(t *testing.T) {
				msg := renderError(t, map[string]any{key: value})
				if !strings.Contains(msg, key) {
					t.Errorf("error does not name %s:\n%s", key, msg)
				}
			})
		}
		t.Run(key+" valid", func(t *testing.T) {
			objs := render(t, map[string]any{key: "ferry-2"})
			if len(objs.find("Deployment")) != 1 {
				t.Errorf("%s=ferry-2 rendered %v, want a Deployment", key, objs.kinds())
			}
		})
	}
}

func TestPodMonitorNeedsMetrics(t *testing.T) {
	msg := renderError(t, map[string]any{"metrics": map[string]any{"enabled": false, "podMonitor": map[string]any{"enabled": true}}})
	for _, want := range []string{"metrics.podMonitor.enabled", "metrics.enabled"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not name %s:\n%s", want, msg)
		}
	}
}

// TestLongReleaseInstalls installs a release with a 53-character name into envtest's API server,
// which validates the name of every object it stores.
func TestLongReleaseInstalls(t *testing.T) {
	c := apiServer(t)
	kubeconfig := helmKubeconfig(t)
	const namespace = "chart-long-release"

	values := writeValues(t, map[string]any{"runner": runnerValues(map[string]any{"value": "reg-token-long"})})
	if _, err := runHelm(t, "install", longRelease, chartDir, "--namespace", namespace, "--create-namespace",
		"--kubeconfig", kubeconfig, "-f", values); err != nil {
		t.Fatal(err)
	}
	var services corev1.ServiceList
	if err := c.List(context.Background(), &services, client.InNamespace(namespace)); err != nil {
		t.Fatal(err)
	}
	if len(services.Items) != 1 || !strings.HasSuffix(services.Items[0].Name, "-metrics") {
		t.Errorf("installed %d Services, want one named <prefix>-metrics: %+v", len(services.Items), services.Items)
	}
	if _, err := runHelm(t, "uninstall", longRelease, "--namespace", namespace, "--kubeconfig", kubeconfig); err != nil {
		t.Fatal(err)
	}
}

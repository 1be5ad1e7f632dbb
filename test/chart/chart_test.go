package chart

import (
	"encoding/base64"
	"slices"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/api/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
)

// runnerValues are the values that enable the TransferRunner, to be merged into a value set.
func runnerValues(token map[string]any) map[string]any {
	return map[string]any{
		"enabled":           true,
		"controlPlaneURL":   "https://ferry.example.com",
		"token":             token,
		"maxConcurrentJobs": 4,
		"noSendPreview":     true,
		"jobTemplate": map[string]any{
			"hostNetwork": true,
			"resources": map[string]any{
				"limits": map[string]any{"memory": "4Gi"},
			},
		},
		"resourceClasses": []any{
			map[string]any{
				"name":      "large",
				"resources": map[string]any{"limits": map[string]any{"memory": "4Gi"}},
			},
		},
	}
}

// valueSets are the value sets that helm lint and the render checks run with.
var valueSets = map[string]map[string]any{
	"defaults":     nil,
	"cluster-wide": {"rbac": map[string]any{"clusterWide": true}},
	"existing-secret": {"runner": runnerValues(map[string]any{
		"existingSecret": "ferry-registration", "existingSecretKey": "registration-token",
	})},
	"token-value":   {"runner": runnerValues(map[string]any{"value": "reg-token-value"})},
	"pod-monitor":   {"metrics": map[string]any{"podMonitor": map[string]any{"enabled": true, "labels": map[string]any{"release": "prometheus"}}}},
	"runner-off":    {"runner": map[string]any{"enabled": false, "controlPlaneURL": "https://ferry.example.com", "token": map[string]any{"value": "reg-token-value"}}},
	"three-replica": {"replicaCount": 3},
}

func TestLintValueSets(t *testing.T) {
	for name, values := range valueSets {
		t.Run(name, func(t *testing.T) {
			args := []string{"lint", "--strict", chartDir, "--namespace", releaseNamespace}
			if values != nil {
				args = append(args, "-f", writeValues(t, values))
			}
			if _, err := runHelm(t, args...); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestEveryObjectLabelledAndNamespaced(t *testing.T) {
	for name, values := range valueSets {
		t.Run(name, func(t *testing.T) {
			for _, obj := range render(t, values) {
				labels := obj.GetLabels()
				for _, key := range []string{"helm.sh/chart", "app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version", "app.kubernetes.io/managed-by"} {
					if labels[key] == "" {
						t.Errorf("%s %s: label %s missing", obj.GetKind(), obj.GetName(), key)
					}
				}
				clusterScoped := obj.GetKind() == "ClusterRole" || obj.GetKind() == "ClusterRoleBinding"
				if !clusterScoped && obj.GetNamespace() != releaseNamespace {
					t.Errorf("%s %s: namespace %q, want %q", obj.GetKind(), obj.GetName(), obj.GetNamespace(), releaseNamespace)
				}
			}
		})
	}
}

func TestManagerDeploymentHardened(t *testing.T) {
	objs := render(t, nil)
	var deploy appsv1.Deployment
	objs.one(t, "Deployment", &deploy)
	pod := deploy.Spec.Template.Spec

	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Error("pod securityContext.runAsNonRoot is not true")
	}
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod seccompProfile = %+v, want RuntimeDefault", psc.SeccompProfile)
	}
	if psc == nil || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Error("pod securityContext.runAsUser is unset or 0")
	}
	if pod.HostNetwork {
		t.Error("hostNetwork is true by default")
	}

	if len(pod.Containers) != 1 {
		t.Fatalf("manager pod has %d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("container readOnlyRootFilesystem is not true")
	}
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("container allowPrivilegeEscalation is not false")
	}
	if sc == nil || sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("container capabilities = %+v, want drop [ALL]", sc.Capabilities)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
		t.Errorf("container requests = %v, want cpu and memory", c.Resources.Requests)
	}
	if c.Resources.Limits.Memory().IsZero() {
		t.Errorf("container limits = %v, want memory", c.Resources.Limits)
	}

	for probeName, probe := range map[string]*corev1.Probe{"/healthz": c.LivenessProbe, "/readyz": c.ReadinessProbe} {
		if probe == nil || probe.HTTPGet == nil {
			t.Errorf("probe for %s missing", probeName)
			continue
		}
		if probe.HTTPGet.Path != probeName || probe.HTTPGet.Port.String() != "health" {
			t.Errorf("probe = %s on port %s, want %s on port health", probe.HTTPGet.Path, probe.HTTPGet.Port.String(), probeName)
		}
	}
	if port := containerPort(c, "health"); port != 8081 {
		t.Errorf("health port = %d, want 8081", port)
	}

	for _, want := range []string{
		"--leader-elect=true",
		"--health-probe-bind-address=:8081",
		"--metrics-bind-address=:8080",
		"--job-image=ghcr.io/ferryhq/ferry:0.1.0",
		"--zap-log-level=info",
	} {
		if !slices.Contains(c.Args, want) {
			t.Errorf("manager args %v lack %s", c.Args, want)
		}
	}
	if got := envValue(c, "WATCH_NAMESPACE"); got != releaseNamespace {
		t.Errorf("WATCH_NAMESPACE = %q, want %q", got, releaseNamespace)
	}
	if deploy.Spec.Template.Spec.ServiceAccountName != "ferry" {
		t.Errorf("serviceAccountName = %q, want ferry", deploy.Spec.Template.Spec.ServiceAccountName)
	}
}

func TestLeaderElectionWithReplicas(t *testing.T) {
	var deploy appsv1.Deployment
	render(t, valueSets["three-replica"]).one(t, "Deployment", &deploy)
	if deploy.Spec.Replicas == nil || *deploy.Spec.Replicas != 3 {
		t.Errorf("replicas = %v, want 3", deploy.Spec.Replicas)
	}
	if args := deploy.Spec.Template.Spec.Containers[0].Args; !slices.Contains(args, "--leader-elect=true") {
		t.Errorf("manager args %v lack --leader-elect=true", args)
	}

	msg := renderError(t, map[string]any{"replicaCount": 2, "leaderElection": map[string]any{"enabled": false}})
	if !strings.Contains(msg, "leaderElection.enabled") {
		t.Errorf("error does not name leaderElection.enabled:\n%s", msg)
	}
}

func TestNamespacedRBACByDefault(t *testing.T) {
	objs := render(t, nil)
	if n := len(objs.find("ClusterRole")) + len(objs.find("ClusterRoleBinding")); n != 0 {
		t.Errorf("default render has %d cluster-scoped RBAC objects, want 0: %v", n, objs.kinds())
	}
	role := objs.named("Role", "ferry-manager")
	if role == nil {
		t.Fatalf("Role ferry-manager missing; rendered: %v", objs.kinds())
	}
	var binding rbacv1.RoleBinding
	if err := convert(objs.named("RoleBinding", "ferry-manager"), &binding); err != nil {
		t.Fatal(err)
	}
	if binding.RoleRef.Kind != "Role" || binding.RoleRef.Name != "ferry-manager" {
		t.Errorf("RoleBinding roleRef = %+v, want Role ferry-manager", binding.RoleRef)
	}
	checkSubject(t, binding.Subjects)

	var rules rbacv1.Role
	if err := convert(role, &rules); err != nil {
		t.Fatal(err)
	}
	checkLeastPrivilege(t, rules.Rules)
	if objs.named("Role", "ferry-leader-election") == nil {
		t.Errorf("Role ferry-leader-election missing; rendered: %v", objs.kinds())
	}
}

func TestClusterWideRBAC(t *testing.T) {
	objs := render(t, valueSets["cluster-wide"])
	if objs.named("Role", "ferry-manager") != nil || objs.named("RoleBinding", "ferry-manager") != nil {
		t.Errorf("cluster-wide render still has the namespaced manager Role: %v", objs.kinds())
	}
	var role rbacv1.ClusterRole
	objs.one(t, "ClusterRole", &role)
	checkLeastPrivilege(t, role.Rules)
	var binding rbacv1.ClusterRoleBinding
	objs.one(t, "ClusterRoleBinding", &binding)
	if binding.RoleRef.Kind != "ClusterRole" || binding.RoleRef.Name != role.Name {
		t.Errorf("ClusterRoleBinding roleRef = %+v, want ClusterRole %s", binding.RoleRef, role.Name)
	}
	checkSubject(t, binding.Subjects)
	// The leader-election Lease stays in the release namespace.
	if objs.named("Role", "ferry-leader-election") == nil {
		t.Errorf("Role ferry-leader-election missing; rendered: %v", objs.kinds())
	}

	var deploy appsv1.Deployment
	objs.one(t, "Deployment", &deploy)
	if got := envValue(deploy.Spec.Template.Spec.Containers[0], "WATCH_NAMESPACE"); got != "" {
		t.Errorf("WATCH_NAMESPACE = %q, want empty (all namespaces)", got)
	}
}

func TestRunnerFromExistingSecret(t *testing.T) {
	objs := render(t, valueSets["existing-secret"])
	if secrets := objs.find("Secret"); len(secrets) != 0 {
		t.Errorf("rendered %d Secrets, want none: the token Secret exists already", len(secrets))
	}

	runner := transferRunner(t, objs)
	spec := runner.Spec
	if spec.TokenSecretRef.Name != "ferry-registration" {
		t.Errorf("tokenSecretRef.name = %q, want ferry-registration", spec.TokenSecretRef.Name)
	}
	if spec.TokenSecretRef.Key != "registration-token" {
		t.Errorf("tokenSecretRef.key = %q, want registration-token", spec.TokenSecretRef.Key)
	}

	if spec.ControlPlaneURL != "https://ferry.example.com" {
		t.Errorf("controlPlaneURL = %q, want https://ferry.example.com", spec.ControlPlaneURL)
	}
	if spec.MaxConcurrentJobs != 4 {
		t.Errorf("maxConcurrentJobs = %d, want 4", spec.MaxConcurrentJobs)
	}
	if !spec.NoSendPreview {
		t.Error("noSendPreview = false, want true")
	}

	if !spec.JobTemplate.HostNetwork {
		t.Error("jobTemplate.hostNetwork = false, want true")
	}
	if limit := spec.JobTemplate.Resources.Limits.Memory().String(); limit != "4Gi" {
		t.Errorf("jobTemplate memory limit = %s, want 4Gi", limit)
	}
	if len(spec.ResourceClasses) != 1 || spec.ResourceClasses[0].Name != "large" {
		t.Errorf("resourceClasses = %+v, want one class named large", spec.ResourceClasses)
	}
	if spec.PollWaitSeconds != 25 || spec.DefaultDeadlineSeconds != 21600 {
		t.Errorf("pollWaitSeconds = %d, defaultDeadlineSeconds = %d, want the chart defaults 25 and 21600",
			spec.PollWaitSeconds, spec.DefaultDeadlineSeconds)
	}
	if runner.Name != "ferry" || runner.Namespace != releaseNamespace {
		t.Errorf("TransferRunner = %s/%s, want %s/ferry", runner.Namespace, runner.Name, releaseNamespace)
	}
}

func TestRunnerFromTokenValue(t *testing.T) {
	objs := render(t, valueSets["token-value"])
	var secret corev1.Secret
	objs.one(t, "Secret", &secret)
	if secret.Name != "ferry-runner-token" {
		t.Errorf("Secret name = %q, want ferry-runner-token", secret.Name)
	}
	if got := string(secret.Data["token"]); got != "reg-token-value" {
		t.Errorf("Secret data.token = %q, want the value from runner.token.value", got)
	}
	runner := transferRunner(t, objs)
	if got := runner.Spec.TokenSecretRef.Name; got != secret.Name {
		t.Errorf("tokenSecretRef.name = %q, want %q", got, secret.Name)
	}
	if got := runner.Spec.TokenSecretRef.Key; got != "token" {
		t.Errorf("tokenSecretRef.key = %q, want token", got)
	}
	// The token may appear only base64-encoded in the Secret's data.
	for _, obj := range objs {
		if obj.GetKind() == "Secret" {
			continue
		}
		if text := mustJSON(t, obj); strings.Contains(text, "reg-token-value") ||
			strings.Contains(text, base64.StdEncoding.EncodeToString([]byte("reg-token-value"))) {
			t.Errorf("%s %s contains the registration token", obj.GetKind(), obj.GetName())
		}
	}
}

func TestRunnerDisabled(t *testing.T) {
	for _, name := range []string{"defaults", "runner-off"} {
		objs := render(t, valueSets[name])
		if n := len(objs.find("TransferRunner")); n != 0 {
			t.Errorf("%s: rendered %d TransferRunners, want 0", name, n)
		}
		if n := len(objs.find("Secret")); n != 0 {
			t.Errorf("%s: rendered %d Secrets, want 0", name, n)
		}
	}
}

func TestMetricsServiceAndPodMonitor(t *testing.T) {
	objs := render(t, nil)
	if n := len(objs.find("PodMonitor")); n != 0 {
		t.Errorf("default render has %d PodMonitors, want 0", n)
	}
	var deploy appsv1.Deployment
	objs.one(t, "Deployment", &deploy)
	podLabels := labels.Set(deploy.Spec.Template.Labels)

	var svc corev1.Service
	objs.one(t, "Service", &svc)
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(podLabels) {
		t.Errorf("Service selector %v does not match the manager pod labels %v", svc.Spec.Selector, podLabels)
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].TargetPort.String() != "metrics" {
		t.Errorf("Service ports = %+v, want one port targeting metrics", svc.Spec.Ports)
	}
	if port := containerPort(deploy.Spec.Template.Spec.Containers[0], "metrics"); port != 8080 {
		t.Errorf("metrics container port = %d, want 8080", port)
	}

	objs = render(t, valueSets["pod-monitor"])
	monitors := objs.find("PodMonitor")
	if len(monitors) != 1 {
		t.Fatalf("rendered %d PodMonitors, want 1", len(monitors))
	}
	monitor := monitors[0]
	if monitor.GetAPIVersion() != "monitoring.coreos.com/v1" {
		t.Errorf("PodMonitor apiVersion = %s", monitor.GetAPIVersion())
	}
	if monitor.GetLabels()["release"] != "prometheus" {
		t.Errorf("PodMonitor labels %v lack release=prometheus from metrics.podMonitor.labels", monitor.GetLabels())
	}
	selector, _, _ := unstructured.NestedStringMap(monitor.Object, "spec", "selector", "matchLabels")
	if len(selector) == 0 || !labels.SelectorFromSet(selector).Matches(podLabels) {
		t.Errorf("PodMonitor selector %v does not match the manager pod labels %v", selector, podLabels)
	}
	endpoints, _, _ := unstructured.NestedSlice(monitor.Object, "spec", "podMetricsEndpoints")
	if len(endpoints) != 1 || endpoints[0].(map[string]any)["port"] != "metrics" {
		t.Errorf("podMetricsEndpoints = %v, want one on port metrics", endpoints)
	}
}

func TestJobNetworkPolicyEgressOnly(t *testing.T) {
	var policy networkingv1.NetworkPolicy
	render(t, nil).one(t, "NetworkPolicy", &policy)

	sel := policy.Spec.PodSelector
	if len(sel.MatchLabels) != 0 || len(sel.MatchExpressions) != 1 ||
		sel.MatchExpressions[0].Key != "transfer.ferry.dev/runner" || sel.MatchExpressions[0].Operator != "Exists" {
		t.Errorf("podSelector = %+v, want transfer.ferry.dev/runner Exists", sel)
	}
	if !slices.Equal(policy.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}) {
		t.Errorf("policyTypes = %v, want [Ingress Egress]", policy.Spec.PolicyTypes)
	}
	if len(policy.Spec.Ingress) != 0 {
		t.Errorf("ingress rules = %+v, want none", policy.Spec.Ingress)
	}

	allowed := map[string]bool{}
	for _, rule := range policy.Spec.Egress {
		if len(rule.To) == 0 {
			t.Errorf("egress rule %+v has no destination: it would allow every address", rule)
		}
		for _, p := range rule.Ports {
			allowed[string(*p.Protocol)+"/"+p.Port.String()] = true
		}
	}
	for _, want := range []string{"UDP/53", "TCP/53", "TCP/443", "TCP/3306", "TCP/5432"} {
		if !allowed[want] {
			t.Errorf("egress does not allow %s; allowed: %v", want, allowed)
		}
	}

	objs := render(t, map[string]any{"networkPolicy": map[string]any{"enabled": false}})
	if n := len(objs.find("NetworkPolicy")); n != 0 {
		t.Errorf("networkPolicy.enabled=false rendered %d NetworkPolicies", n)
	}
}

func TestManagerPodDisruptionBudget(t *testing.T) {
	objs := render(t, nil)
	var pdb policyv1.PodDisruptionBudget
	objs.one(t, "PodDisruptionBudget", &pdb)
	if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 || pdb.Spec.MinAvailable != nil {
		t.Errorf("PDB = maxUnavailable %v minAvailable %v, want maxUnavailable 1 only", pdb.Spec.MaxUnavailable, pdb.Spec.MinAvailable)
	}
	var deploy appsv1.Deployment
	objs.one(t, "Deployment", &deploy)
	if pdb.Spec.Selector == nil || !labels.SelectorFromSet(pdb.Spec.Selector.MatchLabels).Matches(labels.Set(deploy.Spec.Template.Labels)) {
		t.Errorf("PDB selector %v does not match the manager pod", pdb.Spec.Selector)
	}

	objs = render(t, map[string]any{"podDisruptionBudget": map[string]any{"minAvailable": 1, "maxUnavailable": nil}})
	objs.one(t, "PodDisruptionBudget", &pdb)
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 1 || pdb.Spec.MaxUnavailable != nil {
		t.Errorf("PDB = minAvailable %v maxUnavailable %v, want minAvailable 1 only", pdb.Spec.MinAvailable, pdb.Spec.MaxUnavailable)
	}
}

func TestInvalidValuesRejected(t *testing.T) {
	cases := []struct {
		name   string
		values map[string]any
		want   string // a word the error must contain, naming the bad value
	}{
		{"unknown top-level key", map[string]any{"replicas": 2}, "replicas"},
		{"unknown runner key", map[string]any{"runner": map[string]any{"enabled": false, "maxJobs": 3}}, "maxJobs"},
		{"runner without URL", map[string]any{"runner": map[string]any{"enabled": true, "token": map[string]any{"value": "x"}}}, "controlPlaneURL"},
		{"runner without token", map[string]any{"runner": map[string]any{"enabled": true, "controlPlaneURL": "https://cp.example.com"}}, "token"},
		{"two token sources", map[string]any{"runner": map[string]any{"enabled": true, "controlPlaneURL": "https://cp.example.com", "token": map[string]any{"value": "x", "existingSecret": "s"}}}, "existingSecret"},
		{"URL without scheme", map[string]any{"runner": map[string]any{"enabled": true, "controlPlaneURL": "cp.example.com", "token": map[string]any{"value": "x"}}}, "controlPlaneURL"},
		{"too many concurrent jobs", map[string]any{"runner": map[string]any{"enabled": false, "maxConcurrentJobs": 65}}, "maxConcurrentJobs"},
		{"bad pull policy", map[string]any{"image": map[string]any{"pullPolicy": "Sometimes"}}, "pullPolicy"},
		{"both PDB bounds", map[string]any{"podDisruptionBudget": map[string]any{"minAvailable": 1, "maxUnavailable": 1}}, "minAvailable"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg := renderError(t, tc.values)
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error does not name %s:\n%s", tc.want, msg)
			}
		})
	}
}

func TestTokenValueNotInErrors(t *testing.T) {
	// A failing render must not echo the token in its message.
	msg := renderError(t, map[string]any{"runner": map[string]any{
		"enabled": true, "controlPlaneURL": "ftp://cp.example.com", "token": map[string]any{"value": "reg-token-secret-42"},
	}})
	if strings.Contains(msg, "reg-token-secret-42") {
		t.Errorf("error message contains the token:\n%s", msg)
	}
}

// transferRunner returns the single rendered TransferRunner as the API type. The conversion
// rejects fields that the API does not have, so a misspelled key in the template fails here.
func transferRunner(t *testing.T, objs objects) *v1alpha1.TransferRunner {
	t.Helper()
	runners := objs.find("TransferRunner")
	if len(runners) != 1 {
		t.Fatalf("rendered %d TransferRunners, want 1; rendered: %v", len(runners), objs.kinds())
	}
	if got, want := runners[0].GetAPIVersion(), v1alpha1.GroupVersion.String(); got != want {
		t.Errorf("TransferRunner apiVersion = %s, want %s", got, want)
	}
	var runner v1alpha1.TransferRunner
	if err := convert(runners[0], &runner); err != nil {
		t.Fatal(err)
	}
	return &runner
}

func checkSubject(t *testing.T, subjects []rbacv1.Subject) {
	t.Helper()
	if len(subjects) != 1 || subjects[0].Kind != "ServiceAccount" || subjects[0].Name != "ferry" || subjects[0].Namespace != releaseNamespace {
		t.Errorf("binding subjects = %+v, want ServiceAccount %s/ferry", subjects, releaseNamespace)
	}
}

// checkLeastPrivilege fails on wildcards and on resources the manager does not use, such as
// nodes or leases: the Lease belongs in the namespaced leader-election Role.
func checkLeastPrivilege(t *testing.T, rules []rbacv1.PolicyRule) {
	t.Helper()
	allowedResources := map[string]bool{
		"pods": true, "secrets": true, "events": true,
		"transferjobs": true, "transferjobs/status": true, "transferjobs/finalizers": true,
		"transferrunners": true, "transferrunners/status": true, "transferrunners/finalizers": true,
	}
	for _, rule := range rules {
		for _, field := range [][]string{rule.APIGroups, rule.Resources, rule.Verbs} {
			if slices.Contains(field, "*") {
				t.Errorf("rule %+v has a wildcard", rule)
			}
		}
		for _, res := range rule.Resources {
			if !allowedResources[res] {
				t.Errorf("rule grants %v on %s, which the manager does not use", rule.Verbs, res)
			}
		}
	}
}

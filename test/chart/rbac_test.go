package chart

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

// TestRulesMatchConfig fails when the chart's RBAC rules differ from the kustomize manifests in
// config/: the manager's rules from config/rbac/role.yaml, which controller-gen writes from the
// +kubebuilder:rbac markers, and the leader-election rules from
// config/manager/leader_election_role.yaml. The chart must grant what the manager uses, and no
// more.
func TestRulesMatchConfig(t *testing.T) {
	objs := render(t, nil)
	cases := []struct {
		chartRole  string
		configFile string
	}{
		{"ferry-manager", filepath.Join("config", "rbac", "role.yaml")},
		{"ferry-leader-election", filepath.Join("config", "manager", "leader_election_role.yaml")},
	}
	for _, tc := range cases {
		t.Run(tc.chartRole, func(t *testing.T) {
			var chartRole rbacv1.Role
			if err := convert(objs.named("Role", tc.chartRole), &chartRole); err != nil {
				t.Fatal(err)
			}
			got := flattenRules(chartRole.Rules)
			want := flattenRules(configRules(t, tc.configFile))
			for _, perm := range want {
				if !slices.Contains(got, perm) {
					t.Errorf("Role %s lacks %s, which %s grants; update templates/_rbac.tpl (run make manifests first if the RBAC markers changed)", tc.chartRole, perm, tc.configFile)
				}
			}
			for _, perm := range got {
				if !slices.Contains(want, perm) {
					t.Errorf("Role %s grants %s, which %s does not; update templates/_rbac.tpl (run make manifests first if the RBAC markers changed)", tc.chartRole, perm, tc.configFile)
				}
			}
		})
	}
}

// configRules returns the rules of the first Role or ClusterRole in the YAML file at path,
// relative to the repository root.
func configRules(t *testing.T, path string) []rbacv1.PolicyRule {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, path))
	if err != nil {
		t.Fatalf("read %s: %v; run make manifests", path, err)
	}
	docs, err := decodeObjects(string(data))
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	for _, doc := range docs {
		if doc.GetKind() != "Role" && doc.GetKind() != "ClusterRole" {
			continue
		}
		var role rbacv1.ClusterRole
		raw, err := doc.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(raw, &role); err != nil {
			t.Fatalf("parse the %s in %s: %v", doc.GetKind(), path, err)
		}
		return role.Rules
	}
	t.Fatalf("no Role or ClusterRole in %s", path)
	return nil
}

// flattenRules returns one sorted "group resource verb" entry per permission, so that rules
// grouped differently compare equal.
func flattenRules(rules []rbacv1.PolicyRule) []string {
	var perms []string
	for _, rule := range rules {
		for _, group := range rule.APIGroups {
			if group == "" {
				group = "core"
			}
			for _, resource := range rule.Resources {
				for _, verb := range rule.Verbs {
					perms = append(perms, group+" "+resource+" "+verb)
				}
			}
		}
	}
	slices.Sort(perms)
	return slices.Compact(perms)
}

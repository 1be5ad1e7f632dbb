package chart

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

// TestManagerRulesMatchGenerated fails when the chart's manager and leader-election rules,
// together, differ from config/rbac/role.yaml, which controller-gen writes from the RBAC
// markers: the chart must grant what the manager uses, and no more.
func TestManagerRulesMatchGenerated(t *testing.T) {
	path := filepath.Join(repoRoot, "config", "rbac", "role.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read the generated manager role: %v; run make manifests", err)
	}
	var generated rbacv1.ClusterRole
	if err := yaml.UnmarshalStrict(data, &generated); err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}

	objs := render(t, nil)
	var manager, leaderElection rbacv1.Role
	if err := convert(objs.named("Role", "ferry-manager"), &manager); err != nil {
		t.Fatal(err)
	}
	if err := convert(objs.named("Role", "ferry-leader-election"), &leaderElection); err != nil {
		t.Fatal(err)
	}
	got := flattenRules(slices.Concat(manager.Rules, leaderElection.Rules))
	want := flattenRules(generated.Rules)
	for _, perm := range want {
		if !slices.Contains(got, perm) {
			t.Errorf("chart lacks %s, which config/rbac/role.yaml grants; update templates/_rbac.tpl", perm)
		}
	}
	for _, perm := range got {
		if !slices.Contains(want, perm) {
			t.Errorf("chart grants %s, which config/rbac/role.yaml does not; update templates/_rbac.tpl", perm)
		}
	}
}

// flattenRules returns one sorted "group resource verb" entry per permission, so that rules
// grouped differently compare equal.
func flattenRules(rules []rbacv1.PolicyRule) []string {
	var perms []string
	for _, rule := range rules {
		for _, group := range rule.APIGroups {
			for _, resource := range rule.Resources {
				for _, verb := range rule.Verbs {
					if group == "" {
						group = "core"
					}
					perms = append(perms, group+" "+resource+" "+verb)
				}
			}
		}
	}
	slices.Sort(perms)
	return slices.Compact(perms)
}

package chart

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestChartCRDsMatchGenerated fails when charts/ferry/crds differs from config/crd/bases, which
// `make manifests` generates from the API types. Helm installs the chart's copy, so a stale copy
// would install an old schema.
func TestChartCRDsMatchGenerated(t *testing.T) {
	generatedDir := filepath.Join(repoRoot, "config", "crd", "bases")
	chartCRDDir := filepath.Join(chartDir, "crds")
	const fix = "copy them with: cp config/crd/bases/*.yaml charts/ferry/crds/"

	generated := yamlFiles(t, generatedDir)
	if len(generated) == 0 {
		t.Fatalf("no CRDs in %s; run make manifests", generatedDir)
	}
	copied := yamlFiles(t, chartCRDDir)
	if !slices.Equal(generated, copied) {
		t.Fatalf("CRD files differ: config/crd/bases has %v, charts/ferry/crds has %v; %s", generated, copied, fix)
	}
	for _, name := range generated {
		want, err := os.ReadFile(filepath.Join(generatedDir, name))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(chartCRDDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("charts/ferry/crds/%s differs from config/crd/bases/%s; %s", name, name, fix)
		}
	}
}

func TestChartInstallsCRDs(t *testing.T) {
	objs := render(t, nil, "--include-crds")
	var names []string
	for _, crd := range objs.find("CustomResourceDefinition") {
		names = append(names, crd.GetName())
	}
	slices.Sort(names)
	want := []string{"transferjobs.transfer.ferry.dev", "transferrunners.transfer.ferry.dev"}
	if !slices.Equal(names, want) {
		t.Errorf("rendered CRDs %v, want %v", names, want)
	}
}

// yamlFiles returns the sorted names of the .yaml files in dir.
func yamlFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("read %s: %v", dir, err)
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && filepath.Ext(e.Name()) == ".yaml" {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return names
}

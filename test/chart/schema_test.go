package chart

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/api/v1alpha1"
)

// TestSchemaMatchesJobTemplate fails when values.schema.json and the API's JobPodTemplate and
// ResourceClass disagree on field names. The schema forbids unknown keys, so a field added to
// the API must be added to the schema before users can set it through the chart.
func TestSchemaMatchesJobTemplate(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(chartDir, "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema schemaNode
	if err := json.Unmarshal(data, &schema); err != nil {
		t.Fatalf("parse values.schema.json: %v", err)
	}
	runner := schema.Properties["runner"]

	cases := []struct {
		name   string
		node   *schemaNode
		goType reflect.Type
	}{
		{"runner.jobTemplate", runner.Properties["jobTemplate"], reflect.TypeFor[v1alpha1.JobPodTemplate]()},
		{"runner.resourceClasses[]", runner.Properties["resourceClasses"].Items, reflect.TypeFor[v1alpha1.ResourceClass]()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.node == nil {
				t.Fatalf("values.schema.json has no %s", tc.name)
			}
			apiFields := jsonFieldNames(tc.goType)
			var schemaFields []string
			for name := range tc.node.Properties {
				schemaFields = append(schemaFields, name)
			}
			slices.Sort(schemaFields)
			for _, field := range apiFields {
				if !slices.Contains(schemaFields, field) {
					t.Errorf("values.schema.json %s lacks %s, a field of %s", tc.name, field, tc.goType.Name())
				}
			}
			for _, field := range schemaFields {
				if !slices.Contains(apiFields, field) {
					t.Errorf("values.schema.json %s allows %s, which %s does not have", tc.name, field, tc.goType.Name())
				}
			}
		})
	}
}

// schemaNode is the part of a JSON Schema that the test reads.
type schemaNode struct {
	Properties map[string]*schemaNode `json:"properties"`
	Items      *schemaNode            `json:"items"`
}

// jsonFieldNames returns the sorted JSON names of the struct's fields.
func jsonFieldNames(structType reflect.Type) []string {
	var names []string
	for field := range structType.Fields() {
		name, _, _ := strings.Cut(field.Tag.Get("json"), ",")
		if name != "" && name != "-" {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

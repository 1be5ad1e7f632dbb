package protocol_test

import (
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/ferryhq/ferry/protocol"
)

const openAPIPath = "../docs/protocol/openapi.yaml"

// schemaTypes maps each schema of the OpenAPI document to its Go type.
var schemaTypes = map[string]any{
	"Error":             protocol.Error{},
	"JoinRequest":       protocol.JoinRequest{},
	"JoinResponse":      protocol.JoinResponse{},
	"HeartbeatRequest":  protocol.HeartbeatRequest{},
	"RunnerJob":         protocol.RunnerJob{},
	"JobRef":            protocol.JobRef{},
	"HeartbeatResponse": protocol.HeartbeatResponse{},
	"Assignment":        protocol.Assignment{},
	"Cancellation":      protocol.Cancellation{},
	"JobStatusRequest":  protocol.JobStatusRequest{},
	"JobStatusResponse": protocol.JobStatusResponse{},
	"JobSpecResponse":   protocol.JobSpecResponse{},
	"LogBatch":          protocol.LogBatch{},
	"LogLine":           protocol.LogLine{},
	"LogBatchResponse":  protocol.LogBatchResponse{},
	"ProgressRequest":   protocol.ProgressRequest{},
	"PreviewRequest":    protocol.PreviewRequest{},
	"Column":            protocol.Column{},
	"ResultRequest":     protocol.ResultRequest{},
	"Empty":             protocol.Empty{},
}

// schemaEnums maps each enum schema to the values of its Go constants.
var schemaEnums = map[string][]string{
	"ErrorCode": {string(protocol.CodeInvalidRequest), string(protocol.CodeUnauthorized), string(protocol.CodeForbidden),
		string(protocol.CodeNotFound), string(protocol.CodeConflict), string(protocol.CodeTooLarge),
		string(protocol.CodeUnavailable), string(protocol.CodeInternal)},
	"RunnerState": {string(protocol.RunnerIdle), string(protocol.RunnerActive)},
	"JobType":     {string(protocol.JobTransfer), string(protocol.JobPreview)},
	"JobPhase": {string(protocol.PhasePending), string(protocol.PhaseRunning), string(protocol.PhaseSucceeded),
		string(protocol.PhaseFailed), string(protocol.PhaseCancelled)},
	"JobState": {string(protocol.StateQueued), string(protocol.StateAssigned), string(protocol.StateAccepted),
		string(protocol.StateRunning), string(protocol.StateSucceeded), string(protocol.StateFailed), string(protocol.StateCancelled)},
}

func loadOpenAPI(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromFile(openAPIPath)
	if err != nil {
		t.Fatalf("failed to load %s: %v", openAPIPath, err)
	}
	if err := doc.Validate(t.Context()); err != nil {
		t.Fatalf("%s is not a valid OpenAPI 3 document: %v", openAPIPath, err)
	}
	return doc
}

// jsonFields returns a struct's JSON field names and which of them are
// always sent (no omitempty).
func jsonFields(typ reflect.Type) (names, always []string) {
	for i := range typ.NumField() {
		f := typ.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" || !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		names = append(names, name)
		if !strings.Contains(opts, "omitempty") {
			always = append(always, name)
		}
	}
	sort.Strings(names)
	sort.Strings(always)
	return names, always
}

func TestOpenAPISchemasMatchTypes(t *testing.T) {
	doc := loadOpenAPI(t)
	for name, value := range schemaTypes {
		ref := doc.Components.Schemas[name]
		if ref == nil || ref.Value == nil {
			t.Errorf("schema %s is missing from %s", name, openAPIPath)
			continue
		}
		schema := ref.Value
		var props []string
		for p := range schema.Properties {
			props = append(props, p)
		}
		sort.Strings(props)
		names, always := jsonFields(reflect.TypeOf(value))
		if !slices.Equal(props, names) {
			t.Errorf("schema %s has properties %v, Go type has JSON fields %v", name, props, names)
		}
		required := slices.Clone(schema.Required)
		sort.Strings(required)
		if !slices.Equal(required, always) {
			t.Errorf("schema %s requires %v, Go type always sends %v", name, required, always)
		}
		if schema.AdditionalProperties.Has == nil || *schema.AdditionalProperties.Has {
			t.Errorf("schema %s allows additional properties; the control plane rejects unknown fields", name)
		}
	}
}

func TestOpenAPIEnumsMatchConstants(t *testing.T) {
	doc := loadOpenAPI(t)
	for name, want := range schemaEnums {
		ref := doc.Components.Schemas[name]
		if ref == nil || ref.Value == nil {
			t.Errorf("enum schema %s is missing", name)
			continue
		}
		var got []string
		for _, v := range ref.Value.Enum {
			got = append(got, v.(string))
		}
		if !slices.Equal(got, want) {
			t.Errorf("enum %s = %v, Go constants are %v", name, got, want)
		}
	}
}

func TestOpenAPIPathsMatchConstants(t *testing.T) {
	doc := loadOpenAPI(t)
	paths := map[string]string{
		protocol.PathJoin:        "POST",
		protocol.PathHeartbeat:   "POST",
		protocol.PathJobStatus:   "POST",
		protocol.PathJobSpec:     "GET",
		protocol.PathJobLogs:     "POST",
		protocol.PathJobProgress: "POST",
		protocol.PathJobPreview:  "POST",
		protocol.PathJobResult:   "POST",
	}
	for path, method := range paths {
		item := doc.Paths.Find(path)
		if item == nil {
			t.Errorf("path %s is missing from %s", path, openAPIPath)
			continue
		}
		if item.GetOperation(method) == nil {
			t.Errorf("path %s has no %s operation", path, method)
		}
	}
	if got := doc.Paths.Len(); got != len(paths) {
		t.Errorf("%s has %d paths, the protocol has %d", openAPIPath, got, len(paths))
	}
}

package spec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"sigs.k8s.io/yaml"
)

// Decode parses a job from YAML or JSON (JSON is YAML) strictly: an unknown
// key, a duplicate key, a value of the wrong type or trailing data is an
// error naming the key. It applies defaults and validates the result.
func Decode(data []byte) (Job, error) {
	job, err := DecodeStrict(data)
	if err != nil {
		return job, err
	}
	job.ApplyDefaults()
	if err := job.Validate(); err != nil {
		return job, err
	}
	return job, nil
}

// DecodeStrict parses a job like Decode but neither applies defaults nor
// validates, for callers that adjust the job first.
func DecodeStrict(data []byte) (Job, error) {
	var job Job
	jsonData, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return job, fmt.Errorf("invalid job: %w", err)
	}
	if bytes.Equal(bytes.TrimSpace(jsonData), []byte("null")) {
		return job, errors.New("invalid job: the document is empty; set at least source and destination")
	}

	dec := json.NewDecoder(bytes.NewReader(jsonData))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&job); err != nil {
		return job, fmt.Errorf("invalid job: %w", describeDecodeError(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return job, errors.New("invalid job: unexpected data after the job document")
	}
	return job, nil
}

// describeDecodeError rewords encoding/json errors to name the key in job terms.
func describeDecodeError(err error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		// Embedded structs appear in the path under their Go type name.
		field := strings.ReplaceAll(typeErr.Field, "Connection.", "")
		if field == "" {
			field = "the document"
		}
		return fmt.Errorf("key %q has a %s value, want %s", field, typeErr.Value, describeGoType(typeErr.Type.String()))
	}
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return fmt.Errorf("unknown key %s; check its spelling and nesting", rest)
	}
	return err
}

func describeGoType(t string) string {
	switch {
	case strings.HasSuffix(t, "Secret"), t == "string", strings.HasPrefix(t, "spec."):
		return "a string"
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "uint"):
		return "an integer"
	case t == "bool" || t == "*bool":
		return "true or false"
	case strings.HasPrefix(t, "[]"):
		return "a list"
	case strings.HasPrefix(t, "map["):
		return "a mapping"
	}
	return t
}

package server

import (
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/ferryhq/ferry/controlplane/store"
	"github.com/ferryhq/ferry/protocol"
)

// apiError is an error with the HTTP status and message to send. Its
// message is shown to the caller, so it never holds a secret.
type apiError struct {
	status  int
	message string
}

func (e *apiError) Error() string { return e.message }

func errorf(status int, format string, args ...any) *apiError {
	return &apiError{status: status, message: fmt.Sprintf(format, args...)}
}

// writeJSON sends v with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError sends err in the protocol.Error shape. An error that is not an
// *apiError is logged and sent as a 500 with a generic message, so that
// database details never reach the caller.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		s.log.Error("Request failed", "method", r.Method, "path", r.URL.Path, "error", err)
		ae = errorf(http.StatusInternalServerError, "internal error; the control plane log has the details")
	}
	writeJSON(w, ae.status, protocol.Error{Code: protocol.ErrorCodeForStatus(ae.status), Message: ae.message})
}

// decodeBody reads a JSON body strictly into v: at most MaxBodyBytes, no
// unknown field, no trailing data.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return errorf(http.StatusBadRequest, "unsupported Content-Type %q; send application/json", ct)
	}
	body := http.MaxBytesReader(w, r.Body, protocol.MaxBodyBytes)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return describeJSONError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return describeJSONError(err)
		}
		return errorf(http.StatusBadRequest, "invalid JSON body: unexpected data after the JSON object")
	}
	return nil
}

func describeJSONError(err error) error {
	var tooLarge *http.MaxBytesError
	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &tooLarge):
		return errorf(http.StatusRequestEntityTooLarge, "request body exceeds %d bytes; split it into smaller requests", protocol.MaxBodyBytes)
	case errors.Is(err, io.EOF):
		return errorf(http.StatusBadRequest, "request body is empty; send a JSON object")
	case errors.As(err, &syntaxErr):
		return errorf(http.StatusBadRequest, "invalid JSON body at byte %d: %v", syntaxErr.Offset, syntaxErr)
	case errors.As(err, &typeErr):
		return describeTypeError(typeErr)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return errorf(http.StatusBadRequest, "invalid JSON body: unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errorf(http.StatusBadRequest, "invalid JSON body: it ends early")
	}
	return errorf(http.StatusBadRequest, "invalid JSON body: %v", err)
}

// describeTypeError names the JSON value a field expects and the one it
// got in JSON terms, because a Go type name means nothing to an API caller.
func describeTypeError(err *json.UnmarshalTypeError) error {
	// Value is a JSON kind such as "array", or "number 1e100" for a
	// number that does not fit the field.
	kind, literal, hasLiteral := strings.Cut(err.Value, " ")
	got := "a JSON " + kind
	switch {
	case hasLiteral:
		got = literal
	case kind == "bool":
		got = "true or false"
	}
	want := jsonShape(err.Type)
	if err.Field == "" {
		return errorf(http.StatusBadRequest, "invalid JSON body: request body must be %s, got %s", want, got)
	}
	return errorf(http.StatusBadRequest, "invalid JSON body: field %q must be %s, got %s", err.Field, want, got)
}

var textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()

// jsonShape describes the JSON value that encoding/json decodes into t.
func jsonShape(t reflect.Type) string {
	if t == nil {
		return "another JSON value"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(textUnmarshalerType) {
		return "a JSON string"
	}
	switch t.Kind() {
	case reflect.String:
		return "a JSON string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "a JSON integer"
	case reflect.Float32, reflect.Float64:
		return "a JSON number"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return "a JSON string of base64"
		}
		return "a JSON array"
	case reflect.Array:
		return "a JSON array"
	case reflect.Struct, reflect.Map:
		return "a JSON object"
	}
	return "another JSON value"
}

// bearerToken returns the request's bearer token, or "".
func bearerToken(r *http.Request) string {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

// notFoundOr turns store.ErrNotFound into a 404 naming what is missing.
func notFoundOr(err error, format string, args ...any) error {
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusNotFound, format, args...)
	}
	return err
}

// statusRecorder remembers the status a handler sent, for the request log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// logRequests logs one debug line per request. The path holds only IDs;
// tokens travel in headers and are never logged.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		s.log.LogAttrs(r.Context(), slog.LevelDebug, "Request",
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", rec.status), slog.Duration("duration", time.Since(start)))
	})
}

package spec

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
)

// Redacted is what a Secret prints in logs and messages.
const Redacted = "[redacted]"

// Secret is a password or token. It prints as [redacted] through fmt,
// slog and text marshalling, so a logged Job or Connection does not leak it.
// JSON marshalling keeps the value, because the control plane sends jobs to
// pods as JSON; log a Job through Redacted, not through a JSON encoder.
type Secret string

// Value returns the secret itself, for handing to a driver.
func (s Secret) Value() string { return string(s) }

// String returns [redacted] for a non-empty secret and "" for an empty one.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return Redacted
}

// GoString implements fmt.GoStringer so %#v redacts too.
func (s Secret) GoString() string { return `"` + s.String() + `"` }

// Format implements fmt.Formatter so every verb, %s %q %v %x included, redacts.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		fmt.Fprintf(f, "%q", s.String())
		return
	}
	_, _ = io.WriteString(f, s.String())
}

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText returns [redacted]. JSON uses MarshalJSON instead.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// MarshalJSON returns the secret as a JSON string, for the wire.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(string(s)) }

// Redacted returns a copy of the job with every password replaced by
// [redacted], safe for JSON logs.
func (j Job) Redacted() Job {
	if j.Source.Password != "" {
		j.Source.Password = Redacted
	}
	if j.Destination.Password != "" {
		j.Destination.Password = Redacted
	}
	return j
}

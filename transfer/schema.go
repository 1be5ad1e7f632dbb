package transfer

import (
	"fmt"
	"strings"
)

// Kind is the engine's type of a column. Each kind has one canonical Go
// representation for its non-NULL values (NULL is nil):
//
//	KindInt          int64, or uint64 for unsigned 64-bit columns
//	KindDecimal      string, plain decimal notation such as "-12.3400"
//	KindFloat        float64 (float32 columns hold float32-exact values)
//	KindBool         bool
//	KindString       string
//	KindBytes        []byte
//	KindJSON         string holding the JSON text as stored
//	KindDate         string "YYYY-MM-DD"
//	KindTime         string "[-]HH:MM:SS[.ffffff]", a duration whose hours may exceed 23
//	KindTimestamp    string "YYYY-MM-DD HH:MM:SS[.ffffff]", wall-clock time without zone
//	KindTimestampTZ  string "YYYY-MM-DD HH:MM:SS[.ffffff]" in UTC, an instant
//
// Temporal values stay text so that no conversion ever passes through the
// process's local time zone.
type Kind int

// Column kinds.
const (
	KindInt Kind = iota + 1
	KindDecimal
	KindFloat
	KindBool
	KindString
	KindBytes
	KindJSON
	KindDate
	KindTime
	KindTimestamp
	KindTimestampTZ
)

var kindNames = map[Kind]string{
	KindInt: "int", KindDecimal: "decimal", KindFloat: "float", KindBool: "bool",
	KindString: "string", KindBytes: "bytes", KindJSON: "json", KindDate: "date",
	KindTime: "time", KindTimestamp: "timestamp", KindTimestampTZ: "timestamptz",
}

// String returns the kind's lower-case name.
func (k Kind) String() string {
	if n, ok := kindNames[k]; ok {
		return n
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// MarshalText returns the kind's name.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Column describes one column of the stream between source and destination.
type Column struct {
	// Name is the column name with its case kept.
	Name string `json:"name"`
	// Kind is the engine type.
	Kind Kind `json:"kind"`
	// Bits is the integer width (8, 16, 24, 32 or 64) or float width (32 or 64).
	Bits int `json:"bits,omitempty"`
	// Unsigned marks an unsigned integer.
	Unsigned bool `json:"unsigned,omitempty"`
	// Precision and Scale are a decimal's digits; Precision 0 means unconstrained.
	Precision int `json:"precision,omitempty"`
	Scale     int `json:"scale,omitempty"`
	// Length is the maximum length of a string in characters or of bytes in
	// bytes; 0 means unbounded.
	Length int64 `json:"length,omitempty"`
	// FixedLength marks CHAR and BINARY columns.
	FixedLength bool `json:"fixedLength,omitempty"`
	// FractionDigits is the sub-second precision of TIME and timestamps, 0 to 6.
	FractionDigits int `json:"fractionDigits,omitempty"`
	// Nullable is false only when the source guarantees no NULLs.
	Nullable bool `json:"nullable"`
	// NativeType is the source's own column type, such as "longtext" or
	// "numeric(10,2)", used when source and destination are the same product.
	NativeType string `json:"nativeType,omitempty"`
	// nativeProduct names the product NativeType belongs to.
	nativeProduct string
	// bitField marks a MySQL BIT column, whose value arrives as big-endian bytes.
	bitField bool
}

// Schema is the ordered list of columns and the primary key, if known.
type Schema struct {
	Columns    []Column
	PrimaryKey []string
}

// Index returns the position of the column named name, or -1.
func (s Schema) Index(name string) int {
	for i, c := range s.Columns {
		if c.Name == name {
			return i
		}
	}
	return -1
}

// Names returns the column names in order.
func (s Schema) Names() []string {
	names := make([]string, len(s.Columns))
	for i, c := range s.Columns {
		names[i] = c.Name
	}
	return names
}

// TypeName returns the engine type as text, such as "int64", "uint8" or "decimal(10,2)".
func (c Column) TypeName() string {
	switch c.Kind {
	case KindInt:
		if c.Unsigned {
			return fmt.Sprintf("uint%d", c.Bits)
		}
		return fmt.Sprintf("int%d", c.Bits)
	case KindDecimal:
		if c.Precision > 0 {
			return fmt.Sprintf("decimal(%d,%d)", c.Precision, c.Scale)
		}
		return "decimal"
	case KindFloat:
		return fmt.Sprintf("float%d", c.Bits)
	}
	return c.Kind.String()
}

// quoteList joins names for messages.
func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}

// UnmarshalText parses a kind name as String returns it.
func (k *Kind) UnmarshalText(b []byte) error {
	for kind, name := range kindNames {
		if name == string(b) {
			*k = kind
			return nil
		}
	}
	return fmt.Errorf("unknown column kind %q", b)
}

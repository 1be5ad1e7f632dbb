package spec

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Defaults that ApplyDefaults and the engine use.
const (
	DefaultBatchBytes   = 1 << 20
	DefaultPreviewRows  = 20
	MaxPreviewRows      = 1000
	DefaultMySQLPort    = 3306
	DefaultPostgresPort = 5432
)

// FieldError is one problem with one job field.
type FieldError struct {
	// Field is the key path, such as "source.port".
	Field string
	// Message is the problem and its fix.
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// InvalidJobError lists every problem Validate found.
type InvalidJobError struct {
	Problems []*FieldError
}

func (e *InvalidJobError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Error()
	}
	return "invalid job: " + strings.Join(parts, "; ")
}

// Unwrap returns the problems so errors.As finds a *FieldError.
func (e *InvalidJobError) Unwrap() []error {
	errs := make([]error, len(e.Problems))
	for i, p := range e.Problems {
		errs[i] = p
	}
	return errs
}

// ApplyDefaults fills unset optional fields with their defaults.
func (j *Job) ApplyDefaults() {
	if j.Type == "" {
		j.Type = JobTransfer
	}
	j.Source.Connection.applyDefaults()
	j.Destination.Connection.applyDefaults()
	if j.Destination.Mode == "" && j.Destination.Type.IsDatabase() {
		j.Destination.Mode = ModeInsert
	}
	if j.BatchBytes == 0 {
		j.BatchBytes = DefaultBatchBytes
	}
	if j.PreviewRows == 0 {
		j.PreviewRows = DefaultPreviewRows
	}
}

func (c *Connection) applyDefaults() {
	if c.Port == 0 {
		switch c.Type {
		case TypeMySQL:
			c.Port = DefaultMySQLPort
		case TypePostgres:
			c.Port = DefaultPostgresPort
		}
	}
	if c.Compression == "" && (c.Type == TypeCSV || c.Type == TypeJSONL) {
		c.Compression = CompressionNone
		if strings.HasSuffix(c.Path, ".gz") {
			c.Compression = CompressionGzip
		}
	}
}

// Validate checks the job after ApplyDefaults and returns an
// *InvalidJobError naming each invalid field and the fix, or nil.
func (j *Job) Validate() error {
	v := &validator{}
	switch j.Type {
	case JobTransfer, JobPreview:
	default:
		v.add("type", "invalid value %q; use transfer or preview", j.Type)
	}

	v.source(&j.Source)
	if j.Type != JobPreview {
		v.destination(&j.Destination)
	}

	if j.Incremental {
		switch {
		case !j.Source.Type.IsDatabase() && j.Source.Type != "":
			v.add("incremental", "is only supported for database sources, not %s", j.Source.Type)
		case j.Source.Query != "" && len(j.IncrementalColumns) == 0:
			v.add("incrementalColumns", "is required for an incremental query source; list the columns that order the rows")
		}
	}
	if !j.Incremental && len(j.LastRecord) > 0 {
		v.add("lastRecord", "is set but incremental is false; set incremental: true or remove lastRecord")
	}
	if len(j.LastRecord) > 0 && len(j.IncrementalColumns) > 0 {
		keys := make([]string, 0, len(j.LastRecord))
		for k := range j.LastRecord {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if !contains(j.IncrementalColumns, k) {
				v.add("lastRecord."+k, "is not one of incrementalColumns %v; remove it or add the column", j.IncrementalColumns)
			}
		}
		for _, c := range j.IncrementalColumns {
			if _, ok := j.LastRecord[c]; !ok {
				v.add("lastRecord", "has no value for incremental column %q; give every incremental column a value or clear lastRecord", c)
			}
		}
	}
	v.uniqueNames("incrementalColumns", j.IncrementalColumns)

	if j.Parallelism < 0 {
		v.add("parallelism", "is %d; use 0 for one reader per CPU or a positive count", j.Parallelism)
	}
	if j.BatchBytes < 0 {
		v.add("batchBytes", "is %d; use 0 for the default of 1 MiB or a positive size in bytes", j.BatchBytes)
	}
	if j.PreviewRows < 0 || j.PreviewRows > MaxPreviewRows {
		v.add("previewRows", "is %d; use 1 to %d", j.PreviewRows, MaxPreviewRows)
	}
	return v.err()
}

type validator struct {
	problems []*FieldError
}

func (v *validator) add(field, format string, args ...any) {
	v.problems = append(v.problems, &FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

func (v *validator) err() error {
	if len(v.problems) == 0 {
		return nil
	}
	return &InvalidJobError{Problems: v.problems}
}

func (v *validator) connection(prefix string, c *Connection, allowed []EndpointType) {
	if c.Type == "" {
		v.add(prefix+".type", "is required; use one of %s", joinTypes(allowed))
		return
	}
	if !containsType(allowed, c.Type) {
		v.add(prefix+".type", "invalid value %q; use one of %s", c.Type, joinTypes(allowed))
		return
	}

	passwords := 0
	for _, set := range []bool{c.Password != "", c.PasswordFromEnv != "", c.PasswordFile != ""} {
		if set {
			passwords++
		}
	}
	if passwords > 1 {
		v.add(prefix+".password", "password, passwordFromEnv and passwordFile are mutually exclusive; keep one")
	}

	if c.Type.IsServer() {
		for _, f := range []struct{ name, value string }{{"host", c.Host}, {"database", c.Database}, {"user", c.User}} {
			if f.value == "" {
				v.add(prefix+"."+f.name, "is required for %s", c.Type)
			}
		}
		if c.Port < 1 || c.Port > 65535 {
			v.add(prefix+".port", "is %d; use a TCP port from 1 to 65535", c.Port)
		}
		if c.Path != "" {
			v.add(prefix+".path", "is only for sqlite and files; remove it for %s", c.Type)
		}
	} else {
		if c.Path == "" {
			v.add(prefix+".path", "is required for %s", c.Type)
		}
		for _, f := range []struct{ name, value string }{{"host", c.Host}, {"database", c.Database}, {"user", c.User}} {
			if f.value != "" {
				v.add(prefix+"."+f.name, "is only for mysql and postgres; remove it for %s", c.Type)
			}
		}
		if passwords > 0 {
			v.add(prefix+".password", "is only for mysql and postgres; remove it for %s", c.Type)
		}
	}

	switch c.Type {
	case TypeCSV, TypeJSONL:
		if c.Compression != CompressionNone && c.Compression != CompressionGzip {
			v.add(prefix+".compression", "invalid value %q; use none or gzip", c.Compression)
		}
	default:
		if c.Compression != "" {
			v.add(prefix+".compression", "is only for csv and jsonl files; remove it for %s", c.Type)
		}
	}
	if c.NullString != nil && c.Type != TypeCSV {
		v.add(prefix+".nullString", "is only for csv files; remove it for %s", c.Type)
	}
}

func (v *validator) source(s *Source) {
	v.connection("source", &s.Connection,
		[]EndpointType{TypeMySQL, TypePostgres, TypeSQLite, TypeCSV, TypeJSONL})
	if s.Type.IsDatabase() {
		switch {
		case s.Table == "" && s.Query == "":
			v.add("source.table", "is required unless source.query is set; name the table to read")
		case s.Table != "" && s.Query != "":
			v.add("source.query", "table and query are mutually exclusive; keep one")
		case s.Query != "" && (len(s.Columns) > 0 || s.Where != ""):
			v.add("source.query", "columns and where apply to table sources only; put them in the query")
		}
	} else if s.Type != "" {
		if s.Table != "" || s.Query != "" || s.Where != "" {
			v.add("source.table", "table, query and where are only for database sources; remove them for %s", s.Type)
		}
	}
	v.uniqueNames("source.columns", s.Columns)
}

func (v *validator) destination(d *Destination) {
	if d.Type == "" && d.Table == "" && d.Path == "" {
		v.add("destination", "is required for a transfer job; set destination.type and its connection")
		return
	}
	v.connection("destination", &d.Connection,
		[]EndpointType{TypeMySQL, TypePostgres, TypeSQLite, TypeCSV, TypeJSONL, TypeParquet})
	if !d.Type.IsDatabase() {
		if d.Type != "" && (d.Table != "" || d.Mode != "" || len(d.MergeKeys) > 0) {
			v.add("destination.table", "table, mode and mergeKeys are only for database destinations; remove them for %s", d.Type)
		}
		return
	}
	if d.Table == "" {
		v.add("destination.table", "is required for %s; name the table to write", d.Type)
	}
	switch d.Mode {
	case ModeInsert, ModeTruncateInsert, ModeReplace, ModeMerge:
	default:
		v.add("destination.mode", "invalid value %q; use insert, truncate_insert, replace or merge", d.Mode)
	}
	if len(d.MergeKeys) > 0 && d.Mode != ModeMerge {
		v.add("destination.mergeKeys", "is only used by mode merge; remove it or set mode: merge")
	}
	v.uniqueNames("destination.mergeKeys", d.MergeKeys)
}

func (v *validator) uniqueNames(field string, names []string) {
	seen := map[string]bool{}
	for i, n := range names {
		if n == "" {
			v.add(fmt.Sprintf("%s[%d]", field, i), "is empty; give a column name")
		}
		if seen[n] && n != "" {
			v.add(fmt.Sprintf("%s[%d]", field, i), "repeats column %q; list each column once", n)
		}
		seen[n] = true
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func containsType(list []EndpointType, t EndpointType) bool {
	for _, x := range list {
		if x == t {
			return true
		}
	}
	return false
}

func joinTypes(list []EndpointType) string {
	parts := make([]string, len(list))
	for i, t := range list {
		parts[i] = string(t)
	}
	return strings.Join(parts, ", ")
}

// errMissingPassword is wrapped when a passwordFromEnv variable is unset.
var errMissingPassword = errors.New("password not found")

package transfer

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ferryhq/ferry/transfer/spec"
)

// openInput opens a source file, decompressing gzip when configured.
func openInput(c spec.Connection) (io.Reader, func(), error) {
	f, err := os.Open(c.Path)
	if err != nil {
		return nil, nil, invalidJob("source.path: %w", err)
	}
	if c.Compression != spec.CompressionGzip {
		return bufio.NewReaderSize(f, 256<<10), func() { f.Close() }, nil
	}
	zr, err := gzip.NewReader(bufio.NewReaderSize(f, 256<<10))
	if err != nil {
		f.Close()
		return nil, nil, dataError("source.path %s: not a gzip file: %w", c.Path, err)
	}
	return zr, func() { zr.Close(); f.Close() }, nil
}

// csvSource reads a CSV file whose first record names the columns. Every
// column is a string: CSV has no types and no NULL, so an empty field is
// an empty string.
type csvSource struct {
	run    *run
	src    spec.Source
	reader *csv.Reader
	closer func()
	schema Schema
}

func (s *csvSource) secrets() []string { return nil }

func (s *csvSource) open(context.Context) (Schema, error) {
	r, closer, err := openInput(s.src.Connection)
	if err != nil {
		return Schema{}, err
	}
	s.closer = closer
	s.reader = csv.NewReader(r)
	s.reader.ReuseRecord = false
	header, err := s.reader.Read()
	if err != nil {
		return Schema{}, dataError("source.path %s: failed to read the CSV header: %w", s.src.Path, err)
	}
	seen := map[string]int{}
	for i, name := range header {
		if i == 0 {
			name = strings.TrimPrefix(name, "\ufeff")
		}
		// The header names the destination's columns, so each name must be
		// usable as one.
		if strings.TrimSpace(name) == "" {
			return Schema{}, invalidJob("source.path %s: the CSV header leaves column %d without a name; name every column in the first line", s.src.Path, i+1)
		}
		if first, dup := seen[name]; dup {
			return Schema{}, invalidJob("source.path %s: the CSV header names column %q twice (columns %d and %d); give every column its own name", s.src.Path, name, first, i+1)
		}
		seen[name] = i + 1
		s.schema.Columns = append(s.schema.Columns, Column{Name: name, Kind: KindString, Nullable: true})
	}
	return s.schema, nil
}

func (s *csvSource) read(ctx context.Context, req readRequest) ([]any, error) {
	b := newBatcher(req)
	n := 0
	for req.limit == 0 || n < req.limit {
		rec, err := s.reader.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, dataError("source.path %s: %w", s.src.Path, err)
		}
		row := make([]any, len(rec))
		for i, v := range rec {
			if s.src.NullString != nil && v == *s.src.NullString {
				continue
			}
			row[i] = v
		}
		if err := b.add(ctx, row); err != nil {
			return nil, err
		}
		n++
	}
	return nil, b.flush(ctx)
}

func (s *csvSource) close() {
	if s.closer != nil {
		s.closer()
	}
}

// jsonlSource reads JSON Lines: one object per line. The columns are the
// keys in order of first appearance within the first inferRows lines, and
// each column's kind is inferred from those lines' values.
type jsonlSource struct {
	run     *run
	src     spec.Source
	lines   *bufio.Reader
	closer  func()
	schema  Schema
	pending []jsonlObject
	lineNo  int
}

// inferRows is how many lines the JSON Lines source samples for the schema.
const inferRows = 1000

type jsonlObject struct {
	line   int
	keys   []string
	values map[string]json.RawMessage
}

func (s *jsonlSource) secrets() []string { return nil }

func (s *jsonlSource) open(context.Context) (Schema, error) {
	r, closer, err := openInput(s.src.Connection)
	if err != nil {
		return Schema{}, err
	}
	s.closer = closer
	s.lines = bufio.NewReaderSize(r, 256<<10)

	kinds := map[string]Kind{}
	for len(s.pending) < inferRows {
		obj, err := s.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return Schema{}, err
		}
		s.pending = append(s.pending, obj)
		for _, k := range obj.keys {
			if _, seen := kinds[k]; !seen {
				kinds[k] = 0
				s.schema.Columns = append(s.schema.Columns, Column{Name: k, Nullable: true})
			}
			kinds[k] = mergeKind(kinds[k], jsonKind(obj.values[k]))
		}
	}
	if len(s.schema.Columns) == 0 {
		return Schema{}, dataError("source.path %s: no JSON objects found", s.src.Path)
	}
	for i := range s.schema.Columns {
		c := &s.schema.Columns[i]
		c.Kind = kinds[c.Name]
		switch c.Kind {
		case 0:
			c.Kind = KindString
		case KindInt, KindFloat:
			c.Bits = 64
		}
	}
	return s.schema, nil
}

// next reads the next non-empty line as an object, keeping key order.
func (s *jsonlSource) next() (jsonlObject, error) {
	for {
		line, err := s.lines.ReadBytes('\n')
		if len(line) == 0 && err != nil {
			if err == io.EOF {
				return jsonlObject{}, io.EOF
			}
			return jsonlObject{}, dataError("source.path %s: %w", s.src.Path, err)
		}
		s.lineNo++
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		obj, perr := parseObject(line)
		if perr != nil {
			return jsonlObject{}, dataError("source.path %s line %d: %v", s.src.Path, s.lineNo, perr)
		}
		obj.line = s.lineNo
		return obj, nil
	}
}

func parseObject(line []byte) (jsonlObject, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return jsonlObject{}, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return jsonlObject{}, fmt.Errorf("line is not a JSON object")
	}
	obj := jsonlObject{values: map[string]json.RawMessage{}}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return jsonlObject{}, err
		}
		key := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return jsonlObject{}, err
		}
		if _, dup := obj.values[key]; !dup {
			obj.keys = append(obj.keys, key)
		}
		obj.values[key] = raw
	}
	return obj, nil
}

// jsonKind returns the kind a JSON value suggests; 0 for null.
func jsonKind(raw json.RawMessage) Kind {
	if len(raw) == 0 {
		return 0
	}
	switch raw[0] {
	case 'n':
		return 0
	case 't', 'f':
		return KindBool
	case '"':
		return KindString
	case '{', '[':
		return KindJSON
	}
	text := string(raw)
	if strings.ContainsAny(text, "eE") {
		return KindFloat
	}
	if strings.Contains(text, ".") {
		return KindDecimal
	}
	if _, err := strconv.ParseInt(text, 10, 64); err == nil {
		return KindInt
	}
	return KindDecimal
}

// mergeKind widens a column's kind to hold a new value's kind.
func mergeKind(a, b Kind) Kind {
	switch {
	case a == 0:
		return b
	case b == 0 || a == b:
		return a
	case (a == KindInt && b == KindDecimal) || (a == KindDecimal && b == KindInt):
		return KindDecimal
	case (a == KindInt || a == KindDecimal) && b == KindFloat, a == KindFloat && (b == KindInt || b == KindDecimal):
		return KindFloat
	}
	return KindString
}

func (s *jsonlSource) read(ctx context.Context, req readRequest) ([]any, error) {
	b := newBatcher(req)
	n := 0
	for req.limit == 0 || n < req.limit {
		var obj jsonlObject
		if len(s.pending) > 0 {
			obj, s.pending = s.pending[0], s.pending[1:]
		} else {
			var err error
			if obj, err = s.next(); err == io.EOF {
				break
			} else if err != nil {
				return nil, err
			}
		}
		row := make([]any, len(s.schema.Columns))
		for i := range s.schema.Columns {
			c := &s.schema.Columns[i]
			raw, ok := obj.values[c.Name]
			if !ok {
				continue
			}
			v, err := jsonlValue(c, raw)
			if err != nil {
				return nil, dataError("source.path %s line %d, key %q: value %s %v, but the key's type %s was inferred from the first %d lines; "+
					"give the key one type throughout the file or move a line with the wider type among those lines",
					s.src.Path, obj.line, c.Name, truncateText(string(raw), 100), err, c.TypeName(), inferRows)
			}
			row[i] = v
		}
		if len(obj.values) > len(s.schema.Columns) {
			for _, k := range obj.keys {
				if s.schema.Index(k) < 0 {
					s.run.warn(fmt.Sprintf("key %q is not among the columns inferred from the first %d lines and was skipped", k, inferRows), 1)
				}
			}
		}
		if err := b.add(ctx, row); err != nil {
			return nil, err
		}
		n++
	}
	return nil, b.flush(ctx)
}

// jsonlValue converts one JSON value to the column's kind. Its error
// describes, in words for the user, how the value fails the kind.
func jsonlValue(c *Column, raw json.RawMessage) (any, error) {
	if string(raw) == "null" {
		return nil, nil
	}
	number := raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9')
	switch c.Kind {
	case KindJSON:
		return string(raw), nil
	case KindBool:
		var v bool
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, errors.New("is not true or false")
		}
		return v, nil
	case KindInt:
		if !number {
			return nil, errors.New("is not an integer")
		}
		v, err := strconv.ParseInt(string(raw), 10, 64)
		if errors.Is(err, strconv.ErrRange) {
			return nil, errors.New("is out of the 64-bit integer range")
		}
		if err != nil {
			return nil, errors.New("is not an integer")
		}
		return v, nil
	case KindFloat:
		if !number {
			return nil, errors.New("is not a number")
		}
		v, err := strconv.ParseFloat(string(raw), 64)
		if err != nil {
			return nil, errors.New("is out of the 64-bit floating-point range")
		}
		return v, nil
	case KindDecimal:
		if !number {
			return nil, errors.New("is not a number")
		}
		return string(raw), nil
	}
	if raw[0] == '"' {
		var v string
		err := json.Unmarshal(raw, &v)
		return v, err
	}
	return string(raw), nil
}

func (s *jsonlSource) close() {
	if s.closer != nil {
		s.closer()
	}
}

// fileDest writes CSV, JSON Lines or Parquet into a temporary file beside
// the destination path and renames it into place on commit, so a failed
// run leaves any earlier file untouched.
type fileDest struct {
	run    *run
	dst    spec.Destination
	schema Schema

	file    *os.File
	tmpPath string
	buf     *bufio.Writer
	gz      *gzip.Writer
	csv     *csv.Writer
	parquet *parquetWriter
	record  []string
}

func (d *fileDest) secrets() []string { return nil }

// createTempOutput creates a hidden file in dir that commit renames to
// name. Unlike os.CreateTemp, which always uses mode 0600, it requests
// mode 0666, so the finished file gets the permissions the umask allows, as
// a file written by any other tool would.
func createTempOutput(dir, name string) (*os.File, error) {
	for range 100 {
		path := filepath.Join(dir, "."+name+".ferry-"+rand.Text())
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if !errors.Is(err, fs.ErrExist) {
			return f, err
		}
	}
	return nil, fmt.Errorf("failed to find an unused temporary file name for %s", name)
}

func (d *fileDest) open(_ context.Context, schema Schema) error {
	d.schema = schema
	dir := filepath.Dir(d.dst.Path)
	f, err := createTempOutput(dir, filepath.Base(d.dst.Path))
	if err != nil {
		return invalidJob("destination.path: cannot create a file in %s: %w", dir, err)
	}
	d.file, d.tmpPath = f, f.Name()
	d.buf = bufio.NewWriterSize(f, 256<<10)
	var w io.Writer = d.buf
	if d.dst.Compression == spec.CompressionGzip {
		d.gz = gzip.NewWriter(d.buf)
		w = d.gz
	}
	switch d.dst.Type {
	case spec.TypeCSV:
		d.csv = csv.NewWriter(w)
		d.record = make([]string, len(schema.Columns))
		return d.csv.Write(schema.Names())
	case spec.TypeParquet:
		pw, err := newParquetWriter(w, schema)
		if err != nil {
			return err
		}
		d.parquet = pw
	}
	return nil
}

func (d *fileDest) out() io.Writer {
	if d.gz != nil {
		return d.gz
	}
	return d.buf
}

func (d *fileDest) write(_ context.Context, b *batch) error {
	switch d.dst.Type {
	case spec.TypeCSV:
		for _, row := range b.rows {
			for i, v := range row {
				if v == nil && d.dst.NullString != nil {
					d.record[i] = *d.dst.NullString
					continue
				}
				d.record[i] = fileText(&d.schema.Columns[i], v)
			}
			if err := d.csv.Write(d.record); err != nil {
				return fmt.Errorf("failed to write %s: %w", d.dst.Path, err)
			}
		}
		return nil
	case spec.TypeParquet:
		return d.parquet.write(b.rows)
	}
	w := d.out()
	line := make([]byte, 0, 512)
	for _, row := range b.rows {
		line = append(line[:0], '{')
		for i, v := range row {
			if i > 0 {
				line = append(line, ',')
			}
			name, _ := json.Marshal(d.schema.Columns[i].Name)
			line = append(line, name...)
			line = append(line, ':')
			c := &d.schema.Columns[i]
			if s, ok := v.(string); ok && c.Kind == KindTimestampTZ {
				v = instantText(s)
			}
			line = append(line, jsonValue(c, v)...)
		}
		line = append(line, '}', '\n')
		if _, err := w.Write(line); err != nil {
			return fmt.Errorf("failed to write %s: %w", d.dst.Path, err)
		}
	}
	return nil
}

// fileText returns a CSV field: NULL is empty, bytes are base64 and
// instants carry a +00:00 offset.
func fileText(c *Column, v any) string {
	if v == nil {
		return ""
	}
	if s, ok := v.(string); ok && c.Kind == KindTimestampTZ {
		return instantText(s)
	}
	return plainText(c, v)
}

// instantText adds the +00:00 offset to an instant held in UTC. PostgreSQL's
// infinity and -infinity are no point in time, so they stay as they are.
func instantText(s string) string {
	if s == "infinity" || s == "-infinity" {
		return s
	}
	return s + "+00:00"
}

func (d *fileDest) commit(context.Context) error {
	if d.csv != nil {
		d.csv.Flush()
		if err := d.csv.Error(); err != nil {
			return fmt.Errorf("failed to write %s: %w", d.dst.Path, err)
		}
	}
	if d.parquet != nil {
		if err := d.parquet.close(); err != nil {
			return fmt.Errorf("failed to write %s: %w", d.dst.Path, err)
		}
	}
	if d.gz != nil {
		if err := d.gz.Close(); err != nil {
			return fmt.Errorf("failed to write %s: %w", d.dst.Path, err)
		}
	}
	if err := d.buf.Flush(); err != nil {
		return fmt.Errorf("failed to write %s: %w", d.dst.Path, err)
	}
	if err := d.file.Sync(); err != nil {
		return fmt.Errorf("failed to write %s: %w", d.dst.Path, err)
	}
	if err := d.file.Close(); err != nil {
		return fmt.Errorf("failed to write %s: %w", d.dst.Path, err)
	}
	d.file = nil
	if err := os.Rename(d.tmpPath, d.dst.Path); err != nil {
		return fmt.Errorf("failed to move the output into place at %s: %w", d.dst.Path, err)
	}
	d.tmpPath = ""
	return nil
}

func (d *fileDest) abort(context.Context) {
	if d.file != nil {
		d.file.Close()
		d.file = nil
	}
	if d.tmpPath != "" {
		os.Remove(d.tmpPath)
		d.tmpPath = ""
	}
}

func (d *fileDest) close() { d.abort(context.Background()) }

// check runs open and rolls everything back; the load's transaction (or
// temporary file) makes that free of side effects.
func (d *fileDest) check(ctx context.Context, schema Schema) error {
	err := d.open(ctx, schema)
	d.abort(ctx)
	return err
}

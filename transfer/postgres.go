package transfer

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ferryhq/ferry/transfer/spec"
)

type postgresDialect struct{}

func (postgresDialect) quoteIdent(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// quoteString relies on standard_conforming_strings, on by default since
// PostgreSQL 9.1 and set explicitly by postgresConfig.
func (postgresDialect) quoteString(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// postgresConfig builds a pgx configuration with the session settings the
// engine relies on. UTC and ISO dates keep values away from any local time
// zone. Intervals print as hh:mm:ss, bytea as hex and floats in their
// shortest exact form.
func postgresConfig(c spec.Connection, password string) (*pgx.ConnConfig, error) {
	u := url.URL{Scheme: "postgres", Host: net.JoinHostPort(c.Host, strconv.Itoa(c.Port)), Path: "/" + c.Database}
	q := url.Values{}
	for k, v := range c.Params {
		q.Set(k, v)
	}
	u.RawQuery = q.Encode()
	u.User = url.User(c.User)
	cfg, err := pgx.ParseConfig(u.String())
	if err != nil {
		return nil, invalidJob("invalid postgres connection settings: %v", err)
	}
	cfg.Password = password
	for k, v := range map[string]string{
		"TimeZone":                    "UTC",
		"DateStyle":                   "ISO, YMD",
		"IntervalStyle":               "postgres",
		"bytea_output":                "hex",
		"extra_float_digits":          "3",
		"client_encoding":             "UTF8",
		"standard_conforming_strings": "on",
	} {
		cfg.RuntimeParams[k] = v
	}
	return cfg, nil
}

func connectPostgres(ctx context.Context, r *run, c spec.Connection, password string) (*pgx.Conn, error) {
	cfg, err := postgresConfig(c, password)
	if err != nil {
		return nil, err
	}
	var conn *pgx.Conn
	what := fmt.Sprintf("postgres %s:%d/%s", c.Host, c.Port, c.Database)
	err = retryConnect(ctx, r, what, 5, postgresTransient, func() error {
		var err error
		conn, err = pgx.ConnectConfig(ctx, cfg)
		return err
	})
	if err != nil {
		return nil, connectionError("failed to connect to %s as user %q: %w", what, c.User, scrub(err, password))
	}
	return conn, nil
}

// postgresTransient reports whether a connection error may succeed on
// retry: authentication and missing databases do not.
func postgresTransient(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return strings.HasPrefix(pgErr.Code, "08") || pgErr.Code == "53300" || pgErr.Code == "57P03"
	}
	return true
}

func isPostgresConnectionError(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return strings.HasPrefix(pgErr.Code, "08") || strings.HasPrefix(pgErr.Code, "57P")
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || pgconn.SafeToRetry(err) ||
		strings.Contains(err.Error(), "conn closed") || strings.Contains(err.Error(), "unexpected EOF")
}

func classifyPostgres(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	msg := fmt.Sprintf(format, args...)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case strings.HasPrefix(pgErr.Code, "22"), strings.HasPrefix(pgErr.Code, "23"):
			detail := ""
			if pgErr.Where != "" {
				detail = " (" + pgErr.Where + ")"
			}
			if pgErr.ColumnName != "" {
				detail += fmt.Sprintf(" in column %q", pgErr.ColumnName)
			}
			return &Error{Kind: KindData, Err: fmt.Errorf("%s: %w%s", msg, err, detail)}
		case pgErr.Code == "42P01", pgErr.Code == "42703", pgErr.Code == "3F000", pgErr.Code == "42601":
			return &Error{Kind: KindInvalidJob, Err: fmt.Errorf("%s: %w", msg, err)}
		}
	}
	if isPostgresConnectionError(err) {
		return &Error{Kind: KindConnection, Err: fmt.Errorf("%s: %w", msg, err)}
	}
	return fmt.Errorf("%s: %w", msg, err)
}

// PostgreSQL type OIDs the engine maps; others read as text.
const (
	oidBool        = 16
	oidBytea       = 17
	oidChar        = 18
	oidName        = 19
	oidInt8        = 20
	oidInt2        = 21
	oidInt4        = 23
	oidText        = 25
	oidOID         = 26
	oidJSON        = 114
	oidFloat4      = 700
	oidFloat8      = 701
	oidBPChar      = 1042
	oidVarchar     = 1043
	oidDate        = 1082
	oidTime        = 1083
	oidTimestamp   = 1114
	oidTimestampTZ = 1184
	oidInterval    = 1186
	oidNumeric     = 1700
	oidUUID        = 2950
	oidJSONB       = 3802
)

// postgresColumn maps a result column's type OID and modifier.
func postgresColumn(name string, oid uint32, typmod int32, nativeType string) Column {
	col := Column{Name: name, Nullable: true, NativeType: nativeType, nativeProduct: "postgres"}
	switch oid {
	case oidBool:
		col.Kind = KindBool
	case oidBytea:
		col.Kind = KindBytes
	case oidInt2:
		col.Kind, col.Bits = KindInt, 16
	case oidInt4:
		col.Kind, col.Bits = KindInt, 32
	case oidInt8:
		col.Kind, col.Bits = KindInt, 64
	case oidOID:
		col.Kind, col.Bits, col.Unsigned = KindInt, 32, true
	case oidNumeric:
		col.Kind = KindDecimal
		if typmod >= 4 {
			col.Precision = int((typmod - 4) >> 16 & 0xffff)
			col.Scale = int((typmod - 4) & 0xffff)
		}
	case oidFloat4:
		col.Kind, col.Bits = KindFloat, 32
	case oidFloat8:
		col.Kind, col.Bits = KindFloat, 64
	case oidVarchar:
		col.Kind = KindString
		if typmod >= 4 {
			col.Length = int64(typmod - 4)
		}
	case oidBPChar:
		col.Kind, col.FixedLength = KindString, true
		if typmod >= 4 {
			col.Length = int64(typmod - 4)
		}
	case oidChar:
		col.Kind, col.Length, col.FixedLength = KindString, 1, true
	case oidName:
		col.Kind, col.Length = KindString, 63
	case oidUUID:
		col.Kind, col.Length, col.FixedLength = KindString, 36, true
	case oidJSON, oidJSONB:
		col.Kind = KindJSON
	case oidDate:
		col.Kind = KindDate
	case oidTime, oidInterval:
		col.Kind, col.FractionDigits = KindTime, 6
		if typmod >= 0 && oid == oidTime {
			col.FractionDigits = int(typmod)
		}
	case oidTimestamp:
		col.Kind, col.FractionDigits = KindTimestamp, 6
		if typmod >= 0 {
			col.FractionDigits = int(typmod)
		}
	case oidTimestampTZ:
		col.Kind, col.FractionDigits = KindTimestampTZ, 6
		if typmod >= 0 {
			col.FractionDigits = int(typmod)
		}
	default:
		col.Kind = KindString
	}
	return col
}

// postgresSource reads with COPY (query) TO STDOUT in text format, the
// same path psql uses, and parses each field by its column kind.
type postgresSource struct {
	sqlSource
	conn     spec.Connection
	password string
	meta     *pgx.Conn
	// passthrough sends each row as its COPY text line, for a PostgreSQL
	// destination whose COPY FROM reads the same text the source wrote.
	passthrough bool
}

// copyLine is one row in PostgreSQL COPY text format, without the newline.
// Only a PostgreSQL destination accepts it.
type copyLine string

func (s *postgresSource) secrets() []string { return []string{s.password} }

func (s *postgresSource) open(ctx context.Context) (Schema, error) {
	conn, err := connectPostgres(ctx, s.run, s.conn, s.password)
	if err != nil {
		return Schema{}, err
	}
	s.meta = conn
	return s.sqlSource.open(ctx)
}

func (s *postgresSource) close() {
	if s.meta != nil {
		s.meta.Close(context.Background())
	}
}

func (s *postgresSource) quoteIdent(n string) string  { return postgresDialect{}.quoteIdent(n) }
func (s *postgresSource) quoteString(v string) string { return postgresDialect{}.quoteString(v) }
func (s *postgresSource) orderCheap() bool            { return false }
func (s *postgresSource) isConnectionError(err error) bool {
	return KindOf(err) == KindConnection || isPostgresConnectionError(err)
}

func (s *postgresSource) describe(ctx context.Context, query string, src spec.Source) (Schema, error) {
	sd, err := s.meta.Prepare(ctx, "", query)
	if err != nil {
		return Schema{}, classifyPostgres(err, "failed to read the columns of the source")
	}
	var schema Schema
	for _, f := range sd.Fields {
		var native string
		if err := s.meta.QueryRow(ctx, "SELECT format_type($1, $2)", f.DataTypeOID, f.TypeModifier).Scan(&native); err != nil {
			return Schema{}, classifyPostgres(err, "failed to read the type of column %q", f.Name)
		}
		schema.Columns = append(schema.Columns, postgresColumn(f.Name, f.DataTypeOID, f.TypeModifier, native))
	}
	if src.Table == "" {
		return schema, nil
	}

	table := quoteTable(postgresDialect{}, src.Table)
	rows, err := s.meta.Query(ctx, `SELECT a.attname, a.attnotnull FROM pg_attribute a
		WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped`, table)
	if err != nil {
		return Schema{}, classifyPostgres(err, "failed to read the definition of table %q", src.Table)
	}
	notNull := map[string]bool{}
	for rows.Next() {
		var name string
		var nn bool
		if err := rows.Scan(&name, &nn); err != nil {
			return Schema{}, classifyPostgres(err, "failed to read the definition of table %q", src.Table)
		}
		notNull[name] = nn
	}
	rows.Close()
	for i := range schema.Columns {
		schema.Columns[i].Nullable = !notNull[schema.Columns[i].Name]
	}
	schema.PrimaryKey, err = postgresPrimaryKey(ctx, s.meta, table)
	return schema, err
}

func postgresPrimaryKey(ctx context.Context, conn *pgx.Conn, quotedTable string) ([]string, error) {
	rows, err := conn.Query(ctx, `SELECT a.attname FROM pg_index i
		JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
		WHERE i.indrelid = $1::regclass AND i.indisprimary
		ORDER BY array_position(i.indkey::int2[], a.attnum)`, quotedTable)
	if err != nil {
		return nil, classifyPostgres(err, "failed to read the primary key of %s", quotedTable)
	}
	defer rows.Close()
	var pk []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		pk = append(pk, name)
	}
	return pk, rows.Err()
}

func (s *postgresSource) keyRange(ctx context.Context, key, from string) (int64, int64, bool, error) {
	q := fmt.Sprintf("SELECT MIN(%[1]s)::int8, MAX(%[1]s)::int8 FROM (%[2]s) AS ferry_range", s.quoteIdent(key), from)
	var lo, hi *int64
	if err := s.meta.QueryRow(ctx, q).Scan(&lo, &hi); err != nil {
		return 0, 0, false, classifyPostgres(err, "failed to read the key range of %s", key)
	}
	if lo == nil || hi == nil {
		return 0, 0, false, nil
	}
	return *lo, *hi, true, nil
}

func (s *postgresSource) stream(ctx context.Context, query string, schema Schema, emit func([]any) error) error {
	conn, err := connectPostgres(ctx, s.run, s.conn, s.password)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())

	pr, pw := io.Pipe()
	copyDone := make(chan error, 1)
	go func() {
		// CopyTo writes one message per row; buffering them saves a
		// goroutine handoff through the pipe for every row.
		bw := bufio.NewWriterSize(pw, 256<<10)
		_, err := conn.PgConn().CopyTo(ctx, bw, s.copyToSQL(query))
		if err == nil {
			err = bw.Flush()
		}
		pw.CloseWithError(err)
		copyDone <- err
	}()

	// A text file or a preview can show an interval with months as
	// PostgreSQL prints it; every other destination needs an exact duration.
	job := s.run.job
	textIntervals := job.Type == spec.JobPreview ||
		job.Destination.Type == spec.TypeCSV || job.Destination.Type == spec.TypeJSONL
	decoders := make([]func([]byte) (any, error), len(schema.Columns))
	for i := range schema.Columns {
		decoders[i] = postgresDecoder(&schema.Columns[i], textIntervals)
	}
	rows := bufio.NewReaderSize(pr, 256<<10)
	var parseErr error
	if s.passthrough {
		parseErr = readCopyLines(rows, func(line []byte) error {
			return emit([]any{copyLine(line)})
		})
	} else {
		parseErr = parseCopyText(rows, len(schema.Columns), func(fields [][]byte) error {
			row := make([]any, len(fields))
			for i, f := range fields {
				if f == nil {
					continue
				}
				v, err := decoders[i](f)
				if err != nil {
					return dataError("column %q: %v", schema.Columns[i].Name, err)
				}
				row[i] = v
			}
			return emit(row)
		})
	}
	if parseErr != nil {
		pr.CloseWithError(parseErr)
		<-copyDone
		if KindOf(parseErr) != KindOther || errors.Is(parseErr, context.Canceled) {
			return parseErr
		}
		return classifyPostgres(parseErr, "failed to read from the source")
	}
	if err := <-copyDone; err != nil {
		return classifyPostgres(err, "failed to read from the source")
	}
	return nil
}

// copyToSQL returns the COPY statement for query. A read of a whole table
// copies the table itself, which skips the executor's per-row work that
// COPY (SELECT ...) costs.
func (s *postgresSource) copyToSQL(query string) string {
	if s.src.Table != "" && s.src.Where == "" && query == s.query(nil, nil, 0) {
		return fmt.Sprintf("COPY %s (%s) TO STDOUT", quoteTable(postgresDialect{}, s.src.Table), s.selectList)
	}
	return "COPY (" + query + ") TO STDOUT"
}

// postgresDecoder returns the parser of one column's COPY text. With
// textIntervals, an interval with months or years, which has no fixed
// duration, keeps PostgreSQL's text instead of failing.
func postgresDecoder(col *Column, textIntervals bool) func([]byte) (any, error) {
	switch col.Kind {
	case KindInt:
		return func(b []byte) (any, error) { return strconv.ParseInt(string(b), 10, 64) }
	case KindFloat:
		return func(b []byte) (any, error) { return strconv.ParseFloat(string(b), col.Bits) }
	case KindBool:
		return func(b []byte) (any, error) { return len(b) > 0 && b[0] == 't', nil }
	case KindBytes:
		return func(b []byte) (any, error) {
			if len(b) < 2 || b[0] != '\\' || b[1] != 'x' {
				return nil, fmt.Errorf("bytea value not in hex format")
			}
			out := make([]byte, hex.DecodedLen(len(b)-2))
			_, err := hex.Decode(out, b[2:])
			return out, err
		}
	case KindTime:
		if strings.HasPrefix(col.NativeType, "interval") {
			return func(b []byte) (any, error) {
				if textIntervals && hasMonths(string(b)) {
					return string(b), nil
				}
				return normalizeDuration(string(b))
			}
		}
	case KindTimestampTZ:
		return func(b []byte) (any, error) {
			s := string(b)
			if i := strings.LastIndexAny(s, "+-"); i > 10 {
				if s[i:] != "+00" {
					return nil, fmt.Errorf("timestamptz %q is not in UTC although the session time zone is UTC", s)
				}
				s = s[:i]
			}
			return s, nil
		}
	}
	return func(b []byte) (any, error) { return string(b), nil }
}

// parseCopyText reads PostgreSQL COPY text format: rows end in newline,
// fields are tab separated, \N is NULL and backslash escapes the rest.
// NULL fields are passed as nil slices; the slices are only valid during
// the call.
func parseCopyText(r *bufio.Reader, columns int, row func([][]byte) error) error {
	fields := make([][]byte, columns)
	return readCopyLines(r, func(line []byte) error {
		n := 0
		start := 0
		for i := 0; i <= len(line); i++ {
			if i < len(line) && line[i] != '\t' {
				continue
			}
			if n >= columns {
				return fmt.Errorf("COPY row has more than %d fields", columns)
			}
			fields[n] = unescapeCopy(line[start:i])
			n++
			start = i + 1
		}
		if n != columns {
			return fmt.Errorf("COPY row has %d fields, want %d", n, columns)
		}
		return row(fields)
	})
}

// readCopyLines calls fn with each line of r, without its newline. The
// slice is only valid during the call.
func readCopyLines(r *bufio.Reader, fn func(line []byte) error) error {
	var long []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			long = append(long, chunk...)
			continue
		}
		if len(long) > 0 {
			long = append(long, chunk...)
			chunk = long
		}
		if err == io.EOF && len(chunk) == 0 {
			return nil
		}
		if err != nil && err != io.EOF {
			return err
		}
		if err := fn(trimNewline(chunk)); err != nil {
			return err
		}
		long = long[:0]
		if err == io.EOF {
			return nil
		}
	}
}

func trimNewline(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		return b[:n-1]
	}
	return b
}

// unescapeCopy decodes one COPY text field; it returns nil for \N.
func unescapeCopy(f []byte) []byte {
	if len(f) == 2 && f[0] == '\\' && f[1] == 'N' {
		return nil
	}
	i := 0
	for i < len(f) && f[i] != '\\' {
		i++
	}
	if i == len(f) {
		if f == nil {
			return []byte{}
		}
		return f
	}
	out := make([]byte, 0, len(f))
	out = append(out, f[:i]...)
	for ; i < len(f); i++ {
		c := f[i]
		if c != '\\' || i+1 >= len(f) {
			out = append(out, c)
			continue
		}
		i++
		switch e := f[i]; e {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'v':
			out = append(out, '\v')
		case 'x':
			v, n := 0, 0
			for n < 2 && i+1 < len(f) && isHex(f[i+1]) {
				v = v*16 + hexVal(f[i+1])
				i++
				n++
			}
			if n == 0 {
				out = append(out, 'x')
			} else {
				out = append(out, byte(v))
			}
		case '0', '1', '2', '3', '4', '5', '6', '7':
			v := int(e - '0')
			for n := 1; n < 3 && i+1 < len(f) && f[i+1] >= '0' && f[i+1] <= '7'; n++ {
				v = v*8 + int(f[i+1]-'0')
				i++
			}
			out = append(out, byte(v))
		default:
			out = append(out, e)
		}
	}
	return out
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	}
	return int(c-'A') + 10
}

// blockPartitions splits a table read into ranges of its physical blocks,
// read with TID range scans, so parallel readers do not each scan the
// whole table as key ranges without an index scan would. TID range scans
// need PostgreSQL 14 or later; older servers and small tables read as one
// stream.
func (s *postgresSource) blockPartitions(ctx context.Context, n int) ([]partition, error) {
	var version int
	if err := s.meta.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&version); err != nil {
		return nil, classifyPostgres(err, "failed to read the server version")
	}
	if version < 140000 {
		return nil, nil
	}
	var blocks int64
	q := "SELECT pg_relation_size($1::regclass) / current_setting('block_size')::int"
	if err := s.meta.QueryRow(ctx, q, quoteTable(postgresDialect{}, s.src.Table)).Scan(&blocks); err != nil {
		return nil, classifyPostgres(err, "failed to read the size of %q", s.src.Table)
	}
	const minBlocks = 64 // 512 KiB of 8 KiB blocks per reader at least
	if blocks < int64(n)*minBlocks {
		return nil, nil
	}
	per := blocks/int64(n) + 1
	parts := make([]partition, n)
	for i := range parts {
		lo, hi := int64(i)*per, int64(i+1)*per
		if i > 0 {
			parts[i].conds = append(parts[i].conds, fmt.Sprintf("ctid >= '(%d,0)'::tid", lo))
		}
		// The last range stays open so blocks added during the read are included.
		if i < n-1 {
			parts[i].conds = append(parts[i].conds, fmt.Sprintf("ctid < '(%d,0)'::tid", hi))
		}
	}
	return parts, nil
}

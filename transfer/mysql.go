package transfer

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/go-sql-driver/mysql"

	"github.com/ferryhq/ferry/transfer/spec"
)

// mysqlSQLMode is the session sql_mode for every connection: strict, so a
// value the column cannot hold is an error rather than a silent change,
// and NO_AUTO_VALUE_ON_ZERO so that an id of 0 stays 0.
const mysqlSQLMode = "STRICT_ALL_TABLES,NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION"

func init() {
	// The driver logs some connection errors itself before returning them;
	// the engine reports the returned errors, so the duplicates are dropped.
	_ = mysql.SetLogger(log.New(io.Discard, "", 0))
}

type mysqlDialect struct{}

func (mysqlDialect) quoteIdent(name string) string {
	return "`" + strings.ReplaceAll(name, "`", "``") + "`"
}

// quoteString escapes for a session without NO_BACKSLASH_ESCAPES, which
// mysqlSQLMode guarantees.
func (mysqlDialect) quoteString(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('\'')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case 0:
			b.WriteString(`\0`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\\':
			b.WriteString(`\\`)
		case '\'':
			b.WriteString(`\'`)
		case 0x1a:
			b.WriteString(`\Z`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('\'')
	return b.String()
}

// openMySQL opens a connection pool with the engine's session settings:
// UTC time zone so TIMESTAMP values are read and written as UTC instants,
// strict sql_mode and utf8mb4.
func openMySQL(ctx context.Context, r *run, c spec.Connection, password string, maxConns int) (*sql.DB, error) {
	params := url.Values{}
	for k, v := range c.Params {
		params.Set(k, v)
	}
	cfg, err := mysql.ParseDSN("/?" + params.Encode())
	if err != nil {
		return nil, invalidJob("params: invalid mysql driver parameter: %v", err)
	}
	cfg.User = c.User
	cfg.Passwd = password
	cfg.Net = "tcp"
	cfg.Addr = net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
	cfg.DBName = c.Database
	cfg.AllowNativePasswords = true
	cfg.AllowAllFiles = false
	cfg.ParseTime = false
	cfg.Collation = "utf8mb4_general_ci"
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params["time_zone"] = "'+00:00'"
	cfg.Params["sql_mode"] = "'" + mysqlSQLMode + "'"
	cfg.Params["character_set_results"] = "utf8mb4"

	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, invalidJob("invalid mysql connection settings: %v", scrub(err, password))
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)

	what := fmt.Sprintf("mysql %s/%s", cfg.Addr, c.Database)
	err = retryConnect(ctx, r, what, 5, mysqlTransient, func() error { return db.PingContext(ctx) })
	if err != nil {
		db.Close()
		return nil, connectionError("failed to connect to %s as user %q: %w", what, c.User, scrub(err, password))
	}
	return db, nil
}

// mysqlTransient reports whether a connection error may succeed on retry:
// network errors do, authentication and unknown-database errors do not.
func mysqlTransient(err error) bool {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1040, 1203: // too many connections
			return true
		}
		return false
	}
	return true
}

func isMySQLConnectionError(err error) bool {
	var ne net.Error
	return errors.Is(err, mysql.ErrInvalidConn) || errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &ne)
}

// classifyMySQL turns a statement error into an engine error: lost
// connections, data problems and everything else.
func classifyMySQL(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	msg := fmt.Sprintf(format, args...)
	if isMySQLConnectionError(err) {
		return &Error{Kind: KindConnection, Err: fmt.Errorf("%s: %w", msg, err)}
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1146, 1049, 1054: // no such table, database or column
			return &Error{Kind: KindInvalidJob, Err: fmt.Errorf("%s: %w", msg, err)}
		case 1264, 1265, 1292, 1366, 1406, 1367, 1416, 1048, 1062, 1452, 1451, 3140, 4025, 1690:
			// out of range, truncated, incorrect value or string, too long, NULL in
			// NOT NULL, duplicate key, foreign key, invalid JSON, constraint failed
			return &Error{Kind: KindData, Err: fmt.Errorf("%s: %w", msg, err)}
		}
	}
	return fmt.Errorf("%s: %w", msg, err)
}

// mysqlSource reads from MySQL or MariaDB with the text protocol, so every
// value arrives as the server's own text: zero dates, TIME durations and
// DECIMALs come through unchanged.
type mysqlSource struct {
	sqlSource
	conn     spec.Connection
	password string
	pool     *sql.DB
}

func (s *mysqlSource) secrets() []string { return []string{s.password} }

func (s *mysqlSource) open(ctx context.Context) (Schema, error) {
	parallelism := s.run.job.Parallelism
	if parallelism == 0 {
		parallelism = DefaultParallelism()
	}
	pool, err := openMySQL(ctx, s.run, s.conn, s.password, parallelism+2)
	if err != nil {
		return Schema{}, err
	}
	s.pool = pool
	return s.sqlSource.open(ctx)
}

func (s *mysqlSource) close() {
	if s.pool != nil {
		s.pool.Close()
	}
}

func (s *mysqlSource) quoteIdent(n string) string  { return mysqlDialect{}.quoteIdent(n) }
func (s *mysqlSource) quoteString(v string) string { return mysqlDialect{}.quoteString(v) }
func (s *mysqlSource) orderCheap() bool            { return true }
func (s *mysqlSource) isConnectionError(err error) bool {
	return KindOf(err) == KindConnection || isMySQLConnectionError(err)
}

func (s *mysqlSource) describe(ctx context.Context, query string, src spec.Source) (Schema, error) {
	if src.Table == "" {
		query = "SELECT * FROM (" + query + ") AS ferry_probe"
	}
	rows, err := s.pool.QueryContext(ctx, query+" LIMIT 0")
	if err != nil {
		return Schema{}, classifyMySQL(err, "failed to read the columns of the source")
	}
	types, err := rows.ColumnTypes()
	rows.Close()
	if err != nil {
		return Schema{}, classifyMySQL(err, "failed to read the columns of the source")
	}
	var schema Schema
	for _, t := range types {
		col := mysqlColumnFromDriver(t)
		schema.Columns = append(schema.Columns, col)
	}
	if src.Table == "" {
		return schema, nil
	}

	info, pk, err := mysqlTableInfo(ctx, s.pool, src.Table)
	if err != nil {
		return Schema{}, err
	}
	for i, c := range schema.Columns {
		if ti, ok := info[c.Name]; ok {
			col := parseMySQLType(ti.columnType)
			col.Name = c.Name
			col.Nullable = ti.nullable
			schema.Columns[i] = col
		}
	}
	schema.PrimaryKey = pk
	return schema, nil
}

type mysqlColumnInfo struct {
	columnType string
	dataType   string
	charset    string
	nullable   bool
}

// mysqlTableInfo reads the column types and primary key of a table from
// information_schema. An unknown table is an invalid job.
func mysqlTableInfo(ctx context.Context, db *sql.DB, table string) (map[string]mysqlColumnInfo, []string, error) {
	schemaName, name := splitTableName(table)
	schemaExpr := "DATABASE()"
	if schemaName != "" {
		schemaExpr = mysqlDialect{}.quoteString(schemaName)
	}
	q := fmt.Sprintf(`SELECT COLUMN_NAME, COLUMN_TYPE, DATA_TYPE, COALESCE(CHARACTER_SET_NAME, ''), IS_NULLABLE, COLUMN_KEY
		FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION`,
		schemaExpr, mysqlDialect{}.quoteString(name))
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return nil, nil, classifyMySQL(err, "failed to read the definition of table %q", table)
	}
	defer rows.Close()
	info := map[string]mysqlColumnInfo{}
	var pk []string
	for rows.Next() {
		var colName, colType, dataType, charset, nullable, key string
		if err := rows.Scan(&colName, &colType, &dataType, &charset, &nullable, &key); err != nil {
			return nil, nil, classifyMySQL(err, "failed to read the definition of table %q", table)
		}
		info[colName] = mysqlColumnInfo{columnType: strings.ToLower(colType), dataType: strings.ToLower(dataType),
			charset: charset, nullable: nullable == "YES"}
		if key == "PRI" {
			pk = append(pk, colName)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, classifyMySQL(err, "failed to read the definition of table %q", table)
	}
	if len(pk) > 1 {
		// COLUMN_KEY lists key columns in table order; the key order may differ.
		pk, err = mysqlPrimaryKeyOrder(ctx, db, schemaExpr, name)
		if err != nil {
			return nil, nil, err
		}
	}
	return info, pk, nil
}

func mysqlPrimaryKeyOrder(ctx context.Context, db *sql.DB, schemaExpr, name string) ([]string, error) {
	q := fmt.Sprintf(`SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE
		WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY ORDINAL_POSITION`,
		schemaExpr, mysqlDialect{}.quoteString(name))
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return nil, classifyMySQL(err, "failed to read the primary key of %q", name)
	}
	defer rows.Close()
	var pk []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, err
		}
		pk = append(pk, c)
	}
	return pk, rows.Err()
}

// parseMySQLType maps an information_schema COLUMN_TYPE such as
// "int(10) unsigned" or "decimal(65,30)" to a column.
func parseMySQLType(colType string) Column {
	base, args, _ := strings.Cut(colType, "(")
	args, rest, _ := strings.Cut(args, ")")
	if !strings.Contains(colType, "(") {
		base, rest, _ = strings.Cut(colType, " ")
		args = ""
	}
	base = strings.TrimSpace(base)
	unsigned := strings.Contains(rest, "unsigned")
	n1, n2 := 0, 0
	if a, b, ok := strings.Cut(args, ","); ok {
		n1, _ = strconv.Atoi(strings.TrimSpace(a))
		n2, _ = strconv.Atoi(strings.TrimSpace(b))
	} else {
		n1, _ = strconv.Atoi(strings.TrimSpace(args))
	}
	col := Column{Nullable: true, NativeType: colType, nativeProduct: "mysql"}
	switch base {
	case "tinyint", "bool", "boolean":
		col.Kind, col.Bits, col.Unsigned = KindInt, 8, unsigned
	case "smallint":
		col.Kind, col.Bits, col.Unsigned = KindInt, 16, unsigned
	case "mediumint":
		col.Kind, col.Bits, col.Unsigned = KindInt, 24, unsigned
	case "int", "integer":
		col.Kind, col.Bits, col.Unsigned = KindInt, 32, unsigned
	case "bigint":
		col.Kind, col.Bits, col.Unsigned = KindInt, 64, unsigned
	case "year":
		col.Kind, col.Bits = KindInt, 16
	case "decimal", "numeric", "dec", "fixed":
		col.Kind, col.Precision, col.Scale = KindDecimal, n1, n2
		if col.Precision == 0 {
			col.Precision = 10
		}
		if unsigned {
			// MySQL unsigned decimals hold the same digits; they only reject negatives.
			col.NativeType = colType
		}
	case "float":
		col.Kind, col.Bits = KindFloat, 32
	case "double", "real", "double precision":
		col.Kind, col.Bits = KindFloat, 64
	case "bit":
		if n1 == 0 {
			n1 = 1
		}
		col.NativeType, col.nativeProduct = "", ""
		if n1 == 1 {
			col.Kind = KindBool
		} else {
			col.Kind, col.Unsigned, col.Bits = KindInt, true, roundBits(n1)
			col.bitField = true
		}
	case "char":
		col.Kind, col.Length, col.FixedLength = KindString, int64(n1), true
	case "varchar":
		col.Kind, col.Length = KindString, int64(n1)
	case "tinytext":
		col.Kind, col.Length = KindString, 255
	case "text":
		col.Kind, col.Length = KindString, 65535
	case "mediumtext":
		col.Kind, col.Length = KindString, 16777215
	case "longtext":
		col.Kind = KindString
	case "enum", "set", "uuid", "inet4", "inet6":
		col.Kind = KindString
	case "json":
		col.Kind = KindJSON
	case "binary":
		col.Kind, col.Length, col.FixedLength = KindBytes, int64(n1), true
	case "varbinary":
		col.Kind, col.Length = KindBytes, int64(n1)
	case "tinyblob":
		col.Kind, col.Length = KindBytes, 255
	case "blob":
		col.Kind, col.Length = KindBytes, 65535
	case "mediumblob":
		col.Kind, col.Length = KindBytes, 16777215
	case "longblob":
		col.Kind = KindBytes
	case "date":
		col.Kind = KindDate
	case "time":
		col.Kind, col.FractionDigits = KindTime, n1
	case "datetime":
		col.Kind, col.FractionDigits = KindTimestamp, n1
	case "timestamp":
		col.Kind, col.FractionDigits = KindTimestampTZ, n1
	default:
		// Spatial and other types arrive as the server's bytes.
		col.Kind = KindBytes
	}
	return col
}

func roundBits(n int) int {
	switch {
	case n <= 8:
		return 8
	case n <= 16:
		return 16
	case n <= 32:
		return 32
	}
	return 64
}

// mysqlColumnFromDriver maps the protocol's column metadata, used for query
// sources where information_schema does not apply.
func mysqlColumnFromDriver(t *sql.ColumnType) Column {
	name := strings.ToUpper(t.DatabaseTypeName())
	unsigned := strings.HasPrefix(name, "UNSIGNED ")
	name = strings.TrimPrefix(name, "UNSIGNED ")
	col := Column{Name: t.Name(), Nullable: true}
	if n, ok := t.Nullable(); ok {
		col.Nullable = n
	}
	switch name {
	case "TINYINT":
		col.Kind, col.Bits, col.Unsigned = KindInt, 8, unsigned
	case "SMALLINT", "YEAR":
		col.Kind, col.Bits, col.Unsigned = KindInt, 16, unsigned
	case "MEDIUMINT":
		col.Kind, col.Bits, col.Unsigned = KindInt, 24, unsigned
	case "INT":
		col.Kind, col.Bits, col.Unsigned = KindInt, 32, unsigned
	case "BIGINT":
		col.Kind, col.Bits, col.Unsigned = KindInt, 64, unsigned
	case "DECIMAL":
		col.Kind = KindDecimal
		if p, s, ok := t.DecimalSize(); ok {
			col.Precision, col.Scale = int(p), int(s)
		}
	case "FLOAT":
		// NOTE: a query source's FLOAT arrives with the 6 significant digits
		// MariaDB prints; table sources read it widened to DOUBLE instead.
		col.Kind, col.Bits = KindFloat, 32
	case "DOUBLE":
		col.Kind, col.Bits = KindFloat, 64
	case "BIT":
		// The protocol does not carry the width, so BIT reads as an unsigned integer.
		col.Kind, col.Bits, col.Unsigned, col.bitField = KindInt, 64, true, true
	case "CHAR", "VARCHAR", "TEXT", "ENUM", "SET", "NULL":
		col.Kind = KindString
	case "JSON":
		col.Kind = KindJSON
	case "DATE":
		col.Kind = KindDate
	case "TIME":
		col.Kind, col.FractionDigits = KindTime, 6
	case "DATETIME":
		col.Kind, col.FractionDigits = KindTimestamp, 6
	case "TIMESTAMP":
		col.Kind, col.FractionDigits = KindTimestampTZ, 6
	default:
		col.Kind = KindBytes
	}
	if p, s, ok := t.DecimalSize(); ok && (col.Kind == KindTime || col.Kind == KindTimestamp || col.Kind == KindTimestampTZ) {
		_ = p
		col.FractionDigits = int(s)
	}
	return col
}

// selectExpr reads FLOAT columns as DOUBLE, because MariaDB's text
// protocol prints FLOAT with 6 significant digits while the widened DOUBLE
// prints every digit needed to restore the exact float32.
func (s *mysqlSource) selectExpr(c Column) string {
	q := s.quoteIdent(c.Name)
	if c.Kind == KindFloat && c.Bits == 32 {
		return "(" + q + " + 0e0) AS " + q
	}
	return q
}

func (s *mysqlSource) keyRange(ctx context.Context, key, from string) (int64, int64, bool, error) {
	q := fmt.Sprintf("SELECT MIN(%[1]s), MAX(%[1]s) FROM (%[2]s) AS ferry_range", s.quoteIdent(key), from)
	var lo, hi sql.NullInt64
	if err := s.pool.QueryRowContext(ctx, q).Scan(&lo, &hi); err != nil {
		return 0, 0, false, classifyMySQL(err, "failed to read the key range of %s", key)
	}
	return lo.Int64, hi.Int64, lo.Valid && hi.Valid, nil
}

func (s *mysqlSource) stream(ctx context.Context, query string, schema Schema, emit func([]any) error) error {
	rows, err := s.pool.QueryContext(ctx, query)
	if err != nil {
		return classifyMySQL(err, "failed to read from the source")
	}
	defer rows.Close()
	n := len(schema.Columns)
	raw := make([]sql.RawBytes, n)
	dest := make([]any, n)
	for i := range raw {
		dest[i] = &raw[i]
	}
	decoders := make([]func(sql.RawBytes) (any, error), n)
	for i := range schema.Columns {
		decoders[i] = s.decoder(&schema.Columns[i])
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return classifyMySQL(err, "failed to read a row from the source")
		}
		row := make([]any, n)
		for i, b := range raw {
			if b == nil {
				continue
			}
			v, err := decoders[i](b)
			if err != nil {
				return dataError("column %q: %v", schema.Columns[i].Name, err)
			}
			row[i] = v
		}
		if err := emit(row); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return classifyMySQL(err, "failed to read from the source")
	}
	return nil
}

// decoder returns the function that turns the server's text for one column
// into the canonical value.
func (s *mysqlSource) decoder(col *Column) func(sql.RawBytes) (any, error) {
	name := col.Name
	switch col.Kind {
	case KindInt:
		if col.bitField {
			return func(b sql.RawBytes) (any, error) {
				var u uint64
				for _, c := range b {
					u = u<<8 | uint64(c)
				}
				if col.Bits == 64 {
					return u, nil
				}
				return int64(u), nil
			}
		}
		if col.Unsigned && col.Bits == 64 {
			return func(b sql.RawBytes) (any, error) { return strconv.ParseUint(string(b), 10, 64) }
		}
		return func(b sql.RawBytes) (any, error) { return strconv.ParseInt(string(b), 10, 64) }
	case KindBool:
		return func(b sql.RawBytes) (any, error) {
			for _, c := range b {
				if c != 0 {
					return true, nil
				}
			}
			return false, nil
		}
	case KindFloat:
		return func(b sql.RawBytes) (any, error) { return strconv.ParseFloat(string(b), col.Bits) }
	case KindBytes:
		return func(b sql.RawBytes) (any, error) { return append(make([]byte, 0, len(b)), b...), nil }
	case KindDate, KindTimestamp, KindTimestampTZ:
		what := "DATE"
		if col.Kind != KindDate {
			what = "DATETIME/TIMESTAMP"
		}
		msg := fmt.Sprintf("zero %s values have no calendar date and were loaded as NULL in column %q", what, name)
		return func(b sql.RawBytes) (any, error) {
			v := string(b)
			if isZeroDate(v) {
				s.run.warn(msg, 1)
				return nil, nil
			}
			return v, nil
		}
	}
	return func(b sql.RawBytes) (any, error) { return string(b), nil }
}

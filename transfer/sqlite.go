package transfer

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/ferryhq/ferry/transfer/spec"
)

// sqliteSource reads a SQLite database file. Column kinds follow the
// declared types such as INTEGER, REAL, DECIMAL, BOOLEAN and DATE. A value
// that disagrees with its declared kind is converted when that is exact and
// is a data error otherwise.
type sqliteSource struct {
	sqlSource
	path string
	db   *sql.DB
}

func (s *sqliteSource) secrets() []string { return nil }

func openSQLite(path string, readOnly bool) (*sql.DB, error) {
	dsn := "file:" + path + "?_pragma=busy_timeout(10000)"
	if readOnly {
		dsn += "&mode=ro"
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, connectionError("failed to open SQLite database %s: %w", path, err)
	}
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, connectionError("failed to open SQLite database %s: %w", path, err)
	}
	return db, nil
}

func (s *sqliteSource) open(ctx context.Context) (Schema, error) {
	db, err := openSQLite(s.path, true)
	if err != nil {
		return Schema{}, err
	}
	s.db = db
	return s.sqlSource.open(ctx)
}

func (s *sqliteSource) close() {
	if s.db != nil {
		s.db.Close()
	}
}

func (s *sqliteSource) quoteIdent(n string) string  { return postgresDialect{}.quoteIdent(n) }
func (s *sqliteSource) quoteString(v string) string { return postgresDialect{}.quoteString(v) }
func (s *sqliteSource) orderCheap() bool            { return true }
func (s *sqliteSource) isConnectionError(error) bool {
	return false
}

func (s *sqliteSource) describe(ctx context.Context, query string, src spec.Source) (Schema, error) {
	if src.Table == "" {
		query = "SELECT * FROM (" + query + ") AS ferry_probe"
	}
	rows, err := s.db.QueryContext(ctx, query+" LIMIT 0")
	if err != nil {
		return Schema{}, invalidJob("failed to read the columns of the SQLite source: %w", err)
	}
	types, err := rows.ColumnTypes()
	rows.Close()
	if err != nil {
		return Schema{}, err
	}
	var schema Schema
	for _, t := range types {
		col := sqliteColumn(t.DatabaseTypeName())
		col.Name = t.Name()
		schema.Columns = append(schema.Columns, col)
	}
	if src.Table == "" {
		return schema, nil
	}
	_, name := splitTableName(src.Table)
	info, err := s.db.QueryContext(ctx, "SELECT name, \"notnull\", pk FROM pragma_table_info(?) ORDER BY pk", name)
	if err != nil {
		return Schema{}, err
	}
	defer info.Close()
	var tableColumns []string
	for info.Next() {
		var colName string
		var notNull, pk int
		if err := info.Scan(&colName, &notNull, &pk); err != nil {
			return Schema{}, err
		}
		tableColumns = append(tableColumns, colName)
		if i := schema.Index(colName); i >= 0 {
			schema.Columns[i].Nullable = notNull == 0
		}
		if pk > 0 {
			schema.PrimaryKey = append(schema.PrimaryKey, colName)
		}
	}
	if err := info.Err(); err != nil {
		return Schema{}, err
	}
	// SQLite reads a double-quoted name that matches no column as a string
	// literal, so the probe above succeeds for a misspelt column and every
	// row would carry the name as text. The table's own column list decides.
	for _, c := range src.Columns {
		if !containsFold(tableColumns, c) {
			return Schema{}, invalidJob("source.columns: SQLite table %q has no column %q; the table has %s",
				src.Table, c, quoteList(tableColumns))
		}
	}
	return schema, nil
}

// containsFold reports whether list contains s, ignoring case as SQLite
// does for column names.
func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// sqliteColumn maps a declared type by SQLite's affinity rules, refined by
// common names such as BOOLEAN, DECIMAL and DATETIME.
func sqliteColumn(declared string) Column {
	t := strings.ToUpper(declared)
	col := Column{Nullable: true, NativeType: declared}
	switch {
	case strings.Contains(t, "BOOL"):
		col.Kind = KindBool
	case strings.Contains(t, "INT"):
		col.Kind, col.Bits = KindInt, 64
	case strings.Contains(t, "DEC") || strings.Contains(t, "NUMERIC"):
		col.Kind = KindDecimal
	case strings.Contains(t, "REAL") || strings.Contains(t, "FLOA") || strings.Contains(t, "DOUB"):
		col.Kind, col.Bits = KindFloat, 64
	case strings.Contains(t, "JSON"):
		col.Kind = KindJSON
	case strings.Contains(t, "DATETIME") || strings.Contains(t, "TIMESTAMP"):
		col.Kind, col.FractionDigits = KindTimestamp, 6
	case strings.Contains(t, "DATE"):
		col.Kind = KindDate
	case strings.Contains(t, "TIME"):
		col.Kind, col.FractionDigits = KindTime, 6
	case strings.Contains(t, "BLOB"):
		col.Kind = KindBytes
	default:
		col.Kind = KindString
	}
	return col
}

func (s *sqliteSource) keyRange(ctx context.Context, key, from string) (int64, int64, bool, error) {
	q := fmt.Sprintf("SELECT MIN(%[1]s), MAX(%[1]s) FROM (%[2]s)", s.quoteIdent(key), from)
	var lo, hi sql.NullInt64
	if err := s.db.QueryRowContext(ctx, q).Scan(&lo, &hi); err != nil {
		return 0, 0, false, err
	}
	return lo.Int64, hi.Int64, lo.Valid && hi.Valid, nil
}

func (s *sqliteSource) stream(ctx context.Context, query string, schema Schema, emit func([]any) error) error {
	rows, err := s.db.QueryContext(ctx, query)
	if err != nil {
		return fmt.Errorf("failed to read from the SQLite source: %w", err)
	}
	defer rows.Close()
	n := len(schema.Columns)
	vals := make([]any, n)
	dest := make([]any, n)
	for i := range vals {
		dest[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return fmt.Errorf("failed to read a row from the SQLite source: %w", err)
		}
		row := make([]any, n)
		for i, v := range vals {
			c, err := sqliteValue(&schema.Columns[i], v)
			if err != nil {
				return dataError("column %q: %v", schema.Columns[i].Name, err)
			}
			row[i] = c
		}
		if err := emit(row); err != nil {
			return err
		}
	}
	return rows.Err()
}

// sqliteValue converts a dynamically typed SQLite value to the column's kind.
func sqliteValue(col *Column, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	if t, ok := v.(time.Time); ok {
		switch col.Kind {
		case KindDate:
			return t.Format("2006-01-02"), nil
		case KindTime:
			return t.Format("15:04:05.999999"), nil
		}
		return t.Format("2006-01-02 15:04:05.999999"), nil
	}
	switch col.Kind {
	case KindInt:
		switch x := v.(type) {
		case int64:
			return x, nil
		case float64:
			if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
				return int64(x), nil
			}
		case string:
			return strconv.ParseInt(x, 10, 64)
		}
		return nil, fmt.Errorf("value %v is not an integer", v)
	case KindBool:
		switch x := v.(type) {
		case int64:
			return x != 0, nil
		case string:
			return strconv.ParseBool(x)
		}
		return nil, fmt.Errorf("value %v is not a boolean", v)
	case KindFloat:
		switch x := v.(type) {
		case float64:
			return x, nil
		case int64:
			return float64(x), nil
		case string:
			return strconv.ParseFloat(x, 64)
		}
	case KindBytes:
		switch x := v.(type) {
		case []byte:
			return append(make([]byte, 0, len(x)), x...), nil
		case string:
			return []byte(x), nil
		}
	case KindDecimal:
		switch x := v.(type) {
		case float64:
			return formatFloat(x, 64), nil
		}
	}
	switch x := v.(type) {
	case string:
		return x, nil
	case []byte:
		return string(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case float64:
		return formatFloat(x, 64), nil
	}
	return fmt.Sprint(v), nil
}

// sqliteDest writes with prepared INSERT statements in one transaction;
// SQLite DDL is transactional, so every mode commits or rolls back whole.
type sqliteDest struct {
	run    *run
	dst    spec.Destination
	db     *sql.DB
	tx     *sql.Tx
	stmt   *sql.Stmt
	schema Schema

	table     string
	loadTable string
	newTable  string
	mergeKeys []string
	exists    bool
}

func (d *sqliteDest) secrets() []string { return nil }

func (d *sqliteDest) q(n string) string { return postgresDialect{}.quoteIdent(n) }

func (d *sqliteDest) open(ctx context.Context, schema Schema) error {
	d.schema = schema
	db, err := openSQLite(d.dst.Path, false)
	if err != nil {
		return err
	}
	db.SetMaxOpenConns(1)
	d.db = db
	d.table = d.q(d.dst.Table)

	cols := map[string]bool{}
	var pk []string
	rows, err := db.QueryContext(ctx, "SELECT name, pk FROM pragma_table_info(?) ORDER BY pk", d.dst.Table)
	if err != nil {
		return err
	}
	for rows.Next() {
		var name string
		var p int
		if err := rows.Scan(&name, &p); err != nil {
			rows.Close()
			return err
		}
		cols[name] = true
		if p > 0 {
			pk = append(pk, name)
		}
	}
	rows.Close()
	d.exists = len(cols) > 0
	if !d.exists && !d.dst.ShouldCreateTable() {
		return invalidJob("destination.table: table %q does not exist and createTable is false; create it or set createTable: true", d.dst.Table)
	}
	for _, c := range schema.Columns {
		if d.exists && !cols[c.Name] {
			return invalidJob("destination table %q has no column %q; add it or leave it out of source.columns", d.dst.Table, c.Name)
		}
	}
	if d.dst.Mode == spec.ModeMerge {
		if d.mergeKeys, err = resolveMergeKeys(d.dst, pk, d.exists, schema); err != nil {
			return err
		}
	}

	if d.tx, err = db.BeginTx(ctx, nil); err != nil {
		return err
	}
	d.loadTable = d.table
	if !d.exists && d.dst.Mode != spec.ModeReplace {
		if err := d.exec(ctx, d.createTableSQL(d.table)); err != nil {
			return err
		}
	}
	switch d.dst.Mode {
	case spec.ModeTruncateInsert:
		if err := d.exec(ctx, "DELETE FROM "+d.table); err != nil {
			return err
		}
	case spec.ModeReplace:
		d.newTable = d.q(d.dst.Table + "__ferry_new")
		if err := d.exec(ctx, "DROP TABLE IF EXISTS "+d.newTable); err != nil {
			return err
		}
		if err := d.exec(ctx, d.createTableSQL(d.newTable)); err != nil {
			return err
		}
		d.loadTable = d.newTable
	case spec.ModeMerge:
		d.loadTable = d.q("ferry_merge")
		if err := d.exec(ctx, "CREATE TEMP TABLE "+d.loadTable+" AS SELECT * FROM "+d.table+" WHERE 0"); err != nil {
			return err
		}
	}

	names := make([]string, len(schema.Columns))
	marks := make([]string, len(schema.Columns))
	for i, c := range schema.Columns {
		names[i] = d.q(c.Name)
		marks[i] = "?"
	}
	d.stmt, err = d.tx.PrepareContext(ctx, fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s)", d.loadTable, strings.Join(names, ", "), strings.Join(marks, ", ")))
	return err
}

func (d *sqliteDest) exec(ctx context.Context, stmt string) error {
	if _, err := d.tx.ExecContext(ctx, stmt); err != nil {
		return fmt.Errorf("failed to run %q on the SQLite destination: %w", truncateText(stmt, 200), err)
	}
	return nil
}

func (d *sqliteDest) createTableSQL(table string) string {
	var defs []string
	for _, c := range d.schema.Columns {
		defs = append(defs, d.q(c.Name)+" "+sqliteColumnType(c))
	}
	if len(d.schema.PrimaryKey) > 0 {
		cols := make([]string, len(d.schema.PrimaryKey))
		for i, k := range d.schema.PrimaryKey {
			cols[i] = d.q(k)
		}
		defs = append(defs, "PRIMARY KEY ("+strings.Join(cols, ", ")+")")
	}
	return "CREATE TABLE " + table + " (" + strings.Join(defs, ", ") + ")"
}

// sqliteColumnType picks declared types whose affinity stores values
// unchanged: decimals and unsigned 64-bit integers as TEXT, because
// INTEGER and NUMERIC affinity would turn them into lossy REALs.
func sqliteColumnType(c Column) string {
	switch c.Kind {
	case KindInt:
		if c.Unsigned && c.Bits == 64 {
			return "TEXT"
		}
		return "INTEGER"
	case KindFloat:
		return "REAL"
	case KindBool:
		return "BOOLEAN"
	case KindBytes:
		return "BLOB"
	}
	return "TEXT"
}

func (d *sqliteDest) write(ctx context.Context, b *batch) error {
	args := make([]any, len(d.schema.Columns))
	for _, row := range b.rows {
		for i, v := range row {
			switch x := v.(type) {
			case uint64:
				if x > math.MaxInt64 {
					args[i] = strconv.FormatUint(x, 10)
				} else {
					args[i] = int64(x)
				}
			case bool:
				if x {
					args[i] = int64(1)
				} else {
					args[i] = int64(0)
				}
			case []byte:
				if x == nil {
					x = []byte{}
				}
				args[i] = x
			case float64:
				// SQLite stores a bound NaN as NULL; as text it survives a REAL column.
				if math.IsNaN(x) {
					args[i] = "NaN"
				} else {
					args[i] = x
				}
			default:
				args[i] = v
			}
		}
		if _, err := d.stmt.ExecContext(ctx, args...); err != nil {
			return dataError("failed to insert a row into SQLite table %q: %w", d.dst.Table, err)
		}
	}
	return nil
}

func (d *sqliteDest) commit(ctx context.Context) error {
	d.stmt.Close()
	switch d.dst.Mode {
	case spec.ModeReplace:
		if d.exists {
			if err := d.exec(ctx, "DROP TABLE "+d.table); err != nil {
				return err
			}
		}
		if err := d.exec(ctx, fmt.Sprintf("ALTER TABLE %s RENAME TO %s", d.newTable, d.table)); err != nil {
			return err
		}
	case spec.ModeMerge:
		// The temporary table is filled once and never updated, so its
		// rowids follow the load order.
		superseded := supersededRowsQuery(postgresDialect{}, d.loadTable, "rowid", d.mergeKeys)
		if err := d.exec(ctx, fmt.Sprintf("DELETE FROM %s WHERE rowid IN (%s)", d.loadTable, superseded)); err != nil {
			return err
		}
		var on, sets, cols, sCols []string
		for _, k := range d.mergeKeys {
			on = append(on, fmt.Sprintf("%s.%s = s.%s", d.table, d.q(k), d.q(k)))
		}
		for _, c := range d.schema.Columns {
			cols = append(cols, d.q(c.Name))
			sCols = append(sCols, "s."+d.q(c.Name))
			if !contains(d.mergeKeys, c.Name) {
				sets = append(sets, fmt.Sprintf("%s = s.%s", d.q(c.Name), d.q(c.Name)))
			}
		}
		cond := strings.Join(on, " AND ")
		if len(sets) > 0 {
			if err := d.exec(ctx, fmt.Sprintf("UPDATE %s SET %s FROM %s AS s WHERE %s", d.table, strings.Join(sets, ", "), d.loadTable, cond)); err != nil {
				return err
			}
		}
		if err := d.exec(ctx, fmt.Sprintf("INSERT INTO %s (%s) SELECT %s FROM %s AS s WHERE NOT EXISTS (SELECT 1 FROM %s WHERE %s)",
			d.table, strings.Join(cols, ", "), strings.Join(sCols, ", "), d.loadTable, d.table, cond)); err != nil {
			return err
		}
		if err := d.exec(ctx, "DROP TABLE "+d.loadTable); err != nil {
			return err
		}
	}
	if err := d.tx.Commit(); err != nil {
		return fmt.Errorf("failed to commit the SQLite load: %w", err)
	}
	d.tx = nil
	return nil
}

func (d *sqliteDest) abort(context.Context) {
	if d.stmt != nil {
		d.stmt.Close()
	}
	if d.tx != nil {
		_ = d.tx.Rollback()
		d.tx = nil
	}
}

func (d *sqliteDest) close() {
	if d.db != nil {
		d.db.Close()
	}
}

// check runs open and rolls everything back; the load's transaction (or
// temporary file) makes that free of side effects.
func (d *sqliteDest) check(ctx context.Context, schema Schema) error {
	err := d.open(ctx, schema)
	d.abort(ctx)
	return err
}

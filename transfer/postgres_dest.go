package transfer

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/ferryhq/ferry/transfer/spec"
)

// postgresDest loads rows with one COPY FROM STDIN in text format inside a
// single transaction. PostgreSQL DDL is transactional, so table creation,
// truncation, the replace swap and the merge all commit or roll back with
// the rows.
type postgresDest struct {
	run      *run
	dst      spec.Destination
	password string

	conn   *pgx.Conn
	tx     pgx.Tx
	schema Schema

	table     string // quoted destination table
	loadTable string
	newTable  string
	mergeKeys []string
	exists    bool

	pipe     *io.PipeWriter
	buf      *bufio.Writer
	copyDone chan error
}

func (d *postgresDest) secrets() []string { return []string{d.password} }

func (d *postgresDest) q(name string) string { return postgresDialect{}.quoteIdent(name) }

func (d *postgresDest) open(ctx context.Context, schema Schema) error {
	d.schema = schema
	conn, err := connectPostgres(ctx, d.run, d.dst.Connection, d.password)
	if err != nil {
		return err
	}
	d.conn = conn
	d.table = quoteTable(postgresDialect{}, d.dst.Table)

	columns, err := d.existingColumns(ctx)
	if err != nil {
		return err
	}
	d.exists = columns != nil
	if !d.exists && !d.dst.ShouldCreateTable() {
		return invalidJob("destination.table: table %q does not exist and createTable is false; create it or set createTable: true", d.dst.Table)
	}
	for _, c := range schema.Columns {
		if d.exists && !columns[c.Name] {
			return invalidJob("destination table %q has no column %q; add it or leave it out of source.columns", d.dst.Table, c.Name)
		}
	}
	if d.dst.Mode == spec.ModeMerge {
		var pk []string
		if d.exists {
			if pk, err = postgresPrimaryKey(ctx, conn, d.table); err != nil {
				return err
			}
		}
		if d.mergeKeys, err = resolveMergeKeys(d.dst, pk, d.exists, schema); err != nil {
			return err
		}
	}

	if d.tx, err = conn.Begin(ctx); err != nil {
		return classifyPostgres(err, "failed to begin a transaction on the destination")
	}
	if err := d.prepareTables(ctx); err != nil {
		return err
	}
	return d.startCopy(ctx)
}

// existingColumns returns the destination table's column names, or nil
// when the table does not exist.
func (d *postgresDest) existingColumns(ctx context.Context) (map[string]bool, error) {
	var oid *uint32
	if err := d.conn.QueryRow(ctx, "SELECT to_regclass($1)::oid", d.table).Scan(&oid); err != nil {
		return nil, classifyPostgres(err, "failed to look up table %q", d.dst.Table)
	}
	if oid == nil {
		return nil, nil
	}
	rows, err := d.conn.Query(ctx, "SELECT attname FROM pg_attribute WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped", *oid)
	if err != nil {
		return nil, classifyPostgres(err, "failed to read the columns of %q", d.dst.Table)
	}
	defer rows.Close()
	cols := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		cols[name] = true
	}
	return cols, rows.Err()
}

func (d *postgresDest) exec(ctx context.Context, stmt string) error {
	if _, err := d.tx.Exec(ctx, stmt); err != nil {
		return classifyPostgres(err, "failed to run %q on the destination", truncateText(stmt, 200))
	}
	return nil
}

func (d *postgresDest) prepareTables(ctx context.Context) error {
	d.loadTable = d.table
	if !d.exists && d.dst.Mode != spec.ModeReplace {
		if err := d.exec(ctx, d.createTableSQL(d.table)); err != nil {
			return err
		}
		d.run.info("Creating destination table", "table", d.dst.Table)
	}
	switch d.dst.Mode {
	case spec.ModeTruncateInsert:
		if d.exists {
			return d.exec(ctx, "TRUNCATE "+d.table)
		}
	case spec.ModeReplace:
		schemaName, name := splitTableName(d.dst.Table)
		staging := name + "__ferry_new"
		if schemaName != "" {
			staging = schemaName + "." + staging
		}
		d.newTable = quoteTable(postgresDialect{}, staging)
		if err := d.exec(ctx, "DROP TABLE IF EXISTS "+d.newTable); err != nil {
			return err
		}
		ddl := d.createTableSQL(d.newTable)
		if d.exists {
			ddl = fmt.Sprintf("CREATE TABLE %s (LIKE %s INCLUDING ALL)", d.newTable, d.table)
		}
		if err := d.exec(ctx, ddl); err != nil {
			return err
		}
		d.loadTable = d.newTable
	case spec.ModeMerge:
		temp := d.q("ferry_merge")
		if err := d.exec(ctx, fmt.Sprintf("CREATE TEMP TABLE %s (LIKE %s INCLUDING DEFAULTS) ON COMMIT DROP", temp, d.table)); err != nil {
			return err
		}
		// COPY fills the identity in input order, which decides between rows with the same key.
		if err := d.exec(ctx, fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s bigint GENERATED ALWAYS AS IDENTITY", temp, d.q(loadOrderColumn))); err != nil {
			return err
		}
		d.loadTable = temp
	}
	return nil
}

func (d *postgresDest) createTableSQL(table string) string {
	var defs []string
	for _, c := range d.schema.Columns {
		defs = append(defs, d.q(c.Name)+" "+postgresColumnType(c))
	}
	if len(d.schema.PrimaryKey) > 0 {
		cols := make([]string, len(d.schema.PrimaryKey))
		for i, k := range d.schema.PrimaryKey {
			cols[i] = d.q(k)
		}
		defs = append(defs, "PRIMARY KEY ("+strings.Join(cols, ", ")+")")
	}
	return "CREATE TABLE " + table + " (\n  " + strings.Join(defs, ",\n  ") + "\n)"
}

// postgresColumnType returns the closest exact PostgreSQL type. A column
// read from PostgreSQL keeps its own type.
func postgresColumnType(c Column) string {
	if c.nativeProduct == "postgres" && c.NativeType != "" {
		return c.NativeType
	}
	switch c.Kind {
	case KindInt:
		switch {
		case c.Bits <= 8, c.Bits <= 16 && !c.Unsigned:
			return "smallint"
		case c.Bits <= 32 && !(c.Bits == 32 && c.Unsigned):
			return "integer"
		case c.Bits <= 64 && !(c.Bits == 64 && c.Unsigned):
			return "bigint"
		}
		return "numeric(20,0)"
	case KindDecimal:
		if c.Precision > 0 {
			return fmt.Sprintf("numeric(%d,%d)", c.Precision, c.Scale)
		}
		return "numeric"
	case KindFloat:
		if c.Bits == 32 {
			return "real"
		}
		return "double precision"
	case KindBool:
		return "boolean"
	case KindString:
		if c.Length > 0 && c.Length <= 10485760 {
			return fmt.Sprintf("varchar(%d)", c.Length)
		}
		return "text"
	case KindBytes:
		return "bytea"
	case KindJSON:
		// json keeps the text as stored; jsonb would reorder keys.
		return "json"
	case KindDate:
		return "date"
	case KindTime:
		return "interval"
	case KindTimestamp:
		return fmt.Sprintf("timestamp(%d)", clampFraction(c.FractionDigits))
	case KindTimestampTZ:
		return fmt.Sprintf("timestamptz(%d)", clampFraction(c.FractionDigits))
	}
	return "text"
}

func (d *postgresDest) startCopy(ctx context.Context) error {
	cols := make([]string, len(d.schema.Columns))
	for i, c := range d.schema.Columns {
		cols[i] = d.q(c.Name)
	}
	stmt := fmt.Sprintf("COPY %s (%s) FROM STDIN", d.loadTable, strings.Join(cols, ", "))
	pr, pw := io.Pipe()
	d.pipe = pw
	d.buf = bufio.NewWriterSize(pw, 256<<10)
	d.copyDone = make(chan error, 1)
	pgConn := d.conn.PgConn()
	go func() {
		_, err := pgConn.CopyFrom(ctx, pr, stmt)
		if err != nil {
			pr.CloseWithError(err)
		} else {
			pr.Close()
		}
		d.copyDone <- err
	}()
	return nil
}

func (d *postgresDest) copyError(err error) error {
	if copyErr := <-d.copyDone; copyErr != nil {
		d.copyDone <- copyErr
		return classifyPostgres(copyErr, "failed to copy rows into %s", d.dst.Table)
	}
	d.copyDone <- nil
	return err
}

func (d *postgresDest) write(ctx context.Context, b *batch) error {
	w := d.buf
	for _, row := range b.rows {
		if line, ok := row[0].(copyLine); ok && len(row) == 1 {
			w.WriteString(string(line))
			if err := w.WriteByte('\n'); err != nil {
				return d.copyError(err)
			}
			continue
		}
		for i, v := range row {
			if i > 0 {
				w.WriteByte('\t')
			}
			c := &d.schema.Columns[i]
			switch x := v.(type) {
			case nil:
				w.WriteString(`\N`)
			case string:
				if strings.IndexByte(x, 0) >= 0 {
					return dataError("column %q: PostgreSQL text cannot hold the NUL character (0x00)", c.Name)
				}
				writeEscaped(w, x)
				if c.Kind == KindTimestampTZ {
					w.WriteString("+00")
				}
			case int64:
				w.WriteString(strconv.FormatInt(x, 10))
			case uint64:
				w.WriteString(strconv.FormatUint(x, 10))
			case bool:
				if x {
					w.WriteByte('t')
				} else {
					w.WriteByte('f')
				}
			case float64:
				w.WriteString(formatFloat(x, c.Bits))
			case []byte:
				// bytea hex input "\x..." with the backslash escaped for COPY.
				w.WriteString(`\\x`)
				writeHex(w, x)
			default:
				return fmt.Errorf("column %q: unexpected value type %T", c.Name, v)
			}
		}
		if err := w.WriteByte('\n'); err != nil {
			return d.copyError(err)
		}
	}
	return nil
}

func (d *postgresDest) commit(ctx context.Context) error {
	if err := d.buf.Flush(); err != nil {
		return d.copyError(err)
	}
	d.pipe.Close()
	err := <-d.copyDone
	d.copyDone <- err
	if err != nil {
		return classifyPostgres(err, "failed to copy rows into %s", d.dst.Table)
	}
	switch d.dst.Mode {
	case spec.ModeReplace:
		renames, err := d.indexRenames(ctx)
		if err != nil {
			return err
		}
		if d.exists {
			if err := d.exec(ctx, "DROP TABLE "+d.table); err != nil {
				return err
			}
		}
		schemaName, name := splitTableName(d.dst.Table)
		if err := d.exec(ctx, fmt.Sprintf("ALTER TABLE %s RENAME TO %s", d.newTable, d.q(name))); err != nil {
			return err
		}
		for _, r := range renames {
			index := r[0]
			if schemaName != "" {
				index = schemaName + "." + index
			}
			if err := d.exec(ctx, fmt.Sprintf("ALTER INDEX %s RENAME TO %s", quoteTable(postgresDialect{}, index), d.q(r[1]))); err != nil {
				return err
			}
		}
	case spec.ModeMerge:
		if err := d.merge(ctx); err != nil {
			return err
		}
	}
	if err := d.tx.Commit(ctx); err != nil {
		return classifyPostgres(err, "failed to commit the load into %s", d.dst.Table)
	}
	d.tx = nil
	return nil
}

// indexRenames returns the renames, as pairs of old and new name, that give
// the staging table's indexes the names of the indexes they replace, so that
// a replace keeps "orders_pkey" instead of "orders__ferry_new_pkey". An
// index is matched on its columns, operator classes, expressions and
// predicate. An index without a match, as in a table the run creates,
// drops the staging suffix from its generated name. Renaming an index also
// renames the constraint it backs.
func (d *postgresDest) indexRenames(ctx context.Context) ([][2]string, error) {
	oldTable := any(nil)
	if d.exists {
		oldTable = d.table
	}
	rows, err := d.tx.Query(ctx, `SELECT n.relname, coalesce((
			SELECT array_agg(oc.relname::text ORDER BY oc.relname)
			FROM pg_index oi JOIN pg_class oc ON oc.oid = oi.indexrelid
			WHERE oi.indrelid = $2::regclass
				AND oi.indkey::text = ni.indkey::text AND oi.indclass::text = ni.indclass::text
				AND oi.indoption::text = ni.indoption::text AND oc.relam = n.relam
				AND oi.indisunique = ni.indisunique AND oi.indisprimary = ni.indisprimary
				AND pg_get_expr(oi.indexprs, oi.indrelid) IS NOT DISTINCT FROM pg_get_expr(ni.indexprs, ni.indrelid)
				AND pg_get_expr(oi.indpred, oi.indrelid) IS NOT DISTINCT FROM pg_get_expr(ni.indpred, ni.indrelid)
		), '{}')
		FROM pg_index ni JOIN pg_class n ON n.oid = ni.indexrelid
		WHERE ni.indrelid = $1::regclass
		ORDER BY n.relname`, d.newTable, oldTable)
	if err != nil {
		return nil, classifyPostgres(err, "failed to read the indexes of %s", d.newTable)
	}
	defer rows.Close()

	_, name := splitTableName(d.dst.Table)
	staging := name + "__ferry_new"
	taken := map[string]bool{}
	var renames [][2]string
	for rows.Next() {
		var index string
		var candidates []string
		if err := rows.Scan(&index, &candidates); err != nil {
			return nil, classifyPostgres(err, "failed to read the indexes of %s", d.newTable)
		}
		target := ""
		for _, c := range candidates {
			if !taken[c] {
				target = c
				break
			}
		}
		if target == "" && strings.HasPrefix(index, staging) {
			target = name + strings.TrimPrefix(index, staging)
		}
		if target != "" && target != index {
			taken[target] = true
			renames = append(renames, [2]string{index, target})
		}
	}
	return renames, rows.Err()
}

func (d *postgresDest) merge(ctx context.Context) error {
	order := d.q(loadOrderColumn)
	superseded := supersededRowsQuery(postgresDialect{}, d.loadTable, order, d.mergeKeys)
	if err := d.exec(ctx, fmt.Sprintf("DELETE FROM %s WHERE %s IN (%s)", d.loadTable, order, superseded)); err != nil {
		return err
	}

	var on, sets, cols, sCols []string
	for _, k := range d.mergeKeys {
		on = append(on, fmt.Sprintf("d.%s = s.%s", d.q(k), d.q(k)))
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
		stmt := fmt.Sprintf("UPDATE %s AS d SET %s FROM %s AS s WHERE %s", d.table, strings.Join(sets, ", "), d.loadTable, cond)
		if err := d.exec(ctx, stmt); err != nil {
			return err
		}
	}
	stmt := fmt.Sprintf("INSERT INTO %s (%s) SELECT %s FROM %s AS s WHERE NOT EXISTS (SELECT 1 FROM %s AS d WHERE %s)",
		d.table, strings.Join(cols, ", "), strings.Join(sCols, ", "), d.loadTable, d.table, cond)
	return d.exec(ctx, stmt)
}

func (d *postgresDest) abort(ctx context.Context) {
	if d.pipe != nil {
		d.pipe.CloseWithError(errors.New("load aborted"))
		err := <-d.copyDone
		d.copyDone <- err
	}
	if d.tx != nil {
		_ = d.tx.Rollback(ctx)
		d.tx = nil
	}
}

func (d *postgresDest) close() {
	if d.conn != nil {
		d.conn.Close(context.Background())
	}
}

// check runs open and rolls everything back; the load's transaction (or
// temporary file) makes that free of side effects.
func (d *postgresDest) check(ctx context.Context, schema Schema) error {
	err := d.open(ctx, schema)
	d.abort(ctx)
	return err
}

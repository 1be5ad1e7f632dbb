package transfer

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/go-sql-driver/mysql"

	"github.com/ferryhq/ferry/transfer/spec"
)

// mysqlDest loads rows into MySQL or MariaDB with LOAD DATA LOCAL INFILE
// streamed from memory, or with multi-row INSERT where the server disables
// local infile. All rows go in one transaction; replace loads a new table
// and renames it into place, merge loads a temporary table and upserts.
type mysqlDest struct {
	run      *run
	dst      spec.Destination
	password string

	pool *sql.DB
	conn *sql.Conn
	tx   *sql.Tx

	schema    Schema
	existing  map[string]mysqlColumnInfo
	exists    bool
	created   bool
	table     string // quoted destination table
	loadTable string // quoted table the rows go into
	newTable  string // quoted staging table of replace
	tempTable string // quoted temporary table of merge
	// supersededTable is the quoted temporary table of merge that lists
	// the rows a later row with the same key replaces.
	supersededTable string
	mergeKeys       []string

	loadData bool
	pipe     *io.PipeWriter
	buf      *bufio.Writer
	loadDone chan error
	handler  string

	insertPrefix string
	maxStatement int
}

var mysqlHandlerSeq atomic.Int64

func (d *mysqlDest) secrets() []string { return []string{d.password} }

func (d *mysqlDest) q(name string) string { return mysqlDialect{}.quoteIdent(name) }

func (d *mysqlDest) open(ctx context.Context, schema Schema) error {
	d.schema = schema
	pool, err := openMySQL(ctx, d.run, d.dst.Connection, d.password, 2)
	if err != nil {
		return err
	}
	d.pool = pool
	if d.conn, err = pool.Conn(ctx); err != nil {
		return classifyMySQL(err, "failed to connect to the destination")
	}

	if err := d.inspect(ctx); err != nil {
		return err
	}
	if err := d.prepareTables(ctx); err != nil {
		return err
	}
	if d.tx, err = d.conn.BeginTx(ctx, nil); err != nil {
		return classifyMySQL(err, "failed to begin a transaction on the destination")
	}
	if d.dst.Mode == spec.ModeTruncateInsert {
		// TRUNCATE would commit implicitly, so the old rows are deleted in the load's transaction.
		if _, err := d.tx.ExecContext(ctx, "DELETE FROM "+d.table); err != nil {
			return classifyMySQL(err, "failed to empty %s", d.table)
		}
	}
	if d.loadData {
		return d.startLoadData(ctx)
	}
	return nil
}

// inspect reads the destination table, checks the columns and merge keys,
// and decides between LOAD DATA and INSERT. It writes nothing.
func (d *mysqlDest) inspect(ctx context.Context) error {
	d.table = quoteTable(mysqlDialect{}, d.dst.Table)
	info, pk, err := mysqlTableInfo(ctx, d.pool, d.dst.Table)
	if err != nil {
		return err
	}
	d.existing, d.exists = info, len(info) > 0
	if !d.exists && !d.dst.ShouldCreateTable() {
		return invalidJob("destination.table: table %q does not exist and createTable is false; create it or set createTable: true", d.dst.Table)
	}
	if d.exists {
		// MySQL column names are case-insensitive, so "ID" loads into "id".
		byLower := map[string]mysqlColumnInfo{}
		for name, ci := range info {
			byLower[strings.ToLower(name)] = ci
		}
		for _, c := range d.schema.Columns {
			ci, ok := byLower[strings.ToLower(c.Name)]
			if !ok {
				return invalidJob("destination table %q has no column %q; add it or leave it out of source.columns", d.dst.Table, c.Name)
			}
			d.existing[c.Name] = ci
		}
	}
	if d.dst.Mode == spec.ModeMerge {
		keys, err := resolveMergeKeys(d.dst, pk, d.exists, d.schema)
		if err != nil {
			return err
		}
		d.mergeKeys = keys
	}

	var localInfile int
	if err := d.conn.QueryRowContext(ctx, "SELECT @@local_infile").Scan(&localInfile); err != nil {
		return classifyMySQL(err, "failed to read @@local_infile")
	}
	d.loadData = localInfile == 1
	if !d.loadData {
		d.run.info("The destination server disables local_infile; loading with multi-row INSERT")
	}
	var maxPacket int64
	if err := d.conn.QueryRowContext(ctx, "SELECT @@max_allowed_packet").Scan(&maxPacket); err != nil {
		return classifyMySQL(err, "failed to read @@max_allowed_packet")
	}
	d.maxStatement = int(min(maxPacket/2, 4<<20))
	return nil
}

// resolveMergeKeys returns mergeKeys, else the destination's primary key,
// else (for a table about to be created) the source's primary key. With
// none, the job is invalid and nothing has been written.
func resolveMergeKeys(dst spec.Destination, destPK []string, exists bool, schema Schema) ([]string, error) {
	keys := dst.MergeKeys
	if len(keys) == 0 {
		keys = destPK
	}
	if len(keys) == 0 && !exists {
		keys = schema.PrimaryKey
	}
	if len(keys) == 0 {
		return nil, invalidJob("destination.mergeKeys: mode merge needs key columns, and table %q has no primary key; set mergeKeys to the columns that identify a row", dst.Table)
	}
	for _, k := range keys {
		if schema.Index(k) < 0 {
			return nil, invalidJob("destination.mergeKeys: column %q is not among the source columns %s", k, quoteList(schema.Names()))
		}
	}
	return keys, nil
}

// prepareTables creates the destination, staging or temporary table. DDL
// commits implicitly in MySQL, so it runs before the load's transaction.
func (d *mysqlDest) prepareTables(ctx context.Context) error {
	d.loadTable = d.table
	switch d.dst.Mode {
	case spec.ModeReplace:
		schemaName, name := splitTableName(d.dst.Table)
		staging := name + "__ferry_new"
		if schemaName != "" {
			staging = schemaName + "." + staging
		}
		d.newTable = quoteTable(mysqlDialect{}, staging)
		if err := d.exec(ctx, "DROP TABLE IF EXISTS "+d.newTable); err != nil {
			return err
		}
		ddl := "CREATE TABLE " + d.newTable + " LIKE " + d.table
		if !d.exists {
			ddl = d.createTableSQL(d.newTable)
		}
		if err := d.exec(ctx, ddl); err != nil {
			return err
		}
		d.loadTable = d.newTable
		return nil
	}

	if !d.exists {
		if err := d.exec(ctx, d.createTableSQL(d.table)); err != nil {
			return err
		}
		d.created = true
		d.run.info("Created destination table", "table", d.dst.Table)
	}
	if d.dst.Mode == spec.ModeMerge {
		seq := mysqlHandlerSeq.Add(1)
		d.tempTable = d.q(fmt.Sprintf("ferry_merge_%d", seq))
		if err := d.createMergeTable(ctx); err != nil {
			return err
		}
		// Created here rather than in the transaction, because servers with
		// enforce_gtid_consistency reject CREATE TEMPORARY TABLE inside one.
		d.supersededTable = d.q(fmt.Sprintf("ferry_merge_%d_superseded", seq))
		if err := d.exec(ctx, fmt.Sprintf("CREATE TEMPORARY TABLE %s (%s BIGINT NOT NULL PRIMARY KEY)", d.supersededTable, d.q(loadOrderColumn))); err != nil {
			return err
		}
		d.loadTable = d.tempTable
	}
	return nil
}

// createMergeTable creates the merge's temporary table as a copy of the
// destination without its unique keys, which would reject a second row with
// the same key, and with a load order column that ranks such rows instead.
// It avoids CREATE TABLE ... SELECT, which servers with
// enforce_gtid_consistency reject.
func (d *mysqlDest) createMergeTable(ctx context.Context) error {
	if err := d.exec(ctx, "CREATE TEMPORARY TABLE "+d.tempTable+" LIKE "+d.table); err != nil {
		return err
	}

	schemaName, name := splitTableName(d.dst.Table)
	schemaExpr := "DATABASE()"
	if schemaName != "" {
		schemaExpr = mysqlDialect{}.quoteString(schemaName)
	}
	var changes []string
	// An AUTO_INCREMENT column must stay a key, so it becomes a plain
	// nullable column first; the destination still numbers the rows.
	autoColumns := fmt.Sprintf(`SELECT COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s AND EXTRA LIKE '%%auto_increment%%'`, schemaExpr, mysqlDialect{}.quoteString(name))
	if err := d.queryStrings(ctx, autoColumns, func(v []string) {
		changes = append(changes, fmt.Sprintf("MODIFY %s %s NULL", d.q(v[0]), v[1]))
	}); err != nil {
		return err
	}

	uniqueKeys := fmt.Sprintf(`SELECT DISTINCT INDEX_NAME, '' FROM information_schema.STATISTICS
		WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s AND NON_UNIQUE = 0`, schemaExpr, mysqlDialect{}.quoteString(name))
	if err := d.queryStrings(ctx, uniqueKeys, func(v []string) {
		if v[0] == "PRIMARY" {
			changes = append(changes, "DROP PRIMARY KEY")
		} else {
			changes = append(changes, "DROP INDEX "+d.q(v[0]))
		}
	}); err != nil {
		return err
	}

	order := d.q(loadOrderColumn)
	changes = append(changes, fmt.Sprintf("ADD COLUMN %s BIGINT NOT NULL AUTO_INCREMENT", order), fmt.Sprintf("ADD PRIMARY KEY (%s)", order))
	return d.exec(ctx, "ALTER TABLE "+d.tempTable+" "+strings.Join(changes, ", "))
}

// queryStrings calls row with the two text columns of each row of q.
func (d *mysqlDest) queryStrings(ctx context.Context, q string, row func([]string)) error {
	rows, err := d.conn.QueryContext(ctx, q)
	if err != nil {
		return classifyMySQL(err, "failed to read the keys of %s", d.dst.Table)
	}
	defer rows.Close()
	for rows.Next() {
		v := make([]string, 2)
		if err := rows.Scan(&v[0], &v[1]); err != nil {
			return classifyMySQL(err, "failed to read the keys of %s", d.dst.Table)
		}
		row(v)
	}
	return rows.Err()
}

func (d *mysqlDest) exec(ctx context.Context, stmt string) error {
	if _, err := d.conn.ExecContext(ctx, stmt); err != nil {
		return classifyMySQL(err, "failed to run %q on the destination", truncateText(stmt, 200))
	}
	return nil
}

// createTableSQL returns the CREATE TABLE statement for the source schema.
func (d *mysqlDest) createTableSQL(table string) string {
	var defs []string
	keyable := true
	for _, c := range d.schema.Columns {
		typ := mysqlColumnType(c)
		defs = append(defs, d.q(c.Name)+" "+typ)
		if contains(d.schema.PrimaryKey, c.Name) && (strings.Contains(typ, "text") || strings.Contains(typ, "blob") || typ == "json") {
			keyable = false
		}
	}
	if len(d.schema.PrimaryKey) > 0 && keyable {
		cols := make([]string, len(d.schema.PrimaryKey))
		for i, k := range d.schema.PrimaryKey {
			cols[i] = d.q(k)
		}
		defs = append(defs, "PRIMARY KEY ("+strings.Join(cols, ", ")+")")
	}
	return "CREATE TABLE " + table + " (\n  " + strings.Join(defs, ",\n  ") +
		"\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
}

// mysqlColumnType returns the closest exact MySQL type for a column. A
// column read from MySQL keeps its own type, except BIT.
func mysqlColumnType(c Column) string {
	if c.nativeProduct == "mysql" && c.NativeType != "" {
		return c.NativeType
	}
	switch c.Kind {
	case KindInt:
		t := map[int]string{8: "tinyint", 16: "smallint", 24: "mediumint", 32: "int", 64: "bigint"}[c.Bits]
		if t == "" {
			t = "bigint"
		}
		if c.Unsigned {
			t += " unsigned"
		}
		return t
	case KindDecimal:
		if c.Precision > 0 && c.Precision <= 65 && c.Scale <= 30 {
			return fmt.Sprintf("decimal(%d,%d)", c.Precision, c.Scale)
		}
		// NOTE: unconstrained or wider decimals get MySQL's widest type; a
		// value with more digits fails the load instead of being rounded.
		return "decimal(65,30)"
	case KindFloat:
		if c.Bits == 32 {
			return "float"
		}
		return "double"
	case KindBool:
		return "boolean"
	case KindString:
		switch {
		case c.Length > 0 && c.Length <= 255 && c.FixedLength:
			return fmt.Sprintf("char(%d)", c.Length)
		case c.Length > 0 && c.Length <= 255:
			return fmt.Sprintf("varchar(%d)", c.Length)
		case c.Length > 0 && c.Length <= 16383:
			return "text"
		case c.Length > 0 && c.Length <= 4194303:
			return "mediumtext"
		}
		return "longtext"
	case KindBytes:
		switch {
		case c.Length > 0 && c.Length <= 255 && c.FixedLength:
			return fmt.Sprintf("binary(%d)", c.Length)
		case c.Length > 0 && c.Length <= 255:
			return fmt.Sprintf("varbinary(%d)", c.Length)
		case c.Length > 0 && c.Length <= 65535:
			return "blob"
		case c.Length > 0 && c.Length <= 16777215:
			return "mediumblob"
		}
		return "longblob"
	case KindJSON:
		return "json"
	case KindDate:
		return "date"
	case KindTime:
		return fmt.Sprintf("time(%d)", clampFraction(c.FractionDigits))
	case KindTimestamp, KindTimestampTZ:
		// Instants are stored as their UTC wall-clock time: DATETIME has
		// the range of PostgreSQL timestamps that TIMESTAMP (1970-2038) lacks.
		return fmt.Sprintf("datetime(%d)", clampFraction(c.FractionDigits))
	}
	return "longtext"
}

func clampFraction(n int) int {
	if n < 0 || n > 6 {
		return 6
	}
	return n
}

// loadColumns returns the LOAD DATA column list and SET clause: bytes
// travel as hex and BIT columns as numbers, so the file stays text.
func (d *mysqlDest) loadColumns() (string, string) {
	var cols, sets []string
	for i, c := range d.schema.Columns {
		dataType := d.existing[c.Name].dataType
		switch {
		case c.Kind == KindBytes:
			v := fmt.Sprintf("@v%d", i)
			cols = append(cols, v)
			sets = append(sets, fmt.Sprintf("%s = UNHEX(%s)", d.q(c.Name), v))
		case dataType == "bit":
			v := fmt.Sprintf("@v%d", i)
			cols = append(cols, v)
			sets = append(sets, fmt.Sprintf("%s = CAST(%s AS UNSIGNED)", d.q(c.Name), v))
		default:
			cols = append(cols, d.q(c.Name))
		}
	}
	set := ""
	if len(sets) > 0 {
		set = " SET " + strings.Join(sets, ", ")
	}
	return "(" + strings.Join(cols, ", ") + ")", set
}

func (d *mysqlDest) startLoadData(ctx context.Context) error {
	pr, pw := io.Pipe()
	d.pipe = pw
	d.buf = bufio.NewWriterSize(pw, 256<<10)
	d.handler = fmt.Sprintf("ferry_%d", mysqlHandlerSeq.Add(1))
	mysql.RegisterReaderHandler(d.handler, func() io.Reader { return pr })

	cols, set := d.loadColumns()
	stmt := fmt.Sprintf("LOAD DATA LOCAL INFILE 'Reader::%s' INTO TABLE %s CHARACTER SET utf8mb4 "+
		"FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' %s%s",
		d.handler, d.loadTable, cols, set)
	d.loadDone = make(chan error, 1)
	go func() {
		_, err := d.tx.ExecContext(ctx, stmt)
		if err != nil {
			pr.CloseWithError(err)
		} else {
			pr.Close()
		}
		d.loadDone <- err
	}()
	return nil
}

func (d *mysqlDest) write(ctx context.Context, b *batch) error {
	if !d.loadData {
		return d.insert(ctx, b)
	}
	for _, row := range b.rows {
		for i, v := range row {
			if i > 0 {
				d.buf.WriteByte('\t')
			}
			if err := d.encodeLoadValue(&d.schema.Columns[i], v); err != nil {
				return err
			}
		}
		if err := d.buf.WriteByte('\n'); err != nil {
			return d.loadError(err)
		}
	}
	return nil
}

// loadError returns the error that stopped LOAD DATA, because it explains
// more than the closed-pipe error that the writer gets.
func (d *mysqlDest) loadError(err error) error {
	if loadErr := <-d.loadDone; loadErr != nil {
		d.loadDone <- loadErr
		return classifyMySQL(loadErr, "failed to load rows into %s", d.dst.Table)
	}
	return err
}

// encodeLoadValue writes one field in LOAD DATA's escaped text format.
func (d *mysqlDest) encodeLoadValue(c *Column, v any) error {
	w := d.buf
	switch x := v.(type) {
	case nil:
		w.WriteString(`\N`)
	case string:
		writeEscaped(w, x)
	case int64:
		w.WriteString(strconv.FormatInt(x, 10))
	case uint64:
		w.WriteString(strconv.FormatUint(x, 10))
	case bool:
		if x {
			w.WriteByte('1')
		} else {
			w.WriteByte('0')
		}
	case float64:
		w.WriteString(formatFloat(x, c.Bits))
	case []byte:
		writeHex(w, x)
	default:
		return fmt.Errorf("column %q: unexpected value type %T", c.Name, v)
	}
	return nil
}

// writeEscaped writes s escaping the characters that LOAD DATA and
// PostgreSQL COPY text format treat specially.
// writeHex writes b as lower-case hex digits through a small stack buffer,
// so a large value is not copied whole into a second allocation.
func writeHex(w *bufio.Writer, b []byte) {
	var tmp [512]byte
	for len(b) > 0 {
		n := min(len(b), len(tmp)/2)
		hex.Encode(tmp[:], b[:n])
		_, _ = w.Write(tmp[:n*2])
		b = b[n:]
	}
}

func writeEscaped(w *bufio.Writer, s string) {
	start := 0
	for i := 0; i < len(s); i++ {
		var esc string
		switch s[i] {
		case '\\':
			esc = `\\`
		case '\t':
			esc = `\t`
		case '\n':
			esc = `\n`
		case '\r':
			esc = `\r`
		case 0:
			esc = `\0`
		default:
			continue
		}
		w.WriteString(s[start:i])
		w.WriteString(esc)
		start = i + 1
	}
	w.WriteString(s[start:])
}

// insert is the fallback for servers with local_infile off.
func (d *mysqlDest) insert(ctx context.Context, b *batch) error {
	if d.insertPrefix == "" {
		cols := make([]string, len(d.schema.Columns))
		for i, c := range d.schema.Columns {
			cols[i] = d.q(c.Name)
		}
		d.insertPrefix = "INSERT INTO " + d.loadTable + " (" + strings.Join(cols, ", ") + ") VALUES "
	}
	var sb strings.Builder
	flush := func() error {
		if sb.Len() == 0 {
			return nil
		}
		if _, err := d.tx.ExecContext(ctx, sb.String()); err != nil {
			return classifyMySQL(err, "failed to insert rows into %s", d.dst.Table)
		}
		sb.Reset()
		return d.checkWarnings(ctx)
	}
	for _, row := range b.rows {
		if sb.Len() > 0 && sb.Len() >= d.maxStatement {
			if err := flush(); err != nil {
				return err
			}
		}
		if sb.Len() == 0 {
			sb.WriteString(d.insertPrefix)
		} else {
			sb.WriteByte(',')
		}
		sb.WriteByte('(')
		for i, v := range row {
			if i > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString(mysqlLiteral(&d.schema.Columns[i], v))
		}
		sb.WriteByte(')')
	}
	return flush()
}

func mysqlLiteral(c *Column, v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case []byte:
		return "X'" + hex.EncodeToString(x) + "'"
	case bool:
		if x {
			return "1"
		}
		return "0"
	case int64, uint64:
		return plainText(c, v)
	case float64:
		return mysqlDialect{}.quoteString(formatFloat(x, c.Bits))
	case string:
		return mysqlDialect{}.quoteString(x)
	}
	return mysqlDialect{}.quoteString(plainText(c, v))
}

// checkWarnings turns any warning of the last statement into a data error.
// LOAD DATA LOCAL downgrades errors such as "Incorrect string value" to
// warnings and stores a changed value, so a warning must fail the load.
func (d *mysqlDest) checkWarnings(ctx context.Context) error {
	rows, err := d.tx.QueryContext(ctx, "SHOW WARNINGS LIMIT 5")
	if err != nil {
		return classifyMySQL(err, "failed to read warnings")
	}
	defer rows.Close()
	var msgs []string
	for rows.Next() {
		var level, message string
		var code int
		if err := rows.Scan(&level, &code, &message); err != nil {
			return classifyMySQL(err, "failed to read warnings")
		}
		msgs = append(msgs, fmt.Sprintf("%s %d: %s", level, code, message))
	}
	if err := rows.Err(); err != nil {
		return classifyMySQL(err, "failed to read warnings")
	}
	if len(msgs) > 0 {
		return dataError("destination %s rejected values, so nothing was stored: %s", d.dst.Table, strings.Join(msgs, "; "))
	}
	return nil
}

func (d *mysqlDest) commit(ctx context.Context) error {
	if d.loadData {
		if err := d.buf.Flush(); err != nil {
			return d.loadError(err)
		}
		d.pipe.Close()
		err := <-d.loadDone
		d.loadDone <- err
		if err != nil {
			return classifyMySQL(err, "failed to load rows into %s", d.dst.Table)
		}
		if err := d.checkWarnings(ctx); err != nil {
			return err
		}
	}
	if d.dst.Mode == spec.ModeMerge {
		if err := d.merge(ctx); err != nil {
			return err
		}
	}
	if err := d.tx.Commit(); err != nil {
		return classifyMySQL(err, "failed to commit the load into %s", d.dst.Table)
	}
	d.tx = nil
	if d.dst.Mode == spec.ModeReplace {
		return d.swap(ctx)
	}
	return nil
}

func (d *mysqlDest) merge(ctx context.Context) error {
	if err := d.dropSupersededRows(ctx); err != nil {
		return err
	}

	var on, sets, cols []string
	for _, k := range d.mergeKeys {
		on = append(on, fmt.Sprintf("d.%s = s.%s", d.q(k), d.q(k)))
	}
	for _, c := range d.schema.Columns {
		cols = append(cols, d.q(c.Name))
		if !contains(d.mergeKeys, c.Name) {
			sets = append(sets, fmt.Sprintf("d.%s = s.%s", d.q(c.Name), d.q(c.Name)))
		}
	}
	cond := strings.Join(on, " AND ")
	if len(sets) > 0 {
		stmt := fmt.Sprintf("UPDATE %s AS d JOIN %s AS s ON %s SET %s", d.table, d.tempTable, cond, strings.Join(sets, ", "))
		if _, err := d.tx.ExecContext(ctx, stmt); err != nil {
			return classifyMySQL(err, "failed to merge into %s", d.dst.Table)
		}
	}
	sColumns := make([]string, len(cols))
	for i, c := range cols {
		sColumns[i] = "s." + c
	}
	stmt := fmt.Sprintf("INSERT INTO %s (%s) SELECT %s FROM %s AS s WHERE NOT EXISTS (SELECT 1 FROM %s AS d WHERE %s)",
		d.table, strings.Join(cols, ", "), strings.Join(sColumns, ", "), d.tempTable, d.table, cond)
	if _, err := d.tx.ExecContext(ctx, stmt); err != nil {
		return classifyMySQL(err, "failed to merge into %s", d.dst.Table)
	}
	return nil
}

// dropSupersededRows deletes from the merge's temporary table every row
// that a later row with the same merge keys replaces. MySQL cannot open a
// temporary table twice in one statement, so the rows to delete are first
// collected in a second temporary table.
func (d *mysqlDest) dropSupersededRows(ctx context.Context) error {
	order := d.q(loadOrderColumn)
	stmts := []string{
		fmt.Sprintf("INSERT INTO %s (%s) %s", d.supersededTable, order,
			supersededRowsQuery(mysqlDialect{}, d.tempTable, order, d.mergeKeys)),
		fmt.Sprintf("DELETE s FROM %s AS s JOIN %s AS x ON s.%s = x.%s", d.tempTable, d.supersededTable, order, order),
	}
	for _, stmt := range stmts {
		if _, err := d.tx.ExecContext(ctx, stmt); err != nil {
			return classifyMySQL(err, "failed to merge into %s", d.dst.Table)
		}
	}
	return nil
}

// swap renames the staging table into place in one atomic RENAME TABLE.
func (d *mysqlDest) swap(ctx context.Context) error {
	if !d.exists {
		return d.exec(ctx, "RENAME TABLE "+d.newTable+" TO "+d.table)
	}
	schemaName, name := splitTableName(d.dst.Table)
	old := name + "__ferry_old"
	if schemaName != "" {
		old = schemaName + "." + old
	}
	oldTable := quoteTable(mysqlDialect{}, old)
	if err := d.exec(ctx, "DROP TABLE IF EXISTS "+oldTable); err != nil {
		return err
	}
	if err := d.exec(ctx, fmt.Sprintf("RENAME TABLE %s TO %s, %s TO %s", d.table, oldTable, d.newTable, d.table)); err != nil {
		return err
	}
	d.newTable = ""
	return d.exec(ctx, "DROP TABLE "+oldTable)
}

func (d *mysqlDest) abort(ctx context.Context) {
	if d.pipe != nil {
		d.pipe.CloseWithError(errors.New("load aborted"))
		err := <-d.loadDone
		d.loadDone <- err
	}
	if d.tx != nil {
		_ = d.tx.Rollback()
		d.tx = nil
	}
	if d.conn == nil {
		return
	}
	if d.newTable != "" {
		d.dropAfterFailure(ctx, d.newTable)
	}
	if d.created {
		d.dropAfterFailure(ctx, d.table)
	}
}

// dropAfterFailure drops a table the failed run created. An aborted LOAD
// DATA leaves the load's connection unusable, so the drop falls back to a
// fresh connection from the pool.
func (d *mysqlDest) dropAfterFailure(ctx context.Context, table string) {
	stmt := "DROP TABLE IF EXISTS " + table
	if _, err := d.conn.ExecContext(ctx, stmt); err == nil {
		return
	}
	if _, err := d.pool.ExecContext(ctx, stmt); err != nil {
		d.run.info("Failed to drop a table created by the failed run; drop it by hand",
			"table", table, "error", scrub(err, d.password).Error())
	}
}

func (d *mysqlDest) close() {
	if d.handler != "" {
		mysql.DeregisterReaderHandler(d.handler)
	}
	if d.tempTable != "" && d.conn != nil {
		_, _ = d.conn.ExecContext(context.Background(), "DROP TEMPORARY TABLE IF EXISTS "+d.tempTable)
	}
	if d.supersededTable != "" && d.conn != nil {
		_, _ = d.conn.ExecContext(context.Background(), "DROP TEMPORARY TABLE IF EXISTS "+d.supersededTable)
	}
	if d.conn != nil {
		d.conn.Close()
	}
	if d.pool != nil {
		d.pool.Close()
	}
}

func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func (d *mysqlDest) check(ctx context.Context, schema Schema) error {
	d.schema = schema
	pool, err := openMySQL(ctx, d.run, d.dst.Connection, d.password, 2)
	if err != nil {
		return err
	}
	d.pool = pool
	if d.conn, err = pool.Conn(ctx); err != nil {
		return classifyMySQL(err, "failed to connect to the destination")
	}
	return d.inspect(ctx)
}

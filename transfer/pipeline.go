package transfer

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/ferryhq/ferry/transfer/spec"
)

// source reads rows. open resolves the schema; read streams all rows
// (or req.limit rows) into req.out and returns the last row of an
// incremental read.
type source interface {
	secrets() []string
	open(ctx context.Context) (Schema, error)
	read(ctx context.Context, req readRequest) (lastRow []any, err error)
	close()
}

// destination writes rows. open prepares the table for the mode and starts
// the load; commit makes it visible; abort undoes everything since open.
type destination interface {
	secrets() []string
	// check connects and verifies that a load could start, writing nothing.
	check(ctx context.Context, schema Schema) error
	open(ctx context.Context, schema Schema) error
	write(ctx context.Context, b *batch) error
	commit(ctx context.Context) error
	abort(ctx context.Context)
	close()
}

// readRequest holds the options of one source read.
type readRequest struct {
	parallelism int
	// limit stops after this many rows; 0 reads everything.
	limit       int
	incremental *incremental
	batchBytes  int64
	out         chan<- *batch
	// sent counts the rows handed to out, to check against the rows written.
	sent *atomic.Int64
}

// maxBatchRows caps the rows in a batch so small rows do not make huge slices.
const maxBatchRows = 8192

// batcher groups rows into batches of about batchBytes and sends them on,
// blocking when the writer is behind.
//
// NOTE: a single value is held whole, so one 100 MB LONGTEXT costs about
// that much memory (twice while the driver's buffer and the copy coexist);
// values are not yet streamed piecewise.
type batcher struct {
	out   chan<- *batch
	limit int64
	cur   *batch
	sent  *atomic.Int64
}

func newBatcher(req readRequest) *batcher {
	limit := req.batchBytes
	if limit <= 0 {
		limit = spec.DefaultBatchBytes
	}
	return &batcher{out: req.out, limit: limit, sent: req.sent}
}

func (b *batcher) add(ctx context.Context, row []any) error {
	if b.cur == nil {
		b.cur = &batch{rows: make([][]any, 0, 256)}
	}
	b.cur.rows = append(b.cur.rows, row)
	for _, v := range row {
		b.cur.bytes += int64(valueSize(v))
	}
	if b.cur.bytes >= b.limit || len(b.cur.rows) >= maxBatchRows {
		return b.flush(ctx)
	}
	return nil
}

func (b *batcher) flush(ctx context.Context) error {
	if b.cur == nil || len(b.cur.rows) == 0 {
		return nil
	}
	select {
	case b.out <- b.cur:
		if b.sent != nil {
			b.sent.Add(int64(len(b.cur.rows)))
		}
		b.cur = nil
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// incremental is the resolved incremental plan of a run.
type incremental struct {
	columns []string
	kinds   []Kind
	// last holds the text of lastRecord per column, or nil for a first run.
	last []string
}

func (r *run) incrementalPlan(schema Schema) (*incremental, error) {
	if !r.job.Incremental {
		return nil, nil
	}
	cols := r.job.IncrementalColumns
	if len(cols) == 0 {
		cols = schema.PrimaryKey
	}
	if len(cols) == 0 {
		return nil, invalidJob("incremental: the source has no primary key; set incrementalColumns to the columns that order the rows")
	}
	plan := &incremental{columns: cols}
	for _, c := range cols {
		i := schema.Index(c)
		if i < 0 {
			return nil, invalidJob("incrementalColumns: column %q is not among the source columns %s", c, quoteList(schema.Names()))
		}
		plan.kinds = append(plan.kinds, schema.Columns[i].Kind)
	}
	if len(r.job.LastRecord) > 0 {
		for _, c := range cols {
			raw, ok := r.job.LastRecord[c]
			if !ok {
				return nil, invalidJob("lastRecord: no value for incremental column %q; give every incremental column a value or clear lastRecord", c)
			}
			text, err := rawToText(raw)
			if err != nil {
				return nil, invalidJob("lastRecord.%s: %v", c, err)
			}
			if err := checkPosition(text, plan.kinds[len(plan.last)]); err != nil {
				return nil, invalidJob("lastRecord.%s: value %q %v; use the lastRecord of the previous run's summary", c, text, err)
			}
			plan.last = append(plan.last, text)
		}
	}
	return plan, nil
}

func (r *run) newLastRecord(schema Schema, plan *incremental, lastRow []any) map[string]json.RawMessage {
	if plan == nil {
		return nil
	}
	if lastRow == nil {
		return r.job.LastRecord
	}
	out := map[string]json.RawMessage{}
	for _, c := range plan.columns {
		i := schema.Index(c)
		out[c] = jsonValue(&schema.Columns[i], lastRow[i])
	}
	return out
}

// integerLiteral matches a decimal integer.
var integerLiteral = regexp.MustCompile(`^-?[0-9]+$`)

// checkPosition rejects a lastRecord value that a numeric column cannot
// hold. Compared as text, such a value would match no row or every row
// depending on the database, and the run would silently read the wrong rows.
func checkPosition(text string, kind Kind) error {
	switch kind {
	case KindInt:
		if !integerLiteral.MatchString(text) {
			return fmt.Errorf("is not an integer, but the column is")
		}
	case KindDecimal, KindFloat:
		if !numericLiteral.MatchString(text) {
			return fmt.Errorf("is not a number, but the column is")
		}
	}
	return nil
}

// numericLiteral matches the numbers that may appear unquoted in SQL.
var numericLiteral = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$`)

// sqlLiteral returns a literal for a position value: numbers unquoted, so
// that MySQL compares them exactly rather than through DOUBLE, and
// everything else as a quoted string.
func sqlLiteral(d dialect, kind Kind, text string) string {
	switch kind {
	case KindInt, KindDecimal, KindFloat:
		if numericLiteral.MatchString(text) {
			return text
		}
	}
	return d.quoteString(text)
}

// afterCondition returns the SQL condition "the row's columns come strictly
// after values", comparing column by column so that ties on the first
// column are broken by the next: (a > x) OR (a = x AND b > y) OR ...
func afterCondition(d dialect, columns []string, kinds []Kind, values []string) string {
	var terms []string
	for i := range columns {
		var parts []string
		for j := 0; j < i; j++ {
			parts = append(parts, fmt.Sprintf("%s = %s", d.quoteIdent(columns[j]), sqlLiteral(d, kinds[j], values[j])))
		}
		parts = append(parts, fmt.Sprintf("%s > %s", d.quoteIdent(columns[i]), sqlLiteral(d, kinds[i], values[i])))
		terms = append(terms, "("+strings.Join(parts, " AND ")+")")
	}
	return "(" + strings.Join(terms, " OR ") + ")"
}

func sortStrings(s []string) { sort.Strings(s) }

// splitTableName splits "schema.table" into its parts; a name without a dot
// has an empty schema.
func splitTableName(name string) (schemaName, table string) {
	if i := strings.Index(name, "."); i >= 0 {
		return name[:i], name[i+1:]
	}
	return "", name
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// loadOrderColumn is the column of a merge's temporary table that numbers
// the rows in the order they arrived, so that the last of several rows with
// the same merge key wins.
const loadOrderColumn = "ferry_load_order"

// supersededRowsQuery returns a SELECT of the load order of every row in
// table that a later row with the same merge keys replaces. Rows with a
// NULL key never match another row, as in the merge itself, so all of them
// stay. table and order are quoted already.
func supersededRowsQuery(d dialect, table, order string, keys []string) string {
	partition := make([]string, len(keys))
	notNull := make([]string, len(keys))
	for i, k := range keys {
		partition[i] = d.quoteIdent(k)
		notNull[i] = d.quoteIdent(k) + " IS NOT NULL"
	}
	return fmt.Sprintf("SELECT %[1]s FROM (SELECT %[1]s, ROW_NUMBER() OVER (PARTITION BY %[2]s ORDER BY %[1]s DESC) AS ferry_rank "+
		"FROM %[3]s WHERE %[4]s) AS ranked WHERE ferry_rank > 1",
		order, strings.Join(partition, ", "), table, strings.Join(notNull, " AND "))
}

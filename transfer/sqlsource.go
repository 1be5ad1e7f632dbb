package transfer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ferryhq/ferry/transfer/spec"
)

// dialect quotes names and strings for one SQL product.
type dialect interface {
	quoteIdent(name string) string
	quoteString(s string) string
}

// quoteTable quotes a possibly schema-qualified table name.
func quoteTable(d dialect, name string) string {
	schemaName, table := splitTableName(name)
	if schemaName == "" {
		return d.quoteIdent(table)
	}
	return d.quoteIdent(schemaName) + "." + d.quoteIdent(table)
}

// sqlReader is the part of a SQL source that differs per database product.
type sqlReader interface {
	dialect
	// describe returns the columns of query (with no rows read) and, for a
	// table source, the primary key.
	describe(ctx context.Context, query string, src spec.Source) (Schema, error)
	// keyRange returns MIN and MAX of an integer column over query.
	keyRange(ctx context.Context, key, from string) (lo, hi int64, ok bool, err error)
	// stream runs query and calls emit for each row in canonical form.
	stream(ctx context.Context, query string, schema Schema, emit func([]any) error) error
	// orderCheap reports whether ORDER BY the primary key costs little,
	// as with InnoDB's clustered index.
	orderCheap() bool
	// isConnectionError reports whether err is a lost connection worth resuming after.
	isConnectionError(err error) bool
}

// sqlSource reads a table or query from a SQL database.
type sqlSource struct {
	run    *run
	src    spec.Source
	db     sqlReader
	schema Schema
	// selectList is the quoted column list of a table read.
	selectList string
}

func (s *sqlSource) open(ctx context.Context) (Schema, error) {
	probe := s.query(nil, nil, 0)
	if s.src.Table != "" {
		cols := "*"
		if len(s.src.Columns) > 0 {
			cols = s.quotedColumns(s.src.Columns)
		}
		probe = fmt.Sprintf("SELECT %s FROM %s", cols, quoteTable(s.db, s.src.Table))
	}
	schema, err := s.db.describe(ctx, probe, s.src)
	if err != nil {
		return Schema{}, err
	}
	if len(schema.Columns) == 0 {
		return Schema{}, invalidJob("source returns no columns")
	}
	s.schema = schema
	s.selectList = s.quotedColumns(schema.Names())
	if cs, ok := s.db.(columnSelector); ok {
		exprs := make([]string, len(schema.Columns))
		for i, c := range schema.Columns {
			exprs[i] = cs.selectExpr(c)
		}
		s.selectList = strings.Join(exprs, ", ")
	}
	if err := s.checkWhere(ctx); err != nil {
		return Schema{}, err
	}
	return schema, nil
}

// checkWhere has the database parse the table read with source.where, as
// a query that returns no rows, so a bad condition fails check and fails
// a run before anything is written.
func (s *sqlSource) checkWhere(ctx context.Context) error {
	if s.src.Where == "" || s.src.Table == "" {
		return nil
	}
	probe := s.src
	probe.Table = ""
	_, err := s.db.describe(ctx, s.query(nil, nil, 0), probe)
	if err == nil || KindOf(err) == KindConnection || KindOf(err) == KindCancelled {
		return err
	}
	// The driver's own message is the useful part; the wrappers around it
	// describe the probe, which the user never wrote.
	cause := err
	for next := errors.Unwrap(cause); next != nil; next = errors.Unwrap(cause) {
		cause = next
	}
	return &Error{Kind: KindInvalidJob, Err: fmt.Errorf("source.where: invalid condition %q for table %q: %w", s.src.Where, s.src.Table, cause)}
}

// columnSelector is implemented by readers that select some columns
// through an expression, such as MySQL FLOAT columns widened to DOUBLE.
type columnSelector interface {
	selectExpr(c Column) string
}

func (s *sqlSource) quotedColumns(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = s.db.quoteIdent(n)
	}
	return strings.Join(q, ", ")
}

// query builds the SELECT for the given extra conditions, ordering and limit.
func (s *sqlSource) query(conds []string, orderBy []string, limit int) string {
	var b strings.Builder
	if s.src.Table != "" {
		fmt.Fprintf(&b, "SELECT %s FROM %s", s.selectList, quoteTable(s.db, s.src.Table))
		if s.src.Where != "" {
			conds = append([]string{"(" + s.src.Where + ")"}, conds...)
		}
	} else {
		if len(conds) == 0 && len(orderBy) == 0 && limit == 0 {
			return s.src.Query
		}
		fmt.Fprintf(&b, "SELECT * FROM (%s) AS ferry_query", s.src.Query)
	}
	if len(conds) > 0 {
		b.WriteString(" WHERE " + strings.Join(conds, " AND "))
	}
	if len(orderBy) > 0 {
		b.WriteString(" ORDER BY " + s.quotedColumns(orderBy))
	}
	if limit > 0 {
		fmt.Fprintf(&b, " LIMIT %d", limit)
	}
	return b.String()
}

// splitKey returns the single integer primary key column that ranges can
// split on, or "".
func (s *sqlSource) splitKey() string {
	if s.src.Table == "" || len(s.schema.PrimaryKey) != 1 {
		return ""
	}
	i := s.schema.Index(s.schema.PrimaryKey[0])
	if i < 0 {
		return ""
	}
	c := s.schema.Columns[i]
	if c.Kind != KindInt || (c.Unsigned && c.Bits == 64) {
		return ""
	}
	return c.Name
}

// partition is one part of a parallel read: extra SQL conditions that
// select a disjoint part of the rows.
type partition struct {
	conds []string
}

// blockSplitter is implemented by readers that can split a table by its
// physical layout instead of a key, such as PostgreSQL's TID ranges.
type blockSplitter interface {
	blockPartitions(ctx context.Context, n int) ([]partition, error)
}

func (s *sqlSource) read(ctx context.Context, req readRequest) ([]any, error) {
	var conds []string
	var order []string
	if inc := req.incremental; inc != nil {
		if inc.last != nil {
			conds = append(conds, afterCondition(s.db, inc.columns, inc.kinds, inc.last))
		}
		order = inc.columns
	}
	if req.limit > 0 {
		return nil, s.readPartition(ctx, req, conds, order, "", partition{}, req.limit, nil)
	}

	key := s.splitKey()
	// Incremental reads may split only when the key is the sole ordering
	// column, because the last partition must hold the greatest position.
	if req.incremental != nil && (len(order) != 1 || order[0] != key) {
		key = ""
	}
	resumeKey := ""
	if key != "" && (s.db.orderCheap() || req.incremental != nil) {
		resumeKey = key
		order = []string{key}
	}

	parts, err := s.partitions(ctx, req, key, resumeKey, conds)
	if err != nil {
		return nil, err
	}
	if len(parts) > 1 {
		s.run.log.V(1).Info("Reading in parallel", "partitions", len(parts), "key", key)
	}

	lastRows := make([][]any, len(parts))
	errs := make(chan error, len(parts))
	for i, p := range parts {
		go func() {
			errs <- s.readPartition(ctx, req, conds, order, resumeKey, p, 0, &lastRows[i])
		}()
	}
	var firstErr error
	for range parts {
		if err := <-errs; err != nil && firstErr == nil {
			firstErr = err
		}
	}
	if firstErr != nil {
		return nil, firstErr
	}
	for i := len(lastRows) - 1; i >= 0; i-- {
		if lastRows[i] != nil {
			return lastRows[i], nil
		}
	}
	return nil, nil
}

// partitions splits a parallel table read: on key ranges when the rows are
// read in key order (the reader's cheap order or an incremental read), on
// physical blocks when the reader supports that, else not at all.
func (s *sqlSource) partitions(ctx context.Context, req readRequest, key, resumeKey string, conds []string) ([]partition, error) {
	single := []partition{{}}
	if req.parallelism <= 1 || s.src.Table == "" {
		return single, nil
	}
	if bs, ok := s.db.(blockSplitter); ok && resumeKey == "" && req.incremental == nil {
		parts, err := bs.blockPartitions(ctx, req.parallelism)
		if err != nil || len(parts) > 0 {
			return parts, err
		}
	}
	if key == "" {
		return single, nil
	}
	lo, hi, ok, err := s.db.keyRange(ctx, key, s.query(conds, nil, 0))
	if err != nil || !ok {
		return single, err
	}
	return splitRange(s.db.quoteIdent(key), lo, hi, req.parallelism), nil
}

// minRangeWidth is the smallest key range worth a reader of its own.
const minRangeWidth = 1000

// splitRange divides [lo, hi] into n contiguous ranges, the first and last
// open so that rows inserted meanwhile outside the range are still read.
func splitRange(quotedKey string, lo, hi int64, n int) []partition {
	if hi < lo {
		return []partition{{}}
	}
	width := uint64(hi-lo)/uint64(n) + 1
	if width < minRangeWidth {
		return []partition{{}}
	}
	parts := make([]partition, 0, n)
	start := lo
	for i := 0; i < n; i++ {
		var p partition
		if i > 0 {
			p.conds = append(p.conds, fmt.Sprintf("%s >= %d", quotedKey, start))
		}
		if i < n-1 {
			end := start + int64(width) - 1
			p.conds = append(p.conds, fmt.Sprintf("%s <= %d", quotedKey, end))
			start = end + 1
		}
		parts = append(parts, p)
	}
	return parts
}

// maxResumes bounds how often one partition reconnects after a lost connection.
const maxResumes = 5

// readPartition streams one partition. When resumeKey is set the rows come
// ordered by it, so after a lost connection the read continues after the
// last key it delivered instead of failing.
func (s *sqlSource) readPartition(ctx context.Context, req readRequest, conds, order []string, resumeKey string,
	p partition, limit int, lastRow *[]any) error {
	b := newBatcher(req)
	keyIdx := -1
	if resumeKey != "" {
		keyIdx = s.schema.Index(resumeKey)
	}
	var lastKey *int64
	delivered := 0
	for attempt := 0; ; attempt++ {
		partConds := append(append([]string(nil), conds...), p.conds...)
		if lastKey != nil {
			partConds = append(partConds, fmt.Sprintf("%s > %d", s.db.quoteIdent(resumeKey), *lastKey))
		}
		q := s.query(partConds, order, limit)
		s.run.log.V(1).Info("Reading", "query", q)

		err := s.db.stream(ctx, q, s.schema, func(row []any) error {
			if keyIdx >= 0 {
				if k, ok := row[keyIdx].(int64); ok {
					lastKey = &k
				}
			}
			if lastRow != nil {
				*lastRow = row
			}
			delivered++
			return b.add(ctx, row)
		})
		if err == nil {
			return b.flush(ctx)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if resumeKey == "" || !s.db.isConnectionError(err) || attempt >= maxResumes {
			return err
		}
		s.run.info("Source connection lost; resuming after the last key read",
			"key", resumeKey, "rowsRead", delivered, "attempt", attempt+1, "error", err.Error())
		select {
		case <-time.After(backoff(attempt)):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// backoff returns the wait before retry attempt n: 0.5s doubling to at most 8s.
func backoff(n int) time.Duration {
	d := 500 * time.Millisecond << n
	if d > 8*time.Second || d <= 0 {
		d = 8 * time.Second
	}
	return d
}

// retryConnect calls connect until it succeeds, fails with a non-transient
// error or has failed attempts times.
func retryConnect(ctx context.Context, r *run, what string, attempts int, transient func(error) bool, connect func() error) error {
	var err error
	for i := 0; i < attempts; i++ {
		if err = connect(); err == nil {
			return nil
		}
		if !transient(err) || i == attempts-1 || ctx.Err() != nil {
			break
		}
		r.info("Connection failed; retrying", "endpoint", what, "attempt", i+1, "error", scrub(err, r.secrets...).Error())
		select {
		case <-time.After(backoff(i)):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return err
}

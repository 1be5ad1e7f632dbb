package transfer

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/sync/errgroup"

	"github.com/ferryhq/ferry/transfer/spec"
)

// Options adjusts how Run reports. The zero value discards logs and reports.
type Options struct {
	// Logger receives the engine's log lines.
	Logger logr.Logger
	// Reporter receives progress, log lines and the preview; nil for none.
	Reporter Reporter
	// ProgressInterval is the time between progress reports. Default 5s.
	ProgressInterval time.Duration
}

// Reporter receives what a run produces while it runs. Calls come from one
// goroutine at a time.
type Reporter interface {
	// Progress reports the rows and bytes written so far.
	Progress(Progress)
	// Log receives every line also written to Options.Logger.
	Log(LogLine)
	// Preview receives the column schema and the first rows of a preview job.
	Preview(Preview)
}

// Progress is a running count.
type Progress struct {
	Rows          int64   `json:"rows"`
	Bytes         int64   `json:"bytes"`
	RowsPerSecond float64 `json:"rowsPerSecond"`
}

// LogLine is one engine log message with its key/value context.
type LogLine struct {
	Time time.Time `json:"time"`
	// Level is info, warn (a value the engine changed or skipped) or error.
	Level         string         `json:"level"`
	Message       string         `json:"message"`
	KeysAndValues map[string]any `json:"keysAndValues,omitempty"`
}

// Preview is the result of a preview job.
type Preview struct {
	Columns []Column            `json:"columns"`
	Rows    [][]json.RawMessage `json:"rows"`
}

// Summary is the outcome of a run. It is complete on failure too.
type Summary struct {
	// Type is the job type.
	Type spec.JobType `json:"type"`
	// Status is succeeded, failed or cancelled.
	Status string `json:"status"`
	// Rows is the number of rows written (or previewed). After a failure it
	// counts the rows sent before it, which a database destination has
	// rolled back.
	Rows int64 `json:"rows"`
	// Bytes approximates the size of the values written: string and byte
	// lengths plus a small fixed amount per value.
	Bytes int64 `json:"bytes"`
	// DurationSeconds is the wall time of the run.
	DurationSeconds float64 `json:"durationSeconds"`
	// LastRecord is the position for the next incremental run.
	LastRecord map[string]json.RawMessage `json:"lastRecord,omitempty"`
	// Warnings lists values the engine changed, such as zero dates made NULL.
	Warnings []string `json:"warnings,omitempty"`
	// Error is the failure message.
	Error string `json:"error,omitempty"`
	// ErrorKind is invalidJob, connection, data, cancelled or other.
	ErrorKind string `json:"errorKind,omitempty"`
	// ExitCode is the process exit code for this outcome.
	ExitCode int `json:"exitCode"`
	// Columns is the column schema of a preview.
	Columns []Column `json:"columns,omitempty"`
	// PreviewRows holds the rows of a preview.
	PreviewRows [][]json.RawMessage `json:"previewRows,omitempty"`
}

// Summary statuses.
const (
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
	StatusCancelled = "cancelled"
)

// batch is a group of rows moving from readers to the writer.
type batch struct {
	rows  [][]any
	bytes int64
}

// run holds the state of one Run call.
type run struct {
	job     spec.Job
	opts    Options
	log     logr.Logger
	secrets []string

	rows  atomic.Int64
	bytes atomic.Int64

	warnMu   sync.Mutex
	warnings map[string]int64
	reportMu sync.Mutex
}

// Run executes the job and returns its summary. The error, if any, is
// classified for ExitCode and never contains a password.
func Run(ctx context.Context, job spec.Job, opts Options) (Summary, error) {
	start := time.Now()
	if opts.ProgressInterval <= 0 {
		opts.ProgressInterval = 5 * time.Second
	}
	job.ApplyDefaults()
	r := &run{job: job, opts: opts, log: opts.Logger, warnings: map[string]int64{}}
	sum := Summary{Type: job.Type}

	err := r.execute(ctx, &sum)
	err = scrub(err, r.secrets...)

	sum.Rows = r.rows.Load()
	sum.Bytes = r.bytes.Load()
	sum.DurationSeconds = time.Since(start).Seconds()
	sum.Warnings = r.warningList()
	sum.ExitCode = ExitCode(err)
	switch {
	case err == nil:
		sum.Status = StatusSucceeded
		r.info("Run finished", "rows", sum.Rows, "bytes", sum.Bytes, "durationSeconds", sum.DurationSeconds)
	case KindOf(err) == KindCancelled:
		sum.Status = StatusCancelled
		sum.Error = err.Error()
		sum.ErrorKind = KindCancelled.String()
	default:
		sum.Status = StatusFailed
		sum.Error = err.Error()
		sum.ErrorKind = KindOf(err).String()
	}
	return sum, err
}

func (r *run) execute(ctx context.Context, sum *Summary) error {
	if err := r.job.Validate(); err != nil {
		return &Error{Kind: KindInvalidJob, Err: err}
	}
	src, err := newSource(r, r.job.Source)
	if err != nil {
		return err
	}
	defer src.close()
	r.secrets = append(r.secrets, src.secrets()...)

	schema, err := src.open(ctx)
	if err != nil {
		return err
	}
	if r.job.Type == spec.JobPreview {
		return r.preview(ctx, src, schema, sum)
	}

	plan, err := r.incrementalPlan(schema)
	if err != nil {
		return err
	}

	dst, err := newDestination(r, r.job.Destination)
	if err != nil {
		return err
	}
	defer dst.close()
	r.secrets = append(r.secrets, dst.secrets()...)

	if ps, ok := src.(*postgresSource); ok && plan == nil && r.job.Destination.Type == spec.TypePostgres {
		// PostgreSQL to PostgreSQL copies the COPY text unchanged, as
		// psql's COPY TO | COPY FROM pipe does, and only incremental runs
		// need the values themselves.
		ps.passthrough = true
	}
	r.info("Run starting", "source", r.job.Source.Type, "destination", r.job.Destination.Type,
		"columns", len(schema.Columns), "mode", r.job.Destination.Mode)
	if err := dst.open(ctx, schema); err != nil {
		dst.abort(context.WithoutCancel(ctx))
		return err
	}
	lastRow, err := r.pump(ctx, src, dst, schema, plan)
	if err != nil {
		dst.abort(context.WithoutCancel(ctx))
		return err
	}
	if err := dst.commit(ctx); err != nil {
		dst.abort(context.WithoutCancel(ctx))
		return err
	}
	sum.LastRecord = r.newLastRecord(schema, plan, lastRow)
	return nil
}

// pump reads from src into dst with bounded buffering and returns the last
// row of the ordered incremental stream, if any.
func (r *run) pump(ctx context.Context, src source, dst destination, schema Schema, plan *incremental) ([]any, error) {
	parallelism := r.job.Parallelism
	if parallelism == 0 {
		parallelism = DefaultParallelism()
	}
	g, gctx := errgroup.WithContext(ctx)
	// The channel holds one batch per reader plus one, so memory stays
	// bounded whatever the table size: readers block when the writer lags.
	batches := make(chan *batch, parallelism+1)

	var lastRow []any
	var sent atomic.Int64
	g.Go(func() error {
		defer close(batches)
		req := readRequest{
			parallelism: parallelism,
			incremental: plan,
			batchBytes:  r.job.BatchBytes,
			out:         batches,
			sent:        &sent,
		}
		last, err := src.read(gctx, req)
		lastRow = last
		return err
	})
	g.Go(func() error {
		return r.writeAll(gctx, dst, batches)
	})
	err := g.Wait()
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	if err == nil && sent.Load() != r.rows.Load() {
		// A run must never succeed with fewer rows written than were read.
		err = fmt.Errorf("read %d rows but wrote %d", sent.Load(), r.rows.Load())
	}
	return lastRow, err
}

func (r *run) writeAll(ctx context.Context, dst destination, batches <-chan *batch) error {
	start := time.Now()
	ticker := time.NewTicker(r.opts.ProgressInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			// Drain so readers blocked on a send can exit.
			for range batches {
			}
			return ctx.Err()
		case <-ticker.C:
			r.progress(start)
		case b, ok := <-batches:
			if !ok {
				r.progress(start)
				return nil
			}
			if err := dst.write(ctx, b); err != nil {
				return err
			}
			r.rows.Add(int64(len(b.rows)))
			r.bytes.Add(b.bytes)
		}
	}
}

func (r *run) progress(start time.Time) {
	p := Progress{Rows: r.rows.Load(), Bytes: r.bytes.Load()}
	if secs := time.Since(start).Seconds(); secs > 0 {
		p.RowsPerSecond = float64(p.Rows) / secs
	}
	r.info("Progress", "rows", p.Rows, "bytes", p.Bytes, "rowsPerSecond", int64(p.RowsPerSecond))
	if r.opts.Reporter != nil {
		r.reportMu.Lock()
		r.opts.Reporter.Progress(p)
		r.reportMu.Unlock()
	}
}

func (r *run) preview(ctx context.Context, src source, schema Schema, sum *Summary) error {
	batches := make(chan *batch, 2)
	var readErr error
	go func() {
		defer close(batches)
		_, readErr = src.read(ctx, readRequest{parallelism: 1, limit: r.job.PreviewRows, batchBytes: r.job.BatchBytes, out: batches})
	}()
	var rows [][]json.RawMessage
	for b := range batches {
		for _, row := range b.rows {
			if len(rows) >= r.job.PreviewRows {
				break
			}
			out := make([]json.RawMessage, len(row))
			for i, v := range row {
				out[i] = jsonValue(&schema.Columns[i], v)
			}
			rows = append(rows, out)
		}
	}
	if readErr != nil {
		return readErr
	}
	sum.Columns = schema.Columns
	sum.PreviewRows = rows
	r.rows.Store(int64(len(rows)))
	if r.opts.Reporter != nil {
		r.opts.Reporter.Preview(Preview{Columns: schema.Columns, Rows: rows})
	}
	return nil
}

// warn counts one occurrence of a warning; identical messages are summed.
func (r *run) warn(message string, n int64) {
	r.warnMu.Lock()
	first := r.warnings[message] == 0
	r.warnings[message] += n
	r.warnMu.Unlock()
	if first {
		r.warnLog("Data warning", "warning", message)
	}
}

func (r *run) warningList() []string {
	r.warnMu.Lock()
	defer r.warnMu.Unlock()
	out := make([]string, 0, len(r.warnings))
	for msg, n := range r.warnings {
		noun := "values"
		if n == 1 {
			noun = "value"
		}
		out = append(out, fmt.Sprintf("%s (%d %s)", msg, n, noun))
	}
	sortStrings(out)
	return out
}

func (r *run) info(msg string, kv ...any) {
	r.log.Info(msg, kv...)
	r.report("info", msg, kv...)
}

// warnLog logs at slog's WARN level, which logr has no method for, so a
// handler behind the logger receives a warning rather than an info line.
func (r *run) warnLog(msg string, kv ...any) {
	slog.New(logr.ToSlogHandler(r.log)).Warn(msg, kv...)
	r.report("warn", msg, kv...)
}

// report sends a log line to the reporter, if any.
func (r *run) report(level, msg string, kv ...any) {
	if r.opts.Reporter != nil {
		line := LogLine{Time: time.Now().UTC(), Level: level, Message: msg, KeysAndValues: map[string]any{}}
		for i := 0; i+1 < len(kv); i += 2 {
			line.KeysAndValues[fmt.Sprint(kv[i])] = kv[i+1]
		}
		r.reportMu.Lock()
		r.opts.Reporter.Log(line)
		r.reportMu.Unlock()
	}
}

// DefaultParallelism returns the number of CPUs the process may use. Since
// Go 1.25, GOMAXPROCS follows the cgroup CPU quota, so a pod limited to two
// CPUs gets 2 on a larger node.
func DefaultParallelism() int {
	n := runtime.GOMAXPROCS(0)
	if n < 1 {
		n = 1
	}
	return n
}

// Check validates the job, connects to the source and reads its schema,
// and connects to the destination and verifies that a load could start.
// It writes nothing.
func Check(ctx context.Context, job spec.Job, opts Options) (Schema, error) {
	job.ApplyDefaults()
	r := &run{job: job, opts: opts, log: opts.Logger, warnings: map[string]int64{}}
	schema, err := r.check(ctx)
	return schema, scrub(err, r.secrets...)
}

func (r *run) check(ctx context.Context) (Schema, error) {
	if err := r.job.Validate(); err != nil {
		return Schema{}, &Error{Kind: KindInvalidJob, Err: err}
	}
	src, err := newSource(r, r.job.Source)
	if err != nil {
		return Schema{}, err
	}
	defer src.close()
	r.secrets = append(r.secrets, src.secrets()...)
	schema, err := src.open(ctx)
	if err != nil || r.job.Type == spec.JobPreview {
		return schema, err
	}
	if _, err := r.incrementalPlan(schema); err != nil {
		return schema, err
	}
	dst, err := newDestination(r, r.job.Destination)
	if err != nil {
		return schema, err
	}
	defer dst.close()
	r.secrets = append(r.secrets, dst.secrets()...)
	return schema, dst.check(ctx, schema)
}

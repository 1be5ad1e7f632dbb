package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/go-logr/logr"

	"github.com/ferryhq/ferry/protocol"
	"github.com/ferryhq/ferry/protocol/client"
	"github.com/ferryhq/ferry/transfer"
	"github.com/ferryhq/ferry/transfer/spec"
)

// Environment variables of pod mode, set by the operator on the job pod.
const (
	envControlPlaneURL = "FERRY_CONTROL_PLANE_URL"
	envJobID           = "FERRY_JOB_ID"
	envJobToken        = "FERRY_JOB_TOKEN"
	envJobEpoch        = "FERRY_JOB_EPOCH"
)

// resultTimeout bounds how long the pod keeps resending its result and
// last log lines to an unreachable control plane. The operator reports the
// pod's terminal state on its own, so the pod need not wait forever.
const resultTimeout = 2 * time.Minute

// runPod fetches the job with the job token, runs it and reports logs,
// progress, the preview and the result to the control plane.
func runPod(ctx context.Context, logger logr.Logger, stdout io.Writer, termPath string) int {
	// fail ends the pod before the job runs. The control plane may be out
	// of reach, so the termination message is where the operator reads why.
	fail := func(kind transfer.ErrorKind, err error) int {
		logger.Error(err, "Pod failed before the job could run")
		sum := transfer.Summary{Status: transfer.StatusFailed, Error: err.Error(), ErrorKind: kind.String(),
			ExitCode: transfer.ExitCode(&transfer.Error{Kind: kind, Err: err})}
		finish(stdout, termPath, sum, logger)
		return sum.ExitCode
	}

	env := map[string]string{}
	for _, name := range []string{envControlPlaneURL, envJobID, envJobToken, envJobEpoch} {
		env[name] = os.Getenv(name)
		if env[name] == "" {
			return fail(transfer.KindInvalidJob, fmt.Errorf("missing environment variable %s; the operator sets it on job pods", name))
		}
	}
	epoch, err := strconv.ParseInt(env[envJobEpoch], 10, 64)
	if err != nil {
		return fail(transfer.KindInvalidJob, fmt.Errorf("invalid %s %q: want an integer", envJobEpoch, env[envJobEpoch]))
	}
	jobID := env[envJobID]
	logger = logger.WithValues("jobID", jobID, "epoch", epoch)

	cp, err := client.New(env[envControlPlaneURL], client.StaticToken(env[envJobToken]),
		client.WithUserAgent("ferry-transfer/"+version))
	if err != nil {
		return fail(transfer.KindInvalidJob, fmt.Errorf("invalid %s: %w", envControlPlaneURL, err))
	}
	resp, err := cp.JobSpec(ctx, jobID)
	if err != nil {
		return fail(transfer.KindConnection, fmt.Errorf("failed to fetch job %s from the control plane: %w", jobID, err))
	}

	rep := newPodReporter(cp, jobID, epoch, resp.NoSendPreview, logger)
	go rep.ship(ctx)
	// In pod mode ctx ends only on SIGINT or SIGTERM: the kubelet sends
	// SIGTERM when the pod is deleted, passes its deadline or is cancelled.
	stopLogging := context.AfterFunc(ctx, func() {
		cause := context.Cause(ctx)
		// The line for the control plane is queued first, so a reader of
		// stderr knows that the final flush includes it.
		rep.Log(transfer.LogLine{Time: time.Now().UTC(), Level: "info", Message: "Stop signal received (" + cause.Error() + "); ending the run"})
		logger.Info("Stop signal received; ending the run", "cause", cause.Error())
	})
	defer stopLogging()

	job, err := spec.DecodeStrict(resp.Spec)
	if err == nil {
		if resp.Type == protocol.JobType(spec.JobPreview) {
			job.Type = spec.JobPreview
		}
		job.ApplyDefaults()
		err = job.Validate()
	}
	var sum transfer.Summary
	if err != nil {
		sum = transfer.Summary{Status: transfer.StatusFailed, Error: err.Error(),
			ErrorKind: transfer.KindInvalidJob.String(), ExitCode: transfer.ExitInvalidJob}
		rep.Log(transfer.LogLine{Time: time.Now().UTC(), Level: "error", Message: "Invalid job: " + err.Error()})
	} else {
		sum, err = transfer.Run(ctx, job, transfer.Options{Logger: logger, Reporter: rep})
		if err != nil {
			logger.Error(err, "Run failed", "exitCode", sum.ExitCode)
			rep.Log(transfer.LogLine{Time: time.Now().UTC(), Level: "error", Message: "Run failed: " + err.Error()})
		}
	}

	// A run that a signal stopped failed because of the pod's fate, which
	// the operator reports with the precise reason (PodDeleted,
	// DeadlineExceeded, Cancelled and so on). Marking the result as
	// interrupted lets that reason win over the engine's "context canceled".
	interrupted := sum.Status != transfer.StatusSucceeded && ctx.Err() != nil

	finishCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), resultTimeout)
	defer cancel()
	rep.flush(finishCtx)
	if err := rep.sendResult(finishCtx, sum, interrupted); err != nil {
		logger.Error(err, "Failed to report the result to the control plane")
	}
	finish(stdout, termPath, sum, logger)
	return sum.ExitCode
}

// podReporter buffers log lines and ships them in numbered batches, so a
// resent batch is idempotent and lines survive a control plane outage.
type podReporter struct {
	cp            *client.Client
	jobID         string
	epoch         int64
	noSendPreview bool
	log           logr.Logger

	// sendMu lets one send run at a time, so the shipper and the final
	// flush do not send the same lines twice.
	sendMu sync.Mutex

	mu       sync.Mutex
	lines    []protocol.LogLine
	seq      int64
	dropped  int64
	progress *transfer.Progress
	wake     chan struct{}
}

// maxBufferedLines bounds the lines kept while the control plane is away.
const maxBufferedLines = 20000

func newPodReporter(cp *client.Client, jobID string, epoch int64, noSendPreview bool, log logr.Logger) *podReporter {
	return &podReporter{cp: cp, jobID: jobID, epoch: epoch, noSendPreview: noSendPreview, log: log,
		wake: make(chan struct{}, 1)}
}

// Log implements transfer.Reporter.
func (p *podReporter) Log(line transfer.LogLine) {
	msg := line.Message
	if len(line.KeysAndValues) > 0 {
		if kv, err := json.Marshal(line.KeysAndValues); err == nil {
			msg += " " + string(kv)
		}
	}
	p.mu.Lock()
	p.seq++
	if len(p.lines) >= maxBufferedLines {
		p.lines = p.lines[1:]
		p.dropped++
	}
	p.lines = append(p.lines, protocol.LogLine{Seq: p.seq, Time: line.Time, Level: line.Level, Message: msg})
	p.mu.Unlock()
}

// Progress implements transfer.Reporter.
func (p *podReporter) Progress(pr transfer.Progress) {
	p.mu.Lock()
	p.progress = &pr
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Preview implements transfer.Reporter. With noSendPreview only the
// column schema leaves the cluster.
func (p *podReporter) Preview(pv transfer.Preview) {
	req := protocol.PreviewRequest{Epoch: p.epoch}
	for _, c := range pv.Columns {
		req.Columns = append(req.Columns, protocol.Column{Name: c.Name, Type: c.TypeName(), SourceType: c.NativeType, Nullable: c.Nullable})
	}
	if p.noSendPreview {
		req.RowsWithheld = true
	} else {
		req.Rows = pv.Rows
	}
	if err := p.cp.SendPreview(context.Background(), p.jobID, req); err != nil {
		p.log.Error(err, "Failed to send the preview")
	}
}

// ship sends buffered lines and the latest progress every second until ctx ends.
func (p *podReporter) ship(ctx context.Context) {
	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		case <-p.wake:
		}
		p.sendOnce(ctx)
	}
}

func (p *podReporter) sendOnce(ctx context.Context) error {
	p.sendMu.Lock()
	defer p.sendMu.Unlock()
	p.mu.Lock()
	lines := append([]protocol.LogLine(nil), p.lines...)
	progress := p.progress
	p.progress = nil
	p.mu.Unlock()

	if progress != nil {
		if err := p.cp.SendProgress(ctx, p.jobID, protocol.ProgressRequest{Epoch: p.epoch, Rows: progress.Rows, Bytes: progress.Bytes}); err != nil {
			p.log.V(1).Info("Failed to send progress", "error", err.Error())
		}
	}
	for len(lines) > 0 {
		n := min(len(lines), 500)
		resp, err := p.cp.SendLogs(ctx, p.jobID, protocol.LogBatch{Epoch: p.epoch, Lines: lines[:n]})
		if err != nil {
			p.log.V(1).Info("Failed to send log lines; keeping them for the next attempt", "lines", len(lines), "error", err.Error())
			return err
		}
		p.mu.Lock()
		for len(p.lines) > 0 && p.lines[0].Seq <= resp.LastSeq {
			p.lines = p.lines[1:]
		}
		p.mu.Unlock()
		lines = lines[n:]
	}
	return nil
}

// flush sends the remaining lines, retrying until ctx ends.
func (p *podReporter) flush(ctx context.Context) {
	for {
		if err := p.sendOnce(ctx); err == nil {
			p.mu.Lock()
			empty := len(p.lines) == 0
			p.mu.Unlock()
			if empty {
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Second):
		}
	}
}

// sendResult sends the run's summary as the attempt's result. interrupted
// marks a failed run that a stop signal ended.
func (p *podReporter) sendResult(ctx context.Context, sum transfer.Summary, interrupted bool) error {
	req := protocol.ResultRequest{Epoch: p.epoch, Succeeded: sum.Status == transfer.StatusSucceeded,
		Rows: sum.Rows, Bytes: sum.Bytes, DurationSeconds: sum.DurationSeconds, Warnings: sum.Warnings,
		Error: sum.Error, ExitCode: sum.ExitCode, Interrupted: interrupted}
	if sum.LastRecord != nil {
		raw, err := json.Marshal(sum.LastRecord)
		if err != nil {
			return fmt.Errorf("failed to encode lastRecord: %w", err)
		}
		req.LastRecord = raw
	}
	for {
		err := p.cp.SendResult(ctx, p.jobID, req)
		var apiErr *client.APIError
		if err == nil || ctx.Err() != nil || errors.As(err, &apiErr) {
			// A rejected result (4xx) will not be accepted on resend.
			return err
		}
		p.log.Info("Failed to send the result; retrying", "error", err.Error())
		select {
		case <-ctx.Done():
			return err
		case <-time.After(5 * time.Second):
		}
	}
}

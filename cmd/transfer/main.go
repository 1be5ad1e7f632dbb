// Command transfer is Ferry's transfer engine. It runs a job file locally
// or, in a job pod, the job it fetches from the control plane.
//
// Usage:
//
//	transfer run -f job.yaml       copy rows from the source to the destination
//	transfer preview -f job.yaml   print the column schema and the first rows
//	transfer check -f job.yaml     validate the job and connect to both ends
//	transfer pod                   run the job named by FERRY_JOB_ID (job pods)
//	transfer version               print the version
//
// The JSON summary goes to stdout and to the termination message path;
// logs go to stderr. Exit codes: 0 success, 1 other failure, 2 invalid job,
// 3 connection failure, 4 data error, 130 cancelled.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"

	"github.com/go-logr/logr"

	"github.com/ferryhq/ferry/transfer"
	"github.com/ferryhq/ferry/transfer/spec"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `transfer moves rows from a source to a destination.

Usage:
  transfer run -f job.yaml       copy rows from the source to the destination
  transfer preview -f job.yaml   print the column schema and the first rows
  transfer check -f job.yaml     validate the job and connect to both ends
  transfer pod                   fetch the job from the control plane and run it
                                 (reads FERRY_CONTROL_PLANE_URL, FERRY_JOB_ID,
                                 FERRY_JOB_TOKEN and FERRY_JOB_EPOCH)
  transfer version               print the version

Flags of run, preview, check and pod:
  -f FILE                          job file in YAML or JSON; "-" reads stdin
  -termination-message-path PATH   where to write the JSON summary, when its
                                   directory exists (default $FERRY_TERMINATION_MESSAGE_PATH
                                   or /dev/termination-log)
  -v N                             log verbosity; 1 adds the queries

Exit codes:
  0    success
  1    any other failure
  2    invalid job
  3    connection failure
  4    data error (a value the destination cannot store exactly)
  130  cancelled by SIGINT or SIGTERM
`

// defaultMemoryLimit is the Go runtime's soft memory limit unless GOMEMLIMIT
// sets another: the engine's working set is a few MiB of batches, and the
// limit makes the garbage collector keep the heap near it.
const defaultMemoryLimit = 96 << 20

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return transfer.ExitInvalidJob
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "version", "--version":
		fmt.Fprintln(stdout, version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	case "run", "preview", "check", "pod":
	default:
		fmt.Fprintf(stderr, "transfer: unknown command %q\n\n%s", cmd, usage)
		return transfer.ExitInvalidJob
	}

	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("f", "", "job file in YAML or JSON; - reads stdin")
	defaultPath := os.Getenv("FERRY_TERMINATION_MESSAGE_PATH")
	if defaultPath == "" {
		defaultPath = "/dev/termination-log"
	}
	termPath := fs.String("termination-message-path", defaultPath, "where to write the JSON summary when its directory exists")
	verbosity := fs.Int("v", 0, "log verbosity")
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			// The flag package has printed the command's flags; asking for them is no error.
			return transfer.ExitSuccess
		}
		return transfer.ExitInvalidJob
	}

	level := slog.LevelInfo - slog.Level(*verbosity)
	logger := logr.FromSlogHandler(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	if cmd == "pod" {
		return runPod(ctx, logger, stdout, *termPath)
	}

	if *file == "" {
		fmt.Fprintf(stderr, "transfer %s: missing -f; give the job file, for example -f job.yaml\n", cmd)
		return transfer.ExitInvalidJob
	}
	job, err := readJob(*file, stdin, cmd == "preview")
	if err != nil {
		logger.Error(err, "Invalid job", "file", *file)
		sum := transfer.Summary{Status: transfer.StatusFailed, Error: err.Error(),
			ErrorKind: transfer.KindInvalidJob.String(), ExitCode: transfer.ExitInvalidJob}
		finish(stdout, *termPath, sum, logger)
		return transfer.ExitInvalidJob
	}

	if cmd == "check" {
		return check(ctx, job, logger, stdout)
	}
	sum, err := transfer.Run(ctx, job, transfer.Options{Logger: logger})
	if err != nil {
		logger.Error(err, "Run failed", "exitCode", sum.ExitCode)
	}
	finish(stdout, *termPath, sum, logger)
	return sum.ExitCode
}

// readJob reads and validates a job file; preview turns any job into a
// preview, which needs no destination.
func readJob(file string, stdin io.Reader, preview bool) (spec.Job, error) {
	var data []byte
	var err error
	if file == "-" {
		data, err = io.ReadAll(stdin)
	} else {
		data, err = os.ReadFile(file)
	}
	if err != nil {
		return spec.Job{}, fmt.Errorf("failed to read the job file: %w", err)
	}
	job, err := spec.DecodeStrict(data)
	if err != nil {
		return job, err
	}
	if preview {
		job.Type = spec.JobPreview
	}
	job.ApplyDefaults()
	return job, job.Validate()
}

func check(ctx context.Context, job spec.Job, logger logr.Logger, stdout io.Writer) int {
	schema, err := transfer.Check(ctx, job, transfer.Options{Logger: logger})
	out := struct {
		Status  string            `json:"status"`
		Columns []transfer.Column `json:"columns,omitempty"`
		Error   string            `json:"error,omitempty"`
	}{Status: transfer.StatusSucceeded, Columns: schema.Columns}
	if err != nil {
		logger.Error(err, "Check failed")
		out.Status, out.Error = transfer.StatusFailed, err.Error()
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	// Errors quote SQL, so keep < > & readable instead of \u003c escapes.
	enc.SetEscapeHTML(false)
	_ = enc.Encode(out)
	return transfer.ExitCode(err)
}

// finish prints the summary and writes the termination message.
func finish(stdout io.Writer, termPath string, sum transfer.Summary, logger logr.Logger) {
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	// Errors quote SQL, so keep < > & readable instead of \u003c escapes.
	enc.SetEscapeHTML(false)
	_ = enc.Encode(sum)
	if err := writeTerminationMessage(termPath, sum); err != nil {
		logger.Error(err, "Failed to write the termination message", "path", termPath)
	}
}

// maxTerminationMessage is the size Kubernetes keeps of a termination message.
const maxTerminationMessage = 4096

// writeTerminationMessage writes a compact summary of at most 4096 bytes
// without preview rows. It drops columns, then warnings and finally
// shortens the error until the summary fits. It does nothing when the directory is missing,
// as outside a pod.
func writeTerminationMessage(path string, sum transfer.Summary) error {
	if path == "" {
		return nil
	}
	if _, err := os.Stat(filepath.Dir(path)); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	data, err := compactSummary(sum)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

func compactSummary(sum transfer.Summary) ([]byte, error) {
	// Preview rows never go into the message: the operator may forward it,
	// and with noSendPreview no row may leave the cluster.
	sum.PreviewRows = nil
	steps := []func(*transfer.Summary){
		func(s *transfer.Summary) {},
		func(s *transfer.Summary) { s.Columns = nil },
		func(s *transfer.Summary) {
			if len(s.Warnings) > 3 {
				s.Warnings = append(s.Warnings[:3:3], fmt.Sprintf("and %d more warnings", len(s.Warnings)-3))
			}
		},
		func(s *transfer.Summary) { s.LastRecord = nil },
		func(s *transfer.Summary) { s.Warnings = nil },
		func(s *transfer.Summary) {
			if len(s.Error) > 2000 {
				s.Error = s.Error[:2000] + "..."
			}
		},
		func(s *transfer.Summary) {
			if len(s.Error) > 500 {
				s.Error = s.Error[:500] + "..."
			}
		},
	}
	var data []byte
	for _, step := range steps {
		step(&sum)
		var err error
		if data, err = json.Marshal(sum); err != nil {
			return nil, err
		}
		if len(data) <= maxTerminationMessage {
			return data, nil
		}
	}
	return data[:0], fmt.Errorf("summary does not fit in %d bytes", maxTerminationMessage)
}

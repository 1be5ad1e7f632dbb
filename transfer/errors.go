package transfer

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// ErrorKind classifies a failure for the exit code and the caller's retry policy.
type ErrorKind int

// Error kinds, each with its exit code.
const (
	// KindOther is any failure not listed below. Exit code 1.
	KindOther ErrorKind = iota
	// KindInvalidJob is a job that cannot run as written. Exit code 2.
	KindInvalidJob
	// KindConnection is a failure to connect to, authenticate with or stay
	// connected to a database. Exit code 3.
	KindConnection
	// KindData is a value that cannot be read or stored exactly. Exit code 4.
	KindData
	// KindCancelled is a run stopped by its context. Exit code 130.
	KindCancelled
)

// Exit codes returned by ExitCode.
const (
	ExitSuccess    = 0
	ExitFailure    = 1
	ExitInvalidJob = 2
	ExitConnection = 3
	ExitDataError  = 4
	ExitCancelled  = 130
)

// String returns the kind's name as used in summaries.
func (k ErrorKind) String() string {
	switch k {
	case KindInvalidJob:
		return "invalidJob"
	case KindConnection:
		return "connection"
	case KindData:
		return "data"
	case KindCancelled:
		return "cancelled"
	}
	return "other"
}

// Error is a classified engine failure.
type Error struct {
	Kind ErrorKind
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

func newError(kind ErrorKind, format string, args ...any) error {
	return &Error{Kind: kind, Err: fmt.Errorf(format, args...)}
}

func invalidJob(format string, args ...any) error { return newError(KindInvalidJob, format, args...) }
func dataError(format string, args ...any) error  { return newError(KindData, format, args...) }

func connectionError(format string, args ...any) error {
	return newError(KindConnection, format, args...)
}

// KindOf returns the kind of the first *Error in err's chain, KindCancelled
// for context cancellation, or KindOther.
func KindOf(err error) ErrorKind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	if errors.Is(err, context.Canceled) {
		return KindCancelled
	}
	return KindOther
}

// ExitCode returns the process exit code for err; see the package documentation.
func ExitCode(err error) int {
	if err == nil {
		return ExitSuccess
	}
	switch KindOf(err) {
	case KindInvalidJob:
		return ExitInvalidJob
	case KindConnection:
		return ExitConnection
	case KindData:
		return ExitDataError
	case KindCancelled:
		return ExitCancelled
	}
	return ExitFailure
}

// scrubbedError hides secrets that a driver may have put into a message.
type scrubbedError struct {
	msg   string
	cause error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.cause }

// scrub returns err with every non-empty secret replaced by [redacted] in
// its message, keeping the chain for errors.Is and errors.As.
func scrub(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	changed := false
	for _, s := range secrets {
		if s != "" && strings.Contains(msg, s) {
			msg = strings.ReplaceAll(msg, s, "[redacted]")
			changed = true
		}
	}
	if !changed {
		return err
	}
	return &scrubbedError{msg: msg, cause: err}
}

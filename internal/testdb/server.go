package testdb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Kind names a database server product.
type Kind string

// The server kinds the package can start.
const (
	KindPostgres Kind = "postgres"
	KindMariaDB  Kind = "mariadb"
)

// startTimeout bounds how long a server may take to accept connections.
const startTimeout = 2 * time.Minute

// Server is a running throwaway database server owned by this process.
type Server struct {
	kind     Kind
	host     string
	port     int
	user     string
	password string
	dir      string

	cmd     *exec.Cmd
	exited  chan struct{}
	exitErr error
	logPath string

	stopOnce sync.Once
	stopErr  error
	dbSeq    atomic.Int64
}

// Kind returns which product the server runs.
func (s *Server) Kind() Kind { return s.kind }

// Host returns the address the server listens on, always 127.0.0.1.
func (s *Server) Host() string { return s.host }

// Port returns the TCP port the server listens on.
func (s *Server) Port() int { return s.port }

// User returns the name of the superuser account created for tests.
func (s *Server) User() string { return s.user }

// Password returns the password of the superuser account.
func (s *Server) Password() string { return s.password }

// Addr returns host:port.
func (s *Server) Addr() string { return net.JoinHostPort(s.host, strconv.Itoa(s.port)) }

// PID returns the process ID of the server's main process.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// DataDir returns the temporary directory holding the server's files.
func (s *Server) DataDir() string { return s.dir }

// DSN returns a connection string for database db in the format of the Go
// driver for the server's kind: a postgres:// URL for pgx, or a
// go-sql-driver/mysql DSN with multiStatements and local infile allowed.
func (s *Server) DSN(db string) string {
	switch s.kind {
	case KindPostgres:
		return fmt.Sprintf("postgres://%s:%s@%s/%s?sslmode=disable", s.user, s.password, s.Addr(), db)
	default:
		return fmt.Sprintf("%s:%s@tcp(%s)/%s?multiStatements=true&allowAllFiles=true&charset=utf8mb4&collation=utf8mb4_bin",
			s.user, s.password, s.Addr(), db)
	}
}

// Stop shuts the server down, waits for its process to exit and removes its
// data directory. It is safe to call more than once.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() { s.stopErr = s.stop() })
	return s.stopErr
}

func (s *Server) stop() error {
	select {
	case <-s.exited:
	default:
		// SIGINT is PostgreSQL's fast shutdown; MariaDB shuts down cleanly on SIGTERM.
		sig := syscall.SIGTERM
		if s.kind == KindPostgres {
			sig = syscall.SIGINT
		}
		if err := s.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return fmt.Errorf("failed to signal %s server pid %d: %w", s.kind, s.PID(), err)
		}
		select {
		case <-s.exited:
		case <-time.After(30 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
	}
	if err := os.RemoveAll(s.dir); err != nil {
		return fmt.Errorf("failed to remove data directory of %s server: %w", s.kind, err)
	}
	return nil
}

// newDatabaseName returns a database name derived from base and unique
// within this server.
func (s *Server) newDatabaseName(base string) string {
	name := strings.ToLower(base)
	name = regexp.MustCompile(`[^a-z0-9_]+`).ReplaceAllString(name, "_")
	name = strings.Trim(name, "_")
	if len(name) > 40 {
		name = name[:40]
	}
	if name == "" {
		name = "db"
	}
	return fmt.Sprintf("t_%s_%d", name, s.dbSeq.Add(1))
}

// CreateDatabase creates a new empty database whose name derives from base
// and returns its name and DSN. MariaDB databases default to utf8mb4.
func (s *Server) CreateDatabase(ctx context.Context, base string) (name, dsn string, err error) {
	name = s.newDatabaseName(base)
	switch s.kind {
	case KindPostgres:
		err = s.execPostgres(ctx, "postgres", `CREATE DATABASE "`+name+`" ENCODING 'UTF8' TEMPLATE template0`)
	default:
		err = s.execMariaDB(ctx, "", "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
	}
	if err != nil {
		return "", "", fmt.Errorf("failed to create database %q on %s server: %w", name, s.kind, err)
	}
	return name, s.DSN(name), nil
}

// freePort returns a TCP port on 127.0.0.1 that the kernel reports free.
// Another process may take it before the server binds it, so callers retry
// on a bind failure.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("failed to find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomPassword() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "pw" + hex.EncodeToString(b)
}

// launch starts cmd with its output in logPath and tracks its exit.
func (s *Server) launch(cmd *exec.Cmd) error {
	logFile, err := os.Create(s.logPath)
	if err != nil {
		return fmt.Errorf("failed to create server log: %w", err)
	}
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	// The server dies with the test binary even when the test panics or times out.
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("failed to start %s: %w", cmd.Path, err)
	}
	s.cmd = cmd
	s.exited = make(chan struct{})
	go func() {
		s.exitErr = cmd.Wait()
		logFile.Close()
		close(s.exited)
	}()
	return nil
}

// waitReady polls ping until it succeeds, the process exits or ctx ends.
func (s *Server) waitReady(ctx context.Context, ping func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	var lastErr error
	for {
		select {
		case <-s.exited:
			return fmt.Errorf("%s server exited during start-up (%v); log %s:\n%s", s.kind, s.exitErr, s.logPath, tail(s.logPath))
		default:
		}
		pingCtx, pingCancel := context.WithTimeout(ctx, 5*time.Second)
		lastErr = ping(pingCtx)
		pingCancel()
		if lastErr == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("timed out waiting for %s server on %s: %w; log:\n%s", s.kind, s.Addr(), lastErr, tail(s.logPath))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// tail returns the last lines of a log file for error messages.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	const max = 3000
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(b)
}

// runLogged runs a set-up command and returns its output inside the error.
func runLogged(cmd *exec.Cmd) error {
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s failed: %w\n%s", strings.Join(cmd.Args, " "), err, out)
	}
	return nil
}

func makeTempDir(kind Kind) (string, error) {
	base := ""
	if kind == KindPostgres && os.Geteuid() == 0 {
		// The postgres user must reach the directory, which a TMPDIR under
		// root's home would not allow.
		base = "/tmp"
	}
	dir, err := os.MkdirTemp(base, "ferry-"+string(kind)+"-")
	if err != nil {
		return "", fmt.Errorf("failed to create data directory: %w", err)
	}
	return filepath.Clean(dir), nil
}

// discard cleans up after a failed start: it stops the server process if
// one was started, which also removes the directory, or else removes the
// directory alone.
func (s *Server) discard() {
	if s.cmd != nil {
		_ = s.Stop()
		return
	}
	_ = os.RemoveAll(s.dir)
}

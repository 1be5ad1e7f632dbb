//go:build cluster

package e2e

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// process is a child program that a test can stop, kill and start again with the same
// command line. Its output is appended to logPath across restarts.
type process struct {
	name    string
	path    string
	args    []string
	env     []string
	logPath string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// start runs the program. It dies with the test binary (SIGKILL on parent death).
func (p *process) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return fmt.Errorf("%s is already running (pid %d)", p.name, p.cmd.Process.Pid)
	}
	logFile, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("failed to open the log of %s: %w", p.name, err)
	}
	fmt.Fprintf(logFile, "=== e2e: starting %s at %s\n", p.name, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(p.path, p.args...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("failed to start %s: %w", p.name, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logFile.Close()
		close(done)
	}()
	p.cmd, p.done = cmd, done
	logf("started %s (pid %d, log %s)", p.name, cmd.Process.Pid, p.logPath)
	return nil
}

// running reports whether the program has been started and has not exited.
func (p *process) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// signal sends sig and waits for the exit; after grace it sends SIGKILL. A program that is
// not running is left alone.
func (p *process) signal(sig syscall.Signal, grace time.Duration) error {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.cmd, p.done = nil, nil
	p.mu.Unlock()
	if cmd == nil {
		return nil
	}
	if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("failed to send %s to %s (pid %d): %w", sig, p.name, cmd.Process.Pid, err)
	}
	select {
	case <-done:
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		<-done
		logf("%s (pid %d) did not exit %s after %s; killed it", p.name, cmd.Process.Pid, grace, sig)
	}
	logf("stopped %s (pid %d) with %s", p.name, cmd.Process.Pid, sig)
	return nil
}

// stop ends the program with SIGTERM, and SIGKILL after 20 seconds.
func (p *process) stop() error { return p.signal(syscall.SIGTERM, 20*time.Second) }

// kill ends the program with SIGKILL, as a crash or an OOM kill of the host process would.
func (p *process) kill() error { return p.signal(syscall.SIGKILL, 20*time.Second) }

// tailFile returns the end of a log file for an error message.
func tailFile(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	const max = 4000
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(b)
}

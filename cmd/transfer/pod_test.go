package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ferryhq/ferry/protocol"
	"github.com/ferryhq/ferry/transfer"
)

// fakeControlPlane serves the job endpoints of the runner protocol for
// one job and records what the pod sends.
type fakeControlPlane struct {
	mu      sync.Mutex
	spec    string
	preview bool
	logs    []protocol.LogLine
	result  *protocol.ResultRequest
	pv      *protocol.PreviewRequest
	auth    []string
}

func (f *fakeControlPlane) handler() http.Handler {
	mux := http.NewServeMux()
	route := func(path string) string {
		return strings.ReplaceAll(path, "{jobID}", "job-1")
	}
	record := func(r *http.Request) {
		f.mu.Lock()
		f.auth = append(f.auth, r.Header.Get("Authorization"))
		f.mu.Unlock()
	}
	mux.HandleFunc("GET "+route(protocol.PathJobSpec), func(w http.ResponseWriter, r *http.Request) {
		record(r)
		typ := protocol.JobType("transfer")
		if f.preview {
			typ = protocol.JobType("preview")
		}
		_ = json.NewEncoder(w).Encode(protocol.JobSpecResponse{JobID: "job-1", Epoch: 3, Type: typ,
			NoSendPreview: true, Spec: json.RawMessage(f.spec)})
	})
	mux.HandleFunc("POST "+route(protocol.PathJobLogs), func(w http.ResponseWriter, r *http.Request) {
		record(r)
		var batch protocol.LogBatch
		_ = json.NewDecoder(r.Body).Decode(&batch)
		f.mu.Lock()
		// Like a real control plane, ignore lines already stored.
		for _, l := range batch.Lines {
			if len(f.logs) == 0 || l.Seq > f.logs[len(f.logs)-1].Seq {
				f.logs = append(f.logs, l)
			}
		}
		last := f.logs[len(f.logs)-1].Seq
		f.mu.Unlock()
		_ = json.NewEncoder(w).Encode(protocol.LogBatchResponse{LastSeq: last})
	})
	mux.HandleFunc("POST "+route(protocol.PathJobProgress), func(w http.ResponseWriter, r *http.Request) {
		record(r)
		_ = json.NewEncoder(w).Encode(protocol.Empty{})
	})
	mux.HandleFunc("POST "+route(protocol.PathJobPreview), func(w http.ResponseWriter, r *http.Request) {
		record(r)
		var pv protocol.PreviewRequest
		_ = json.NewDecoder(r.Body).Decode(&pv)
		f.mu.Lock()
		f.pv = &pv
		f.mu.Unlock()
		_ = json.NewEncoder(w).Encode(protocol.Empty{})
	})
	mux.HandleFunc("POST "+route(protocol.PathJobResult), func(w http.ResponseWriter, r *http.Request) {
		record(r)
		var res protocol.ResultRequest
		_ = json.NewDecoder(r.Body).Decode(&res)
		f.mu.Lock()
		f.result = &res
		f.mu.Unlock()
		_ = json.NewEncoder(w).Encode(protocol.Empty{})
	})
	return mux
}

func podEnv(url string) []string {
	return []string{"FERRY_CONTROL_PLANE_URL=" + url, "FERRY_JOB_ID=job-1", "FERRY_JOB_TOKEN=job-token-xyz", "FERRY_JOB_EPOCH=3"}
}

func TestPodRunsFetchedJob(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "in.csv"), "id\n1\n2\n3\n")
	out := filepath.Join(dir, "out.jsonl")
	cp := &fakeControlPlane{spec: `{"source": {"type": "csv", "path": "` + filepath.Join(dir, "in.csv") +
		`"}, "destination": {"type": "jsonl", "path": "` + out + `"}}`}
	srv := httptest.NewServer(cp.handler())
	defer srv.Close()

	code, stdout, stderr := runBinary(t, "UTC", podEnv(srv.URL), "pod", "-termination-message-path", "")
	if code != 0 {
		t.Fatalf("exit code %d\n%s\n%s", code, stdout, stderr)
	}
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if cp.result == nil {
		t.Fatal("the pod sent no result")
	}
	if !cp.result.Succeeded || cp.result.Rows != 3 || cp.result.Epoch != 3 {
		t.Errorf("result = %+v, want 3 rows succeeded in epoch 3", *cp.result)
	}
	if len(cp.logs) == 0 {
		t.Error("the pod sent no log lines")
	}
	for i, l := range cp.logs {
		if l.Seq != int64(i+1) {
			t.Errorf("log line %d has seq %d, want consecutive numbers from 1", i, l.Seq)
			break
		}
	}
	for _, a := range cp.auth {
		if a != "Bearer job-token-xyz" {
			t.Errorf("request authorised with %q, want the job token", a)
		}
	}
	if strings.Contains(stdout+stderr, "job-token-xyz") {
		t.Error("the job token appears in the pod's output")
	}
}

func TestPodPreviewWithholdsRows(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "in.csv"), "id,name\n1,secret-row\n")
	cp := &fakeControlPlane{preview: true, spec: `{"source": {"type": "csv", "path": "` + filepath.Join(dir, "in.csv") + `"}}`}
	srv := httptest.NewServer(cp.handler())
	defer srv.Close()

	code, stdout, stderr := runBinary(t, "UTC", podEnv(srv.URL), "pod", "-termination-message-path", "")
	if code != 0 {
		t.Fatalf("exit code %d\n%s\n%s", code, stdout, stderr)
	}
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if cp.pv == nil {
		t.Fatal("the pod sent no preview")
	}
	if !cp.pv.RowsWithheld || len(cp.pv.Rows) != 0 {
		t.Errorf("preview sent %d rows (withheld=%v), want none with noSendPreview", len(cp.pv.Rows), cp.pv.RowsWithheld)
	}
	if len(cp.pv.Columns) != 2 || cp.pv.Columns[1].Name != "name" {
		t.Errorf("preview columns = %+v", cp.pv.Columns)
	}
}

var _ = transfer.ExitSuccess

func TestPodFailureWritesTerminationMessage(t *testing.T) {
	jobSpecStatus := func(status int) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_ = json.NewEncoder(w).Encode(protocol.Error{Message: http.StatusText(status)})
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	unauthorized, broken := jobSpecStatus(http.StatusUnauthorized), jobSpecStatus(http.StatusInternalServerError)

	for _, tc := range []struct {
		name     string
		env      []string
		exitCode int
		errorHas string
	}{
		{"missing token", []string{"FERRY_CONTROL_PLANE_URL=" + unauthorized, "FERRY_JOB_ID=job-1", "FERRY_JOB_EPOCH=3"},
			transfer.ExitInvalidJob, "FERRY_JOB_TOKEN"},
		{"invalid epoch", append(podEnv(unauthorized)[:3:3], "FERRY_JOB_EPOCH=three"),
			transfer.ExitInvalidJob, "FERRY_JOB_EPOCH"},
		{"unauthorized", podEnv(unauthorized), transfer.ExitConnection, "401"},
		{"server error", podEnv(broken), transfer.ExitConnection, "500"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			term := filepath.Join(t.TempDir(), "termination-log")
			env := append([]string{"FERRY_JOB_TOKEN="}, tc.env...)
			code, stdout, stderr := runBinary(t, "UTC", env, "pod", "-termination-message-path", term)
			if code != tc.exitCode {
				t.Errorf("exit code %d, want %d\n%s", code, tc.exitCode, stderr)
			}
			data, err := os.ReadFile(term)
			if err != nil {
				t.Fatalf("no termination message: %v", err)
			}
			var sum transfer.Summary
			if err := json.Unmarshal(data, &sum); err != nil {
				t.Fatalf("termination message is not a summary: %v\n%s", err, data)
			}
			if sum.Status != transfer.StatusFailed {
				t.Errorf("status = %q, want %q", sum.Status, transfer.StatusFailed)
			}
			if sum.ExitCode != tc.exitCode {
				t.Errorf("summary exit code = %d, want %d", sum.ExitCode, tc.exitCode)
			}
			if !strings.Contains(sum.Error, tc.errorHas) {
				t.Errorf("error %q does not mention %q", sum.Error, tc.errorHas)
			}
			if strings.Contains(string(data)+stdout+stderr, "job-token-xyz") {
				t.Error("the job token appears in the output")
			}
		})
	}
}

// TestPodStoppedBySignalReportsInterrupted stops a running pod with SIGTERM,
// as the kubelet does when the pod is deleted, and checks that the result
// is marked as interrupted so the operator's reason decides the job.
func TestPodStoppedBySignalReportsInterrupted(t *testing.T) {
	dir := t.TempDir()
	// A named pipe keeps the run reading until the test closes it.
	fifo := filepath.Join(dir, "in.csv")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	cp := &fakeControlPlane{spec: `{"source": {"type": "csv", "path": "` + fifo +
		`"}, "destination": {"type": "jsonl", "path": "` + filepath.Join(dir, "out.jsonl") + `"}}`}
	srv := httptest.NewServer(cp.handler())
	defer srv.Close()

	term := filepath.Join(dir, "termination-log")
	cmd := exec.CommandContext(t.Context(), binary, "pod", "-termination-message-path", term)
	cmd.Env = append(append(os.Environ(), "TZ=UTC", "FERRY_JOB_TOKEN="), podEnv(srv.URL)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Opening the pipe for writing returns once the run has opened it.
	writer, err := os.OpenFile(fifo, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := writer.WriteString("id\n1\n2\n"); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	signalSeen := make(chan struct{})
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		scanner := bufio.NewScanner(stderr)
		seen := false
		for scanner.Scan() {
			logs.WriteString(scanner.Text() + "\n")
			if !seen && strings.Contains(scanner.Text(), "Stop signal received") {
				seen = true
				close(signalSeen)
			}
		}
	}()
	// The run sees the end of the input only after it has seen the signal.
	// The minute is a safety net so that a pod that ignores the signal
	// fails the checks below instead of hanging the test.
	select {
	case <-signalSeen:
	case <-time.After(time.Minute):
		t.Error("the pod logged nothing about the stop signal")
	}
	if err := writer.Close(); err != nil {
		t.Fatal(err)
	}
	<-readDone
	err = cmd.Wait()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != transfer.ExitCancelled {
		t.Errorf("exit = %v, want exit code %d\n%s", err, transfer.ExitCancelled, logs.String())
	}

	cp.mu.Lock()
	defer cp.mu.Unlock()
	if cp.result == nil {
		t.Fatalf("the pod sent no result\n%s", logs.String())
	}
	if cp.result.Succeeded {
		t.Error("result.succeeded = true, want false")
	}
	if !cp.result.Interrupted {
		t.Errorf("result.interrupted = false, want true: %+v", *cp.result)
	}
	if cp.result.ExitCode != transfer.ExitCancelled {
		t.Errorf("result.exitCode = %d, want %d", cp.result.ExitCode, transfer.ExitCancelled)
	}
	stopLogged := false
	for _, l := range cp.logs {
		stopLogged = stopLogged || strings.Contains(l.Message, "Stop signal received")
	}
	if !stopLogged {
		t.Errorf("the control plane got no log line about the stop signal: %+v", cp.logs)
	}

	data, err := os.ReadFile(term)
	if err != nil {
		t.Fatalf("no termination message: %v", err)
	}
	var sum transfer.Summary
	if err := json.Unmarshal(data, &sum); err != nil {
		t.Fatalf("termination message is not a summary: %v\n%s", err, data)
	}
	if sum.Status != transfer.StatusCancelled {
		t.Errorf("termination message status = %q, want %q", sum.Status, transfer.StatusCancelled)
	}
}

// TestPodSucceededRunNotInterrupted checks that a run that ends on its own
// sends no interrupted mark.
func TestPodSucceededRunNotInterrupted(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "in.csv"), "id\n1\n")
	cp := &fakeControlPlane{spec: `{"source": {"type": "csv", "path": "` + filepath.Join(dir, "in.csv") +
		`"}, "destination": {"type": "jsonl", "path": "` + filepath.Join(dir, "out.jsonl") + `"}}`}
	srv := httptest.NewServer(cp.handler())
	defer srv.Close()

	if code, stdout, stderr := runBinary(t, "UTC", podEnv(srv.URL), "pod", "-termination-message-path", ""); code != 0 {
		t.Fatalf("exit code %d\n%s\n%s", code, stdout, stderr)
	}
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if cp.result == nil || cp.result.Interrupted {
		t.Errorf("result = %+v, want one without the interrupted mark", cp.result)
	}
}

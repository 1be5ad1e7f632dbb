package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryhq/ferry/protocol"
)

var fastRetry = WithRetry(RetryPolicy{MaxAttempts: 4, InitialInterval: time.Millisecond, MaxInterval: 5 * time.Millisecond})

func writeError(w http.ResponseWriter, status int, code protocol.ErrorCode, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(protocol.Error{Code: code, Message: msg})
}

func TestRetriesUnavailableThenSucceeds(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) < 3 {
			writeError(w, http.StatusServiceUnavailable, protocol.CodeUnavailable, "restarting")
			return
		}
		_ = json.NewEncoder(w).Encode(protocol.JoinResponse{RunnerID: "r-1", ClusterName: "tokyo"})
	}))
	defer srv.Close()

	c, err := New(srv.URL, StaticToken("t"), fastRetry)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Join(context.Background(), protocol.JoinRequest{Name: "ns/runner", MaxConcurrentJobs: 1})
	if err != nil {
		t.Fatalf("Join: %v", err)
	}
	if resp.RunnerID != "r-1" {
		t.Errorf("RunnerID = %q, want r-1", resp.RunnerID)
	}
	if got := calls.Load(); got != 3 {
		t.Errorf("calls = %d, want 3", got)
	}
}

func TestClientErrorIsNotRetried(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		writeError(w, http.StatusUnauthorized, protocol.CodeUnauthorized, "registration token revoked")
	}))
	defer srv.Close()

	c, _ := New(srv.URL, StaticToken("t"), fastRetry)
	_, err := c.Join(context.Background(), protocol.JoinRequest{Name: "x", MaxConcurrentJobs: 1})
	if !IsUnauthorized(err) {
		t.Fatalf("err = %v, want a 401 APIError", err)
	}
	if got := calls.Load(); got != 1 {
		t.Errorf("calls = %d, want 1", got)
	}
}

func TestTokenReadBeforeEachAttempt(t *testing.T) {
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.Header.Get("Authorization"))
		if len(seen) == 1 {
			writeError(w, http.StatusBadGateway, protocol.CodeUnavailable, "proxy")
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()

	var n atomic.Int32
	tokens := func(context.Context) (string, error) {
		if n.Add(1) == 1 {
			return "old", nil
		}
		return "new", nil
	}
	c, _ := New(srv.URL, tokens, fastRetry)
	if err := c.SendProgress(context.Background(), "j-1", protocol.ProgressRequest{Epoch: 1, Rows: 10}); err != nil {
		t.Fatalf("SendProgress: %v", err)
	}
	want := []string{"Bearer old", "Bearer new"}
	if len(seen) != 2 || seen[0] != want[0] || seen[1] != want[1] {
		t.Errorf("Authorization headers = %q, want %q", seen, want)
	}
}

func TestHeartbeatPathEscapesRunnerID(t *testing.T) {
	var path string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path = r.URL.EscapedPath()
		_ = json.NewEncoder(w).Encode(protocol.HeartbeatResponse{})
	}))
	defer srv.Close()

	c, _ := New(srv.URL+"/", StaticToken("t"))
	if _, err := c.Heartbeat(context.Background(), "r 1", protocol.HeartbeatRequest{State: protocol.RunnerIdle}); err != nil {
		t.Fatal(err)
	}
	if want := "/runner/v1/runners/r%201/heartbeat"; path != want {
		t.Errorf("path = %q, want %q", path, want)
	}
}

func TestNewRejectsURLWithoutScheme(t *testing.T) {
	if _, err := New("cp.example.com", nil); err == nil {
		t.Fatal("New accepted a URL without a scheme")
	}
}

package server_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryhq/ferry/controlplane/cptest"
	"github.com/ferryhq/ferry/protocol"
)

// benchRunners is the number of runners long-polling at once.
const benchRunners = 100

// BenchmarkDispatch measures, with 100 runners long-polling one in-process
// control plane over loopback HTTP and SQLite:
//
//   - dispatch latency: from just before a job is queued through the admin
//     API to its assignment arriving at a runner (p50, p99), with one job
//     queued every 20 ms;
//   - heartbeat throughput: heartbeats returned per second while the
//     runners drain a backlog of queued jobs, one job per heartbeat.
//
// With FERRY_BENCH_REPORT set to a file, it appends the figures there as a
// Markdown section; `make bench-controlplane` sets it to docs/benchmarks.md.
func BenchmarkDispatch(b *testing.B) {
	var latency []time.Duration
	var heartbeatsPerSecond float64
	for b.Loop() {
		latency = measureLatency(b, 200)
		heartbeatsPerSecond = measureThroughput(b, 2000)
	}
	p50, p99 := percentile(latency, 0.50), percentile(latency, 0.99)
	b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
	b.ReportMetric(heartbeatsPerSecond, "heartbeats/s")
	if path := os.Getenv("FERRY_BENCH_REPORT"); path != "" {
		if err := appendReport(path, len(latency), p50, p99, latency[len(latency)-1], heartbeatsPerSecond); err != nil {
			b.Fatal(err)
		}
	}
}

func startBenchEnv(b *testing.B) (*cptest.Env, string, string) {
	env := cptest.Start(b, cptest.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	cluster, token := env.CreateCluster(b, "bench")
	cfg := env.CreateSQLiteConfig(b, cluster.Name, "bench")
	return env, token, cfg.ID
}

// runRunners starts the runners and returns a function that stops them and
// returns the number of heartbeat responses.
func runRunners(b *testing.B, env *cptest.Env, token string, received func(jobID string, at time.Time)) func() int64 {
	ctx, cancel := context.WithCancel(context.Background())
	var heartbeats atomic.Int64
	var wg sync.WaitGroup
	ready := make(chan struct{}, benchRunners)
	for i := range benchRunners {
		c := env.RunnerClient(b, token)
		joined, err := c.Join(ctx, protocol.JoinRequest{Name: fmt.Sprintf("bench/runner-%03d", i), MaxConcurrentJobs: 1})
		if err != nil {
			b.Fatalf("Join: %v", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ready <- struct{}{}
			for ctx.Err() == nil {
				resp, err := c.Heartbeat(ctx, joined.RunnerID, protocol.HeartbeatRequest{State: protocol.RunnerIdle, FreeSlots: 1})
				if err != nil {
					if ctx.Err() == nil {
						b.Errorf("Heartbeat: %v", err)
					}
					return
				}
				heartbeats.Add(1)
				for _, a := range resp.Assignments {
					received(a.JobID, time.Now())
					_, err := c.ReportJobStatus(ctx, joined.RunnerID, a.JobID, protocol.JobStatusRequest{Epoch: a.Epoch,
						Phase: protocol.PhaseCancelled, Reason: "Benchmark"})
					if err != nil && ctx.Err() == nil {
						b.Errorf("ReportJobStatus: %v", err)
					}
				}
			}
		}()
	}
	for range benchRunners {
		<-ready
	}
	return func() int64 {
		cancel()
		wg.Wait()
		return heartbeats.Load()
	}
}

func measureLatency(b *testing.B, jobs int) []time.Duration {
	env, token, configID := startBenchEnv(b)
	var mu sync.Mutex
	arrived := map[string]time.Time{}
	all := make(chan struct{})
	stop := runRunners(b, env, token, func(jobID string, at time.Time) {
		mu.Lock()
		defer mu.Unlock()
		arrived[jobID] = at
		if len(arrived) == jobs {
			close(all)
		}
	})
	defer stop()
	// Let every runner reach its long poll.
	time.Sleep(500 * time.Millisecond)

	queued := map[string]time.Time{}
	for range jobs {
		start := time.Now()
		job, err := env.Admin.RunJob(context.Background(), configID, protocol.JobTransfer)
		if err != nil {
			b.Fatalf("RunJob: %v", err)
		}
		queued[job.ID] = start
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case <-all:
	case <-time.After(time.Minute):
		b.Fatalf("only %d of %d jobs reached a runner within a minute", len(arrived), jobs)
	}
	mu.Lock()
	defer mu.Unlock()
	out := make([]time.Duration, 0, jobs)
	for id, start := range queued {
		out = append(out, arrived[id].Sub(start))
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func measureThroughput(b *testing.B, jobs int) float64 {
	env, token, configID := startBenchEnv(b)
	for range jobs {
		if _, err := env.Admin.RunJob(context.Background(), configID, protocol.JobTransfer); err != nil {
			b.Fatalf("RunJob: %v", err)
		}
	}
	var count atomic.Int64
	all := make(chan struct{})
	start := time.Now()
	stop := runRunners(b, env, token, func(string, time.Time) {
		if count.Add(1) == int64(jobs) {
			close(all)
		}
	})
	select {
	case <-all:
	case <-time.After(5 * time.Minute):
		b.Fatalf("only %d of %d jobs were dispatched within 5 minutes", count.Load(), jobs)
	}
	elapsed := time.Since(start)
	heartbeats := stop()
	return float64(heartbeats) / elapsed.Seconds()
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p)
	return sorted[i]
}

func appendReport(path string, jobs int, p50, p99, maxLatency time.Duration, heartbeatsPerSecond float64) error {
	existing, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	var b strings.Builder
	if len(existing) == 0 {
		b.WriteString("# Benchmarks\n")
	}
	if !strings.Contains(string(existing), "\n## Control plane\n") {
		b.WriteString("\n## Control plane\n\n")
		b.WriteString("`make bench-controlplane` runs BenchmarkDispatch in controlplane/server: 100 runners long-poll\n")
		b.WriteString("one in-process control plane over loopback HTTP with its SQLite store. Latency is from just\n")
		b.WriteString("before a job is queued through the admin API to its assignment arriving at a runner, one job\n")
		b.WriteString("every 20 ms. Throughput is heartbeats answered per second while the runners drain 2000\n")
		b.WriteString("queued jobs, one job per heartbeat plus one status report each. Runners and server share the\n")
		b.WriteString("machine's CPUs.\n\n")
		b.WriteString("| date | CPU | GOMAXPROCS | jobs | p50 | p99 | max | heartbeats/s |\n")
		b.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- |\n")
	}
	fmt.Fprintf(&b, "| %s | %s | %d | %d | %.1f ms | %.1f ms | %.1f ms | %.0f |\n",
		time.Now().UTC().Format("2006-01-02"), cpuModel(), runtime.GOMAXPROCS(0), jobs,
		ms(p50), ms(p99), ms(maxLatency), heartbeatsPerSecond)
	// NOTE: rows are appended after the table header only while the control
	// plane section is the file's last section; otherwise they land at the end.
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(b.String()); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, line := range strings.Split(string(b), "\n") {
		if name, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(name), ":"))
		}
	}
	return runtime.GOARCH
}

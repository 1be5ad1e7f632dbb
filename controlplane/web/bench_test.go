package web_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/controlplane/cptest"
	"github.com/ferryhq/ferry/protocol"
)

// benchJobs is the number of jobs in the list the benchmark renders.
const benchJobs = 100

// BenchmarkPages compares the UI's pages with the admin API calls that
// feed them, side by side in one run: the jobs list with 100 jobs against
// GET /api/v1/jobs?limit=100, and a job page with 1,000 log lines against
// GET /api/v1/jobs/{id} plus its log. The ratio is the cost of rendering
// HTML on top of reading the same data. Requests alternate, so both sides
// see the same load on a shared machine.
//
// With FERRY_BENCH_REPORT set to a file, it appends the figures there as a
// Markdown table row; `make bench-controlplane` sets it to docs/benchmarks.md.
func BenchmarkPages(b *testing.B) {
	env := cptest.Start(b, cptest.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	jobID := seedJobs(b, env)
	session := benchSignIn(b, env)

	const rounds = 200
	pairs := []struct {
		name      string
		page, api []string
	}{
		{"jobs list", []string{"/jobs"}, []string{"/api/v1/jobs?limit=100"}},
		{"job page", []string{"/jobs/" + jobID}, []string{"/api/v1/jobs/" + jobID, "/api/v1/jobs/" + jobID + "/logs?limit=1000"}},
	}
	type result struct {
		name      string
		page, api time.Duration
	}
	var results []result
	for b.Loop() {
		results = results[:0]
		for _, p := range pairs {
			var page, api []time.Duration
			for range rounds {
				page = append(page, timeGets(b, env, session, "", p.page))
				api = append(api, timeGets(b, env, nil, env.AdminToken, p.api))
			}
			results = append(results, result{p.name, median(page), median(api)})
		}
	}
	for _, r := range results {
		unit := strings.ReplaceAll(r.name, " ", "-")
		b.ReportMetric(float64(r.page.Microseconds())/1000, unit+"-page-ms")
		b.ReportMetric(float64(r.api.Microseconds())/1000, unit+"-api-ms")
	}
	if path := os.Getenv("FERRY_BENCH_REPORT"); path != "" {
		var rows []string
		for _, r := range results {
			rows = append(rows, fmt.Sprintf("| %s | %s | %d | %.2f ms | %.2f ms | %.1f× |", time.Now().UTC().Format("2006-01-02"),
				r.name, rounds, float64(r.page.Microseconds())/1000, float64(r.api.Microseconds())/1000,
				float64(r.page)/float64(r.api)))
		}
		if err := addReportRows(path, "## Web UI", rows); err != nil {
			b.Fatal(err)
		}
	}
}

// addReportRows adds rows to the end of the first table under heading in
// the Markdown file at path.
func addReportRows(path, heading string, rows []string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	lines := strings.Split(string(raw), "\n")
	start := slices.Index(lines, heading)
	if start < 0 {
		return fmt.Errorf("%s has no %q section with a table; add one", path, heading)
	}
	end := -1
	for i := start + 1; i < len(lines) && !strings.HasPrefix(lines[i], "## "); i++ {
		if strings.HasPrefix(lines[i], "|") {
			end = i
		} else if end >= 0 {
			break
		}
	}
	if end < 0 {
		return fmt.Errorf("the %q section of %s has no table; add its header", heading, path)
	}
	lines = slices.Insert(lines, end+1, rows...)
	return os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o644)
}

// seedJobs queues benchJobs jobs and runs the last one with 1,000 log
// lines, returning its ID.
func seedJobs(b *testing.B, env *cptest.Env) string {
	ctx := context.Background()
	cluster, token := env.CreateCluster(b, "bench")
	cfg := env.CreateSQLiteConfig(b, cluster.Name, "bench")
	for range benchJobs - 1 {
		if _, err := env.Admin.RunJob(ctx, cfg.ID, protocol.JobTransfer); err != nil {
			b.Fatal(err)
		}
	}
	last, err := env.Admin.RunJob(ctx, cfg.ID, protocol.JobTransfer)
	if err != nil {
		b.Fatal(err)
	}

	runner := env.RunnerClient(b, token)
	joined, err := runner.Join(ctx, protocol.JoinRequest{Name: "bench/runner", MaxConcurrentJobs: benchJobs})
	if err != nil {
		b.Fatal(err)
	}
	resp, err := runner.Heartbeat(ctx, joined.RunnerID, protocol.HeartbeatRequest{State: protocol.RunnerIdle, FreeSlots: benchJobs, WaitSeconds: 1})
	if err != nil {
		b.Fatal(err)
	}

	for _, a := range resp.Assignments {
		if a.JobID != last.ID {
			continue
		}
		pod := env.RunnerClient(b, a.JobToken)
		for batch := range 10 {
			lines := make([]protocol.LogLine, 100)
			for i := range lines {
				seq := int64(batch*100 + i + 1)
				lines[i] = protocol.LogLine{Seq: seq, Time: time.Now(), Level: "info", Message: fmt.Sprintf("Copied batch %d of the orders table", seq)}
			}
			if _, err := pod.SendLogs(ctx, last.ID, protocol.LogBatch{Epoch: a.Epoch, Lines: lines}); err != nil {
				b.Fatal(err)
			}
		}
		return last.ID
	}
	b.Fatalf("the runner was not assigned job %s", last.ID)
	return ""
}

// benchSignIn signs in and returns the session cookie.
func benchSignIn(b *testing.B, env *cptest.Env) *http.Cookie {
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.PostForm(env.URL+"/signin", url.Values{"token": {env.AdminToken}})
	if err != nil {
		b.Fatal(err)
	}
	_ = resp.Body.Close()
	for _, ck := range resp.Cookies() {
		if ck.Name == "ferry_session" {
			return ck
		}
	}
	b.Fatalf("sign-in: status %d, no session cookie", resp.StatusCode)
	return nil
}

// timeGets fetches each path in turn, with the session cookie or the admin
// token, and returns the time all of them took.
func timeGets(b *testing.B, env *cptest.Env, session *http.Cookie, token string, paths []string) time.Duration {
	start := time.Now()
	for _, p := range paths {
		req, err := http.NewRequest(http.MethodGet, env.URL+p, nil)
		if err != nil {
			b.Fatal(err)
		}
		if session != nil {
			req.AddCookie(session)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("GET %s: status %d", p, resp.StatusCode)
		}
	}
	return time.Since(start)
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

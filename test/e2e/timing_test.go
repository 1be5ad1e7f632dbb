//go:build cluster

package e2e

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	transferv1 "github.com/ferryhq/ferry/api/v1alpha1"
	"github.com/ferryhq/ferry/controlplane/admin"
	"github.com/ferryhq/ferry/internal/testdb"
	"github.com/ferryhq/ferry/protocol"
)

// pickupJobsEnv names the environment variable that turns on TestPickupLatency and sets its
// number of jobs; docs/benchmarks.md records a run with 20.
const pickupJobsEnv = "FERRY_E2E_PICKUP_JOBS"

// TestPickupLatency runs jobs one after another and measures, for each, the time from the
// `job run` call to the pod's creation (when the pod watch receives it) and to the first row
// visible in the destination. It only logs the figures.
func TestPickupLatency(t *testing.T) {
	count, _ := strconv.Atoi(os.Getenv(pickupJobsEnv))
	if count <= 0 {
		t.Skipf("set %s=20 to measure the job pickup latency", pickupJobsEnv)
	}
	s := newScenario(t, "pickup")
	source := newDatabase(t, testdb.MariaDB(t))
	destination := newDatabase(t, testdb.SecondMariaDB(t))
	source.createOrders(t, 1000)
	r := s.newRunner("pickup", runnerOptions{maxConcurrentJobs: 2})
	src, dst := source.connection(t, "src"), destination.connection(t, "dst")
	pods := s.recordPods()

	var toPod, toFirstRow []time.Duration
	for i := range count {
		table := fmt.Sprintf("orders_%02d", i)
		cfg := s.createConfig(r, table, src, dst, admin.ConfigSource{Table: "orders"}, admin.ConfigDestination{Table: table})

		start := time.Now()
		job := s.runJob(cfg, protocol.JobTransfer)
		firstRow := s.waitFirstRow(destination, table, start)
		final := s.waitJob(job.ID)
		if final.State != protocol.StateSucceeded {
			t.Fatalf("job %s ended %s (%s: %s)", job.ID, final.State, final.Reason, final.Message)
		}
		s.waitTransferJob(job.ID, transferv1.JobSucceeded)
		jobPods := pods.podsOfJob(job.ID)
		if len(jobPods) != 1 {
			t.Fatalf("job %s had %d pods, want 1", job.ID, len(jobPods))
		}
		toPod = append(toPod, jobPods[0].added.Sub(start))
		toFirstRow = append(toFirstRow, firstRow.Sub(start))
		t.Logf("job %d (%s): pod after %s, first row after %s", i+1, job.ID,
			toPod[i].Round(time.Millisecond), toFirstRow[i].Round(time.Millisecond))
	}
	t.Logf("pickup latency over %d jobs: run to pod creation p50 %s p95 %s; run to first row p50 %s p95 %s",
		count, percentile(toPod, 50).Round(time.Millisecond), percentile(toPod, 95).Round(time.Millisecond),
		percentile(toFirstRow, 50).Round(time.Millisecond), percentile(toFirstRow, 95).Round(time.Millisecond))
}

// waitFirstRow polls table every 10 milliseconds until it has a row and returns when it saw it.
func (s *scenario) waitFirstRow(d *database, table string, since time.Time) time.Time {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), jobTimeout)
	defer cancel()
	query := "SELECT 1 FROM " + table + " LIMIT 1"
	for {
		var one int
		err := d.db.QueryRowContext(ctx, query).Scan(&one)
		if err == nil {
			return time.Now()
		}
		if ctx.Err() != nil {
			s.t.Fatalf("no row in %s.%s %s after the job run: %v", d.name, table, time.Since(since).Round(time.Second), err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

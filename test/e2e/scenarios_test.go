//go:build cluster

package e2e

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	transferv1 "github.com/ferryhq/ferry/api/v1alpha1"
	"github.com/ferryhq/ferry/controlplane/admin"
	"github.com/ferryhq/ferry/internal/testdb"
	"github.com/ferryhq/ferry/protocol"
)

// The scenarios run in the order below: the reference scenario first, then the failure cases,
// then the Helm chart. Go runs a package's tests file by file in name order, and in source
// order within a file.

// TestReferenceMariaDBToMariaDB moves a table between two MariaDB servers, which stand for two
// private networks that only the runner reaches.
func TestReferenceMariaDBToMariaDB(t *testing.T) {
	s := newScenario(t, "reference")
	source := newDatabase(t, testdb.MariaDB(t))
	destination := newDatabase(t, testdb.SecondMariaDB(t))
	const rows = 50000
	source.createOrders(t, rows)
	r := s.newRunner("reference", runnerOptions{maxConcurrentJobs: 2})
	cfg := s.createConfig(r, "orders", source.connection(t, "src"), destination.connection(t, "dst"),
		admin.ConfigSource{Table: "orders"}, admin.ConfigDestination{Table: "orders", Mode: "replace"})

	job := s.runJob(cfg, protocol.JobTransfer)
	// Watch the runner in the control plane while the job runs.
	var states []string
	final := s.waitJobMatch(job.ID, "a terminal state", func(j admin.Job) bool {
		if cpRunner, err := s.controlPlaneRunner(r); err == nil && (len(states) == 0 || states[len(states)-1] != cpRunner.State) {
			states = append(states, cpRunner.State)
		}
		return j.State.IsTerminal()
	})
	if final.State != protocol.StateSucceeded {
		t.Fatalf("job %s ended %s (%s: %s), want succeeded", job.ID, final.State, final.Reason, final.Message)
	}
	if final.Rows != rows {
		t.Errorf("control plane reports %d rows, want %d", final.Rows, rows)
	}
	if !containsString(states, string(protocol.RunnerActive)) {
		t.Errorf("control plane never showed the runner ACTIVE during the job; states seen: %v", states)
	}
	idle := s.poll(runnerTimeout, func(context.Context) (bool, error) {
		cpRunner, err := s.controlPlaneRunner(r)
		return err == nil && cpRunner.State == string(protocol.RunnerIdle), nil
	})
	if idle != nil {
		t.Errorf("control plane does not show the runner IDLE after the job: %v", idle)
	}

	sameRows(t, destination.orderRows(t, "orders"), source.orderRows(t, "orders"))
	lines := s.checkLogSequence(job.ID, final.Epoch)
	t.Logf("job %s: %d log lines, first %q, last %q", job.ID, len(lines), firstMessage(lines), lastMessage(lines))

	tj := s.waitTransferJob(job.ID, transferv1.JobSucceeded)
	if tj.Status.Rows != rows {
		t.Errorf("TransferJob status.rows = %d, want %d", tj.Status.Rows, rows)
	}
}

// TestCancelDuringRun cancels a running replace load. The pod is deleted, the TransferJob and
// the control plane report the job cancelled, and the destination keeps its previous rows.
func TestCancelDuringRun(t *testing.T) {
	s := newScenario(t, "cancel")
	source := newDatabase(t, testdb.MariaDB(t))
	destination := newDatabase(t, testdb.SecondMariaDB(t))
	source.createOrders(t, 5000)
	destination.createOrders(t, 3)
	before := destination.orderRows(t, "orders")
	r := s.newRunner("cancel", runnerOptions{maxConcurrentJobs: 1})
	// About 100 seconds of reading, far longer than the test waits before it cancels.
	cfg := s.createConfig(r, "orders", source.connection(t, "src"), destination.connection(t, "dst"),
		admin.ConfigSource{Query: slowOrdersQuery(20 * time.Millisecond)}, admin.ConfigDestination{Table: "orders", Mode: "replace"})

	job := s.runJob(cfg, protocol.JobTransfer)
	pod := s.waitPodRunning(job.ID)
	s.waitJobMatch(job.ID, "state running", func(j admin.Job) bool { return j.State == protocol.StateRunning })
	if _, err := sys.admin.CancelJob(bg(t), job.ID); err != nil {
		t.Fatalf("failed to cancel job %s: %v", job.ID, err)
	}

	tj := s.waitTransferJob(job.ID, transferv1.JobCancelled)
	if tj.Status.Reason != transferv1.JobReasonCancelled {
		t.Errorf("TransferJob reason = %q, want %q", tj.Status.Reason, transferv1.JobReasonCancelled)
	}
	podDeleted := s.poll(jobTimeout, func(ctx context.Context) (bool, error) {
		err := sys.kube.Get(ctx, client.ObjectKeyFromObject(&pod), &corev1.Pod{})
		return apierrors.IsNotFound(err), client.IgnoreNotFound(err)
	})
	if podDeleted != nil {
		t.Errorf("pod %s still exists after the cancellation: %v", pod.Name, podDeleted)
	}
	final := s.waitJob(job.ID)
	if final.State != protocol.StateCancelled {
		t.Errorf("control plane says job %s is %s (%s), want cancelled", job.ID, final.State, final.Reason)
	}
	sameRows(t, destination.orderRows(t, "orders"), before)
	if others := destination.tablesExcept(t, "orders"); len(others) > 0 {
		t.Logf("tables left next to orders after the cancelled replace load: %v", others)
	}
}

// TestOOMKilledJob gives the job pod a tiny memory limit and a table of large rows.
func TestOOMKilledJob(t *testing.T) {
	s := newScenario(t, "oom")
	source := newDatabase(t, testdb.MariaDB(t))
	destination := newDatabase(t, testdb.SecondMariaDB(t))
	source.exec(t,
		"CREATE TABLE blobs (id INT PRIMARY KEY, body LONGTEXT NOT NULL)",
		"INSERT INTO blobs WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 40) "+
			"SELECT n, REPEAT(CHAR(65 + n % 26), 8 * 1024 * 1024) FROM seq")
	r := s.newRunner("oom", runnerOptions{maxConcurrentJobs: 1, memoryLimit: "24Mi"})
	cfg := s.createConfig(r, "blobs", source.connection(t, "src"), destination.connection(t, "dst"),
		admin.ConfigSource{Table: "blobs"}, admin.ConfigDestination{Table: "blobs"})

	job := s.runJob(cfg, protocol.JobTransfer)
	tj := s.waitTransferJob(job.ID, transferv1.JobFailed)
	if tj.Status.Reason != transferv1.JobReasonOOMKilled {
		t.Errorf("TransferJob reason = %q (%s), want %q", tj.Status.Reason, tj.Status.Message, transferv1.JobReasonOOMKilled)
	}
	final := s.waitJob(job.ID)
	if final.State != protocol.StateFailed || final.Reason != transferv1.JobReasonOOMKilled {
		t.Errorf("control plane says job %s is %s with reason %q, want failed with %q", job.ID, final.State, final.Reason, transferv1.JobReasonOOMKilled)
	}
	if tj.Status.CompletionTime != nil && final.FinishedAt != nil {
		t.Logf("OOM kill seen by the operator at %s, terminal in the control plane at %s",
			tj.Status.CompletionTime.Format(time.RFC3339), final.FinishedAt.Format(time.RFC3339Nano))
	}
}

// TestManagerKilledDuringJob kills the manager while a job runs and starts it again: the job
// keeps its one pod, completes and is reported.
func TestManagerKilledDuringJob(t *testing.T) {
	s := newScenario(t, "manager-restart")
	source := newDatabase(t, testdb.MariaDB(t))
	destination := newDatabase(t, testdb.SecondMariaDB(t))
	const rows = 1000
	source.createOrders(t, rows)
	r := s.newRunner("restart", runnerOptions{maxConcurrentJobs: 2})
	// About 15 seconds of reading.
	cfg := s.createConfig(r, "orders", source.connection(t, "src"), destination.connection(t, "dst"),
		admin.ConfigSource{Query: slowOrdersQuery(15 * time.Millisecond)}, admin.ConfigDestination{Table: "orders"})
	pods := s.recordPods()

	job := s.runJob(cfg, protocol.JobTransfer)
	s.waitPodRunning(job.ID)
	if err := sys.manager.kill(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	if err := sys.manager.start(); err != nil {
		t.Fatal(err)
	}

	final := s.waitJob(job.ID)
	if final.State != protocol.StateSucceeded || final.Rows != rows {
		t.Errorf("job %s ended %s with %d rows (%s: %s), want succeeded with %d", job.ID, final.State, final.Rows, final.Reason, final.Message, rows)
	}
	s.waitTransferJob(job.ID, transferv1.JobSucceeded)
	if got := pods.podsOfJob(job.ID); len(got) != 1 {
		t.Errorf("job %s had %d pods, want 1: %+v", job.ID, len(got), got)
	}
	if final.Attempts != 1 {
		t.Errorf("job %s was dispatched %d times, want 1", job.ID, final.Attempts)
	}
	if n := destination.count(t, "orders"); n != rows {
		t.Errorf("destination has %d rows, want %d", n, rows)
	}
}

// TestParallelJobs runs four jobs at once on a runner with four slots, and a fifth that waits
// for a free slot, from MariaDB to PostgreSQL.
func TestParallelJobs(t *testing.T) {
	s := newScenario(t, "parallel")
	source := newDatabase(t, testdb.MariaDB(t))
	destination := newDatabase(t, testdb.Postgres(t))
	const rows = 500
	source.createOrders(t, rows)
	r := s.newRunner("parallel", runnerOptions{maxConcurrentJobs: 4})
	src, dst := source.connection(t, "src"), destination.connection(t, "dst")
	pods := s.recordPods()

	var jobs []admin.Job
	for i := range 5 {
		table := "orders_" + string(rune('a'+i))
		// About 10 seconds of reading, so that the four jobs overlap.
		cfg := s.createConfig(r, table, src, dst,
			admin.ConfigSource{Query: slowOrdersQuery(20 * time.Millisecond)}, admin.ConfigDestination{Table: table})
		jobs = append(jobs, s.runJob(cfg, protocol.JobTransfer))
	}
	pods.waitRunning(t, 4, jobTimeout)

	for _, job := range jobs {
		final := s.waitJob(job.ID)
		if final.State != protocol.StateSucceeded || final.Rows != rows {
			t.Errorf("job %s ended %s with %d rows (%s: %s), want succeeded with %d", job.ID, final.State, final.Rows, final.Reason, final.Message, rows)
		}
		s.waitTransferJob(job.ID, transferv1.JobSucceeded)
	}
	history, maxRunning := pods.snapshot()
	if maxRunning != 4 {
		t.Errorf("at most %d pods ran at once, want 4", maxRunning)
	}
	if len(history) != 5 {
		t.Fatalf("saw %d pods, want 5: %+v", len(history), history)
	}
	// The last pod may start only after one of the first four ended.
	last := history[4]
	freed := false
	for _, p := range history[:4] {
		if !p.finished.IsZero() && !p.finished.After(last.added) {
			freed = true
		}
	}
	if !freed {
		t.Errorf("pod %s was created at %s, before any of the first four pods ended: %+v", last.name, last.added.Format(time.RFC3339Nano), history)
	}
}

// TestPreviewNoSendPreview runs a preview on a runner with noSendPreview, which sends only the
// columns, and on one without it, which sends the rows too.
func TestPreviewNoSendPreview(t *testing.T) {
	s := newScenario(t, "preview")
	source := newDatabase(t, testdb.Postgres(t))
	destination := newDatabase(t, testdb.SecondMariaDB(t))
	source.createOrders(t, 100)
	withheld := s.newRunner("withheld", runnerOptions{maxConcurrentJobs: 1, noSendPreview: true})
	sent := s.newRunner("sent", runnerOptions{maxConcurrentJobs: 1})
	src, dst := source.connection(t, "src"), destination.connection(t, "dst")

	for _, tc := range []struct {
		runner   *runner
		wantRows bool
	}{{withheld, false}, {sent, true}} {
		cfg := s.createConfig(tc.runner, "orders-"+tc.runner.name, src, dst,
			admin.ConfigSource{Table: "orders"}, admin.ConfigDestination{Table: "orders"})
		job := s.runJob(cfg, protocol.JobPreview)
		final := s.waitJob(job.ID)
		if final.State != protocol.StateSucceeded {
			t.Errorf("preview %s on runner %s ended %s (%s: %s), want succeeded", job.ID, tc.runner.name, final.State, final.Reason, final.Message)
			continue
		}
		if final.Preview == nil {
			t.Errorf("preview %s on runner %s: the control plane has no preview", job.ID, tc.runner.name)
			continue
		}
		if names := columnNames(final.Preview.Columns); strings.Join(names, ",") != "id,customer,quantity,unit_price,ordered_at,note" {
			t.Errorf("preview %s on runner %s has columns %v", job.ID, tc.runner.name, names)
		}
		switch {
		case tc.wantRows && len(final.Preview.Rows) != 20:
			t.Errorf("preview %s on runner %s has %d rows, want the default 20", job.ID, tc.runner.name, len(final.Preview.Rows))
		case tc.wantRows && len(final.Preview.Rows) > 0 && string(final.Preview.Rows[0][0]) != "1":
			t.Errorf("preview %s: first row starts with %s, want id 1", job.ID, final.Preview.Rows[0][0])
		case !tc.wantRows && (len(final.Preview.Rows) != 0 || !final.Preview.RowsWithheld):
			t.Errorf("preview %s on a noSendPreview runner sent %d rows (rowsWithheld %v), want none", job.ID, len(final.Preview.Rows), final.Preview.RowsWithheld)
		}
		s.waitTransferJob(job.ID, transferv1.JobSucceeded)
	}
	if n := destination.tablesExcept(t, ""); len(n) != 0 {
		t.Errorf("a preview wrote to the destination: tables %v", n)
	}
}

// TestControlPlaneRestartDuringJob stops the control plane while a job runs and starts it
// again on the same address and store: the job finishes with every log line exactly once.
func TestControlPlaneRestartDuringJob(t *testing.T) {
	s := newScenario(t, "cp-restart")
	source := newDatabase(t, testdb.MariaDB(t))
	destination := newDatabase(t, testdb.SecondMariaDB(t))
	const rows = 1000
	source.createOrders(t, rows)
	r := s.newRunner("restart", runnerOptions{maxConcurrentJobs: 1})
	// About 20 seconds of reading; the control plane is away for 10 of them.
	cfg := s.createConfig(r, "orders", source.connection(t, "src"), destination.connection(t, "dst"),
		admin.ConfigSource{Query: slowOrdersQuery(20 * time.Millisecond)}, admin.ConfigDestination{Table: "orders"})

	job := s.runJob(cfg, protocol.JobTransfer)
	s.waitPodRunning(job.ID)
	s.waitJobMatch(job.ID, "state running", func(j admin.Job) bool { return j.State == protocol.StateRunning })
	if err := sys.controlPlane.signal(syscall.SIGKILL, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	outageStart := time.Now()
	time.Sleep(10 * time.Second)
	if err := sys.controlPlane.start(); err != nil {
		t.Fatal(err)
	}
	if err := sys.waitControlPlane(time.Minute); err != nil {
		t.Fatal(err)
	}
	outageEnd := time.Now()

	final := s.waitJob(job.ID)
	if final.State != protocol.StateSucceeded || final.Rows != rows {
		t.Errorf("job %s ended %s with %d rows (%s: %s), want succeeded with %d", job.ID, final.State, final.Rows, final.Reason, final.Message, rows)
	}
	s.waitTransferJob(job.ID, transferv1.JobSucceeded)
	lines := s.checkLogSequence(job.ID, final.Epoch)
	// Lines logged while the control plane was down prove that the pod buffered and resent them.
	logged := 0
	for _, l := range lines {
		if l.Time.After(outageStart) && l.Time.Before(outageEnd) {
			logged++
		}
	}
	if logged == 0 {
		t.Errorf("none of the %d log lines was logged during the outage from %s to %s, so buffering was not exercised",
			len(lines), outageStart.Format(time.RFC3339Nano), outageEnd.Format(time.RFC3339Nano))
	}
	t.Logf("job %s: %d log lines, %d of them logged while the control plane was down", job.ID, len(lines), logged)
	if n := destination.count(t, "orders"); n != rows {
		t.Errorf("destination has %d rows, want %d", n, rows)
	}
}

// TestTokenRotation rotates the registration token while a job runs: a second token, the
// Secret switched to it, the first revoked. The running job finishes and the next one runs.
func TestTokenRotation(t *testing.T) {
	s := newScenario(t, "rotation")
	source := newDatabase(t, testdb.MariaDB(t))
	destination := newDatabase(t, testdb.SecondMariaDB(t))
	const rows = 600
	source.createOrders(t, rows)
	r := s.newRunner("rotation", runnerOptions{maxConcurrentJobs: 1})
	// About 12 seconds of reading.
	cfg := s.createConfig(r, "orders", source.connection(t, "src"), destination.connection(t, "dst"),
		admin.ConfigSource{Query: slowOrdersQuery(20 * time.Millisecond)}, admin.ConfigDestination{Table: "orders", Mode: "replace"})

	job := s.runJob(cfg, protocol.JobTransfer)
	s.waitPodRunning(job.ID)

	second, err := sys.admin.CreateToken(bg(t), r.cluster.ID)
	if err != nil {
		t.Fatalf("failed to create the second token: %v", err)
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: r.secretName(), Namespace: s.namespace}}
	patch := client.MergeFrom(secret.DeepCopy())
	secret.StringData = map[string]string{"token": second.Token}
	if err := sys.kube.Patch(bg(t), secret, patch); err != nil {
		t.Fatalf("failed to switch Secret %s to the second token: %v", secret.Name, err)
	}
	// Give the manager a few heartbeats to pick up the new Secret before the old token dies.
	time.Sleep(5 * time.Second)
	if err := sys.admin.RevokeToken(bg(t), r.cluster.ID, r.tokenID); err != nil {
		t.Fatalf("failed to revoke the first token: %v", err)
	}

	final := s.waitJob(job.ID)
	if final.State != protocol.StateSucceeded || final.Rows != rows || final.Attempts != 1 {
		t.Errorf("job %s ended %s with %d rows after %d attempts (%s: %s), want succeeded with %d rows in 1 attempt",
			job.ID, final.State, final.Rows, final.Attempts, final.Reason, final.Message, rows)
	}
	s.waitTransferJob(job.ID, transferv1.JobSucceeded)

	next := s.waitJob(s.runJob(cfg, protocol.JobTransfer).ID)
	if next.State != protocol.StateSucceeded {
		t.Errorf("the job after the rotation ended %s (%s: %s), want succeeded", next.State, next.Reason, next.Message)
	}
	tr := s.transferRunner(r)
	if tr.Status.State == transferv1.RunnerUnauthorized || tr.Status.State == transferv1.RunnerDisconnected {
		t.Errorf("TransferRunner is %s after the rotation: %+v", tr.Status.State, tr.Status.Conditions)
	}
	if !conditionTrue(tr.Status.Conditions, transferv1.RunnerConditionAuthorized) {
		t.Errorf("TransferRunner condition %s is not True after the rotation: %+v", transferv1.RunnerConditionAuthorized, tr.Status.Conditions)
	}
}

func containsString(values []string, want string) bool {
	for _, v := range values {
		if v == want {
			return true
		}
	}
	return false
}

func columnNames(columns []protocol.Column) []string {
	names := make([]string, len(columns))
	for i, c := range columns {
		names[i] = c.Name
	}
	return names
}

func firstMessage(lines []admin.LogLine) string {
	if len(lines) == 0 {
		return ""
	}
	return lines[0].Message
}

func lastMessage(lines []admin.LogLine) string {
	if len(lines) == 0 {
		return ""
	}
	return lines[len(lines)-1].Message
}

// TestHelmChartInstall installs charts/ferry with a TransferRunner from its values, instead of
// the host-process manager, and runs a job through the manager pod it deploys. The local
// cluster has no pod network and no kube-proxy, so the manager uses the host's network and
// reaches the apiserver on 127.0.0.1 directly.
func TestHelmChartInstall(t *testing.T) {
	s := newScenario(t, "helm")
	helm := filepath.Join(sys.binDir, "helm")
	if _, err := os.Stat(helm); err != nil {
		t.Fatalf("helm is missing (%v); build it with make helm", err)
	}
	source := newDatabase(t, testdb.MariaDB(t))
	destination := newDatabase(t, testdb.SecondMariaDB(t))
	const rows = 2000
	source.createOrders(t, rows)

	// One manager per TransferRunner: the host-process manager watches every namespace.
	if err := sys.manager.stop(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := sys.manager.start(); err != nil {
			t.Errorf("failed to restart the host-process manager: %v", err)
		}
	})

	cluster, err := sys.admin.CreateCluster(bg(t), s.namespace)
	if err != nil {
		t.Fatalf("failed to create the control-plane cluster: %v", err)
	}
	token, err := sys.admin.CreateToken(bg(t), cluster.ID)
	if err != nil {
		t.Fatalf("failed to create a registration token: %v", err)
	}
	apiserver, err := url.Parse(sys.apiserverURL)
	if err != nil {
		t.Fatal(err)
	}
	healthPort, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]any{
		"image":          map[string]any{"repository": "ferry", "tag": "dev", "pullPolicy": "Never"},
		"hostNetwork":    true,
		"healthProbe":    map[string]any{"port": healthPort},
		"metrics":        map[string]any{"enabled": false},
		"leaderElection": map[string]any{"enabled": true},
		"extraEnv": []map[string]any{
			{"name": "KUBERNETES_SERVICE_HOST", "value": apiserver.Hostname()},
			{"name": "KUBERNETES_SERVICE_PORT", "value": apiserver.Port()},
		},
		"runner": map[string]any{
			"enabled":         true,
			"name":            "chart",
			"controlPlaneURL": sys.controlPlaneURL,
			"token":           map[string]any{"value": token.Token},
			"pollWaitSeconds": 1,
			"jobTemplate": map[string]any{
				"image": jobImage, "imagePullPolicy": "Never", "hostNetwork": true,
				"resources": map[string]any{"requests": map[string]any{"cpu": "100m", "memory": "64Mi"}},
			},
		},
	}
	valuesFile := filepath.Join(t.TempDir(), "values.json")
	data, err := json.Marshal(values)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(valuesFile, data, 0o600); err != nil {
		t.Fatal(err)
	}

	helmEnv := []string{"KUBECONFIG=" + sys.kubeconfig}
	out, err := runCommand(helmEnv, helm, "install", "ferry", filepath.Join(sys.repoRoot, "charts", "ferry"),
		"--namespace", s.namespace, "--values", valuesFile, "--wait", "--timeout", "3m")
	if err != nil {
		t.Fatalf("helm install failed: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if out, err := runCommand(helmEnv, helm, "uninstall", "ferry", "--namespace", s.namespace, "--wait", "--timeout", "2m"); err != nil {
			t.Logf("helm uninstall failed: %v\n%s", err, out)
		}
	})

	r := &runner{name: "chart", cluster: cluster, tokenID: token.ID}
	s.waitRunnerState(r, transferv1.RunnerIdle)
	cfg := s.createConfig(r, "orders", source.connection(t, "src"), destination.connection(t, "dst"),
		admin.ConfigSource{Table: "orders"}, admin.ConfigDestination{Table: "orders"})
	job := s.runJob(cfg, protocol.JobTransfer)
	final := s.waitJob(job.ID)
	if final.State != protocol.StateSucceeded || final.Rows != rows {
		t.Errorf("job %s ended %s with %d rows (%s: %s), want succeeded with %d", job.ID, final.State, final.Rows, final.Reason, final.Message, rows)
	}
	s.waitTransferJob(job.ID, transferv1.JobSucceeded)
	sameRows(t, destination.orderRows(t, "orders"), source.orderRows(t, "orders"))
}

// runCommand runs a program with extra environment variables and returns its combined output.
func runCommand(env []string, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

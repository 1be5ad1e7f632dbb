//go:build cluster

package e2e

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	transferv1 "github.com/ferryhq/ferry/api/v1alpha1"
	"github.com/ferryhq/ferry/controlplane/admin"
	"github.com/ferryhq/ferry/protocol"
)

// Bounds of the waits below. They keep a broken system from hanging the suite and are not
// performance expectations.
const (
	runnerTimeout = 2 * time.Minute
	jobTimeout    = 5 * time.Minute
	pollInterval  = 200 * time.Millisecond
)

// scenario is one test's namespace.
type scenario struct {
	t         *testing.T
	namespace string
}

// newScenario creates namespace "e2e-<name>" and deletes it when the test ends, unless the test
// failed and FERRY_KEEP_CLUSTER=1, so that its objects can be inspected.
func newScenario(t *testing.T, name string) *scenario {
	t.Helper()
	requireSystem(t)
	s := &scenario{t: t, namespace: "e2e-" + name}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: s.namespace}}
	if err := sys.kube.Create(bg(t), ns); err != nil {
		t.Fatalf("failed to create namespace %s: %v", s.namespace, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			s.dumpState()
			if os.Getenv("FERRY_KEEP_CLUSTER") == "1" {
				return
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := sys.kube.Delete(ctx, ns); err != nil && !apierrors.IsNotFound(err) {
			t.Logf("failed to delete namespace %s: %v", s.namespace, err)
		}
	})
	return s
}

// runnerOptions are the TransferRunner settings a test varies.
type runnerOptions struct {
	maxConcurrentJobs int32
	noSendPreview     bool
	// memoryLimit, when set, is the job container's memory limit, such as "24Mi".
	memoryLimit string
}

// runner is a TransferRunner with its control-plane cluster.
type runner struct {
	name    string
	cluster admin.Cluster
	// tokenID is the registration token the runner's Secret holds.
	tokenID string
}

// secretName returns the name of the Secret with the runner's registration token.
func (r *runner) secretName() string { return r.name + "-registration" }

// newRunner creates a cluster named "<namespace>-<name>" in the control plane with one
// registration token, installs TransferRunner name with it and waits until it is Idle.
func (s *scenario) newRunner(name string, opts runnerOptions) *runner {
	t := s.t
	t.Helper()
	cluster, err := sys.admin.CreateCluster(bg(t), s.namespace+"-"+name)
	if err != nil {
		t.Fatalf("failed to create the control-plane cluster: %v", err)
	}
	token, err := sys.admin.CreateToken(bg(t), cluster.ID)
	if err != nil {
		t.Fatalf("failed to create a registration token: %v", err)
	}
	r := s.installRunner(name, cluster, token.Token, opts)
	r.tokenID = token.ID
	s.waitRunnerState(r, transferv1.RunnerIdle)
	return r
}

// installRunner does what an admin does with kubectl once the control plane has given them a
// registration token: it stores token in a Secret and creates TransferRunner name, which
// joins cluster with it. It does not wait for the runner to join.
func (s *scenario) installRunner(name string, cluster admin.Cluster, token string, opts runnerOptions) *runner {
	t := s.t
	t.Helper()
	r := &runner{name: name, cluster: cluster}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: r.secretName(), Namespace: s.namespace},
		StringData: map[string]string{"token": token},
	}
	if err := sys.kube.Create(bg(t), secret); err != nil {
		t.Fatalf("failed to create Secret %s: %v", secret.Name, err)
	}

	spec := transferv1.TransferRunnerSpec{
		ControlPlaneURL:   sys.controlPlaneURL,
		TokenSecretRef:    transferv1.SecretKeyRef{Name: r.secretName(), Key: "token"},
		MaxConcurrentJobs: max(opts.maxConcurrentJobs, 1),
		NoSendPreview:     opts.noSendPreview,
		// Short long polls make state changes show in the control plane within a second.
		PollWaitSeconds: 1,
		JobTemplate: transferv1.JobPodTemplate{
			Image:           jobImage,
			ImagePullPolicy: corev1.PullNever,
			HostNetwork:     true,
		},
	}
	if opts.memoryLimit != "" {
		spec.JobTemplate.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(opts.memoryLimit)}
	}
	tr := &transferv1.TransferRunner{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: s.namespace}, Spec: spec}
	if err := sys.kube.Create(bg(t), tr); err != nil {
		t.Fatalf("failed to create TransferRunner %s: %v", name, err)
	}
	return r
}

// transferRunner reads the runner's TransferRunner.
func (s *scenario) transferRunner(r *runner) *transferv1.TransferRunner {
	s.t.Helper()
	var tr transferv1.TransferRunner
	if err := sys.kube.Get(bg(s.t), client.ObjectKey{Namespace: s.namespace, Name: r.name}, &tr); err != nil {
		s.t.Fatalf("failed to read TransferRunner %s: %v", r.name, err)
	}
	return &tr
}

// waitRunnerState waits until the TransferRunner reports state.
func (s *scenario) waitRunnerState(r *runner, state transferv1.RunnerState) {
	s.t.Helper()
	var last transferv1.TransferRunnerStatus
	err := s.poll(runnerTimeout, func(ctx context.Context) (bool, error) {
		var tr transferv1.TransferRunner
		if err := sys.kube.Get(ctx, client.ObjectKey{Namespace: s.namespace, Name: r.name}, &tr); err != nil {
			return false, err
		}
		last = tr.Status
		return tr.Status.State == state, nil
	})
	if err != nil {
		s.t.Fatalf("TransferRunner %s/%s is %q, want %q (%v); status: %+v", s.namespace, r.name, last.State, state, err, last)
	}
}

// controlPlaneRunner returns the control plane's view of the runner's cluster's one runner.
func (s *scenario) controlPlaneRunner(r *runner) (admin.Runner, error) {
	runners, err := sys.admin.ListRunners(bg(s.t), r.cluster.ID)
	if err != nil {
		return admin.Runner{}, err
	}
	if len(runners) != 1 {
		return admin.Runner{}, fmt.Errorf("cluster %s has %d runners, want 1", r.cluster.Name, len(runners))
	}
	return runners[0], nil
}

// createConfig creates a transfer configuration in the runner's cluster.
func (s *scenario) createConfig(r *runner, name string, src, dst admin.Connection, source admin.ConfigSource, destination admin.ConfigDestination) admin.Config {
	s.t.Helper()
	source.Connection = src.ID
	destination.Connection = dst.ID
	cfg, err := sys.admin.CreateConfig(bg(s.t), admin.CreateConfigRequest{
		Name: s.namespace + "-" + name, Cluster: r.cluster.ID, Source: source, Destination: destination,
	})
	if err != nil {
		s.t.Fatalf("failed to create config %s: %v", name, err)
	}
	return cfg
}

// runJob queues a job of cfg.
func (s *scenario) runJob(cfg admin.Config, jobType protocol.JobType) admin.Job {
	s.t.Helper()
	job, err := sys.admin.RunJob(bg(s.t), cfg.ID, jobType)
	if err != nil {
		s.t.Fatalf("failed to run config %s: %v", cfg.Name, err)
	}
	return job
}

// waitJob waits until the control plane's job is in a terminal state and returns it.
func (s *scenario) waitJob(jobID string) admin.Job {
	s.t.Helper()
	return s.waitJobMatch(jobID, "a terminal state", func(j admin.Job) bool { return j.State.IsTerminal() })
}

// waitJobMatch waits until match accepts the control plane's job.
func (s *scenario) waitJobMatch(jobID, what string, match func(admin.Job) bool) admin.Job {
	s.t.Helper()
	var job admin.Job
	err := s.poll(jobTimeout, func(ctx context.Context) (bool, error) {
		var err error
		job, err = sys.admin.GetJob(ctx, jobID)
		if err != nil {
			// The control plane may be down on purpose; keep polling.
			return false, nil
		}
		return match(job), nil
	})
	if err != nil {
		s.t.Fatalf("job %s did not reach %s (%v); last seen: state %s, reason %q, message %q",
			jobID, what, err, job.State, job.Reason, job.Message)
	}
	return job
}

// transferJob returns the TransferJob of a control-plane job.
func (s *scenario) transferJob(jobID string) (*transferv1.TransferJob, error) {
	var tj transferv1.TransferJob
	key := client.ObjectKey{Namespace: s.namespace, Name: transferv1.TransferJobName(jobID)}
	if err := sys.kube.Get(bg(s.t), key, &tj); err != nil {
		return nil, err
	}
	return &tj, nil
}

// waitTransferJob waits until the TransferJob of jobID is in phase and reported to the
// control plane.
func (s *scenario) waitTransferJob(jobID string, phase transferv1.JobPhase) *transferv1.TransferJob {
	s.t.Helper()
	var tj *transferv1.TransferJob
	err := s.poll(jobTimeout, func(ctx context.Context) (bool, error) {
		var err error
		tj, err = s.transferJob(jobID)
		if err != nil {
			return false, client.IgnoreNotFound(err)
		}
		return tj.Status.Phase == phase && conditionTrue(tj.Status.Conditions, transferv1.JobConditionReported), nil
	})
	if err != nil {
		status := "not found"
		if tj != nil {
			status = fmt.Sprintf("%+v", tj.Status)
		}
		s.t.Fatalf("TransferJob of job %s is not %s and reported (%v); status: %s", jobID, phase, err, status)
	}
	return tj
}

// jobPods lists the pods of a control-plane job.
func (s *scenario) jobPods(jobID string) []corev1.Pod {
	s.t.Helper()
	var pods corev1.PodList
	err := sys.kube.List(bg(s.t), &pods, client.InNamespace(s.namespace),
		client.MatchingLabels{transferv1.LabelJobID: transferv1.JobIDLabelValue(jobID)})
	if err != nil {
		s.t.Fatalf("failed to list the pods of job %s: %v", jobID, err)
	}
	return pods.Items
}

// waitPodRunning waits until the job's pod runs and returns it.
func (s *scenario) waitPodRunning(jobID string) corev1.Pod {
	s.t.Helper()
	var pod corev1.Pod
	err := s.poll(jobTimeout, func(context.Context) (bool, error) {
		for _, p := range s.jobPods(jobID) {
			if p.Status.Phase == corev1.PodRunning {
				pod = p
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		s.t.Fatalf("no running pod for job %s: %v", jobID, err)
	}
	return pod
}

// jobLogs returns every log line the control plane stores for a job.
func (s *scenario) jobLogs(jobID string) []admin.LogLine {
	s.t.Helper()
	var lines []admin.LogLine
	var after int64
	for {
		page, err := sys.admin.JobLogs(bg(s.t), jobID, after, 1000)
		if err != nil {
			s.t.Fatalf("failed to read the logs of job %s: %v", jobID, err)
		}
		lines = append(lines, page.Lines...)
		if len(page.Lines) == 0 || page.Next == after {
			return lines
		}
		after = page.Next
	}
}

// checkLogSequence fails the test unless the job's lines of epoch are numbered 1, 2, 3, ...
// in arrival order: no line missing, duplicated or out of order.
func (s *scenario) checkLogSequence(jobID string, epoch int64) []admin.LogLine {
	s.t.Helper()
	var lines []admin.LogLine
	for _, l := range s.jobLogs(jobID) {
		if l.Epoch == epoch {
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 {
		s.t.Errorf("job %s has no log lines for epoch %d", jobID, epoch)
		return nil
	}
	for i, l := range lines {
		if want := lines[0].Seq + int64(i); l.Seq != want {
			s.t.Errorf("log line %d of job %s has seq %d, want %d (a line is missing, duplicated or out of order): %q",
				i, jobID, l.Seq, want, l.Message)
			break
		}
	}
	if lines[0].Seq > 1 {
		s.t.Errorf("the first log line of job %s has seq %d, want 1 or 0: the first lines are missing", jobID, lines[0].Seq)
	}
	return lines
}

// poll calls condition every pollInterval until it returns true, an error, or timeout passes.
func (s *scenario) poll(timeout time.Duration, condition func(context.Context) (bool, error)) error {
	return wait.PollUntilContextTimeout(context.Background(), pollInterval, timeout, true,
		func(ctx context.Context) (bool, error) {
			callCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			return condition(callCtx)
		})
}

// dumpState logs the namespace's runners, jobs, pods and the end of the manager's log, for a
// failed test.
func (s *scenario) dumpState() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var b strings.Builder
	var runners transferv1.TransferRunnerList
	if err := sys.kube.List(ctx, &runners, client.InNamespace(s.namespace)); err == nil {
		for _, r := range runners.Items {
			fmt.Fprintf(&b, "TransferRunner %s: %+v\n", r.Name, r.Status)
		}
	}
	var jobs transferv1.TransferJobList
	if err := sys.kube.List(ctx, &jobs, client.InNamespace(s.namespace)); err == nil {
		for _, j := range jobs.Items {
			fmt.Fprintf(&b, "TransferJob %s (job %s): %+v\n", j.Name, j.Spec.JobID, j.Status)
		}
	}
	var pods corev1.PodList
	if err := sys.kube.List(ctx, &pods, client.InNamespace(s.namespace)); err == nil {
		for _, p := range pods.Items {
			fmt.Fprintf(&b, "Pod %s: phase %s, containers %+v\n", p.Name, p.Status.Phase, p.Status.ContainerStatuses)
		}
	}
	s.t.Logf("state of namespace %s:\n%s", s.namespace, b.String())
	s.t.Logf("end of the manager's log %s:\n%s", sys.manager.logPath, tailFile(sys.manager.logPath))
	s.t.Logf("end of the control plane's log %s:\n%s", sys.controlPlane.logPath, tailFile(sys.controlPlane.logPath))
}

func conditionTrue(conditions []metav1.Condition, conditionType string) bool {
	for _, c := range conditions {
		if c.Type == conditionType {
			return c.Status == metav1.ConditionTrue
		}
	}
	return false
}

// percentile returns the p-th percentile (0 to 100) of values by the nearest-rank method.
func percentile(values []time.Duration, p float64) time.Duration {
	if len(values) == 0 {
		return 0
	}
	sorted := append([]time.Duration(nil), values...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	rank := int(p/100*float64(len(sorted)) + 0.999999)
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

package controllers

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	transferv1 "github.com/ferryhq/ferry/api/v1alpha1"
)

func TestCRDSmoke(t *testing.T) {
	c := newTestClient(t)
	ns := newTestNamespace(t, c)
	ctx := t.Context()

	runner := validRunner(ns)
	if err := c.Create(ctx, runner); err != nil {
		t.Fatalf("failed to create a TransferRunner: %v", err)
	}
	if runner.Spec.MaxConcurrentJobs != 2 {
		t.Errorf("maxConcurrentJobs default = %d, want 2", runner.Spec.MaxConcurrentJobs)
	}
	if runner.Spec.PollWaitSeconds != 25 {
		t.Errorf("pollWaitSeconds default = %d, want 25", runner.Spec.PollWaitSeconds)
	}
	if got := ptr.Deref(runner.Spec.TTLSecondsAfterFinished, -1); got != 3600 {
		t.Errorf("ttlSecondsAfterFinished default = %d, want 3600", got)
	}
	if runner.Spec.DefaultDeadlineSeconds != 21600 {
		t.Errorf("defaultDeadlineSeconds default = %d, want 21600", runner.Spec.DefaultDeadlineSeconds)
	}
	if runner.Spec.TokenSecretRef.Key != "token" {
		t.Errorf("tokenSecretRef.key default = %q, want token", runner.Spec.TokenSecretRef.Key)
	}

	tj := validJob(ns)
	if err := c.Create(ctx, tj); err != nil {
		t.Fatalf("failed to create a TransferJob: %v", err)
	}
	if tj.Spec.Type != transferv1.JobTypeTransfer {
		t.Errorf("type default = %q, want transfer", tj.Spec.Type)
	}
}

func validRunner(ns string) *transferv1.TransferRunner {
	return &transferv1.TransferRunner{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "runner-", Namespace: ns},
		Spec: transferv1.TransferRunnerSpec{
			ControlPlaneURL: "https://ferry.example.com",
			TokenSecretRef:  transferv1.SecretKeyRef{Name: "registration"},
		},
	}
}

func validJob(ns string) *transferv1.TransferJob {
	return &transferv1.TransferJob{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "job-", Namespace: ns},
		Spec: transferv1.TransferJobSpec{
			RunnerRef:       transferv1.RunnerRef{Name: "runner"},
			JobID:           "j-1",
			Epoch:           1,
			TokenSecretName: "job-j-1-token",
		},
	}
}

func TestTransferRunnerValidation(t *testing.T) {
	c := newTestClient(t)
	ns := newTestNamespace(t, c)
	tests := []struct {
		name    string
		mutate  func(*transferv1.TransferRunner)
		wantErr string
	}{
		{"URL without scheme", func(r *transferv1.TransferRunner) { r.Spec.ControlPlaneURL = "ferry.example.com:443" }, "spec.controlPlaneURL"},
		{"URL with ftp scheme", func(r *transferv1.TransferRunner) { r.Spec.ControlPlaneURL = "ftp://ferry.example.com" }, "^https?://"},
		{"missing token Secret name", func(r *transferv1.TransferRunner) { r.Spec.TokenSecretRef.Name = "" }, "spec.tokenSecretRef.name"},
		{"negative concurrent jobs", func(r *transferv1.TransferRunner) { r.Spec.MaxConcurrentJobs = -1 }, "spec.maxConcurrentJobs"},
		{"too many concurrent jobs", func(r *transferv1.TransferRunner) { r.Spec.MaxConcurrentJobs = 65 }, "less than or equal to 64"},
		{"long poll above 60 s", func(r *transferv1.TransferRunner) { r.Spec.PollWaitSeconds = 61 }, "spec.pollWaitSeconds"},
		{"deadline below 60 s", func(r *transferv1.TransferRunner) { r.Spec.DefaultDeadlineSeconds = 59 }, "spec.defaultDeadlineSeconds"},
		{"negative TTL", func(r *transferv1.TransferRunner) { r.Spec.TTLSecondsAfterFinished = ptr.To[int32](-1) }, "spec.ttlSecondsAfterFinished"},
		{"unknown pull policy", func(r *transferv1.TransferRunner) { r.Spec.JobTemplate.ImagePullPolicy = "Sometimes" }, "spec.jobTemplate.imagePullPolicy"},
		{"bad resource class name", func(r *transferv1.TransferRunner) {
			r.Spec.ResourceClasses = []transferv1.ResourceClass{{Name: "Large_One"}}
		}, "spec.resourceClasses[0].name"},
		{"duplicate resource class", func(r *transferv1.TransferRunner) {
			r.Spec.ResourceClasses = []transferv1.ResourceClass{{Name: "small"}, {Name: "small"}}
		}, "Duplicate value"},
		{"volume named tmp", func(r *transferv1.TransferRunner) {
			r.Spec.JobTemplate.Volumes = []corev1.Volume{{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
		}, `volume name "tmp" is reserved`},
		{"mount at /tmp", func(r *transferv1.TransferRunner) {
			r.Spec.JobTemplate.VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/tmp"}}
		}, "mountPath /tmp is reserved"},
		{"mount of undefined volume", func(r *transferv1.TransferRunner) {
			r.Spec.JobTemplate.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
			r.Spec.JobTemplate.VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}, {Name: "nope", MountPath: "/y"}}
		}, "every volumeMounts[].name must name a volume of jobTemplate.volumes"},
		{"mount without volumes", func(r *transferv1.TransferRunner) {
			r.Spec.JobTemplate.VolumeMounts = []corev1.VolumeMount{{Name: "nope", MountPath: "/y"}}
		}, "spec.jobTemplate.volumeMounts"},
		{"URL with user and password", func(r *transferv1.TransferRunner) {
			r.Spec.ControlPlaneURL = "http://user:pw@127.0.0.1:18080/x"
		}, "controlPlaneURL must not contain user information"},
		{"URL with user only", func(r *transferv1.TransferRunner) {
			r.Spec.ControlPlaneURL = "https://user@ferry.example.com"
		}, "controlPlaneURL must not contain user information"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runner := validRunner(ns)
			tt.mutate(runner)
			err := c.Create(t.Context(), runner)
			if err == nil {
				t.Fatalf("API server accepted the invalid TransferRunner")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestTransferRunnerValidMounts(t *testing.T) {
	c := newTestClient(t)
	ns := newTestNamespace(t, c)
	runner := validRunner(ns)
	runner.Spec.ControlPlaneURL = "https://ferry.example.com/path@v1?next=a@b"
	runner.Spec.JobTemplate.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	runner.Spec.JobTemplate.VolumeMounts = []corev1.VolumeMount{
		{Name: "data", MountPath: "/data"},
		{Name: "tmp", MountPath: "/scratch"},
	}
	if err := c.Create(t.Context(), runner); err != nil {
		t.Errorf("API server rejected mounts of defined volumes: %v", err)
	}
}

func TestTransferJobValidation(t *testing.T) {
	c := newTestClient(t)
	ns := newTestNamespace(t, c)

	createTests := []struct {
		name    string
		mutate  func(*transferv1.TransferJob)
		wantErr string
	}{
		{"unknown type", func(tj *transferv1.TransferJob) { tj.Spec.Type = "copy" }, `supported values: "transfer", "preview"`},
		{"negative epoch", func(tj *transferv1.TransferJob) { tj.Spec.Epoch = -1 }, "spec.epoch"},
		{"missing job ID", func(tj *transferv1.TransferJob) { tj.Spec.JobID = "" }, "spec.jobID"},
		{"missing runner", func(tj *transferv1.TransferJob) { tj.Spec.RunnerRef.Name = "" }, "spec.runnerRef.name"},
		{"negative deadline", func(tj *transferv1.TransferJob) { tj.Spec.DeadlineSeconds = -5 }, "spec.deadlineSeconds"},
	}
	for _, tt := range createTests {
		t.Run(tt.name, func(t *testing.T) {
			tj := validJob(ns)
			tt.mutate(tj)
			err := c.Create(t.Context(), tj)
			if err == nil {
				t.Fatalf("API server accepted the invalid TransferJob")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}

	updateTests := []struct {
		name    string
		initial func(*transferv1.TransferJob)
		mutate  func(*transferv1.TransferJob)
		wantErr string
	}{
		{"job ID changed", nil, func(tj *transferv1.TransferJob) { tj.Spec.JobID = "j-2" }, "jobID is immutable"},
		{"epoch changed", nil, func(tj *transferv1.TransferJob) { tj.Spec.Epoch = 2 }, "epoch is immutable"},
		{"runner changed", nil, func(tj *transferv1.TransferJob) { tj.Spec.RunnerRef.Name = "other" }, "runnerRef is immutable"},
		{"type changed", nil, func(tj *transferv1.TransferJob) { tj.Spec.Type = transferv1.JobTypePreview }, "type is immutable"},
		{"token Secret changed", nil, func(tj *transferv1.TransferJob) { tj.Spec.TokenSecretName = "other" }, "tokenSecretName is immutable"},
		{"resource class added", nil, func(tj *transferv1.TransferJob) { tj.Spec.ResourceClass = "large" }, "resourceClass is immutable"},
		{"deadline added", nil, func(tj *transferv1.TransferJob) { tj.Spec.DeadlineSeconds = 60 }, "deadlineSeconds is immutable"},
		{"cancel withdrawn", func(tj *transferv1.TransferJob) { tj.Spec.Cancel = true }, func(tj *transferv1.TransferJob) { tj.Spec.Cancel = false }, "cancel cannot be unset"},
		{"cancel reason changed after cancel", func(tj *transferv1.TransferJob) { tj.Spec.Cancel, tj.Spec.CancelReason = true, "first" }, func(tj *transferv1.TransferJob) { tj.Spec.CancelReason = "second" }, "cancelReason is immutable"},
	}
	for _, tt := range updateTests {
		t.Run(tt.name, func(t *testing.T) {
			tj := validJob(ns)
			if tt.initial != nil {
				tt.initial(tj)
			}
			if err := c.Create(t.Context(), tj); err != nil {
				t.Fatalf("failed to create the TransferJob: %v", err)
			}
			tt.mutate(tj)
			err := c.Update(t.Context(), tj)
			if err == nil {
				t.Fatalf("API server accepted the change")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}

	t.Run("cancel allowed", func(t *testing.T) {
		tj := validJob(ns)
		if err := c.Create(t.Context(), tj); err != nil {
			t.Fatalf("failed to create the TransferJob: %v", err)
		}
		tj.Spec.Cancel, tj.Spec.CancelReason = true, "stopped by user"
		if err := c.Update(t.Context(), tj); err != nil {
			t.Errorf("API server rejected a cancellation: %v", err)
		}
	})
}

func TestSamplesAccepted(t *testing.T) {
	c := newTestClient(t)
	ns := newTestNamespace(t, c)
	paths, err := filepath.Glob(filepath.Join("..", "config", "samples", "transfer_*.yaml"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no samples found: %v", err)
	}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			obj := &unstructured.Unstructured{}
			if err := yaml.Unmarshal(data, &obj.Object); err != nil {
				t.Fatalf("invalid YAML: %v", err)
			}
			obj.SetNamespace(ns)
			if err := c.Create(t.Context(), obj); err != nil {
				t.Errorf("API server rejected the sample: %v", err)
			}
		})
	}
}

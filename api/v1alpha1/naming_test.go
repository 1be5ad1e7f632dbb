package v1alpha1

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

func TestTransferJobName(t *testing.T) {
	tests := []struct {
		jobID string
		want  string
	}{
		{jobID: "abc-123", want: "job-abc-123"},
		{jobID: "0f6b2d1e-7c1a-4b8e-9d0a-3c5e2f1a9b7c", want: "job-0f6b2d1e-7c1a-4b8e-9d0a-3c5e2f1a9b7c"},
	}
	for _, tt := range tests {
		if got := TransferJobName(tt.jobID); got != tt.want {
			t.Errorf("TransferJobName(%q) = %q, want %q", tt.jobID, got, tt.want)
		}
	}
}

func TestTransferJobNameLossyMapping(t *testing.T) {
	ids := []string{
		"Job_1", "job_1", "job.1", "JOB-1-", "_x",
		strings.Repeat("a", 59), strings.Repeat("a", 60), strings.Repeat("a", 61),
		strings.Repeat("a", 200) + "1", strings.Repeat("a", 200) + "2",
	}
	seen := map[string]string{}
	for _, id := range ids {
		name := TransferJobName(id)
		if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
			t.Errorf("TransferJobName(%q) = %q, not a DNS label: %v", id, name, errs)
		}
		if other, ok := seen[name]; ok {
			t.Errorf("job IDs %q and %q share the name %q", other, id, name)
		}
		seen[name] = id
		if again := TransferJobName(id); again != name {
			t.Errorf("TransferJobName(%q) is not stable: %q then %q", id, name, again)
		}
		if errs := validation.IsDNS1123Subdomain(PodName(name, 1<<62)); len(errs) > 0 {
			t.Errorf("PodName for %q is invalid: %v", id, errs)
		}
	}
}

func TestJobIDLabelValue(t *testing.T) {
	for _, id := range []string{"abc-123", "Job_1", "_x_", strings.Repeat("b", 100), "a/b c"} {
		value := JobIDLabelValue(id)
		if errs := validation.IsValidLabelValue(value); len(errs) > 0 {
			t.Errorf("JobIDLabelValue(%q) = %q, invalid: %v", id, value, errs)
		}
	}
	if got := JobIDLabelValue("abc-123"); got != "abc-123" {
		t.Errorf("JobIDLabelValue(%q) = %q, want the ID unchanged", "abc-123", got)
	}
}

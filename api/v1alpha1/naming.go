package v1alpha1

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Labels that link a TransferJob, its token Secret and its pod to the runner
// and the job.
const (
	// LabelRunner is the name of the TransferRunner.
	LabelRunner = "transfer.ferry.dev/runner"
	// LabelJobID is the control-plane job ID, as returned by JobIDLabelValue.
	LabelJobID = "transfer.ferry.dev/job-id"
	// LabelTransferJob is the name of the TransferJob.
	LabelTransferJob = "transfer.ferry.dev/transferjob"
)

// AnnotationSafeToEvict tells the cluster autoscaler whether it may evict a
// pod to scale a node down. Job pods set it to "false", because an evicted
// job fails.
const AnnotationSafeToEvict = "cluster-autoscaler.kubernetes.io/safe-to-evict"

// TokenSecretKey is the key of the job token in a TransferJob's Secret.
const TokenSecretKey = "token"

// JobContainerName is the name of the one container of a job pod.
const JobContainerName = "transfer"

const (
	transferJobPrefix = "job-"
	hashSuffixLength  = 8
)

// TransferJobName returns the TransferJob name for a control-plane job ID:
// "job-" followed by the ID lower-cased, with every character outside
// [a-z0-9-] replaced by "-", at most 63 characters. When that mapping loses
// information (a changed character or a truncation) or ends with "-", the
// name ends with
// "-" and 8 hex digits of the ID's SHA-256, so that two distinct IDs never
// share a name. The same ID always gives the same name.
func TransferJobName(jobID string) string {
	sanitized := sanitizeName(jobID)
	name := transferJobPrefix + sanitized
	if sanitized == jobID && len(name) <= validation.DNS1123LabelMaxLength && !strings.HasSuffix(name, "-") {
		return name
	}
	sum := sha256.Sum256([]byte(jobID))
	suffix := "-" + hex.EncodeToString(sum[:])[:hashSuffixLength]
	name = name[:min(len(name), validation.DNS1123LabelMaxLength-len(suffix))]
	return strings.TrimRight(name, "-") + suffix
}

// TokenSecretName returns the name of the Secret that contains the job token
// of the TransferJob named transferJobName.
func TokenSecretName(transferJobName string) string {
	return transferJobName + "-token"
}

// PodName returns the name of the pod of a TransferJob attempt.
func PodName(transferJobName string, epoch int64) string {
	return transferJobName + "-" + strconv.FormatInt(epoch, 10)
}

// JobIDLabelValue returns the value of the LabelJobID label for a job ID:
// the ID itself when it is a valid label value, else the suffix of its
// TransferJob name after "job-", with leading and trailing "-" removed.
func JobIDLabelValue(jobID string) string {
	if len(validation.IsValidLabelValue(jobID)) == 0 {
		return jobID
	}
	return strings.Trim(strings.TrimPrefix(TransferJobName(jobID), transferJobPrefix), "-")
}

// sanitizeName lower-cases s and replaces each character outside [a-z0-9-]
// with "-".
func sanitizeName(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '-' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	return b.String()
}

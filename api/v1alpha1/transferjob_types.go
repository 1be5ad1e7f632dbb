package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TransferJobSpec is one attempt of a control-plane job. The runner's poller
// creates it from an assignment; only the cancellation fields change later.
//
// +kubebuilder:validation:XValidation:rule="has(self.resourceClass) == has(oldSelf.resourceClass) && (!has(self.resourceClass) || self.resourceClass == oldSelf.resourceClass)",message="resourceClass is immutable"
// +kubebuilder:validation:XValidation:rule="has(self.deadlineSeconds) == has(oldSelf.deadlineSeconds) && (!has(self.deadlineSeconds) || self.deadlineSeconds == oldSelf.deadlineSeconds)",message="deadlineSeconds is immutable"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.cancel) || !oldSelf.cancel || (has(self.cancel) && self.cancel)",message="cancel cannot be unset once true"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.cancel) || !oldSelf.cancel || (has(self.cancelReason) == has(oldSelf.cancelReason) && (!has(self.cancelReason) || self.cancelReason == oldSelf.cancelReason))",message="cancelReason is immutable once cancel is true"
type TransferJobSpec struct {
	// runnerRef names the TransferRunner, in the same namespace, that
	// received the job. Immutable.
	// +required
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="runnerRef is immutable"
	RunnerRef RunnerRef `json:"runnerRef"`

	// jobID is the control plane's ID of the job. Immutable.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="jobID is immutable"
	JobID string `json:"jobID"`

	// epoch numbers the attempt; the control plane increases it each time
	// it hands the job out again. Minimum 0. Immutable.
	// +required
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="epoch is immutable"
	Epoch int64 `json:"epoch"`

	// type is the kind of work: transfer or preview. Default transfer.
	// Immutable.
	// +optional
	// +kubebuilder:default=transfer
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="type is immutable"
	Type JobType `json:"type,omitempty"`

	// resourceClass names one of the runner's resourceClasses. Empty means
	// the runner's jobTemplate.resources. Immutable.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	ResourceClass string `json:"resourceClass,omitempty"`

	// deadlineSeconds bounds the job's run time, in seconds, as the pod's
	// activeDeadlineSeconds. 0 or absent means the runner's
	// defaultDeadlineSeconds. Minimum 0. Immutable.
	// +optional
	// +kubebuilder:validation:Minimum=0
	DeadlineSeconds int64 `json:"deadlineSeconds,omitempty"`

	// tokenSecretName names the Secret, in the same namespace, whose key
	// "token" contains the job token that the pod presents to the control
	// plane. Immutable.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="tokenSecretName is immutable"
	TokenSecretName string `json:"tokenSecretName"`

	// cancel, once true, stops the job: the operator deletes the pod and
	// ends the job Cancelled. It cannot return to false. Default false.
	// +optional
	Cancel bool `json:"cancel,omitempty"`

	// cancelReason says why the job was cancelled; it is copied into the
	// status message.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	CancelReason string `json:"cancelReason,omitempty"`
}

// RunnerRef names a TransferRunner in the same namespace.
type RunnerRef struct {
	// name is the TransferRunner's name.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// JobType is the kind of work a TransferJob does.
// +kubebuilder:validation:Enum=transfer;preview
type JobType string

// Job types.
const (
	// JobTypeTransfer moves rows from the source to the destination.
	JobTypeTransfer JobType = "transfer"
	// JobTypePreview reads the first rows of the source and reports their
	// column schema and, unless the runner sets noSendPreview, the rows.
	JobTypePreview JobType = "preview"
)

// JobPhase is the lifecycle phase of a TransferJob.
// +kubebuilder:validation:Enum=Pending;Running;Succeeded;Failed;Cancelled
type JobPhase string

// Job phases. Succeeded, Failed and Cancelled are terminal.
const (
	// JobPending means the pod does not run yet.
	JobPending JobPhase = "Pending"
	// JobRunning means the pod's container runs.
	JobRunning JobPhase = "Running"
	// JobSucceeded means the engine exited 0 with a valid summary.
	JobSucceeded JobPhase = "Succeeded"
	// JobFailed means the job ended without success; the reason says why.
	JobFailed JobPhase = "Failed"
	// JobCancelled means the job was stopped on request.
	JobCancelled JobPhase = "Cancelled"
)

// IsTerminal reports whether p is Succeeded, Failed or Cancelled.
func (p JobPhase) IsTerminal() bool {
	return p == JobSucceeded || p == JobFailed || p == JobCancelled
}

// Reasons of a TransferJob's status.reason, also used as the reason of its
// Complete condition and reported to the control plane.
const (
	// JobReasonCompleted (Succeeded): the engine exited 0 and wrote its
	// summary.
	JobReasonCompleted = "Completed"
	// JobReasonOOMKilled (Failed): the container exceeded its memory limit.
	JobReasonOOMKilled = "OOMKilled"
	// JobReasonEvicted (Failed): the kubelet evicted the pod or the pod was
	// disrupted (preemption, node drain, node shutdown).
	JobReasonEvicted = "Evicted"
	// JobReasonImagePullFailed (Failed): the image could not be pulled
	// within the grace period.
	JobReasonImagePullFailed = "ImagePullFailed"
	// JobReasonUnschedulable (Failed): the scheduler found no node for the
	// pod within the bound; the message is the scheduler's.
	JobReasonUnschedulable = "Unschedulable"
	// JobReasonDeadlineExceeded (Failed): the job ran longer than its
	// deadline.
	JobReasonDeadlineExceeded = "DeadlineExceeded"
	// JobReasonError (Failed): the engine exited non-zero, or the container
	// could not be created; the message gives the exit code or cause.
	JobReasonError = "Error"
	// JobReasonCancelled (Cancelled): spec.cancel was set, by the runner's
	// poller on the control plane's request or by hand.
	JobReasonCancelled = "Cancelled"
	// JobReasonNoSummary (Failed): the engine exited 0 without a valid
	// summary in its termination message.
	JobReasonNoSummary = "NoSummary"
	// JobReasonPodDeleted (Failed): the pod was deleted before it finished.
	JobReasonPodDeleted = "PodDeleted"
	// JobReasonUnknownResourceClass (Failed): spec.resourceClass names no
	// class of the runner; no pod was created.
	JobReasonUnknownResourceClass = "UnknownResourceClass"
	// JobReasonInvalidPodSpec (Failed): the API server rejected the job's
	// pod as invalid or an admission plugin forbade it, for example over
	// the TransferRunner's jobTemplate; the message is the API server's.
	JobReasonInvalidPodSpec = "InvalidPodSpec"
	// JobReasonLostByControlPlane (Failed or Cancelled): the control plane
	// no longer knows the job as running on this runner.
	JobReasonLostByControlPlane = "LostByControlPlane"
)

// TransferJob condition types.
const (
	// JobConditionPodCreated is True once the job's pod has been created.
	// The operator never creates a second pod for the same TransferJob.
	JobConditionPodCreated = "PodCreated"
	// JobConditionPodWaiting is True while the pod's container waits on an
	// error that fails the job after a grace period, such as an image pull
	// error; its lastTransitionTime starts that period.
	JobConditionPodWaiting = "PodWaiting"
	// JobConditionComplete is True once the job is terminal; its reason is
	// the job's reason.
	JobConditionComplete = "Complete"
	// JobConditionReported is True once the control plane has
	// acknowledged the terminal state.
	JobConditionReported = "Reported"
)

// TransferJob condition reasons other than the job reasons above.
const (
	// JobReasonPodCreated (PodCreated=True): the operator created the pod.
	JobReasonPodCreated = "Created"
	// JobReasonPodPending (PodCreated=False): the pod is not created yet.
	JobReasonPodPending = "NotCreated"
	// JobReasonInProgress (Complete=False): the job is not finished.
	JobReasonInProgress = "InProgress"
	// JobReasonReportPending (Reported=False): no state has been reported
	// yet, or the last report failed; the message contains the error.
	JobReasonReportPending = "ReportPending"
	// JobReasonRunningReported (Reported=False): the control plane knows
	// the job runs; the terminal state is still to be reported.
	JobReasonRunningReported = "RunningReported"
	// JobReasonAcknowledged (Reported=True): the control plane accepted
	// the terminal state.
	JobReasonAcknowledged = "Acknowledged"
	// JobReasonSuperseded (Reported=True): the control plane answered 404
	// or 409 because it has moved on, for example to a newer epoch; the
	// message contains its answer.
	JobReasonSuperseded = "Superseded"
)

// TransferJobStatus is the observed state of a TransferJob.
type TransferJobStatus struct {
	// phase is the lifecycle phase.
	// +optional
	Phase JobPhase `json:"phase,omitempty"`

	// reason is a CamelCase word for why the job is in its phase, such as
	// OOMKilled or DeadlineExceeded; set once the job is terminal.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Reason string `json:"reason,omitempty"`

	// message explains the reason in words, including the pod's warning
	// events when they tell more.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	Message string `json:"message,omitempty"`

	// podName is the name of the job's pod.
	// +optional
	PodName string `json:"podName,omitempty"`

	// startTime is when the job's container started.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`

	// completionTime is when the job became terminal.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`

	// duration is the run time from startTime to completionTime, such as
	// "1m5s"; set once the job is terminal.
	// +optional
	Duration string `json:"duration,omitempty"`

	// rows is the number of rows written, from the engine's summary.
	// +optional
	Rows int64 `json:"rows,omitempty"`

	// bytes is the number of bytes read, from the engine's summary.
	// +optional
	Bytes int64 `json:"bytes,omitempty"`

	// observedGeneration is the metadata.generation this status reflects.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions are PodCreated, PodWaiting, Complete and Reported.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// TransferJob is one attempt of a control-plane job, run by the operator as
// a single pod. Its status records the pod's fate precisely and whether the
// control plane has acknowledged it.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=tj,categories=ferry
// +kubebuilder:printcolumn:name="Job ID",type=string,JSONPath=`.spec.jobID`
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.type`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.reason`,priority=1
// +kubebuilder:printcolumn:name="Rows",type=integer,JSONPath=`.status.rows`
// +kubebuilder:printcolumn:name="Duration",type=string,JSONPath=`.status.duration`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type TransferJob struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired state.
	// +required
	Spec TransferJobSpec `json:"spec"`

	// status is the observed state.
	// +optional
	Status TransferJobStatus `json:"status,omitempty"`
}

// TransferJobList is a list of TransferJobs.
//
// +kubebuilder:object:root=true
type TransferJobList struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// items are the TransferJobs.
	Items []TransferJob `json:"items"`
}

package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TransferRunnerSpec is the desired state of a TransferRunner: which control
// plane to join, with which token, and how to run the jobs it hands out.
type TransferRunnerSpec struct {
	// controlPlaneURL is the base URL of the control plane, such as
	// "https://ferry.example.com". Every connection goes out from the
	// operator to this URL. It must not contain user information
	// (user:password@).
	// +required
	// +kubebuilder:validation:MinLength=8
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:Pattern=`^https?://`
	// +kubebuilder:validation:XValidation:rule="!self.matches('^[a-zA-Z]+://[^/?#]*@')",message="controlPlaneURL must not contain user information (user:password@); the operator authenticates with the token in tokenSecretRef"
	ControlPlaneURL string `json:"controlPlaneURL"`

	// tokenSecretRef names the Secret, in the TransferRunner's namespace,
	// that contains the cluster registration token. Updating the Secret
	// rotates the token without restarting the operator.
	// +required
	TokenSecretRef SecretKeyRef `json:"tokenSecretRef"`

	// maxConcurrentJobs is the maximum number of jobs this runner runs at
	// once. Default 2, minimum 1, maximum 64.
	// +optional
	// +kubebuilder:default=2
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=64
	MaxConcurrentJobs int32 `json:"maxConcurrentJobs,omitempty"`

	// noSendPreview, when true, makes previews send only the column schema
	// to the control plane, never sample rows. Default false.
	// +optional
	NoSendPreview bool `json:"noSendPreview,omitempty"`

	// pollWaitSeconds is how long, in seconds, the control plane may hold a
	// heartbeat open when it has no work to hand out. Default 25, minimum 1,
	// maximum 60.
	// +optional
	// +kubebuilder:default=25
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=60
	PollWaitSeconds int32 `json:"pollWaitSeconds,omitempty"`

	// jobTemplate shapes the pod of every job of this runner.
	// +optional
	JobTemplate JobPodTemplate `json:"jobTemplate,omitempty"`

	// resourceClasses are the named resource sizes a job may ask for. The
	// control plane picks one per job by name; a job that names a class
	// missing here fails with reason UnknownResourceClass. A class's limits
	// are capped by jobTemplate.resources.limits when those are set.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=32
	ResourceClasses []ResourceClass `json:"resourceClasses,omitempty"`

	// ttlSecondsAfterFinished is how long, in seconds, a finished
	// TransferJob and its token Secret are kept once the control plane has
	// acknowledged the job's final state. Default 3600, minimum 0 (delete at
	// once).
	// +optional
	// +kubebuilder:default=3600
	// +kubebuilder:validation:Minimum=0
	TTLSecondsAfterFinished *int32 `json:"ttlSecondsAfterFinished,omitempty"`

	// defaultDeadlineSeconds bounds, in seconds, the run time of a job
	// that does not set its own deadline; it becomes the pod's
	// activeDeadlineSeconds. Default 21600 (6 hours), minimum 60.
	// +optional
	// +kubebuilder:default=21600
	// +kubebuilder:validation:Minimum=60
	DefaultDeadlineSeconds int64 `json:"defaultDeadlineSeconds,omitempty"`
}

// SecretKeyRef names one key of a Secret in the same namespace.
type SecretKeyRef struct {
	// name is the Secret's name.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// key is the key within the Secret's data. Default "token".
	// +optional
	// +kubebuilder:default=token
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Key string `json:"key,omitempty"`
}

// JobPodTemplate is the part of a job pod that a TransferRunner controls.
// The operator sets everything else, including the security context.
//
// The volume-mount rule uses "in" on a list of names because its cost
// estimate grows with the list only. An "==" between two volume names would
// grow with their length, which corev1 leaves unbounded, and exceed the CRD's
// cost budget.
// +kubebuilder:validation:XValidation:rule="!has(self.volumeMounts) || self.volumeMounts.all(m, m.name == 'tmp' || (has(self.volumes) && m.name in self.volumes.map(v, v.name)))",message="every volumeMounts[].name must name a volume of jobTemplate.volumes or \"tmp\", the operator's scratch volume; add the volume or fix the mount's name",fieldPath=".volumeMounts",reason=FieldValueInvalid
type JobPodTemplate struct {
	// image is the container image of job pods. Default: the operator's
	// own image, set by the manager's --job-image flag or the
	// FERRY_JOB_IMAGE environment variable.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Image string `json:"image,omitempty"`

	// imagePullPolicy is the pull policy of the job container. Default:
	// the Kubernetes default for the image's tag.
	// +optional
	// +kubebuilder:validation:Enum=Always;IfNotPresent;Never
	ImagePullPolicy corev1.PullPolicy `json:"imagePullPolicy,omitempty"`

	// resources are the default requests and limits of the job container,
	// used when a job names no resource class. Their limits also cap the
	// limits of every resource class.
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`

	// nodeSelector restricts job pods to nodes with these labels.
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`

	// tolerations are added to job pods.
	// +optional
	// +listType=atomic
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`

	// affinity is the scheduling affinity of job pods.
	// +optional
	Affinity *corev1.Affinity `json:"affinity,omitempty"`

	// serviceAccountName is the service account job pods run as. Its
	// token is never mounted. Default: the namespace's default account.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	ServiceAccountName string `json:"serviceAccountName,omitempty"`

	// imagePullSecrets name Secrets in the runner's namespace used to pull
	// the job image.
	// +optional
	// +listType=atomic
	ImagePullSecrets []corev1.LocalObjectReference `json:"imagePullSecrets,omitempty"`

	// env are extra environment variables of the job container. Variables
	// whose names start with FERRY_JOB_ or equal FERRY_CONTROL_PLANE_URL are
	// set by the operator and cannot be overridden.
	// +optional
	// +listType=atomic
	Env []corev1.EnvVar `json:"env,omitempty"`

	// hostNetwork runs job pods in the node's network namespace, for
	// clusters whose pod network cannot reach the control plane. Default
	// false.
	// +optional
	HostNetwork bool `json:"hostNetwork,omitempty"`

	// volumes are added to job pods, for file sources and destinations
	// such as SQLite databases or CSV files on a PersistentVolumeClaim. The
	// name "tmp" is taken by the operator's scratch volume.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:XValidation:rule="self.all(v, v.name != 'tmp')",message="volume name \"tmp\" is reserved for the operator's scratch volume at /tmp; choose another name"
	Volumes []corev1.Volume `json:"volumes,omitempty"`

	// volumeMounts mount volumes into the job container. Each names a
	// volume of jobTemplate.volumes or "tmp", the operator's scratch
	// volume. Mounts are writable unless readOnly is set; the root
	// filesystem stays read-only.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:XValidation:rule="self.all(m, m.mountPath != '/tmp')",message="mountPath /tmp is reserved for the operator's scratch volume; choose another path"
	VolumeMounts []corev1.VolumeMount `json:"volumeMounts,omitempty"`

	// labels are added to job pods. The operator's own labels take
	// precedence.
	// +optional
	Labels map[string]string `json:"labels,omitempty"`

	// annotations are added to job pods. The operator's own annotations
	// take precedence.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}

// ResourceClass is a named container size that a job may ask for.
type ResourceClass struct {
	// name identifies the class, such as "small" or "large".
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`

	// resources are the requests and limits of the job container.
	// +required
	Resources corev1.ResourceRequirements `json:"resources"`
}

// RunnerState is the connection state of a TransferRunner.
// +kubebuilder:validation:Enum=Connecting;Idle;Active;Disconnected;Unauthorized
type RunnerState string

// Runner states.
const (
	// RunnerConnecting means the runner has not completed a heartbeat yet.
	RunnerConnecting RunnerState = "Connecting"
	// RunnerIdle means the runner heartbeats and runs no job.
	RunnerIdle RunnerState = "Idle"
	// RunnerActive means the runner heartbeats and runs at least one job.
	RunnerActive RunnerState = "Active"
	// RunnerDisconnected means the last heartbeats failed; the runner
	// retries with backoff.
	RunnerDisconnected RunnerState = "Disconnected"
	// RunnerUnauthorized means the control plane rejected the registration
	// token; the runner retries slowly so that an updated Secret is
	// picked up.
	RunnerUnauthorized RunnerState = "Unauthorized"
)

// TransferRunner condition types.
const (
	// RunnerConditionJoined is True once the control plane has registered
	// the runner and returned its runner ID.
	RunnerConditionJoined = "Joined"
	// RunnerConditionConnected is True while heartbeats succeed.
	RunnerConditionConnected = "Connected"
	// RunnerConditionAuthorized is False while the control plane rejects
	// the registration token or the token Secret cannot be read.
	RunnerConditionAuthorized = "Authorized"
)

// TransferRunner condition reasons.
const (
	// RunnerReasonJoined (Joined=True): the join call succeeded.
	RunnerReasonJoined = "Joined"
	// RunnerReasonJoinFailed (Joined=False): the join call failed; the
	// message contains the error.
	RunnerReasonJoinFailed = "JoinFailed"
	// RunnerReasonHeartbeatSucceeded (Connected=True): the last heartbeat
	// succeeded.
	RunnerReasonHeartbeatSucceeded = "HeartbeatSucceeded"
	// RunnerReasonHeartbeatFailed (Connected=False): the last heartbeat
	// failed; the message contains the error.
	RunnerReasonHeartbeatFailed = "HeartbeatFailed"
	// RunnerReasonTokenAccepted (Authorized=True): the control plane
	// accepted the registration token.
	RunnerReasonTokenAccepted = "TokenAccepted"
	// RunnerReasonTokenRejected (Authorized=False): the control plane
	// answered 401 or 403 to the registration token.
	RunnerReasonTokenRejected = "TokenRejected"
	// RunnerReasonTokenSecretInvalid (Authorized=False): the token Secret
	// is missing, lacks the key, or the key is empty.
	RunnerReasonTokenSecretInvalid = "TokenSecretInvalid"
)

// TransferRunnerStatus is the observed state of a TransferRunner.
type TransferRunnerStatus struct {
	// runnerID is the ID the control plane gave this runner at join.
	// +optional
	RunnerID string `json:"runnerID,omitempty"`

	// clusterID is the ID of the control-plane cluster the token belongs
	// to.
	// +optional
	ClusterID string `json:"clusterID,omitempty"`

	// clusterName is the human-readable name of that cluster.
	// +optional
	ClusterName string `json:"clusterName,omitempty"`

	// state is the connection state.
	// +optional
	State RunnerState `json:"state,omitempty"`

	// runningJobs is the number of this runner's jobs that are not
	// finished.
	// +optional
	RunningJobs int32 `json:"runningJobs,omitempty"`

	// lastHeartbeatTime is when the last heartbeat succeeded.
	// +optional
	LastHeartbeatTime *metav1.Time `json:"lastHeartbeatTime,omitempty"`

	// observedGeneration is the metadata.generation this status reflects.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions are Joined, Connected and Authorized.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// TransferRunner connects its namespace to a control plane: the operator
// joins with the registration token, heartbeats, and turns each job it is
// handed into a TransferJob.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=trunner,categories=ferry
// +kubebuilder:printcolumn:name="Cluster",type=string,JSONPath=`.status.clusterName`
// +kubebuilder:printcolumn:name="State",type=string,JSONPath=`.status.state`
// +kubebuilder:printcolumn:name="Running",type=integer,JSONPath=`.status.runningJobs`
// +kubebuilder:printcolumn:name="Last Heartbeat",type=date,JSONPath=`.status.lastHeartbeatTime`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type TransferRunner struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired state.
	// +required
	Spec TransferRunnerSpec `json:"spec"`

	// status is the observed state.
	// +optional
	Status TransferRunnerStatus `json:"status,omitempty"`
}

// TransferRunnerList is a list of TransferRunners.
//
// +kubebuilder:object:root=true
type TransferRunnerList struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// items are the TransferRunners.
	Items []TransferRunner `json:"items"`
}

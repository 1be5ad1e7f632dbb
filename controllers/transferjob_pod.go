package controllers

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	transferv1 "github.com/ferryhq/ferry/api/v1alpha1"
)

// Environment variables the operator sets in every job container.
const (
	EnvControlPlaneURL = "FERRY_CONTROL_PLANE_URL"
	EnvJobID           = "FERRY_JOB_ID"
	EnvJobEpoch        = "FERRY_JOB_EPOCH"
	EnvJobToken        = "FERRY_JOB_TOKEN"
	EnvJobType         = "FERRY_JOB_TYPE"
)

// jobUserID is the non-root user job containers run as, the "nonroot" user of
// distroless images.
const jobUserID = 65532

// jobTmpVolume is the writable emptyDir mounted at /tmp, the only writable
// path of a job container.
const jobTmpVolume = "tmp"

// jobCommand is the engine's path in the Ferry image, whose entrypoint is
// the manager; job pods therefore name the command explicitly.
const jobCommand = "/transfer"

// Defaults used when a TransferRunner was created without the CRD defaults,
// which happens only if its CRD is outdated.
const (
	defaultDeadlineSeconds         = 21600
	defaultTTLSecondsAfterFinished = 3600
)

// errUnknownResourceClass marks a TransferJob whose resource class the runner
// does not define; retrying cannot help.
type errUnknownResourceClass struct {
	class string
	known []string
}

func (e *errUnknownResourceClass) Error() string {
	if len(e.known) == 0 {
		return fmt.Sprintf("resource class %q is not defined: the TransferRunner defines no resourceClasses", e.class)
	}
	return fmt.Sprintf("resource class %q is not defined: the TransferRunner defines %s", e.class, strings.Join(e.known, ", "))
}

// errPodRejected marks a pod that the API server rejects on every retry,
// because the pod is invalid or an admission plugin forbids it.
type errPodRejected struct {
	err error
}

func (e *errPodRejected) Error() string { return e.err.Error() }

func (e *errPodRejected) Unwrap() error { return e.err }

// isPodRejected reports whether err, returned by creating the pod named
// podName, will recur for the same pod: the API server found the pod invalid,
// or an admission plugin such as PodSecurity forbade it. Two Forbidden errors
// can pass and are retried: the authorizer's, which names no object, and an
// exceeded ResourceQuota.
func isPodRejected(err error, podName string) bool {
	if apierrors.IsInvalid(err) {
		return true
	}
	if !apierrors.IsForbidden(err) {
		return false
	}
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		return false
	}
	details := status.Status().Details
	if details == nil || details.Name != podName {
		return false
	}
	return !strings.Contains(status.Status().Message, "exceeded quota")
}

// getPod returns the TransferJob's pod, or nil when it does not exist. A
// cache miss for a pod the status records as created is confirmed with a
// live read, so a pod the cache has not seen yet is never taken for deleted.
func (r *TransferJobReconciler) getPod(ctx context.Context, tj *transferv1.TransferJob) (*corev1.Pod, error) {
	key := types.NamespacedName{Namespace: tj.Namespace, Name: transferv1.PodName(tj.Name, tj.Spec.Epoch)}
	pod := &corev1.Pod{}
	err := r.Get(ctx, key, pod)
	if apierrors.IsNotFound(err) && isConditionTrue(tj, transferv1.JobConditionPodCreated) {
		err = r.APIReader.Get(ctx, key, pod)
	}
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("failed to get Pod %s: %w", key, err)
	}
	if !metav1.IsControlledBy(pod, tj) {
		return nil, fmt.Errorf("pod %s exists but is not controlled by TransferJob %s/%s; delete it or rename it", key, tj.Namespace, tj.Name)
	}
	return pod, nil
}

// createPod creates the TransferJob's pod. A pod that already exists, from an
// earlier reconcile whose status write was lost, counts as created.
func (r *TransferJobReconciler) createPod(ctx context.Context, tj *transferv1.TransferJob, runner *transferv1.TransferRunner) (*corev1.Pod, error) {
	pod, err := r.buildPod(tj, runner)
	if err != nil {
		return nil, err
	}
	if err := controllerutil.SetControllerReference(tj, pod, r.Scheme); err != nil {
		return nil, fmt.Errorf("failed to set the owner of Pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	err = r.Create(ctx, pod)
	if apierrors.IsAlreadyExists(err) {
		return pod, nil
	}
	if isPodRejected(err, pod.Name) {
		return nil, &errPodRejected{err: err}
	}
	if err != nil {
		return nil, fmt.Errorf("failed to create Pod for TransferJob %s/%s: %w", tj.Namespace, tj.Name, err)
	}
	return pod, nil
}

// deletePod deletes pod unless it is already being deleted. The pod gets its
// normal grace period, so the engine can stop cleanly.
func (r *TransferJobReconciler) deletePod(ctx context.Context, pod *corev1.Pod) error {
	if pod == nil || !pod.DeletionTimestamp.IsZero() {
		return nil
	}
	err := r.Delete(ctx, pod, client.Preconditions{UID: &pod.UID})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("failed to delete Pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}

// buildPod returns the hardened pod of a TransferJob: one container running
// the engine as a non-root user on a read-only root filesystem, with no
// capabilities, no service account token, the RuntimeDefault seccomp
// profile, and the job's deadline as activeDeadlineSeconds.
func (r *TransferJobReconciler) buildPod(tj *transferv1.TransferJob, runner *transferv1.TransferRunner) (*corev1.Pod, error) {
	template := runner.Spec.JobTemplate
	resources, err := jobResources(tj.Spec.ResourceClass, runner)
	if err != nil {
		return nil, err
	}
	image := template.Image
	if image == "" {
		image = r.JobImage
	}
	if image == "" {
		return nil, fmt.Errorf("no job image: set spec.jobTemplate.image on TransferRunner %s/%s or start the manager with --job-image", runner.Namespace, runner.Name)
	}

	labels := maps.Clone(template.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	maps.Copy(labels, jobLabels(tj))
	annotations := maps.Clone(template.Annotations)
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations[transferv1.AnnotationSafeToEvict] = "false"

	dnsPolicy := corev1.DNSClusterFirst
	if template.HostNetwork {
		dnsPolicy = corev1.DNSClusterFirstWithHostNet
	}

	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:        transferv1.PodName(tj.Name, tj.Spec.Epoch),
			Namespace:   tj.Namespace,
			Labels:      labels,
			Annotations: annotations,
		},
		Spec: corev1.PodSpec{
			RestartPolicy:                corev1.RestartPolicyNever,
			ActiveDeadlineSeconds:        ptr.To(jobDeadlineSeconds(tj, runner)),
			AutomountServiceAccountToken: ptr.To(false),
			EnableServiceLinks:           ptr.To(false),
			ServiceAccountName:           template.ServiceAccountName,
			ImagePullSecrets:             template.ImagePullSecrets,
			NodeSelector:                 template.NodeSelector,
			Tolerations:                  template.Tolerations,
			Affinity:                     template.Affinity,
			HostNetwork:                  template.HostNetwork,
			DNSPolicy:                    dnsPolicy,
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot:   ptr.To(true),
				RunAsUser:      ptr.To[int64](jobUserID),
				RunAsGroup:     ptr.To[int64](jobUserID),
				FSGroup:        ptr.To[int64](jobUserID),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Containers: []corev1.Container{{
				Name:                     transferv1.JobContainerName,
				Image:                    image,
				ImagePullPolicy:          template.ImagePullPolicy,
				Command:                  []string{jobCommand},
				Args:                     []string{"pod"},
				Env:                      jobEnv(tj, runner),
				Resources:                resources,
				TerminationMessagePath:   corev1.TerminationMessagePathDefault,
				TerminationMessagePolicy: corev1.TerminationMessageReadFile,
				SecurityContext: &corev1.SecurityContext{
					RunAsNonRoot:             ptr.To(true),
					RunAsUser:                ptr.To[int64](jobUserID),
					ReadOnlyRootFilesystem:   ptr.To(true),
					AllowPrivilegeEscalation: ptr.To(false),
					Privileged:               ptr.To(false),
					Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
					SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
				},
				VolumeMounts: append([]corev1.VolumeMount{{Name: jobTmpVolume, MountPath: "/tmp"}}, template.VolumeMounts...),
			}},
			Volumes: append([]corev1.Volume{{
				Name:         jobTmpVolume,
				VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}},
			}}, template.Volumes...),
		},
	}
	return pod, nil
}

// jobLabels returns the labels that link a pod to its runner, job and
// TransferJob.
func jobLabels(tj *transferv1.TransferJob) map[string]string {
	return map[string]string{
		transferv1.LabelRunner:      tj.Spec.RunnerRef.Name,
		transferv1.LabelJobID:       transferv1.JobIDLabelValue(tj.Spec.JobID),
		transferv1.LabelTransferJob: tj.Name,
	}
}

// jobEnv returns the job container's environment: the runner template's
// variables, then the operator's, which replace any template variable of the
// same name.
func jobEnv(tj *transferv1.TransferJob, runner *transferv1.TransferRunner) []corev1.EnvVar {
	jobType := tj.Spec.Type
	if jobType == "" {
		jobType = transferv1.JobTypeTransfer
	}
	own := []corev1.EnvVar{
		{Name: EnvControlPlaneURL, Value: runner.Spec.ControlPlaneURL},
		{Name: EnvJobID, Value: tj.Spec.JobID},
		{Name: EnvJobEpoch, Value: strconv.FormatInt(tj.Spec.Epoch, 10)},
		{Name: EnvJobType, Value: string(jobType)},
		{Name: EnvJobToken, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: tj.Spec.TokenSecretName},
			Key:                  transferv1.TokenSecretKey,
		}}},
	}
	reserved := map[string]bool{}
	for _, v := range own {
		reserved[v.Name] = true
	}
	env := make([]corev1.EnvVar, 0, len(runner.Spec.JobTemplate.Env)+len(own))
	for _, v := range runner.Spec.JobTemplate.Env {
		if !reserved[v.Name] && !strings.HasPrefix(v.Name, "FERRY_JOB_") {
			env = append(env, v)
		}
	}
	return append(env, own...)
}

// jobDeadlineSeconds returns the job's deadline: its own, else the runner's
// default.
func jobDeadlineSeconds(tj *transferv1.TransferJob, runner *transferv1.TransferRunner) int64 {
	if tj.Spec.DeadlineSeconds > 0 {
		return tj.Spec.DeadlineSeconds
	}
	if runner.Spec.DefaultDeadlineSeconds > 0 {
		return runner.Spec.DefaultDeadlineSeconds
	}
	return defaultDeadlineSeconds
}

// jobResources returns the container resources for a resource class: the
// class's, with limits capped by the runner template's limits, or the
// template's when class is empty. A request above its capped limit is
// lowered to the limit, because the API server rejects requests above
// limits.
func jobResources(class string, runner *transferv1.TransferRunner) (corev1.ResourceRequirements, error) {
	template := runner.Spec.JobTemplate.Resources
	if class == "" {
		return *template.DeepCopy(), nil
	}
	var known []string
	for _, rc := range runner.Spec.ResourceClasses {
		if rc.Name != class {
			known = append(known, rc.Name)
			continue
		}
		resources := *rc.Resources.DeepCopy()
		for name, ceiling := range template.Limits {
			if limit, ok := resources.Limits[name]; !ok || limit.Cmp(ceiling) > 0 {
				if resources.Limits == nil {
					resources.Limits = corev1.ResourceList{}
				}
				resources.Limits[name] = ceiling.DeepCopy()
			}
		}
		for name, request := range resources.Requests {
			if limit, ok := resources.Limits[name]; ok && request.Cmp(limit) > 0 {
				resources.Requests[name] = limit.DeepCopy()
			}
		}
		return resources, nil
	}
	return corev1.ResourceRequirements{}, &errUnknownResourceClass{class: class, known: known}
}

// memoryLimit returns the container's memory limit for messages, or "" when
// it has none.
func memoryLimit(pod *corev1.Pod) string {
	for _, c := range pod.Spec.Containers {
		if c.Name != transferv1.JobContainerName {
			continue
		}
		if limit, ok := c.Resources.Limits[corev1.ResourceMemory]; ok {
			return limit.String()
		}
	}
	return ""
}

// Package v1alpha1 contains the API types of the transfer.ferry.dev group:
// TransferRunner, which connects a namespace to a control plane, and
// TransferJob, one job attempt that the operator runs as a pod.
//
// +kubebuilder:object:generate=true
// +groupName=transfer.ferry.dev
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of the types in this package.
	GroupVersion = schema.GroupVersion{Group: "transfer.ferry.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the types of this package with a runtime.Scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the types of this package to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// addKnownTypes registers the package's kinds and the meta types of its
// group version.
func addKnownTypes(scheme *runtime.Scheme) error {
	scheme.AddKnownTypes(GroupVersion,
		&TransferRunner{}, &TransferRunnerList{},
		&TransferJob{}, &TransferJobList{},
	)
	metav1.AddToGroupVersion(scheme, GroupVersion)
	return nil
}

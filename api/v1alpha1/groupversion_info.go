// Package v1alpha1 contains the API types of the transfer.ferry.dev group:
// TransferRunner, which connects a namespace to a control plane, and
// TransferJob, one job attempt that the operator runs as a pod.
//
// +kubebuilder:object:generate=true
// +groupName=transfer.ferry.dev
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of the types in this package.
	GroupVersion = schema.GroupVersion{Group: "transfer.ferry.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the types of this package with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the types of this package to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

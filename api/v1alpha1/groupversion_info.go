// Package v1alpha1 contains the keyward.dev/v1alpha1 API: APIKey,
// SigningKey and KeyPolicy. It holds types and pure methods on them only,
// so that a client of the API imports apimachinery and nothing of the
// manager; what a spec means for policy and records is in keyspec.
// +kubebuilder:object:generate=true
// +groupName=keyward.dev
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of keyward's API.
	GroupVersion = schema.GroupVersion{Group: "keyward.dev", Version: "v1alpha1"}

	// schemeBuilder registers the types of this package with a scheme.
	schemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the types of this package to a scheme.
	AddToScheme = schemeBuilder.AddToScheme

	// objectTypes are the kinds of this package; each types file adds its
	// own in init.
	objectTypes = []runtime.Object{}
)

func addKnownTypes(scheme *runtime.Scheme) error {
	scheme.AddKnownTypes(GroupVersion, objectTypes...)
	metav1.AddToGroupVersion(scheme, GroupVersion)
	return nil
}

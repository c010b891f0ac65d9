package testutil

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// DecodeManifests splits a multi-document YAML stream (kubectl kustomize's
// or helm template's output) into objects, skipping empty documents. An
// error names the document that does not decode.
func DecodeManifests(manifests []byte) ([]*unstructured.Unstructured, error) {
	dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(manifests), 4096)
	var objs []*unstructured.Unstructured
	for i := 1; ; i++ {
		obj := &unstructured.Unstructured{}
		if err := dec.Decode(&obj.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if len(obj.Object) == 0 {
			continue
		}
		if obj.GetKind() == "" || obj.GetAPIVersion() == "" {
			return nil, fmt.Errorf("document %d has no apiVersion or kind", i)
		}
		objs = append(objs, obj)
	}
}

// ServerSideDryRun does what `kubectl apply --server-side --dry-run=server
// --force-conflicts` does for manifests and returns every refusal, each
// naming its object.
//
// A dry run persists nothing, so the objects that others need in order to
// be admitted at all (Namespaces for namespaced objects, CRDs for custom
// resources) are first applied for real, and CRDs waited for until
// established; everything is then dry-run, those included.
func ServerSideDryRun(ctx context.Context, c client.Client, manifests []byte, fieldManager string) error {
	objs, err := DecodeManifests(manifests)
	if err != nil {
		return err
	}
	if len(objs) == 0 {
		return errors.New("the manifests hold no object")
	}
	for _, obj := range objs {
		if obj.GetKind() != "Namespace" && obj.GetKind() != "CustomResourceDefinition" {
			continue
		}
		if err := apply(ctx, c, obj, fieldManager); err != nil {
			return fmt.Errorf("%s: %w", describe(obj), err)
		}
		if obj.GetKind() == "CustomResourceDefinition" {
			if err := waitEstablished(ctx, c, obj.GetName()); err != nil {
				return fmt.Errorf("%s: %w", describe(obj), err)
			}
		}
	}
	var errs []error
	for _, obj := range objs {
		if err := apply(ctx, c, obj, fieldManager, client.DryRunAll); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", describe(obj), err))
		}
	}
	return errors.Join(errs...)
}

// apply server-side applies obj. Server-side apply refuses a field the
// schema does not declare, so no separate strict validation is needed.
func apply(ctx context.Context, c client.Client, obj *unstructured.Unstructured, fieldManager string, opts ...client.ApplyOption) error {
	opts = append(opts, client.ForceOwnership, client.FieldOwner(fieldManager))
	return c.Apply(ctx, client.ApplyConfigurationFromUnstructured(obj.DeepCopy()), opts...)
}

func waitEstablished(ctx context.Context, c client.Client, name string) error {
	return wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		// Unstructured, so that the caller's scheme need not know CRDs.
		crd := &unstructured.Unstructured{}
		crd.SetGroupVersionKind(apiextensionsv1.SchemeGroupVersion.WithKind("CustomResourceDefinition"))
		if err := c.Get(ctx, client.ObjectKey{Name: name}, crd); err != nil {
			return false, client.IgnoreNotFound(err)
		}
		conditions, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
		for _, cond := range conditions {
			if cond, ok := cond.(map[string]any); ok &&
				cond["type"] == string(apiextensionsv1.Established) && cond["status"] == string(apiextensionsv1.ConditionTrue) {
				return true, nil
			}
		}
		return false, nil
	})
}

func describe(obj *unstructured.Unstructured) string {
	if ns := obj.GetNamespace(); ns != "" {
		return fmt.Sprintf("%s %s/%s", obj.GetKind(), ns, obj.GetName())
	}
	return fmt.Sprintf("%s %s", obj.GetKind(), obj.GetName())
}

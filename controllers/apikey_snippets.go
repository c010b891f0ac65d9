package controllers

import (
	"context"
	"fmt"
	"maps"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/record"
	"github.com/keyward-dev/keyward/internal/snippets"
	"github.com/keyward-dev/keyward/internal/verifierflags"
)

// The snippets ConfigMaps live beside the delivery Secrets, in every
// tenant namespace; the cache holds only those keyward labelled.
//
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch;create;patch

// DefaultSnippetEndpoints are the verifier Service the manager deploys in
// namespace, as the snippets address it from inside the cluster.
func DefaultSnippetEndpoints(namespace string, tls bool) snippets.Endpoints {
	scheme := "http"
	if tls {
		scheme = "https"
	}
	host := VerifierName + "." + namespace + ".svc"
	return snippets.Endpoints{
		Decision: scheme + "://" + host,
		Token:    scheme + "://" + host + ":" + strconv.Itoa(verifierflags.PublicPort) + "/oauth2/token",
	}
}

// writeSnippets keeps the ConfigMap of integration snippets beside the
// delivery Secret in line with the key's auth methods and scopes. It
// holds no plaintext, so it may be written whenever it differs; a
// ConfigMap of that name keyward did not write is never touched.
func (r *APIKeyReconciler) writeSnippets(ctx context.Context, s *apiKeyState) (ctrl.Result, error) {
	name := s.key.SnippetsConfigMapName()
	if r.Snippets == nil || name == "" || s.key.Status.KeyID == "" || s.state == record.Revoked || s.state == record.Expired {
		return ctrl.Result{}, nil
	}
	s.snippetEndpoints(*r.Snippets)
	methods := make([]string, 0, len(s.key.Spec.AuthMethods))
	for _, m := range s.key.Spec.AuthMethods {
		methods = append(methods, string(m))
	}
	files, err := snippets.RenderAll(snippets.Key{
		Owner: s.key.Spec.Owner, KeyID: s.key.Status.KeyID, Namespace: s.key.Namespace,
		SecretName: s.key.DeliverySecretName(), AuthMethods: methods, Scopes: s.scopes,
		RevealOnce: s.key.RevealOnce(),
	}, *r.Snippets)
	if err != nil {
		// The endpoints were checked at start; what is left is a key the
		// schema would not have admitted. The key works without snippets.
		log.FromContext(ctx).Error(err, "not writing integration snippets", "keyID", s.key.Status.KeyID)
		return ctrl.Result{}, nil
	}
	ann := snippetAnnotations(*r.Snippets)
	key := client.ObjectKey{Namespace: s.key.Namespace, Name: name}
	cm := &corev1.ConfigMap{}
	err = r.Client.Get(ctx, key, cm)
	switch {
	case apierrors.IsNotFound(err):
		cm = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
			Namespace: key.Namespace, Name: key.Name,
			Labels:          map[string]string{ManagedByLabel: ManagedByValue},
			Annotations:     ann,
			OwnerReferences: ownerReferences(s.key),
		}, Data: files}
		err = r.Client.Create(ctx, cm, client.FieldOwner(FieldOwner))
		if apierrors.IsAlreadyExists(err) {
			// Someone else's, unlabelled (so not in the cache).
			return ctrl.Result{}, r.foreignSnippets(s, name)
		}
	case err != nil:
	case !metav1.IsControlledBy(cm, s.key):
		return ctrl.Result{}, r.foreignSnippets(s, name)
	case maps.Equal(cm.Data, files) && len(cm.BinaryData) == 0 && len(cm.OwnerReferences) == 1 && maps.Equal(cm.Annotations, ann):
	default:
		patch := client.MergeFromWithOptions(cm.DeepCopy(), client.MergeFromWithOptimisticLock{})
		cm.Data, cm.BinaryData, cm.Annotations, cm.OwnerReferences = files, nil, ann, ownerReferences(s.key)
		err = r.Client.Patch(ctx, cm, patch, client.FieldOwner(FieldOwner))
	}
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("writing the snippets ConfigMap %s: %w", name, err)
	}
	s.snippetsAt(name)
	return ctrl.Result{}, nil
}

// snippetAnnotations record on the ConfigMap the endpoints its snippets
// address, for `kubectl keyward snippet`.
func snippetAnnotations(e snippets.Endpoints) map[string]string {
	ann := map[string]string{keywardv1.SnippetsDecisionURLAnnotation: e.Decision, keywardv1.SnippetsTokenURLAnnotation: e.Token}
	if e.API != "" {
		ann[keywardv1.SnippetsAPIURLAnnotation] = e.API
	}
	return ann
}

// foreignSnippets leaves a ConfigMap keyward did not write alone, and
// status then points to none.
func (r *APIKeyReconciler) foreignSnippets(s *apiKeyState, name string) error {
	if s.key.Status.Delivery != nil && s.key.Status.Delivery.SnippetsConfigMap != "" {
		r.Recorder.Eventf(s.key, nil, corev1.EventTypeWarning, keywardv1.SnippetsConflictReason, "Deliver",
			"%s", fmt.Sprintf("ConfigMap %s does not belong to this APIKey; keyward writes no integration snippets into it.", name))
	}
	s.snippetsAt("")
	return nil
}

// snippetEndpoints publishes in status the endpoints the snippets
// address, whether or not the ConfigMap could be written.
func (s *apiKeyState) snippetEndpoints(e snippets.Endpoints) {
	if s.key.Status.Delivery == nil {
		s.key.Status.Delivery = &keywardv1.DeliveryStatus{}
	}
	s.key.Status.Delivery.Endpoints = &keywardv1.SnippetEndpoints{DecisionURL: e.Decision, TokenURL: e.Token, APIURL: e.API}
}

// snippetsAt points status.delivery to the snippets ConfigMap.
func (s *apiKeyState) snippetsAt(name string) {
	if s.key.Status.Delivery == nil {
		s.key.Status.Delivery = &keywardv1.DeliveryStatus{}
	}
	s.key.Status.Delivery.SnippetsConfigMap = name
}

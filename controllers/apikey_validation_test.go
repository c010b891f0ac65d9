package controllers

import (
	"context"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
)

// The API server itself refuses these manifests, with the field named, before
// any controller sees them.
func TestTheAPIServerRefusesInvalidAPIKeys(t *testing.T) {
	ns := newNamespace(t)
	days := int32(30)
	zero := int32(0)
	now := metav1.Now()
	cases := map[string]struct {
		mutate func(*keywardv1.APIKey)
		want   []string
	}{
		"scope without project and type": {
			func(k *keywardv1.APIKey) { k.Spec.Scopes = []keywardv1.Scope{"acme:read"} },
			[]string{"spec.scopes[0]", "should match"},
		},
		"unknown action": {
			func(k *keywardv1.APIKey) { k.Spec.Scopes = []keywardv1.Scope{"acme/p/users:list"} },
			[]string{"spec.scopes[0]", "should match"},
		},
		"partial wildcard": {
			func(k *keywardv1.APIKey) { k.Spec.Scopes = []keywardv1.Scope{"acme/p/inv*:read"} },
			[]string{"spec.scopes[0]"},
		},
		"no scopes": {
			func(k *keywardv1.APIKey) { k.Spec.Scopes = nil },
			[]string{"spec", "set exactly one of scopes or role"},
		},
		"scopes and a role": {
			func(k *keywardv1.APIKey) { k.Spec.Role = "analyst" },
			[]string{"spec", "set exactly one of scopes or role"},
		},
		"duplicate scopes": {
			func(k *keywardv1.APIKey) { k.Spec.Scopes = []keywardv1.Scope{"a/b/c:read", "a/b/c:read"} },
			[]string{"spec.scopes[1]", "Duplicate value"},
		},
		"no owner": {
			func(k *keywardv1.APIKey) { k.Spec.Owner = "" },
			[]string{"spec.owner"},
		},
		"owner with a slash": {
			func(k *keywardv1.APIKey) { k.Spec.Owner = "team/a" },
			[]string{"spec.owner", "should match"},
		},
		"not a CIDR": {
			func(k *keywardv1.APIKey) {
				k.Spec.Conditions = &keywardv1.AccessConditions{SourceCIDRs: []keywardv1.CIDR{"10.0.0.300/8"}}
			},
			[]string{"spec.conditions.sourceCIDRs[0]", "must be a network in CIDR notation"},
		},
		"both expiry forms": {
			func(k *keywardv1.APIKey) {
				k.Spec.Expiration = &keywardv1.Expiration{AfterDays: &days, At: &now}
			},
			[]string{"spec.expiration", "set exactly one of afterDays or at"},
		},
		"zero days": {
			func(k *keywardv1.APIKey) { k.Spec.Expiration = &keywardv1.Expiration{AfterDays: &zero} },
			[]string{"spec.expiration.afterDays", "should be greater than or equal to 1"},
		},
		"bad secret name": {
			func(k *keywardv1.APIKey) { k.Spec.Delivery = &keywardv1.Delivery{SecretName: "Not_A_Name"} },
			[]string{"spec.delivery.secretName"},
		},
		"description too long": {
			func(k *keywardv1.APIKey) { k.Spec.Description = strings.Repeat("x", 513) },
			[]string{"spec.description", "Too long"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			key := newAPIKey(ns, "invalid", tc.mutate)
			err := k8s.Create(context.Background(), key)
			g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
			for _, w := range tc.want {
				g.Expect(err.Error()).To(ContainSubstring(w))
			}
		})
	}
}

func TestTheAPIServerRefusesInvalidChanges(t *testing.T) {
	ns := newNamespace(t)
	cases := map[string]struct {
		initial func(*keywardv1.APIKey)
		change  func(*keywardv1.APIKey)
		want    string
	}{
		"un-revoking": {
			func(k *keywardv1.APIKey) { k.Spec.Revoked = true },
			func(k *keywardv1.APIKey) { k.Spec.Revoked = false },
			"revoked cannot be undone",
		},
		"changing the parent": {
			func(k *keywardv1.APIKey) {},
			func(k *keywardv1.APIKey) { k.Spec.Parent = &keywardv1.ParentReference{Name: "other"} },
			"parent is immutable",
		},
		"changing the owner": {
			func(k *keywardv1.APIKey) {},
			func(k *keywardv1.APIKey) { k.Spec.Owner = "someone-else" },
			"owner is immutable",
		},
		"moving the delivery Secret": {
			func(k *keywardv1.APIKey) {},
			func(k *keywardv1.APIKey) { k.Spec.Delivery = &keywardv1.Delivery{SecretName: "elsewhere"} },
			"delivery.secretName is immutable",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			key := newAPIKey(ns, strings.ToLower(strings.ReplaceAll(name, " ", "-")), tc.initial)
			g.Expect(k8s.Create(context.Background(), key)).To(Succeed())
			patch := client.MergeFrom(key.DeepCopy())
			tc.change(key)
			err := k8s.Patch(context.Background(), key, patch)
			g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
			g.Expect(err.Error()).To(ContainSubstring(tc.want))
		})
	}
}

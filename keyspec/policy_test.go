package keyspec_test

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/analytics"
	"github.com/keyward-dev/keyward/internal/policy"
	"github.com/keyward-dev/keyward/keyspec"
)

// A key not created yet (at admission) is measured from the time the
// caller passes, never from the machine's clock, so that a fake clock
// governs expiry checks as it governs everything else.
func TestAKeyNotCreatedYetExpiresFromTheGivenTime(t *testing.T) {
	g := NewWithT(t)
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	k := &keywardv1.APIKey{Spec: keywardv1.APIKeySpec{
		Scopes:     []keywardv1.Scope{"acme/payments/evidence:read"},
		Expiration: &keywardv1.Expiration{AfterDays: ptr.To(int32(30))},
	}}
	pk := keyspec.PolicyKey(k, now)
	g.Expect(pk.ExpiresAt).To(HaveValue(Equal(now.Add(30 * 24 * time.Hour))))
	g.Expect(pk.Lifetime).To(HaveValue(Equal(30 * 24 * time.Hour)))
	g.Expect(pk.AuthMethods).To(Equal([]string{string(keywardv1.AuthMethodAPIKey)}), "the default auth method counts")

	parent, err := keyspec.PolicyParent(k, now)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(parent.ExpiresAt).To(Equal(pk.ExpiresAt))
	g.Expect(parent.Scopes.Strings()).To(Equal([]string{"acme/payments/evidence:read"}))

	// Created keys count from their creation, whatever the time passed.
	k.CreationTimestamp = metav1.NewTime(now.Add(-24 * time.Hour))
	g.Expect(keyspec.PolicyKey(k, now).ExpiresAt).To(HaveValue(Equal(now.Add(29 * 24 * time.Hour))))
}

func TestRulesTranslateAKeyPolicy(t *testing.T) {
	g := NewWithT(t)
	p := &keywardv1.KeyPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "payments"},
		Spec: keywardv1.KeyPolicySpec{
			AllowedScopes:              []keywardv1.Scope{"acme/payments/*:read"},
			Roles:                      []keywardv1.Role{{Name: "analyst", Scopes: []keywardv1.Scope{"acme/payments/evidence:read"}}},
			MaxLifetimeDays:            ptr.To(int32(90)),
			MaxRotationIntervalSeconds: ptr.To(int64(3600)),
			Enforcement:                keywardv1.EnforcementSuspend,
			LeakedKeys:                 keywardv1.LeakedKeySuspend,
			Owners:                     &keywardv1.OwnerRules{FromRequester: &keywardv1.RequesterOwner{Form: keywardv1.OwnerFormLocalPart}},
		},
	}
	r, err := keyspec.Rules(p)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Name).To(Equal("payments"))
	g.Expect(r.Suspend).To(BeTrue())
	g.Expect(r.SuspendLeakedKeys).To(BeTrue())
	g.Expect(r.AllowedScopes.Strings()).To(Equal([]string{"acme/payments/*:read"}))
	g.Expect(r.Roles["analyst"].Strings()).To(Equal([]string{"acme/payments/evidence:read"}))
	g.Expect(r.MaxLifetime).To(Equal(90 * 24 * time.Hour))
	g.Expect(r.MaxRotationInterval).To(Equal(time.Hour))
	g.Expect(r.Owners.FromRequester.Form).To(Equal(policy.FormLocalPart))

	p.Spec.Roles[0].Scopes = []keywardv1.Scope{"not a scope"}
	_, err = keyspec.Rules(p)
	g.Expect(err).To(MatchError(ContainSubstring(`role "analyst"`)))
}

// A policy's and a key's anomalyResponse read the same way: each detector
// set, nothing for the ones left unset.
func TestAnomalyResponsesTranslateDetectorByDetector(t *testing.T) {
	g := NewWithT(t)
	resp := &keywardv1.AnomalyResponse{NewLocation: ptr.To(keywardv1.AnomalySuspend), Silence: ptr.To(keywardv1.AnomalyIgnore)}
	want := policy.AnomalyResponse{analytics.NewLocation: policy.AnomalySuspend, analytics.Silence: policy.AnomalyIgnore}
	r, err := keyspec.Rules(&keywardv1.KeyPolicy{Spec: keywardv1.KeyPolicySpec{AnomalyResponse: resp}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.AnomalyResponse).To(Equal(want))
	pk := keyspec.PolicyKey(&keywardv1.APIKey{Spec: keywardv1.APIKeySpec{AnomalyResponse: resp}}, time.Now())
	g.Expect(pk.AnomalyResponse).To(Equal(want))
	g.Expect(keyspec.AnomalyResponse(nil)).To(BeNil())
}

package controllers

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/internal/record"
)

const (
	timeout  = 20 * time.Second
	interval = 50 * time.Millisecond
)

func newNamespace(t *testing.T) string {
	t.Helper()
	name := fmt.Sprintf("t-%d", rand.Uint32())
	if err := k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
	return name
}

// labelNamespace gives a namespace the labels a KeyPolicy selects it by.
func labelNamespace(t *testing.T, name string, labels map[string]string) {
	t.Helper()
	ns := &corev1.Namespace{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Name: name}, ns); err != nil {
		t.Fatal(err)
	}
	ns.Labels = labels
	if err := k8s.Update(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
}

func newAPIKey(ns, name string, mutate ...func(*keywardv1.APIKey)) *keywardv1.APIKey {
	days := int32(90)
	k := &keywardv1.APIKey{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: keywardv1.APIKeySpec{
			Owner:       "15a6",
			Description: "fraud team reporting job",
			Scopes:      []keywardv1.Scope{"acme/payments/investigations:read", "acme/payments/evidence:write"},
			Conditions:  &keywardv1.AccessConditions{SourceCIDRs: []keywardv1.CIDR{"10.0.0.0/8"}},
			Expiration:  &keywardv1.Expiration{AfterDays: &days},
		},
	}
	for _, m := range mutate {
		m(k)
	}
	return k
}

// waitFor polls the APIKey until Ready has the wanted reason.
func waitFor(g *WithT, key *keywardv1.APIKey, reason string) *keywardv1.APIKey {
	got := &keywardv1.APIKey{}
	g.Eventually(func(g Gomega) {
		g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(key), got)).To(Succeed())
		c := meta.FindStatusCondition(got.Status.Conditions, keywardv1.ReadyCondition)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Reason).To(Equal(reason), c.Message)
		g.Expect(got.Status.ObservedGeneration).To(Equal(got.Generation))
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	return got
}

func createReady(g *WithT, key *keywardv1.APIKey) *keywardv1.APIKey {
	g.Expect(k8s.Create(context.Background(), key)).To(Succeed())
	return waitFor(g, key, keywardv1.KeyReadyReason)
}

func deliverySecret(g Gomega, key *keywardv1.APIKey) *corev1.Secret {
	sec := &corev1.Secret{}
	g.Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: key.Namespace, Name: key.DeliverySecretName()}, sec)).To(Succeed())
	return sec
}

func deliveredPlaintext(g Gomega, key *keywardv1.APIKey) keys.Key {
	sec := deliverySecret(g, key)
	k, err := keys.ParseFor(string(sec.Data[DeliveryKeyIDField]), string(sec.Data[DeliveryKeyField]))
	g.Expect(err).NotTo(HaveOccurred())
	return k
}

func recordSecret(g Gomega, keyID string) *corev1.Secret {
	sec := &corev1.Secret{}
	g.Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: verifierNamespace, Name: record.SecretName(keyID)}, sec)).To(Succeed())
	return sec
}

func recordFor(g Gomega, keyID string) record.Record {
	rec, err := record.Decode(recordSecret(g, keyID).Data[record.DataKey])
	g.Expect(err).NotTo(HaveOccurred())
	return rec
}

func gone(obj client.Object) func() bool {
	return func() bool {
		err := k8s.Get(context.Background(), client.ObjectKeyFromObject(obj), obj)
		return apierrors.IsNotFound(err)
	}
}

// eventsFor lists the Events about one APIKey as reason → messages.
func eventsFor(g Gomega, key *keywardv1.APIKey) map[string][]string {
	list := &corev1.EventList{}
	g.Expect(k8s.List(context.Background(), list, client.InNamespace(key.Namespace))).To(Succeed())
	out := map[string][]string{}
	for _, e := range list.Items {
		if e.InvolvedObject.Name == key.Name && e.InvolvedObject.Kind == "APIKey" {
			out[e.Reason] = append(out[e.Reason], e.Message)
		}
	}
	return out
}

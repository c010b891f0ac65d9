package main

import (
	"context"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/controllers"
	"github.com/keyward-dev/keyward/internal/keys"
)

func TestDeliveryKeyFieldIsTheManagers(t *testing.T) {
	NewWithT(t).Expect(deliveryKeyField).To(Equal(controllers.DeliveryKeyField))
}

func TestCreatePrintsTheKeyAloneOnStdout(t *testing.T) {
	g := NewWithT(t)
	ns := namespace(t, nil)
	res := asAdmin("create", "payments-api", "-n", ns, "--owner", "alice",
		"--scope", "acme/payments/invoices:read", "--scope", "acme/payments/refunds:write",
		"--description", "the payments service", "--expires-in-days", "30",
		"--rotate-every", "720h", "--grace-period", "10m", "--secret-name", "payments-key",
		"--rate-limit", "100/1s", "--rate-limit", "5000/1h", "--rate-limit-strategy", "SlidingWindow")
	g.Expect(res.code).To(Equal(0), res.stderr)

	k := getKey(t, ns, "payments-api")
	g.Expect(res.stdout).To(Equal(deliveredKey(t, k)+"\n"), "stdout holds the key and nothing else")
	g.Expect(keys.Parse(strings.TrimSpace(res.stdout))).Error().NotTo(HaveOccurred())
	g.Expect(res.stderr).To(ContainSubstring("prefix " + k.Status.Prefix))
	g.Expect(res.stderr).NotTo(ContainSubstring(strings.TrimSpace(res.stdout)), "the key is printed once")

	g.Expect(k.Spec.Owner).To(Equal("alice"))
	g.Expect(k.Spec.Scopes).To(ConsistOf(keywardv1.Scope("acme/payments/invoices:read"), keywardv1.Scope("acme/payments/refunds:write")))
	g.Expect(k.Spec.Description).To(Equal("the payments service"))
	g.Expect(*k.Spec.Expiration.AfterDays).To(BeEquivalentTo(30))
	g.Expect(*k.Spec.Rotation.IntervalSeconds).To(BeEquivalentTo(720 * 3600))
	g.Expect(*k.Spec.Rotation.GracePeriodSeconds).To(BeEquivalentTo(600))
	g.Expect(k.Status.SecretName).To(Equal("payments-key"))
	g.Expect(k.Spec.RateLimit.Limits).To(Equal([]keywardv1.Limit{
		{Name: "per-1s", Strategy: keywardv1.SlidingWindow, Limit: 100, PeriodSeconds: 1, SharedBy: keywardv1.SharedByKey},
		{Name: "per-3600s", Strategy: keywardv1.SlidingWindow, Limit: 5000, PeriodSeconds: 3600, SharedBy: keywardv1.SharedByKey}, // the API's default
	}))
	g.Expect(managers(k)).To(ContainElement(FieldManager))
}

func managers(obj client.Object) []string {
	var names []string
	for _, f := range obj.GetManagedFields() {
		names = append(names, f.Manager)
	}
	return names
}

func TestCreateServerDryRunCreatesNothing(t *testing.T) {
	g := NewWithT(t)
	ns := namespace(t, nil)
	res := asAdmin("create", "probe", "-n", ns, "--owner", "alice", "--scope", "acme/payments/invoices:read", "--dry-run=server")
	g.Expect(res.code).To(Equal(0), res.stderr)
	g.Expect(res.stdout).To(BeEmpty())
	g.Expect(res.stderr).To(ContainSubstring("server dry run"))
	var list keywardv1.APIKeyList
	g.Expect(admin.List(context.Background(), &list, client.InNamespace(ns))).To(Succeed())
	g.Expect(list.Items).To(BeEmpty())
}

func TestCreateRefusals(t *testing.T) {
	ns := namespace(t, nil)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"scope the API refuses", []string{"--owner", "alice", "--scope", "not a scope"}, "spec.scopes"},
		{"neither scopes nor role", []string{"--owner", "alice"}, "set exactly one of scopes or role"},
		{"two expirations", []string{"--owner", "alice", "--scope", "acme/payments/invoices:read", "--expires-in-days", "3", "--expires-at", "2030-01-01T00:00:00Z"}, "choose one"},
		{"an expiry that is no time", []string{"--owner", "alice", "--scope", "acme/payments/invoices:read", "--expires-at", "tomorrow"}, "RFC 3339"},
		{"a rate limit without a period", []string{"--owner", "alice", "--scope", "acme/payments/invoices:read", "--rate-limit", "100"}, `--rate-limit "100": write LIMIT/PERIOD`},
		{"a rate limit period under a second", []string{"--owner", "alice", "--scope", "acme/payments/invoices:read", "--rate-limit", "100/500ms"}, `--rate-limit "100/500ms"`},
		{"client-side dry run", []string{"--owner", "alice", "--scope", "acme/payments/invoices:read", "--dry-run=client"}, "use server"},
		{"no owner", []string{"--scope", "acme/payments/invoices:read"}, `"owner" not set`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			res := asAdmin(append([]string{"create", "refused", "-n", ns}, tc.args...)...)
			g.Expect(res.code).To(Equal(1))
			g.Expect(res.stderr).To(ContainSubstring(tc.want))
			g.Expect(res.stdout).To(BeEmpty())
		})
	}
	var list keywardv1.APIKeyList
	NewWithT(t).Expect(admin.List(context.Background(), &list, client.InNamespace(ns))).To(Succeed())
	NewWithT(t).Expect(list.Items).To(BeEmpty())
}

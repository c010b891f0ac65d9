package webhook

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
)

func TestAdmissionChecksAccessConditions(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := namespaceWithLabels(t, nil)
	office := keywardv1.TimeWindow{Days: []keywardv1.Weekday{"Mon", "Tue", "Wed", "Thu", "Fri"}, Start: "08:00", End: "20:00", TimeZone: "Europe/Berlin"}
	parent := key(ns, "org-key", func(k *keywardv1.APIKey) {
		k.Spec.Scopes = []keywardv1.Scope{"acme/payments/investigations:admin"}
		// Outlives the children created after it with the default 30 days.
		k.Spec.Expiration = &keywardv1.Expiration{AfterDays: ptr.To[int32](60)}
		k.Spec.Conditions = &keywardv1.AccessConditions{
			TimeWindows:            []keywardv1.TimeWindow{office},
			Countries:              []keywardv1.CountryCode{"DE", "NL"},
			Networks:               []keywardv1.NetworkName{"corp"},
			RequireCompliantDevice: true,
		}
	})
	g.Expect(k8s.Create(ctx, parent)).To(Succeed())
	// The validator reads parents from its cache: wait until it has this one.
	g.Eventually(func() error {
		return cached.Get(ctx, client.ObjectKeyFromObject(parent), &keywardv1.APIKey{})
	}).Should(Succeed())

	// child starts as narrow as its parent in every condition.
	child := func(mutate func(*keywardv1.AccessConditions)) func(*keywardv1.APIKey) {
		return func(k *keywardv1.APIKey) {
			k.Spec.Parent = &keywardv1.ParentReference{Name: parent.Name}
			k.Spec.Conditions = &keywardv1.AccessConditions{
				TimeWindows:            []keywardv1.TimeWindow{{Days: []keywardv1.Weekday{"Mon"}, Start: "09:00", End: "17:00", TimeZone: "Europe/Berlin"}},
				Countries:              []keywardv1.CountryCode{"DE"},
				Networks:               []keywardv1.NetworkName{"corp"},
				RequireCompliantDevice: true,
			}
			if mutate != nil {
				mutate(k.Spec.Conditions)
			}
		}
	}

	refused := map[string]refusal{
		"an unknown time zone": {
			func(k *keywardv1.APIKey) {
				k.Spec.Conditions = &keywardv1.AccessConditions{TimeWindows: []keywardv1.TimeWindow{
					{Start: "09:00", End: "17:00", TimeZone: "Europe/Berlin"},
					{Start: "09:00", End: "17:00", TimeZone: "Mars/Base"},
				}}
			},
			[]string{`spec.conditions.timeWindows[1].timeZone: Invalid value: unknown time zone "Mars/Base"`},
		},
		"a child in more countries than its parent": {
			child(func(c *keywardv1.AccessConditions) { c.Countries = []keywardv1.CountryCode{"DE", "FR"} }),
			[]string{`spec.conditions.countries[1]: Forbidden: country "FR" is not allowed by parent key "org-key" (parent allows: DE, NL)`},
		},
		"a child without the parent's countries": {
			child(func(c *keywardv1.AccessConditions) { c.Countries = nil }),
			[]string{`spec.conditions.countries: Forbidden: parent key "org-key" is limited to the countries DE, NL`},
		},
		"a child open later than its parent": {
			child(func(c *keywardv1.AccessConditions) { c.TimeWindows[0].End = "22:00" }),
			[]string{`spec.conditions.timeWindows[0]: Forbidden: time window Mon 09:00-22:00 Europe/Berlin is not inside the time windows of parent key "org-key" (Mon,Tue,Wed,Thu,Fri 08:00-20:00 Europe/Berlin)`},
		},
		"a child in another network class": {
			child(func(c *keywardv1.AccessConditions) { c.Networks = []keywardv1.NetworkName{"guest-wifi"} }),
			[]string{`spec.conditions.networks[0]: Forbidden: network class "guest-wifi" is not allowed by parent key "org-key" (parent allows: corp)`},
		},
		"a child on any device": {
			child(func(c *keywardv1.AccessConditions) { c.RequireCompliantDevice = false }),
			[]string{`spec.conditions.requireCompliantDevice: Forbidden: parent key "org-key" requires a compliant device`},
		},
		"a child with an unknown time zone": {
			child(func(c *keywardv1.AccessConditions) { c.TimeWindows[0].TimeZone = "Europe/Atlantis" }),
			[]string{
				`spec.conditions.timeWindows[0].timeZone: Invalid value: unknown time zone "Europe/Atlantis"`,
				`spec.conditions.timeWindows[0]: Forbidden: time window 09:00-17:00 Europe/Atlantis is not valid`,
			},
		},
	}
	expectRefused(t, ns, refused)

	admitted := map[string]func(*keywardv1.APIKey){
		"a child as narrow as its parent": child(nil),
		"a child narrower still": child(func(c *keywardv1.AccessConditions) {
			c.Countries = []keywardv1.CountryCode{"NL"}
			c.SourceCIDRs = []keywardv1.CIDR{"10.0.0.0/8"}
		}),
		"a key with a night window in a time zone": func(k *keywardv1.APIKey) {
			k.Spec.Conditions = &keywardv1.AccessConditions{TimeWindows: []keywardv1.TimeWindow{
				{Days: []keywardv1.Weekday{"Fri"}, Start: "22:00", End: "06:00", TimeZone: "America/New_York"},
			}}
		},
	}
	expectAdmitted(t, ns, admitted)
}

// The API server refuses what the schema can tell is wrong before the
// webhook is asked.
func TestTheSchemaRefusesMalformedAccessConditions(t *testing.T) {
	ctx := context.Background()
	ns := namespaceWithLabels(t, nil)
	cases := map[string]struct {
		conditions keywardv1.AccessConditions
		want       string
	}{
		"a lower-case country": {
			keywardv1.AccessConditions{Countries: []keywardv1.CountryCode{"de"}},
			`spec.conditions.countries[0]: Invalid value: "de": spec.conditions.countries[0] in body should match '^[A-Z]{2}$'`,
		},
		"an empty window": {
			keywardv1.AccessConditions{TimeWindows: []keywardv1.TimeWindow{{Start: "09:00", End: "09:00"}}},
			"start and end must differ",
		},
		"a time past midnight": {
			keywardv1.AccessConditions{TimeWindows: []keywardv1.TimeWindow{{Start: "24:00", End: "09:00"}}},
			"spec.conditions.timeWindows[0].start",
		},
		"a weekday spelled out": {
			keywardv1.AccessConditions{TimeWindows: []keywardv1.TimeWindow{{Days: []keywardv1.Weekday{"Monday"}, Start: "09:00", End: "17:00"}}},
			`spec.conditions.timeWindows[0].days[0]: Unsupported value: "Monday"`,
		},
		"a network class in upper case": {
			keywardv1.AccessConditions{Networks: []keywardv1.NetworkName{"Corp"}},
			"spec.conditions.networks[0]",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			err := k8s.Create(ctx, key(ns, "malformed", func(k *keywardv1.APIKey) { k.Spec.Conditions = &tc.conditions }))
			g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
			g.Expect(err.Error()).To(ContainSubstring(tc.want))
		})
	}
}

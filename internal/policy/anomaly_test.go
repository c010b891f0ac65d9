package policy

import (
	"testing"

	. "github.com/onsi/gomega"

	"github.com/keyward-dev/keyward/internal/analytics"
)

func TestTheEffectiveAnomalyActionIsTheStrictestSaidAndAlertWhenNoneSays(t *testing.T) {
	vol := analytics.Volume
	for name, tc := range map[string]struct {
		key   AnomalyResponse
		rules []Rules
		want  AnomalyAction
	}{
		"nobody says":                  {nil, nil, AnomalyAlert},
		"a policy says nothing of it":  {nil, []Rules{{AnomalyResponse: AnomalyResponse{analytics.Silence: AnomalyRevoke}}}, AnomalyAlert},
		"the key ignores":              {AnomalyResponse{vol: AnomalyIgnore}, nil, AnomalyIgnore},
		"the key asks more":            {AnomalyResponse{vol: AnomalyRevoke}, []Rules{{AnomalyResponse: AnomalyResponse{vol: AnomalySuspend}}}, AnomalyRevoke},
		"a policy asks more":           {AnomalyResponse{vol: AnomalyIgnore}, []Rules{{AnomalyResponse: AnomalyResponse{vol: AnomalySuspend}}}, AnomalySuspend},
		"the strictest of two":         {nil, []Rules{{AnomalyResponse: AnomalyResponse{vol: AnomalyRevoke}}, {AnomalyResponse: AnomalyResponse{vol: AnomalyAlert}}}, AnomalyRevoke},
		"a policy may silence as well": {nil, []Rules{{AnomalyResponse: AnomalyResponse{vol: AnomalyIgnore}}}, AnomalyIgnore},
	} {
		t.Run(name, func(t *testing.T) {
			NewWithT(t).Expect(EffectiveAnomalyAction(Key{AnomalyResponse: tc.key}, tc.rules, vol)).To(Equal(tc.want))
		})
	}
}

func TestAKeyAskingLessThanItsPolicyIsAViolationNamingBoth(t *testing.T) {
	g := NewWithT(t)
	rules := []Rules{{Name: "prod", AnomalyResponse: AnomalyResponse{analytics.NewLocation: AnomalySuspend, analytics.Denials: AnomalyAlert}}}
	_, vs := Evaluate(Key{Scopes: []string{"acme/payments/x:read"}, AnomalyResponse: AnomalyResponse{
		analytics.NewLocation: AnomalyAlert, analytics.Denials: AnomalyRevoke, analytics.Silence: AnomalyIgnore,
	}}, rules, true)
	g.Expect(vs).To(HaveLen(1))
	g.Expect(vs[0].String()).To(Equal(`spec.anomalyResponse.newLocation: Alert is weaker than Suspend, which KeyPolicy "prod" requires`))
	g.Expect(vs[0].Policy).To(Equal("prod"))
	_, vs = Evaluate(Key{Scopes: []string{"acme/payments/x:read"}}, rules, true)
	g.Expect(vs).To(BeEmpty(), "a key that says nothing takes the policy's")
}

func TestAnomalyActionsParseOnlyTheirNames(t *testing.T) {
	g := NewWithT(t)
	for _, name := range []string{"Ignore", "Alert", "Suspend", "Revoke"} {
		a, err := ParseAnomalyAction(name)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(a.String()).To(Equal(name))
	}
	_, err := ParseAnomalyAction("Delete")
	g.Expect(err).To(MatchError(`anomaly action "Delete" is none of Ignore, Alert, Suspend, Revoke`))
}

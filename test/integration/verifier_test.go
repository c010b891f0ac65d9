package integration

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/verifier"
)

const waitFor = 30 * time.Second

func newNamespace(t *testing.T, g *WithT) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "it-"}}
	g.Expect(k8s.Create(context.Background(), ns)).To(Succeed())
	return ns.Name
}

// applyKey creates an APIKey and returns the plaintext key from its delivery
// Secret, as the key's consumer would read it.
func applyKey(t *testing.T, g *WithT, ns, name string, spec keywardv1.APIKeySpec) string {
	t.Helper()
	ctx := context.Background()
	key := &keywardv1.APIKey{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: spec}
	g.Expect(k8s.Create(ctx, key)).To(Succeed())
	var secret corev1.Secret
	g.Eventually(func() error {
		return k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &secret)
	}).WithTimeout(waitFor).Should(Succeed())
	return string(secret.Data["key"])
}

func patchSpec(g *WithT, ns, name, patch string) {
	key := &keywardv1.APIKey{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	g.Expect(k8s.Patch(context.Background(), key, client.RawPatch("application/merge-patch+json", []byte(patch)))).To(Succeed())
}

// endpoint sends one request to the verifier the way one proxy (or a caller
// of the decision API) would, and returns the status and reason.
type endpoint struct {
	name string
	send func(g Gomega, key, method, path string, extra http.Header) (int, string)
}

func do(g Gomega, req *http.Request) (int, string) {
	resp, err := http.DefaultClient.Do(req)
	g.Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	var body struct {
		Reason string `json:"reason"`
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") == "application/json" {
		_ = json.NewDecoder(resp.Body).Decode(&body)
	}
	if resp.StatusCode == http.StatusOK && body.Reason == "" {
		body.Reason = string(verifier.ReasonAllowed)
	}
	return resp.StatusCode, body.Reason
}

func forwardAuth(path func(method, uri string) (string, string, http.Header)) func(Gomega, string, string, string, http.Header) (int, string) {
	return func(g Gomega, key, method, uri string, extra http.Header) (int, string) {
		m, p, h := path(method, uri)
		req, err := http.NewRequest(m, verifierURL+p, nil)
		g.Expect(err).NotTo(HaveOccurred())
		for k, vs := range h {
			req.Header[k] = vs
		}
		for k, vs := range extra {
			req.Header[k] = vs
		}
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		return do(g, req)
	}
}

var endpoints = []endpoint{
	{"envoy", forwardAuth(func(method, uri string) (string, string, http.Header) {
		return method, verifier.EnvoyPrefix + uri, http.Header{}
	})},
	{"traefik", forwardAuth(func(method, uri string) (string, string, http.Header) {
		return http.MethodGet, verifier.TraefikPath, http.Header{"X-Forwarded-Method": {method}, "X-Forwarded-Uri": {uri}, "X-Forwarded-Proto": {"https"}, "X-Forwarded-Host": {"api.example.com"}}
	})},
	{"nginx", forwardAuth(func(method, uri string) (string, string, http.Header) {
		return method, verifier.NginxPath, http.Header{"X-Original-Method": {method}, "X-Original-Uri": {uri}}
	})},
	{"decision API", func(g Gomega, key, method, uri string, extra http.Header) (int, string) {
		parts := strings.Split(strings.TrimPrefix(uri, "/"), "/")
		action := map[string]string{"GET": "read", "POST": "write", "DELETE": "delete"}[method]
		res := map[string]string{"org": parts[0], "project": parts[1], "type": parts[2]}
		if len(parts) > 3 {
			res["id"] = parts[3]
		}
		env := map[string]string{"address": extra.Get("X-Forwarded-For"), "country": extra.Get("X-Country"), "device": extra.Get("X-Device")}
		body, _ := json.Marshal(map[string]any{
			"subject": map[string]string{"credential": key}, "resource": res,
			"action": map[string]string{"id": action}, "environment": env,
		})
		req, err := http.NewRequest(http.MethodPost, verifierURL+verifier.DecisionPath, strings.NewReader(string(body)))
		g.Expect(err).NotTo(HaveOccurred())
		resp, err := http.DefaultClient.Do(req)
		g.Expect(err).NotTo(HaveOccurred())
		defer resp.Body.Close()
		var d verifier.Decision
		g.Expect(json.NewDecoder(resp.Body).Decode(&d)).To(Succeed())
		// Mapped onto forward-auth statuses so that one table serves all.
		switch {
		case d.Result == verifier.Permit:
			return http.StatusOK, string(d.Reason)
		case d.Reason == verifier.ReasonMissingCredential, strings.Contains("unknown_key invalid_secret revoked suspended expired malformed_credential", string(d.Reason)):
			return http.StatusUnauthorized, string(d.Reason)
		}
		return http.StatusForbidden, string(d.Reason)
	}},
}

// trusted are the headers the edge proxy sets for a request that meets the
// key's conditions.
func trusted(change func(http.Header)) http.Header {
	h := http.Header{"X-Forwarded-For": {"10.1.2.3"}, "X-Country": {"DE"}, "X-Device": {"compliant"}}
	if change != nil {
		change(h)
	}
	return h
}

func TestAKeyOnEveryEndpoint(t *testing.T) {
	g := NewWithT(t)
	g.Eventually(watch.Ready).WithTimeout(waitFor).Should(BeTrue(), "the verifier syncs with only its Role")
	ns := newNamespace(t, g)
	key := applyKey(t, g, ns, "fraud-reporting", keywardv1.APIKeySpec{
		Owner:  "15a6",
		Scopes: []keywardv1.Scope{"acme/payments/investigations:read", "acme/payments/evidence:write"},
		Conditions: &keywardv1.AccessConditions{
			SourceCIDRs:            []keywardv1.CIDR{"10.0.0.0/8", "192.0.2.0/24"},
			Countries:              []keywardv1.CountryCode{"DE", "NL"},
			Networks:               []keywardv1.NetworkName{"corporate"},
			RequireCompliantDevice: true,
		},
	})
	tests := []struct {
		name         string
		key          string
		method, path string
		headers      http.Header
		status       int
		reason       verifier.Reason
	}{
		{"in scope", key, "GET", "/acme/payments/investigations/INV-7", trusted(nil), 200, verifier.ReasonAllowed},
		{"in scope, write", key, "POST", "/acme/payments/evidence", trusted(nil), 200, verifier.ReasonAllowed},
		{"out of scope", key, "DELETE", "/acme/payments/investigations/INV-7", trusted(nil), 403, verifier.ReasonInsufficientScope},
		{"another project", key, "GET", "/acme/hr/users", trusted(nil), 403, verifier.ReasonInsufficientScope},
		{"wrong address", key, "GET", "/acme/payments/investigations", trusted(func(h http.Header) { h.Set("X-Forwarded-For", "203.0.113.9") }), 403, verifier.ReasonSourceNotAllowed},
		{"wrong network", key, "GET", "/acme/payments/investigations", trusted(func(h http.Header) { h.Set("X-Forwarded-For", "192.0.2.5") }), 403, verifier.ReasonNetworkNotAllowed},
		{"wrong country", key, "GET", "/acme/payments/investigations", trusted(func(h http.Header) { h.Set("X-Country", "FR") }), 403, verifier.ReasonCountryNotAllowed},
		{"non-compliant device", key, "GET", "/acme/payments/investigations", trusted(func(h http.Header) { h.Set("X-Device", "noncompliant") }), 403, verifier.ReasonDeviceNotCompliant},
		{"no key", "", "GET", "/acme/payments/investigations", trusted(nil), 401, verifier.ReasonMissingCredential},
		{"mangled key", key[:30] + strings.Repeat("A", len(key)-30), "GET", "/acme/payments/investigations", trusted(nil), 401, verifier.ReasonMalformedCredential},
	}
	for _, ep := range endpoints {
		for _, tc := range tests {
			g.Eventually(func(g Gomega) {
				status, reason := ep.send(g, tc.key, tc.method, tc.path, tc.headers)
				g.Expect(reason).To(Equal(string(tc.reason)))
				g.Expect(status).To(Equal(tc.status))
			}).WithTimeout(waitFor).Should(Succeed(), "%s: %s", ep.name, tc.name)
		}
	}
	g.Expect(trail.String()).NotTo(ContainSubstring(key))
}

func TestTimeWindowsThroughTheDecisionAPI(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t, g)
	key := applyKey(t, g, ns, "office-hours", keywardv1.APIKeySpec{
		Owner:  "15a6",
		Scopes: []keywardv1.Scope{"acme/payments/investigations:read"},
		Conditions: &keywardv1.AccessConditions{TimeWindows: []keywardv1.TimeWindow{{
			Days: []keywardv1.Weekday{"Mon", "Tue", "Wed", "Thu", "Fri"}, Start: "08:00", End: "18:00", TimeZone: "Europe/Berlin",
		}}},
	})
	decide := func(g Gomega, at string) verifier.Decision {
		body := `{"subject":{"credential":"` + key + `"},"resource":{"org":"acme","project":"payments","type":"investigations"},"action":{"id":"read"},"environment":{"time":"` + at + `"}}`
		resp, err := http.Post(verifierURL+verifier.DecisionPath, "application/json", strings.NewReader(body))
		g.Expect(err).NotTo(HaveOccurred())
		defer resp.Body.Close()
		var d verifier.Decision
		g.Expect(json.NewDecoder(resp.Body).Decode(&d)).To(Succeed())
		return d
	}
	g.Eventually(func(g Gomega) {
		g.Expect(decide(g, "2026-11-23T09:30:00Z").Result).To(Equal(verifier.Permit)) // Monday 10:30 in Berlin
	}).WithTimeout(waitFor).Should(Succeed())
	g.Expect(decide(g, "2026-11-23T17:30:00Z").Reason).To(Equal(verifier.ReasonOutsideTimeWindow)) // 18:30 in Berlin
	g.Expect(decide(g, "2026-11-22T10:00:00Z").Reason).To(Equal(verifier.ReasonOutsideTimeWindow)) // a Sunday
}

func TestSuspendRevokeAndDelete(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t, g)
	spec := keywardv1.APIKeySpec{Owner: "15a6", Scopes: []keywardv1.Scope{"acme/payments/investigations:read"}}
	revoked := applyKey(t, g, ns, "to-revoke", spec)
	deleted := applyKey(t, g, ns, "to-delete", spec)
	envoy := endpoints[0]
	expect := func(key string, status int, reason verifier.Reason) {
		g.Eventually(func(g Gomega) {
			s, r := envoy.send(g, key, "GET", "/acme/payments/investigations", trusted(nil))
			g.Expect(r).To(Equal(string(reason)))
			g.Expect(s).To(Equal(status))
		}).WithTimeout(waitFor).Should(Succeed())
	}
	expect(revoked, 200, verifier.ReasonAllowed)
	expect(deleted, 200, verifier.ReasonAllowed)

	patchSpec(g, ns, "to-revoke", `{"spec":{"suspended":true}}`)
	expect(revoked, 401, verifier.ReasonSuspended)
	patchSpec(g, ns, "to-revoke", `{"spec":{"suspended":false}}`)
	expect(revoked, 200, verifier.ReasonAllowed)

	patchSpec(g, ns, "to-revoke", `{"spec":{"revoked":true}}`)
	expect(revoked, 401, verifier.ReasonRevoked)

	g.Expect(k8s.Delete(context.Background(), &keywardv1.APIKey{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "to-delete"}})).To(Succeed())
	// A deleted key leaves a revoked tombstone for the retention period.
	expect(deleted, 401, verifier.ReasonRevoked)
	g.Eventually(func() bool {
		err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "to-delete"}, &keywardv1.APIKey{})
		return apierrors.IsNotFound(err)
	}).WithTimeout(waitFor).Should(BeTrue())
}

func TestRotationKeepsThePreviousSecretDuringGrace(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t, g)
	old := applyKey(t, g, ns, "rotating", keywardv1.APIKeySpec{
		Owner: "15a6", Scopes: []keywardv1.Scope{"acme/payments/investigations:read"},
		Rotation: &keywardv1.Rotation{GracePeriodSeconds: ptrTo(int64(3600))},
	})
	envoy := endpoints[0]
	g.Eventually(func(g Gomega) {
		s, _ := envoy.send(g, old, "GET", "/acme/payments/investigations", trusted(nil))
		g.Expect(s).To(Equal(200))
	}).WithTimeout(waitFor).Should(Succeed())

	patchSpec(g, ns, "rotating", `{"spec":{"rotation":{"trigger":"now"}}}`)
	var fresh string
	g.Eventually(func(g Gomega) {
		var s corev1.Secret
		g.Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "rotating"}, &s)).To(Succeed())
		fresh = string(s.Data["key"])
		g.Expect(fresh).NotTo(Equal(old))
		status, _ := envoy.send(g, fresh, "GET", "/acme/payments/investigations", trusted(nil))
		g.Expect(status).To(Equal(200))
	}).WithTimeout(waitFor).Should(Succeed())
	// The record learns when the old secret's grace ends right after the
	// delivery Secret switches to the new key.
	g.Eventually(func(g Gomega) {
		req, _ := http.NewRequest(http.MethodGet, verifierURL+verifier.EnvoyPrefix+"/acme/payments/investigations", nil)
		req.Header.Set("Authorization", "Bearer "+old)
		resp, err := http.DefaultClient.Do(req)
		g.Expect(err).NotTo(HaveOccurred())
		resp.Body.Close()
		g.Expect(resp.StatusCode).To(Equal(200))
		g.Expect(resp.Header.Get(verifier.HeaderSecret)).To(Equal("previous"))
	}).WithTimeout(waitFor).Should(Succeed())
}

func ptrTo[T any](v T) *T { return &v }

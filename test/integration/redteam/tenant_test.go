package redteam

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/record"
	"github.com/keyward-dev/keyward/manager"
	"github.com/keyward-dev/keyward/verifier"
)

// tenant is a team with "edit" in one namespace of its own, and nothing
// anywhere else: what every attacker in this suite starts from.
type tenant struct {
	ns   string
	user string
	c    client.Client
}

// newTenant creates a namespace and a user who edits it. The namespace is
// selected by a KeyPolicy that allows the scopes the suite uses, so that
// the tenant's keys are admitted whatever the manager's default.
func newTenant(t *testing.T, g *WithT, name string) tenant {
	t.Helper()
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: name + "-", Labels: map[string]string{"redteam": "true"}}}
	g.Expect(admin.Create(ctx, ns)).To(Succeed())
	user := "user:" + ns.Name
	// "edit" is aggregated from these by a controller envtest does not run.
	for _, role := range []string{"system:aggregate-to-edit", "system:aggregate-to-view", "apikey-editor-role", "signingkey-editor-role"} {
		g.Expect(admin.Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: strings.ReplaceAll(role, ":", "-")},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
			Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}},
		})).To(Succeed())
	}
	ensureSuitePolicy(g)
	cfg := rest.CopyConfig(restConfig)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	c, err := client.New(cfg, client.Options{Scheme: manager.Scheme()})
	g.Expect(err).NotTo(HaveOccurred())
	return tenant{ns: ns.Name, user: user, c: c}
}

// ensureSuitePolicy admits the scopes and auth methods the suite's keys
// use in every tenant namespace.
func ensureSuitePolicy(g *WithT) {
	p := &keywardv1.KeyPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "redteam"},
		Spec: keywardv1.KeyPolicySpec{
			NamespaceSelector: metav1.LabelSelector{MatchLabels: map[string]string{"redteam": "true"}},
			AllowedScopes:     []keywardv1.Scope{"acme/*/*:admin"},
		},
	}
	err := admin.Create(context.Background(), p)
	if err != nil && !isAlreadyExists(err) {
		g.Expect(err).NotTo(HaveOccurred())
	}
}

var readScope = []keywardv1.Scope{"acme/payments/investigations:read"}

// createKey creates an APIKey as the tenant and waits until it is Ready.
func (tn tenant) createKey(t *testing.T, g *WithT, name string, spec keywardv1.APIKeySpec) *keywardv1.APIKey {
	t.Helper()
	key := &keywardv1.APIKey{ObjectMeta: metav1.ObjectMeta{Namespace: tn.ns, Name: name}, Spec: spec}
	g.Expect(tn.c.Create(context.Background(), key)).To(Succeed())
	return tn.waitReady(g, name)
}

func (tn tenant) waitReady(g *WithT, name string) *keywardv1.APIKey {
	key := &keywardv1.APIKey{}
	g.Eventually(func(g Gomega) {
		g.Expect(tn.c.Get(context.Background(), client.ObjectKey{Namespace: tn.ns, Name: name}, key)).To(Succeed())
		g.Expect(meta.IsStatusConditionTrue(key.Status.Conditions, keywardv1.ReadyCondition)).To(BeTrue(), "Ready: %+v", key.Status.Conditions)
	}).WithTimeout(waitFor).Should(Succeed())
	return key
}

func (tn tenant) getKey(g Gomega, name string) *keywardv1.APIKey {
	key := &keywardv1.APIKey{}
	g.Expect(tn.c.Get(context.Background(), client.ObjectKey{Namespace: tn.ns, Name: name}, key)).To(Succeed())
	return key
}

// delivered reads the plaintext key as the key's consumer does.
func (tn tenant) delivered(g Gomega, secretName string) string {
	sec := &corev1.Secret{}
	g.Expect(tn.c.Get(context.Background(), client.ObjectKey{Namespace: tn.ns, Name: secretName}, sec)).To(Succeed())
	return string(sec.Data["key"])
}

// decide asks the verifier about a read of acme/payments/investigations
// with the key, as Envoy's ext_authz does, and returns the status and the
// identity headers of a Permit.
func decide(g Gomega, key string) (int, http.Header) {
	req, err := http.NewRequest(http.MethodGet, verifierURL+verifier.EnvoyPrefix+"/acme/payments/investigations", nil)
	g.Expect(err).NotTo(HaveOccurred())
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	g.Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	return resp.StatusCode, resp.Header
}

// reason is the verifier's reason for a denial of key, "" for a Permit.
func reason(g Gomega, key string) string {
	req, err := http.NewRequest(http.MethodGet, verifierURL+verifier.EnvoyPrefix+"/acme/payments/investigations", nil)
	g.Expect(err).NotTo(HaveOccurred())
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	g.Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return ""
	}
	var body struct {
		Reason string `json:"reason"`
	}
	g.Expect(json.NewDecoder(resp.Body).Decode(&body)).To(Succeed())
	return body.Reason
}

// expectPermitted waits until the verifier permits key as keyID.
func expectPermitted(g *WithT, key, keyID string) {
	g.Eventually(func(g Gomega) {
		status, hdr := decide(g, key)
		g.Expect(status).To(Equal(http.StatusOK))
		g.Expect(hdr.Get(verifier.HeaderKeyID)).To(Equal(keyID))
	}).WithTimeout(waitFor).Should(Succeed())
}

// expectDenied waits until the verifier denies key with the reason.
func expectDenied(g *WithT, key, why string) {
	g.Eventually(func(g Gomega) {
		g.Expect(reason(g, key)).To(Equal(why))
	}).WithTimeout(waitFor).Should(Succeed())
}

// recordOf reads a key's record as the verifier would.
func recordOf(g Gomega, keyID string) record.Record {
	sec := &corev1.Secret{}
	g.Expect(admin.Get(context.Background(), client.ObjectKey{Namespace: verifierNamespace, Name: record.SecretName(keyID)}, sec)).To(Succeed())
	rec, err := record.Decode(sec.Data[record.DataKey])
	g.Expect(err).NotTo(HaveOccurred())
	return rec
}

func isAlreadyExists(err error) bool { return apierrors.IsAlreadyExists(err) }

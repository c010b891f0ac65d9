package redteam

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	authorizationv1 "k8s.io/api/authorization/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/record"
	"github.com/keyward-dev/keyward/internal/signingrecord"
	"github.com/keyward-dev/keyward/internal/usage"
	"github.com/keyward-dev/keyward/manager"
	"github.com/keyward-dev/keyward/verifier"
)

// The objects of the manager's namespace that the install and the manager
// create: the webhook's serving certificate (a private key) and the
// leader-election Lease.
const (
	webhookCertSecret = "keyward-webhook-server-cert"
	leaderLease       = "keyward-manager.keyward.dev"
)

// asUser is a client acting as user; the API server adds the groups of
// every authenticated user (and, for a ServiceAccount, its own).
func asUser(g Gomega, user string) client.Client {
	cfg := rest.CopyConfig(restConfig)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	c, err := client.New(cfg, client.Options{Scheme: manager.Scheme()})
	g.Expect(err).NotTo(HaveOccurred())
	return c
}

// ensureManagerObjects puts into the manager's namespace what a running
// install keeps there, so that an attacker has something to reach for.
func ensureManagerObjects(g Gomega) {
	ctx := context.Background()
	for _, obj := range []client.Object{
		&corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: managerNamespace, Name: webhookCertSecret},
			Data:       map[string][]byte{"tls.key": []byte("the webhook's private key"), "ca.key": []byte("the webhook CA's private key")},
		},
		&coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: managerNamespace, Name: leaderLease}},
	} {
		if err := admin.Create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(err) {
			g.Expect(err).NotTo(HaveOccurred())
		}
	}
}

// TestAttackVerifierRoleGrantsMoreThanItUses: the verifier's Role is what a
// compromised verifier pod (or whoever may run pods as its ServiceAccount)
// holds. It must be exactly what `keyward verifier` calls: list and watch
// of Secrets (the record and signing-key informers and the heartbeat,
// which watches the records' recent changes) and create and patch of ConfigMaps (the usage
// report, written by server-side apply). No get, which reads a Secret by
// any name; no reading ConfigMaps; nothing else. And the verifier works
// with only that: this suite's verifier runs as the ServiceAccount.
func TestAttackVerifierRoleGrantsMoreThanItUses(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	role := &rbacv1.Role{}
	g.Eventually(func() error {
		return admin.Get(ctx, client.ObjectKey{Namespace: verifierNamespace, Name: "keyward-verifier"}, role)
	}).WithTimeout(waitFor).Should(Succeed())
	g.Expect(role.Rules).To(ConsistOf(
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"list", "watch"}},
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"create", "patch"}},
	), "the verifier's Role grants more than `keyward verifier` uses")
	bindings := &rbacv1.RoleBindingList{}
	g.Expect(admin.List(ctx, bindings, client.InNamespace(verifierNamespace))).To(Succeed())
	for _, b := range bindings.Items {
		for _, s := range b.Subjects {
			g.Expect(s.Name != "keyward-verifier" || b.RoleRef.Name == "keyward-verifier").To(BeTrue(),
				"RoleBinding %s gives the verifier's ServiceAccount %s %s as well", b.Name, b.RoleRef.Kind, b.RoleRef.Name)
		}
	}

	// Records and signing keys reach the verifier through that Role alone.
	tn := newTenant(t, g, "rbac")
	key := tn.createKey(t, g, "works", keywardv1.APIKeySpec{Owner: "rbac", Scopes: readScope})
	g.Eventually(func() bool { return watch.Ready() && signing.Ready() }).WithTimeout(waitFor).
		Should(BeTrue(), "the verifier's informers sync as its ServiceAccount")
	expectPermitted(g, tn.delivered(g, "works"), key.Status.KeyID)

	// Its usage report too: created, then changed, by server-side apply.
	cfg := rest.CopyConfig(restConfig)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: verifierUser}
	cs, err := kubernetes.NewForConfig(cfg)
	g.Expect(err).NotTo(HaveOccurred())
	used := int64(1)
	snapshot := make(chan []verifier.QuotaUsage, 1)
	snapshot <- []verifier.QuotaUsage{{KeyID: key.Status.KeyID, Used: used, Remaining: 9, ResetAt: time.Now().Add(time.Hour)}}
	var last []verifier.QuotaUsage
	reporter := &verifier.UsageReporter{
		Client: cs, Namespace: verifierNamespace, Replica: "redteam-rbac", Interval: 100 * time.Millisecond,
		Snapshot: func() []verifier.QuotaUsage {
			select {
			case last = <-snapshot:
			default:
			}
			return last
		},
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go func() { _ = reporter.Run(runCtx) }()
	reported := func(g Gomega) int64 {
		cm := &corev1.ConfigMap{}
		g.Expect(admin.Get(ctx, client.ObjectKey{Namespace: verifierNamespace, Name: usage.NamePrefix + "redteam-rbac"}, cm)).To(Succeed())
		r, err := usage.Decode([]byte(cm.Data[usage.DataKey]))
		g.Expect(err).NotTo(HaveOccurred())
		return r.Keys[key.Status.KeyID].Used
	}
	g.Eventually(reported).WithTimeout(waitFor).Should(Equal(int64(1)), "the verifier creates its usage report")
	snapshot <- []verifier.QuotaUsage{{KeyID: key.Status.KeyID, Used: 2, Remaining: 8, ResetAt: time.Now().Add(time.Hour)}}
	g.Eventually(reported).WithTimeout(waitFor).Should(Equal(int64(2)), "the verifier updates its usage report")
}

// TestAttackVerifierReachesTheManagersNamespace: as the verifier's
// ServiceAccount, reach for the manager's webhook certificate (with its
// private key and its CA's), its Lease (whoever holds it runs every
// controller), anything else there; and see that in its own namespace it
// can read nothing but records and signing keys.
func TestAttackVerifierReachesTheManagersNamespace(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ensureManagerObjects(g)
	v := asUser(g, verifierUser)

	err := v.Get(ctx, client.ObjectKey{Namespace: managerNamespace, Name: webhookCertSecret}, &corev1.Secret{})
	g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "the verifier read the webhook's serving certificate: %v", err)
	for _, list := range []client.ObjectList{&corev1.SecretList{}, &corev1.ConfigMapList{}, &coordinationv1.LeaseList{}} {
		err := v.List(ctx, list, client.InNamespace(managerNamespace))
		g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "the verifier listed %T in the manager's namespace: %v", list, err)
	}
	err = v.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: managerNamespace, Name: usage.NamePrefix + "x"}})
	g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "the verifier wrote into the manager's namespace: %v", err)
	g.Expect(allowed(g, verifierUser, verifierGroups, authorizationv1.ResourceAttributes{
		Namespace: managerNamespace, Group: "coordination.k8s.io", Resource: "leases", Verb: "update",
	})).To(BeFalse(),
		"the verifier could take over the manager's leader election")

	// Whatever the verifier can read in its own namespace is a record or
	// a signing key: nothing of the manager's lives there.
	tn := newTenant(t, g, "rbac")
	tn.createKey(t, g, "present", keywardv1.APIKeySpec{Owner: "rbac", Scopes: readScope})
	// A foreign key's import makes the lookup key: the verifier reads it,
	// as its ServiceAccount, and finds the key by it.
	foreign := "sk_live_" + tn.ns + "_RedTeamForeignKey"
	g.Expect(tn.c.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: tn.ns, Name: "legacy"}, Type: keywardv1.ImportSecretType,
		Data: map[string][]byte{keywardv1.ImportSecretDefaultKey: []byte(foreign)},
	})).To(Succeed())
	tn.createKey(t, g, "foreign", keywardv1.APIKeySpec{Owner: "rbac", Scopes: readScope,
		Import: &keywardv1.KeyImport{SecretRef: &keywardv1.ImportSecretReference{Name: "legacy"}}})
	g.Eventually(func(g Gomega) {
		status, _ := decide(g, foreign)
		g.Expect(status).To(Equal(200))
	}).WithTimeout(waitFor).Should(Succeed())
	secrets := &corev1.SecretList{}
	g.Expect(v.List(ctx, secrets, client.InNamespace(verifierNamespace))).To(Succeed())
	g.Expect(secrets.Items).NotTo(BeEmpty())
	for _, s := range secrets.Items {
		lookupKey := s.Name == record.LookupKeySecretName && s.Labels[record.RecordLabel] == record.LookupKeyLabelValue
		g.Expect(s.Labels[record.RecordLabel] == "true" || s.Labels[signingrecord.Label] == "true" || lookupKey).To(BeTrue(),
			"Secret %s/%s (type %s) is readable by the verifier and is neither a key record, the lookup key nor a signing key", s.Namespace, s.Name, s.Type)
	}
}

// TestAttackTenantReachesKeywardNamespaces: a namespace editor can neither
// read nor write anything in the manager's namespace or the verifier's: no
// forged record or usage report, no issuer SigningKey, no pod running as
// the verifier's ServiceAccount, no token for it, no certificate.
func TestAttackTenantReachesKeywardNamespaces(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ensureManagerObjects(g)
	mallory := newTenant(t, g, "mallory")

	err := mallory.c.Get(ctx, client.ObjectKey{Namespace: managerNamespace, Name: webhookCertSecret}, &corev1.Secret{})
	g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "a tenant read the webhook's serving certificate: %v", err)
	err = mallory.c.Get(ctx, client.ObjectKey{Namespace: verifierNamespace, Name: record.LookupKeySecretName}, &corev1.Secret{})
	g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "a tenant read the lookup key of foreign keys: %v", err)
	forgedRecord := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: verifierNamespace, Name: "keyward-record-forged", Labels: map[string]string{record.RecordLabel: "true"}},
		Data:       map[string][]byte{record.DataKey: []byte("{}")},
	}
	forgedReport := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: verifierNamespace, Name: usage.NamePrefix + "forged", Labels: map[string]string{usage.Label: "true"}},
	}
	issuer := &keywardv1.SigningKey{
		ObjectMeta: metav1.ObjectMeta{Namespace: verifierNamespace, Name: "mallory-issuer"},
		Spec:       keywardv1.SigningKeySpec{Mode: keywardv1.SigningKeyModeIssuer, Issuer: &keywardv1.IssuerKey{}},
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: verifierNamespace, Name: "as-verifier"},
		Spec: corev1.PodSpec{ServiceAccountName: "keyward-verifier",
			Containers: []corev1.Container{{Name: "c", Image: "mallory/steal:latest"}}},
	}
	for _, obj := range []client.Object{forgedRecord, forgedReport, issuer, pod} {
		err := mallory.c.Create(ctx, obj)
		g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "a tenant created %T %s in the verifier namespace: %v", obj, obj.GetName(), err)
	}

	for _, ns := range []string{managerNamespace, verifierNamespace} {
		for _, r := range []struct{ group, resource, sub string }{
			{"", "secrets", ""}, {"", "configmaps", ""}, {"", "pods", ""}, {"", "pods", "exec"},
			{"", "serviceaccounts", "token"}, {"", "services", ""}, {"apps", "deployments", ""},
			{"rbac.authorization.k8s.io", "roles", ""}, {"rbac.authorization.k8s.io", "rolebindings", ""},
			{"coordination.k8s.io", "leases", ""}, {"keyward.dev", "signingkeys", ""}, {"keyward.dev", "apikeys", ""},
		} {
			for _, verb := range []string{"get", "list", "watch", "create", "update", "patch", "delete"} {
				attrs := authorizationv1.ResourceAttributes{Namespace: ns, Group: r.group, Resource: r.resource, Subresource: r.sub, Verb: verb}
				g.Expect(allowed(g, mallory.user, []string{"system:authenticated"}, attrs)).To(BeFalse(),
					"a tenant may %s %s/%s in %s", verb, r.resource, r.sub, ns)
			}
		}
	}
}

// verifierGroups are the groups the API server gives the verifier's
// ServiceAccount.
var verifierGroups = []string{"system:serviceaccounts", "system:serviceaccounts:" + verifierNamespace, "system:authenticated"}

// allowed asks the API server's authorizer whether user, in groups, may
// do what attrs say.
func allowed(g Gomega, user string, groups []string, attrs authorizationv1.ResourceAttributes) bool {
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: user, Groups: groups, ResourceAttributes: &attrs,
	}}
	g.Expect(admin.Create(context.Background(), sar)).To(Succeed())
	return sar.Status.Allowed
}

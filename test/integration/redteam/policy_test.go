package redteam

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/scope"
	"github.com/keyward-dev/keyward/internal/testutil"
	"github.com/keyward-dev/keyward/verifier"
)

// ownerOf is the owner a KeyPolicy that binds owners to the requesting
// user (without the "user:" prefix of the suite's usernames) lets the
// tenant name.
func ownerOf(tn tenant) string { return strings.TrimPrefix(tn.user, "user:") }

// bindOwners has the cluster administrator bind spec.owner in the tenant's
// namespace: a key there belongs to the user who creates it, or to one of
// the team's bots. The manifest is applied as YAML, as an administrator
// would apply it.
func bindOwners(g *WithT, tn tenant, enforcement keywardv1.EnforcementMode) {
	manifest := fmt.Sprintf(`apiVersion: keyward.dev/v1alpha1
kind: KeyPolicy
metadata:
  name: owners-%[1]s
spec:
  namespaceSelector:
    matchLabels:
      kubernetes.io/metadata.name: %[1]s
  owners:
    fromRequester:
      form: Username
      stripPrefix: "user:"
    allowed: ["%[1]s-bot-*"]
  enforcement: %[2]s
`, tn.ns, enforcement)
	obj := &unstructured.Unstructured{}
	g.Expect(yaml.Unmarshal([]byte(manifest), &obj.Object)).To(Succeed())
	g.Expect(admin.Create(context.Background(), obj)).To(Succeed())
}

// TestAttackClaimAnotherTenantsOwner: the owner is what upstreams see in
// X-Keyward-Owner and what the admin guide lists keys by. In a namespace
// whose KeyPolicy binds owners, mallory names the victim as the owner of
// a key of hers: refused, naming the field and who may own keys there.
func TestAttackClaimAnotherTenantsOwner(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	victim, mallory := newTenant(t, g, "victim"), newTenant(t, g, "mallory")
	victim.createKey(t, g, "payments", keywardv1.APIKeySpec{Owner: ownerOf(victim), Scopes: readScope})
	bindOwners(g, mallory, keywardv1.EnforcementReport)

	claim := &keywardv1.APIKey{
		ObjectMeta: metav1.ObjectMeta{Namespace: mallory.ns, Name: "claim"},
		Spec:       keywardv1.APIKeySpec{Owner: ownerOf(victim), Scopes: readScope},
	}
	err := mallory.c.Create(ctx, claim)
	g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "mallory's key with the victim's owner must be refused, got %v", err)
	g.Expect(err.Error()).To(And(
		ContainSubstring("spec.owner"),
		ContainSubstring(fmt.Sprintf("%q", ownerOf(victim))),
		ContainSubstring(fmt.Sprintf("owners-%s", mallory.ns)),
		ContainSubstring(fmt.Sprintf("%q", ownerOf(mallory))),
		ContainSubstring(mallory.ns+"-bot-*"),
	))

	// What the policy allows is admitted: her own name, and a bot's.
	mallory.createKey(t, g, "own", keywardv1.APIKeySpec{Owner: ownerOf(mallory), Scopes: readScope})
	mallory.createKey(t, g, "bot", keywardv1.APIKeySpec{Owner: mallory.ns + "-bot-7", Scopes: readScope})
}

// TestAttackChangeOwnerAfterCreation: admitted under her own name, mallory
// then edits spec.owner to the victim's. The owner is fixed for the key's
// life, so what admission checked stays true.
func TestAttackChangeOwnerAfterCreation(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	victim, mallory := newTenant(t, g, "victim"), newTenant(t, g, "mallory")
	bindOwners(g, mallory, keywardv1.EnforcementReport)
	key := mallory.createKey(t, g, "own", keywardv1.APIKeySpec{Owner: ownerOf(mallory), Scopes: readScope})

	patch := fmt.Sprintf(`{"spec":{"owner":%q}}`, ownerOf(victim))
	err := mallory.c.Patch(ctx, key, client.RawPatch("application/merge-patch+json", []byte(patch)))
	g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "changing the owner must be refused, got %v", err)
	g.Expect(err.Error()).To(ContainSubstring("owner is immutable"))
	g.Expect(mallory.getKey(g, "own").Spec.Owner).To(Equal(ownerOf(mallory)))
}

// TestAttackOwnerClaimedBeforeTheBinding: mallory claims the victim's
// owner while nothing binds owners in her namespace; then the
// administrator binds them, in Suspend mode. Nobody can tell any more who
// created the key, so the manager reports it and suspends it: it stops
// working as the victim's.
func TestAttackOwnerClaimedBeforeTheBinding(t *testing.T) {
	g := NewWithT(t)
	victim, mallory := newTenant(t, g, "victim"), newTenant(t, g, "mallory")
	early := mallory.createKey(t, g, "early", keywardv1.APIKeySpec{Owner: ownerOf(victim), Scopes: readScope})
	earlyKey := mallory.delivered(g, "early")
	expectPermitted(g, earlyKey, early.Status.KeyID)

	bindOwners(g, mallory, keywardv1.EnforcementSuspend)
	g.Eventually(func(g Gomega) {
		k := mallory.getKey(g, "early")
		c := meta.FindStatusCondition(k.Status.Conditions, keywardv1.PolicyViolationCondition)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
		g.Expect(c.Message).To(ContainSubstring("spec.owner"))
	}).WithTimeout(waitFor).Should(Succeed())
	expectDenied(g, earlyKey, "suspended")
}

// TestAttackDrainAnotherNamespacesOwnerLimit: a limit with sharedBy: Owner
// is shared by the keys of one owner. Mallory names the victim's owner in
// a namespace nothing binds, declares the same shared limit and spends
// it: the victim's key, in its own namespace, must not be rate-limited by
// her requests.
func TestAttackDrainAnotherNamespacesOwnerLimit(t *testing.T) {
	g := NewWithT(t)
	victim, mallory := newTenant(t, g, "victim"), newTenant(t, g, "mallory")
	shared := &keywardv1.RateLimit{Limits: []keywardv1.Limit{{
		Name: "team-per-hour", Strategy: keywardv1.FixedWindow, Limit: 5, PeriodSeconds: 3600, SharedBy: keywardv1.SharedByOwner,
	}}}
	owner := ownerOf(victim)
	vk := victim.createKey(t, g, "payments", keywardv1.APIKeySpec{Owner: owner, Scopes: readScope, RateLimit: shared})
	mk := mallory.createKey(t, g, "drain", keywardv1.APIKeySpec{Owner: owner, Scopes: readScope, RateLimit: shared})
	victimKey, malloryKey := victim.delivered(g, "payments"), mallory.delivered(g, "drain")
	expectPermitted(g, victimKey, vk.Status.KeyID)
	expectPermitted(g, malloryKey, mk.Status.KeyID)

	// Mallory floods until her limit refuses her.
	refused := false
	for range 10 {
		if status, _ := decide(g, malloryKey); status == http.StatusTooManyRequests {
			refused = true
			break
		}
	}
	g.Expect(refused).To(BeTrue(), "mallory's own limit refuses her")
	status, _ := decide(g, victimKey)
	g.Expect(status).To(Equal(http.StatusOK), "the victim has spent 1 of its 5: mallory's requests must not count against it")
}

// TestAttackUngovernedNamespaceMintsAnyScope: mallory also edits a
// namespace no KeyPolicy selects. With the manager's default she must not
// be able to mint a key there at all, let alone one with every scope; the
// refusal says how an administrator allows keys there.
func TestAttackUngovernedNamespaceMintsAnyScope(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	mallory := newTenant(t, g, "mallory")
	side := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "mallory-side-"}}
	g.Expect(admin.Create(ctx, side)).To(Succeed())
	grantEdit(g, side.Name, mallory.user)

	key := &keywardv1.APIKey{
		ObjectMeta: metav1.ObjectMeta{Namespace: side.Name, Name: "everything"},
		Spec:       keywardv1.APIKeySpec{Owner: ownerOf(mallory), Scopes: []keywardv1.Scope{"*/*/*:admin"}},
	}
	var err error
	g.Eventually(func() error {
		// Until the RoleBindings reach the authorizer, a Forbidden.
		err = mallory.c.Create(ctx, key)
		if apierrors.IsForbidden(err) {
			return err
		}
		return nil
	}).WithTimeout(waitFor).Should(Succeed())
	g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "a key in a namespace no KeyPolicy selects must be refused, got %v", err)
	g.Expect(err.Error()).To(And(
		ContainSubstring("metadata.namespace"),
		ContainSubstring(side.Name),
		ContainSubstring("create a KeyPolicy whose namespaceSelector selects it"),
		ContainSubstring("--default-policy=allow"),
	))
}

// grantEdit gives user what a tenant has in its own namespace, in ns.
func grantEdit(g *WithT, ns, user string) {
	for _, role := range []string{"system:aggregate-to-edit", "system:aggregate-to-view", "apikey-editor-role", "signingkey-editor-role"} {
		g.Expect(admin.Create(context.Background(), &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: strings.ReplaceAll(role, ":", "-")},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
			Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}},
		})).To(Succeed())
	}
}

// TestAttackQuotaRespentDuringRedisOutage: two verifier replicas share
// quota counters in Redis, with the fallback a configuration gets without
// saying. Mallory spends her daily quota down to one credit, then Redis
// goes away (killed, as a crash or a lost node would). However she
// spreads her requests over the replicas, she must not get more than the
// one credit Redis last said was left.
func TestAttackQuotaRespentDuringRedisOutage(t *testing.T) {
	g := NewWithT(t)
	srv := testutil.StartRedisServer(t)
	mallory := newTenant(t, g, "mallory")
	const credits = 10
	mallory.createKey(t, g, "metered", keywardv1.APIKeySpec{Owner: ownerOf(mallory), Scopes: readScope,
		RateLimit: &keywardv1.RateLimit{Quota: &keywardv1.Quota{Credits: credits, Refill: keywardv1.Daily}}})
	key := mallory.delivered(g, "metered")
	rl := verifier.RateLimits{Store: "redis", Redis: &verifier.RedisConfig{Address: srv.Addr(), TimeoutMilliseconds: 500}}
	replicas := []*verifier.Verifier{startReplica(t, g, rl), startReplica(t, g, rl)}

	// Each replica's first Permit, once it has the record, spends one.
	for _, r := range replicas {
		g.Eventually(func() verifier.Result { return decideOn(r, key).Result }).WithTimeout(waitFor).Should(Equal(verifier.Permit))
	}
	var d verifier.Decision
	for range credits - 3 {
		d = decideOn(replicas[0], key)
		g.Expect(d.Result).To(Equal(verifier.Permit))
	}
	g.Expect(d.RateLimit.Remaining).To(Equal(int64(1)), "Redis counted both replicas' credits: %+v", d.RateLimit)

	srv.Stop()
	permitted := 0
	var other []string
	for i := range 40 {
		d := decideOn(replicas[i%2], key)
		switch {
		case d.Result == verifier.Permit:
			permitted++
		case d.Reason != verifier.ReasonRateLimitUnavailable && d.Reason != verifier.ReasonQuotaExhausted:
			other = append(other, string(d.Reason))
		}
	}
	g.Expect(other).To(BeEmpty(), "every refusal is the quota's")
	g.Expect(permitted).To(BeNumerically("<=", 1), "Redis said one credit was left: no replica may hand the quota out again during the outage")
}

// startReplica runs one more verifier replica over the same records, as
// the verifier's ServiceAccount, with its own rate-limit configuration.
func startReplica(t *testing.T, g *WithT, rl verifier.RateLimits) *verifier.Verifier {
	t.Helper()
	asVerifier := rest.CopyConfig(restConfig)
	asVerifier.Impersonate = rest.ImpersonationConfig{UserName: verifierUser}
	cs, err := kubernetes.NewForConfig(asVerifier)
	g.Expect(err).NotTo(HaveOccurred())
	index := verifier.NewIndex()
	w := verifier.NewWatch(cs, verifierNamespace, index, verifier.WatchOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go w.Run(ctx, time.Second)
	r, err := verifier.New(index, verifier.Options{RateLimits: rl, Ready: w.Ready, LastContact: w.LastContact, MaxStaleness: time.Minute})
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// decideOn asks one replica about a read of acme/payments/investigations.
func decideOn(r *verifier.Verifier, key string) verifier.Decision {
	return r.Decide(context.Background(), verifier.Request{
		Credential: key, Action: scope.Read,
		Resource: scope.Resource{Org: "acme", Project: "payments", Type: "investigations"},
	})
}

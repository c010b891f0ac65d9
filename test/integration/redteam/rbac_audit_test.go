package redteam

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
)

// trailLine is one line of the manager's audit trail, as an auditor
// reads it.
type trailLine struct {
	Action     string   `json:"action"`
	Namespace  string   `json:"namespace"`
	Name       string   `json:"name"`
	Actor      string   `json:"actor"`
	UID        string   `json:"uid"`
	Generation int64    `json:"generation"`
	Admission  string   `json:"admission"`
	Changes    []string `json:"changes"`
}

// trailOf is every line of the manager's trail about the APIKey ns/name.
func trailOf(g Gomega, ns, name string) []trailLine {
	var lines []trailLine
	for _, raw := range strings.Split(managerTrail.String(), "\n") {
		if raw == "" {
			continue
		}
		var l trailLine
		g.Expect(json.Unmarshal([]byte(raw), &l)).To(Succeed(), raw)
		if l.Namespace == ns && l.Name == name {
			lines = append(lines, l)
		}
	}
	return lines
}

// lineFor waits for the trail's line with action about ns/name.
func lineFor(g *WithT, ns, name, action string) trailLine {
	var found trailLine
	g.Eventually(func(g Gomega) {
		var matches []trailLine
		for _, l := range trailOf(g, ns, name) {
			if l.Action == action {
				matches = append(matches, l)
			}
		}
		g.Expect(matches).To(HaveLen(1), "the trail's %q lines for %s/%s", action, ns, name)
		found = matches[0]
	}).WithTimeout(waitFor).Should(Succeed())
	return found
}

// colleague is a second user with the same rights in tn's namespace.
func (tn tenant) colleague(t *testing.T, g *WithT, name string) tenant {
	t.Helper()
	ctx := context.Background()
	user := "user:" + name + "@" + tn.ns
	for _, role := range []string{"system:aggregate-to-edit", "system:aggregate-to-view", "apikey-editor-role", "signingkey-editor-role"} {
		g.Expect(admin.Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: tn.ns, Name: name + "-" + strings.ReplaceAll(role, ":", "-")},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
			Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}},
		})).To(Succeed())
	}
	return tenant{ns: tn.ns, user: user, c: asUser(g, user)}
}

// aliceAndMallory are two editors of one namespace, and a key alice made
// (as field manager "alice"), Ready.
func aliceAndMallory(t *testing.T, g *WithT, keyName string) (alice, mallory tenant, key *keywardv1.APIKey) {
	t.Helper()
	alice = newTenant(t, g, "team")
	mallory = alice.colleague(t, g, "mallory")
	key = &keywardv1.APIKey{
		ObjectMeta: metav1.ObjectMeta{Namespace: alice.ns, Name: keyName},
		Spec:       keywardv1.APIKeySpec{Owner: "alice", Scopes: readScope},
	}
	g.Expect(alice.c.Create(context.Background(), key, client.FieldOwner("alice"))).To(Succeed())
	return alice, mallory, alice.waitReady(g, keyName)
}

// TestAttackSpoofedFieldManagerRevokes: mallory revokes alice's key with
// `kubectl --field-manager=alice`. The field manager is whatever the
// client says; the trail must name the user the API server authenticated,
// on the webhook's admission line (keyed by the admission request) and on
// the manager's lifecycle line, which refers to it by the APIKey's UID and
// generation.
func TestAttackSpoofedFieldManagerRevokes(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	_, mallory, key := aliceAndMallory(t, g, "revoked-by-mallory")
	revoke := client.RawPatch(types.MergePatchType, []byte(`{"spec":{"revoked":true}}`))
	g.Expect(mallory.c.Patch(ctx, key, revoke, client.FieldOwner("alice"))).To(Succeed())

	revoked := lineFor(g, key.Namespace, key.Name, "revoked")
	g.Expect(revoked.Actor).To(Equal(mallory.user), "the trail names %q for the revocation; %s made it", revoked.Actor, mallory.user)
	g.Expect(revoked.UID).To(Equal(string(key.UID)))
	g.Expect(revoked.Generation).To(Equal(key.Generation))
	admitted := admissionLine(g, key, "revoked", revoked)
	g.Expect(admitted.Generation).To(Equal(key.Generation))
}

// TestAttackSpoofedFieldManagerDeletes: mallory first edits alice's key as
// field manager "alice", then deletes it. A deletion carries no field
// manager at all; the trail must name mallory, not the last field manager.
func TestAttackSpoofedFieldManagerDeletes(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	_, mallory, key := aliceAndMallory(t, g, "deleted-by-mallory")
	edit := client.RawPatch(types.MergePatchType, []byte(`{"spec":{"description":"alice's"}}`))
	g.Expect(mallory.c.Patch(ctx, key, edit, client.FieldOwner("alice"))).To(Succeed())
	g.Expect(mallory.c.Delete(ctx, key)).To(Succeed())

	deleted := lineFor(g, key.Namespace, key.Name, "deleted")
	g.Expect(deleted.Actor).To(Equal(mallory.user), "the trail names %q for the deletion; %s made it", deleted.Actor, mallory.user)
	g.Expect(deleted.UID).To(Equal(string(key.UID)))
	admissionLine(g, key, "deleted", deleted)
}

// admissionLine is the webhook's line admitting change to key that the
// manager's lifecycle line refers to. The API server may call a webhook
// more than once for one request (it retries a write that raced another),
// so there may be other lines for the same change: every one of them must
// name the same user.
func admissionLine(g *WithT, key *keywardv1.APIKey, change string, lifecycle trailLine) trailLine {
	var found []trailLine
	g.Eventually(func(g Gomega) {
		found = nil
		for _, l := range trailOf(g, key.Namespace, key.Name) {
			if strings.HasPrefix(l.Action, "admitted_") && l.UID == string(key.UID) && contains(l.Changes, change) {
				found = append(found, l)
			}
		}
		g.Expect(found).NotTo(BeEmpty(), "the webhook's lines admitting %q of %s/%s", change, key.Namespace, key.Name)
	}).WithTimeout(waitFor).Should(Succeed())
	var referenced []trailLine
	for _, l := range found {
		g.Expect(l.Actor).To(Equal(lifecycle.Actor), "an admission line of %q names someone else: %+v", change, l)
		if l.Admission == lifecycle.Admission {
			referenced = append(referenced, l)
		}
	}
	g.Expect(referenced).To(HaveLen(1), "the lifecycle line refers to the admission that made the change: %+v among %+v", lifecycle, found)
	return referenced[0]
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestAttackDryRunLeavesNoTrace: a dry run (kubectl --dry-run=server, Argo
// CD's diff) changes nothing, so it must not put anyone's name on a
// revocation or a deletion. The webhook answers before the API server
// does, so the trail is final when the call returns.
func TestAttackDryRunLeavesNoTrace(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	_, mallory, key := aliceAndMallory(t, g, "dry-run")
	revoke := client.RawPatch(types.MergePatchType, []byte(`{"spec":{"revoked":true}}`))
	g.Expect(mallory.c.Patch(ctx, key, revoke, client.DryRunAll)).To(Succeed())
	g.Expect(mallory.c.Delete(ctx, key, client.DryRunAll)).To(Succeed())
	for _, l := range trailOf(g, key.Namespace, key.Name) {
		g.Expect(l.Actor).NotTo(Equal(mallory.user), "a dry run left a trail: %+v", l)
	}
	g.Expect(mallory.getKey(g, key.Name).Spec.Revoked).To(BeFalse())
}

// TestAttackRecorderOutageBlocksRevocation: the registration that records
// revocations and deletions must never stand in their way. With its
// server unreachable (a copy of it, exactly as shipped but for the
// address), mallory still revokes one key and deletes another, and the
// manager carries both out.
func TestAttackRecorderOutageBlocksRevocation(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	recorder := shippedRecorder(g)
	down := &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "redteam-recorder-down"},
		Webhooks:   []admissionregistrationv1.ValidatingWebhook{*recorder.DeepCopy()},
	}
	down.Webhooks[0].Name = "down-" + recorder.Name
	down.Webhooks[0].ClientConfig = admissionregistrationv1.WebhookClientConfig{URL: ptr.To("https://127.0.0.1:1/unreachable")}
	// Failing closed at first shows when the API server calls the copy.
	down.Webhooks[0].FailurePolicy = ptr.To(admissionregistrationv1.Fail)
	g.Expect(admin.Create(ctx, down)).To(Succeed())
	t.Cleanup(func() { _ = admin.Delete(context.Background(), down) })

	_, mallory, revokeMe := aliceAndMallory(t, g, "outage-revoke")
	deleteMe := &keywardv1.APIKey{
		ObjectMeta: metav1.ObjectMeta{Namespace: revokeMe.Namespace, Name: "outage-delete"},
		Spec:       keywardv1.APIKeySpec{Owner: "alice", Scopes: readScope},
	}
	g.Expect(mallory.c.Create(ctx, deleteMe)).To(Succeed())
	deleteMe = mallory.waitReady(g, deleteMe.Name)
	g.Eventually(func() error { return mallory.c.Delete(ctx, deleteMe, client.DryRunAll) }).WithTimeout(waitFor).
		Should(MatchError(ContainSubstring("failed calling webhook")), "the copy of the recorder is called")
	g.Expect(admin.Get(ctx, client.ObjectKeyFromObject(down), down)).To(Succeed())
	down.Webhooks[0].FailurePolicy = recorder.FailurePolicy
	g.Expect(admin.Update(ctx, down)).To(Succeed())
	g.Eventually(func() error { return mallory.c.Delete(ctx, deleteMe, client.DryRunAll) }).WithTimeout(waitFor).Should(Succeed())

	revoke := client.RawPatch(types.MergePatchType, []byte(`{"spec":{"revoked":true}}`))
	g.Expect(mallory.c.Patch(ctx, revokeMe, revoke)).To(Succeed(), "a revocation waits for no recorder")
	g.Expect(mallory.c.Delete(ctx, deleteMe)).To(Succeed(), "nor does a deletion")
	lineFor(g, revokeMe.Namespace, revokeMe.Name, "revoked")
	g.Eventually(func() bool {
		return apierrors.IsNotFound(mallory.c.Get(ctx, client.ObjectKeyFromObject(deleteMe), &keywardv1.APIKey{}))
	}).WithTimeout(waitFor).Should(BeTrue(), "the manager deletes the key")
	lineFor(g, deleteMe.Namespace, deleteMe.Name, "deleted")
}

// shippedRecorder is the registration in config/webhook that intercepts
// deletions of APIKeys: the one that only records.
func shippedRecorder(g *WithT) admissionregistrationv1.ValidatingWebhook {
	configs := &admissionregistrationv1.ValidatingWebhookConfigurationList{}
	g.Expect(admin.List(context.Background(), configs)).To(Succeed())
	for _, c := range configs.Items {
		for _, w := range c.Webhooks {
			for _, r := range w.Rules {
				if contains(r.Resources, "apikeys") && containsOp(r.Operations, admissionregistrationv1.Delete) {
					g.Expect(w.FailurePolicy).To(HaveValue(Equal(admissionregistrationv1.Ignore)), "webhook %s must never block a deletion", w.Name)
					g.Expect(w.SideEffects).To(HaveValue(Equal(admissionregistrationv1.SideEffectClassNoneOnDryRun)))
					return w
				}
			}
		}
	}
	g.Expect(false).To(BeTrue(), "no webhook registration intercepts deletions of APIKeys to record who made them")
	return admissionregistrationv1.ValidatingWebhook{}
}

func containsOp(ops []admissionregistrationv1.OperationType, op admissionregistrationv1.OperationType) bool {
	for _, o := range ops {
		if o == op || o == admissionregistrationv1.OperationAll {
			return true
		}
	}
	return false
}

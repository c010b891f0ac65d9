package webhook

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/audit"
)

// admittedLines are the webhooks' audit lines about the APIKey ns/name.
func admittedLines(g Gomega, ns, name string) []audit.Event {
	var lines []audit.Event
	for _, raw := range strings.Split(auditLines.String(), "\n") {
		if raw == "" {
			continue
		}
		var e audit.Event
		g.Expect(json.Unmarshal([]byte(raw), &e)).To(Succeed())
		if e.Namespace == ns && e.Name == name {
			lines = append(lines, e)
		}
	}
	return lines
}

// Every change a person makes to a key, through either registration (the
// validator, and the recorder for what the validator lets through), gets a
// line naming the authenticated user, the admission request, the key's UID
// and generation, and what the change does to its lifecycle; a dry run
// gets none. A webhook answers before the API server does, so each line is
// there when the call returns. The API server may call a webhook more than
// once for one request (it retries a write that raced another): such an
// attempt has a line of its own, with the generation it would have had.
func TestTheTrailNamesWhoChangedAKey(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := namespaceWithLabels(t, nil)
	cfg := rest.CopyConfig(testEnv.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "alice", Groups: []string{"system:masters"}}
	alice, err := client.New(cfg, client.Options{Scheme: scheme()})
	g.Expect(err).NotTo(HaveOccurred())
	type line struct {
		action, actor, uid string
		generation         int64
		changes            []string
	}
	linesOf := func(name string) []line {
		var lines []line
		for _, e := range admittedLines(g, ns, name) {
			g.Expect(e.Admission).NotTo(BeEmpty())
			g.Expect(e.Reason).To(ContainSubstring(e.Admission))
			lines = append(lines, line{e.Action, e.Actor, e.UID, e.Generation, e.Changes})
		}
		return lines
	}
	patch := func(k *keywardv1.APIKey, p string, opts ...client.PatchOption) {
		g.Expect(alice.Patch(ctx, k, client.RawPatch(types.MergePatchType, []byte(p)), opts...)).To(Succeed(), p)
	}

	k := key(ns, "story", nil)
	g.Expect(alice.Create(ctx, k, client.FieldOwner("someone-else"))).To(Succeed())
	uid := string(k.UID)
	want := []line{{"admitted_create", "alice", uid, 1, []string{audit.Created}}}
	for _, s := range []struct {
		patch   string
		changes []string
	}{
		{`{"spec":{"suspended":true}}`, []string{audit.Suspended}},
		{`{"spec":{"suspended":false,"rotation":{"trigger":"t1"}}}`, []string{audit.Resumed, audit.RotationRequested}},
		{`{"metadata":{"annotations":{"keyward.dev/rotate":"1"}}}`, []string{audit.RotationRequested}},
		{`{"spec":{"description":"nothing of the lifecycle"}}`, nil},
		{`{"spec":{"revoked":true}}`, []string{audit.Revoked}},
		{`{"spec":{"description":"after the revocation"}}`, nil},
	} {
		patch(k, s.patch)
		want = append(want, line{"admitted_update", "alice", uid, k.Generation, s.changes})
	}
	g.Expect(alice.Delete(ctx, k)).To(Succeed())
	want = append(want, line{"admitted_delete", "alice", uid, k.Generation, []string{audit.Deleted}})
	g.Expect(linesOf("story")).To(ContainElements(want))

	dry := key(ns, "dry", nil)
	g.Expect(alice.Create(ctx, dry)).To(Succeed())
	patch(dry, `{"spec":{"suspended":true}}`, client.DryRunAll)
	patch(dry, `{"spec":{"revoked":true}}`, client.DryRunAll)
	g.Expect(alice.Delete(ctx, dry, client.DryRunAll)).To(Succeed())
	g.Expect(linesOf("dry")).To(ConsistOf(line{"admitted_create", "alice", string(dry.UID), 1, []string{audit.Created}}),
		"dry runs leave no line")
}

// What a request does to a key's lifecycle, from the old and the new
// object, without a server.
func TestLifecycleChanges(t *testing.T) {
	base := func(mutate func(*keywardv1.APIKey)) *keywardv1.APIKey {
		k := key("ns", "k", nil)
		if mutate != nil {
			mutate(k)
		}
		return k
	}
	deleting := base(func(k *keywardv1.APIKey) { now := metav1.Now(); k.DeletionTimestamp = &now })
	for name, c := range map[string]struct {
		op       admissionv1.Operation
		old, new *keywardv1.APIKey
		want     []string
	}{
		"a creation":                      {admissionv1.Create, nil, base(nil), []string{audit.Created}},
		"a deletion":                      {admissionv1.Delete, base(nil), nil, []string{audit.Deleted}},
		"a deletion of a deleting key":    {admissionv1.Delete, deleting, nil, nil},
		"a revocation":                    {admissionv1.Update, base(nil), base(func(k *keywardv1.APIKey) { k.Spec.Revoked = true }), []string{audit.Revoked}},
		"a revocation of a suspended key": {admissionv1.Update, base(func(k *keywardv1.APIKey) { k.Spec.Suspended = true }), base(func(k *keywardv1.APIKey) { k.Spec.Revoked, k.Spec.Suspended = true, false }), []string{audit.Revoked}},
		"an edit of a revoked key":        {admissionv1.Update, base(func(k *keywardv1.APIKey) { k.Spec.Revoked = true }), base(func(k *keywardv1.APIKey) { k.Spec.Revoked, k.Spec.Description = true, "x" }), nil},
		"a suspension":                    {admissionv1.Update, base(nil), base(func(k *keywardv1.APIKey) { k.Spec.Suspended = true }), []string{audit.Suspended}},
		"a removed rotation trigger":      {admissionv1.Update, base(func(k *keywardv1.APIKey) { k.Spec.Rotation = &keywardv1.Rotation{Trigger: "t"} }), base(nil), nil},
		"an acknowledged finding": {admissionv1.Update, base(nil), base(func(k *keywardv1.APIKey) {
			k.Annotations = map[string]string{keywardv1.AcknowledgeAnomalyAnnotation: "9c004e5605e33b29"}
		}), []string{audit.AnomalyAcknowledged}},
		"an acknowledgement removed": {admissionv1.Update, base(func(k *keywardv1.APIKey) {
			k.Annotations = map[string]string{keywardv1.AcknowledgeAnomalyAnnotation: "9c004e5605e33b29"}
		}), base(nil), nil},
	} {
		t.Run(name, func(t *testing.T) {
			NewWithT(t).Expect(lifecycleChanges(c.op, c.old, c.new)).To(Equal(c.want))
		})
	}
}

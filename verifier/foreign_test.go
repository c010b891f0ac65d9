package verifier

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/keyward-dev/keyward/internal/access"
	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/internal/record"
)

const stripeStyle = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"

func newLookupKey(t *testing.T) (*keys.LookupKey, []byte) {
	t.Helper()
	secret := make([]byte, keys.LookupKeyLength)
	if _, err := rand.Read(secret); err != nil {
		t.Fatal(err)
	}
	l, err := keys.NewLookupKey(secret)
	if err != nil {
		t.Fatal(err)
	}
	return l, secret
}

// importForeign is the record the manager publishes for a foreign key
// imported as plaintext: a fresh keyward key ID, the foreign key's hash
// and its lookup ID.
func (f *fixture) importForeign(l *keys.LookupKey, plain string, scopes ...string) *issued {
	f.t.Helper()
	id, err := keys.NewID()
	if err != nil {
		f.t.Fatal(err)
	}
	k, err := keys.Foreign(id, plain)
	if err != nil {
		f.t.Fatal(err)
	}
	phc, err := f.hash.Hash(k)
	if err != nil {
		f.t.Fatal(err)
	}
	return &issued{key: k, rec: record.Record{
		Schema: record.Schema, KeyID: id, Owner: "team-fraud", State: record.Active,
		APIKey:  record.APIKeyRef{UID: "uid-" + id, Namespace: "fraud", Name: "key-" + id},
		Secrets: []record.Secret{{Serial: "1", Hash: phc, NotBefore: t0.Add(-time.Hour), LookupID: l.ID(plain)}},
		Scopes:  scopes, Version: 1,
	}}
}

func randomForeign(t *testing.T) string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "sk_live_" + base64.RawURLEncoding.EncodeToString(b)
}

func TestAForeignKeyVerifiesUnderItsOwnKeyID(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, Options{})
	l, _ := newLookupKey(t)
	f.index.SetLookupKey(l)
	k := f.importForeign(l, stripeStyle, "acme/payments/investigations:read")
	f.publish(k)

	d := f.decide(stripeStyle, inScope, access.Environment{})
	g.Expect(d.Result).To(Equal(Permit), d.Message)
	g.Expect(d.KeyID).To(Equal(k.rec.KeyID))
	g.Expect(f.decide(stripeStyle, "acme/payments/investigations/INV-7:write", access.Environment{}).Reason).To(Equal(ReasonInsufficientScope))

	// Without the lookup key nothing foreign is found.
	f.index.SetLookupKey(nil)
	g.Expect(f.decide(stripeStyle+"x", inScope, access.Environment{}).Reason).To(Equal(ReasonUnknownKey))
}

func TestAttackAFloodOfForeignCredentialsRunsNoPBKDF2(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, Options{})
	l, _ := newLookupKey(t)
	f.index.SetLookupKey(l)
	f.publish(f.importForeign(l, stripeStyle, "acme/payments/investigations:read"))
	f.publish(f.issue("acme/payments/investigations:read"))
	for range 2000 {
		d := f.decide(randomForeign(t), inScope, access.Environment{})
		g.Expect(d.Result).To(Equal(Deny))
		g.Expect(d.Reason).To(Equal(ReasonUnknownKey))
	}
	g.Expect(f.v.HashesRun()).To(BeZero(), "no record holds their lookup IDs: nothing to hash")
	// Credentials outside the foreign form are not even looked up.
	for _, c := range []string{"short", "eyJhbGciOiJub25lIn0.e30x", strings.Repeat("a", 300)} {
		g.Expect(f.decide(c, inScope, access.Environment{}).Result).To(Equal(Deny))
	}
	g.Expect(f.v.HashesRun()).To(BeZero())
}

func TestAttackTwoRecordsWithOneLookupIDAreBothRefused(t *testing.T) {
	g := NewWithT(t)
	logs := &logLines{}
	reg := prometheus.NewRegistry()
	f := newFixture(t, Options{Log: funcr.New(logs.add, funcr.Options{}), Metrics: NewMetrics(reg)})
	l, secret := newLookupKey(t)
	f.index.SetLookupKey(l)
	collisions := func() float64 {
		families, err := reg.Gather()
		g.Expect(err).NotTo(HaveOccurred())
		for _, mf := range families {
			if mf.GetName() == "keyward_verifier_foreign_key_collisions_total" {
				return mf.GetMetric()[0].GetCounter().GetValue()
			}
		}
		return -1
	}
	first := f.importForeign(l, stripeStyle, "acme/payments/investigations:read")
	f.publish(first)
	g.Expect(f.decide(stripeStyle, inScope, access.Environment{}).Result).To(Equal(Permit))

	// Another namespace's record of the same key (the manager refuses to
	// write one; a record may still arrive by another way).
	second := f.importForeign(l, stripeStyle, "acme/payments/investigations:read")
	second.rec.APIKey.Namespace = "attacker"
	f.publish(second)
	before := f.v.HashesRun()
	d := f.decide(stripeStyle, inScope, access.Environment{})
	g.Expect(d.Result).To(Equal(Deny))
	g.Expect(d.Reason).To(Equal(ReasonUnknownKey))
	g.Expect(d.KeyID).To(BeEmpty(), "neither key is named to the caller")
	g.Expect(f.v.HashesRun()).To(Equal(before), "a collision hashes nothing")
	g.Expect(collisions()).To(Equal(1.0))

	joined := strings.Join(logs.all(), "\n")
	g.Expect(joined).To(ContainSubstring(first.rec.KeyID))
	g.Expect(joined).To(ContainSubstring(second.rec.KeyID))
	g.Expect(joined).NotTo(ContainSubstring(stripeStyle))
	g.Expect(joined).NotTo(ContainSubstring(l.ID(stripeStyle)))
	g.Expect(joined).NotTo(ContainSubstring(hex.EncodeToString(secret)))
	g.Expect(joined).NotTo(ContainSubstring(base64.StdEncoding.EncodeToString(secret)))

	// Revoking the intruder leaves the lookup ID to its owner again.
	now := t0
	second.rec.State, second.rec.Secrets, second.rec.RevokedAt = record.Revoked, nil, &now
	second.rec.Version++
	f.publish(second)
	g.Expect(f.decide(stripeStyle, inScope, access.Environment{}).Result).To(Equal(Permit))
}

func TestAttackKeywardFormIsNeverLookedUpAsForeign(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, Options{})
	l, _ := newLookupKey(t)
	f.index.SetLookupKey(l)
	victim := f.issue("acme/payments/investigations:read")
	f.publish(victim)
	plain := victim.key.Plaintext()

	// Records holding the lookup IDs of the victim's whole key, of its
	// secret part and of a keyward-shaped string with a wrong checksum,
	// as if someone had imported them as foreign keys.
	secretPart := plain[len(keys.Prefix)+keys.IDLength+1:]
	badSum := plain[:len(plain)-1] + string(plain[len(plain)-1]^1)
	for _, s := range []string{plain, secretPart, badSum} {
		id, _ := keys.NewID()
		phc, err := f.hash.Hash(victim.key) // any hash: only the lookup matters
		g.Expect(err).NotTo(HaveOccurred())
		f.publish(&issued{rec: record.Record{
			Schema: record.Schema, KeyID: id, Owner: "intruder", State: record.Active,
			APIKey:  record.APIKeyRef{UID: "uid-" + id, Namespace: "attacker", Name: "key-" + id},
			Secrets: []record.Secret{{Serial: "1", Hash: phc, NotBefore: t0.Add(-time.Hour), LookupID: l.ID(s)}},
			Scopes:  []string{"acme/payments/investigations:read"}, Version: 1,
		}})
	}

	d := f.decide(plain, inScope, access.Environment{})
	g.Expect(d.Result).To(Equal(Permit))
	g.Expect(d.KeyID).To(Equal(victim.rec.KeyID), "a keyward key is found by its key ID, never by a lookup ID")

	d = f.decide(badSum, inScope, access.Environment{})
	g.Expect(d.Reason).To(Equal(ReasonMalformedCredential), "keyward's form with a wrong checksum stays keyward's: malformed")

	// The secret part alone is a foreign-looking credential; it reaches
	// the intruder's record, whose hash (of another string) it never
	// matches: it is not the victim's key.
	d = f.decide(secretPart, inScope, access.Environment{})
	g.Expect(d.Result).To(Equal(Deny))
	g.Expect(d.KeyID).NotTo(Equal(victim.rec.KeyID))
}

func TestAForeignKeyRotatesIntoKeywardFormat(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, Options{})
	l, _ := newLookupKey(t)
	f.index.SetLookupKey(l)
	k := f.importForeign(l, stripeStyle, "acme/payments/investigations:read")
	f.publish(k)
	g.Expect(f.decide(stripeStyle, inScope, access.Environment{}).Result).To(Equal(Permit))

	next := f.rotate(k, time.Hour) // keeps the foreign secret's lookup ID, with an end
	f.publish(k)
	g.Expect(next.IsForeign()).To(BeFalse())
	g.Expect(next.ID()).To(Equal(k.rec.KeyID))
	d := f.decide(stripeStyle, inScope, access.Environment{})
	g.Expect(d.Result).To(Equal(Permit), "the foreign key keeps its grace period")
	g.Expect(d.Secret).To(Equal(SecretPrevious))
	g.Expect(f.decide(next.Plaintext(), inScope, access.Environment{}).Result).To(Equal(Permit))

	// A wrong keyward secret of this key ID is hashed against the keyward
	// secret only, never the foreign one.
	wrong, _ := keys.Generate(k.rec.KeyID)
	before := f.v.HashesRun()
	g.Expect(f.decide(wrong.Plaintext(), inScope, access.Environment{}).Reason).To(Equal(ReasonInvalidSecret))
	g.Expect(f.v.HashesRun() - before).To(Equal(int64(1)))

	f.clock.Step(time.Hour)
	g.Expect(f.decide(stripeStyle, inScope, access.Environment{}).Reason).To(Equal(ReasonSecretExpired))

	// The manager then drops the old secret, and its lookup ID with it.
	k.rec.Secrets = k.rec.Secrets[1:]
	k.rec.Version++
	f.publish(k)
	before = f.v.HashesRun()
	g.Expect(f.decide(stripeStyle, inScope, access.Environment{}).Reason).To(Equal(ReasonUnknownKey))
	g.Expect(f.v.HashesRun()).To(Equal(before))
	g.Expect(f.decide(next.Plaintext(), inScope, access.Environment{}).Result).To(Equal(Permit))
}

func TestARevokedForeignKeyLeavesTheLookupIndex(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, Options{})
	l, _ := newLookupKey(t)
	f.index.SetLookupKey(l)
	k := f.importForeign(l, stripeStyle, "acme/payments/investigations:read")
	f.publish(k)
	k.rec.State = record.Suspended
	k.rec.Version++
	f.publish(k)
	g.Expect(f.decide(stripeStyle, inScope, access.Environment{}).Reason).To(Equal(ReasonSuspended))
	now := t0
	k.rec.State, k.rec.Secrets, k.rec.RevokedAt = record.Revoked, nil, &now
	k.rec.Version++
	f.publish(k)
	g.Expect(f.decide(stripeStyle, inScope, access.Environment{}).Reason).To(Equal(ReasonUnknownKey))
	f.index.Remove(record.SecretName(k.rec.KeyID))
	f.index.mu.RLock()
	g.Expect(f.index.byLookup).To(BeEmpty())
	f.index.mu.RUnlock()
}

func TestTheWatchLoadsAndReloadsTheLookupKey(t *testing.T) {
	g := NewWithT(t)
	logs := &logLines{}
	f := newFixture(t, Options{})
	l, secret := newLookupKey(t)
	k := f.importForeign(l, stripeStyle, "acme/payments/investigations:read")
	b, err := record.Encode(k.rec)
	g.Expect(err).NotTo(HaveOccurred())
	const ns = "keyward-verifier"
	lookupSecret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: record.LookupKeySecretName, Namespace: ns,
			Labels: map[string]string{record.RecordLabel: record.LookupKeyLabelValue}},
		Data: map[string][]byte{record.LookupKeyDataKey: secret},
	}
	cs := fake.NewClientset(
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: record.SecretName(k.rec.KeyID), Namespace: ns,
			Labels: map[string]string{record.RecordLabel: "true"}}, Data: map[string][]byte{record.DataKey: b}},
		lookupSecret)
	w := NewWatch(cs, ns, f.index, WatchOptions{Log: funcr.New(logs.add, funcr.Options{})})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go w.Run(ctx, time.Hour)
	permits := func() Reason { return f.decide(stripeStyle, inScope, access.Environment{}).Reason }
	g.Eventually(permits).WithTimeout(10 * time.Second).Should(Equal(ReasonAllowed))
	g.Expect(f.index.Len()).To(Equal(1), "the lookup key is no record")

	// Another lookup key: the record's lookup ID was made under the old one.
	_, other := newLookupKey(t)
	changed := lookupSecret.DeepCopy()
	changed.Data[record.LookupKeyDataKey] = other
	_, err = cs.CoreV1().Secrets(ns).Update(ctx, changed, metav1.UpdateOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(permits).WithTimeout(10 * time.Second).Should(Equal(ReasonUnknownKey))

	// Back, then broken, then gone: foreign keys are denied without it.
	_, err = cs.CoreV1().Secrets(ns).Update(ctx, lookupSecret, metav1.UpdateOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(permits).WithTimeout(10 * time.Second).Should(Equal(ReasonAllowed))
	broken := lookupSecret.DeepCopy()
	broken.Data[record.LookupKeyDataKey] = []byte("short")
	_, err = cs.CoreV1().Secrets(ns).Update(ctx, broken, metav1.UpdateOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(permits).WithTimeout(10 * time.Second).Should(Equal(ReasonUnknownKey))
	g.Expect(w.Invalid()).To(BeNumerically(">=", 1))
	_, err = cs.CoreV1().Secrets(ns).Update(ctx, lookupSecret, metav1.UpdateOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(permits).WithTimeout(10 * time.Second).Should(Equal(ReasonAllowed))
	g.Expect(cs.CoreV1().Secrets(ns).Delete(ctx, record.LookupKeySecretName, metav1.DeleteOptions{})).To(Succeed())
	g.Eventually(permits).WithTimeout(10 * time.Second).Should(Equal(ReasonUnknownKey))

	joined := strings.Join(logs.all(), "\n")
	g.Expect(joined).To(ContainSubstring("lookup key loaded"))
	for _, s := range [][]byte{secret, other} {
		g.Expect(joined).NotTo(ContainSubstring(hex.EncodeToString(s)))
		g.Expect(joined).NotTo(ContainSubstring(base64.StdEncoding.EncodeToString(s)))
		g.Expect(bytes.Contains([]byte(joined), s)).To(BeFalse())
	}
	g.Expect(fmt.Sprint(l)).To(Equal("keys.LookupKey{redacted}"))
}

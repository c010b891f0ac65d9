package soak

import (
	"context"
	"fmt"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/record"
)

// gracePeriod is short enough that previous secrets go past their grace
// while the soak sends them.
const gracePeriod = 4

// chaos makes the changes, one at a time, each awaited until every
// replica enforces it.
type chaos struct {
	g       Gomega
	m       *model
	rs      *replicas
	created int
	// made counts the changes by kind.
	made map[string]int
}

// create adds a key to the pool once every replica has its record.
func (c *chaos) create() {
	c.created++
	name := fmt.Sprintf("key-%d", c.created)
	c.g.Expect(k8s.Create(context.Background(), &keywardv1.APIKey{
		ObjectMeta: metav1.ObjectMeta{Namespace: keyNamespace, Name: name},
		Spec: keywardv1.APIKeySpec{
			Owner: "15a6", Scopes: []keywardv1.Scope{"acme/payments/investigations:read"},
			Rotation: &keywardv1.Rotation{GracePeriodSeconds: new(int64(gracePeriod))},
		},
	})).To(Succeed())
	var plain, keyID, serial string
	var version int64
	c.g.Eventually(func(g Gomega) {
		plain = delivered(g, name)
		keyID = getKey(g, name).Status.KeyID
		g.Expect(keyID).NotTo(BeEmpty())
		rec := published(g, keyID)
		g.Expect(rec.State).To(Equal(record.Active))
		g.Expect(rec.Secrets).To(HaveLen(1))
		serial, version = rec.Secrets[0].Serial, rec.Version
	}).WithTimeout(waitFor).Should(Succeed())
	c.land(keyID, version)
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	k := &key{name: name, keyID: keyID, state: active}
	k.current = c.m.newSecret(k, plain, serial)
	c.m.keys = append(c.m.keys, k)
	c.m.publish()
}

// land waits until every replica has read version of a key's record.
func (c *chaos) land(keyID string, version int64) {
	c.g.Eventually(func() bool { return c.rs.haveVersion(keyID, version) }).
		WithTimeout(waitFor).WithPolling(2 * time.Millisecond).Should(BeTrue())
}

// setState suspends, resumes or revokes k and records the change's window.
func (c *chaos) setState(k *key, state string) {
	patch := map[string]string{
		suspended: `{"spec":{"suspended":true}}`,
		active:    `{"spec":{"suspended":false}}`,
		revoked:   `{"spec":{"revoked":true}}`,
	}[state]
	from := time.Now()
	c.patch(k, patch)
	var version int64
	c.g.Eventually(func(g Gomega) {
		rec := published(g, k.keyID)
		g.Expect(string(rec.State)).To(Equal(state))
		version = rec.Version
	}).WithTimeout(waitFor).WithPolling(5 * time.Millisecond).Should(Succeed())
	c.land(k.keyID, version)
	to := time.Now()
	c.m.mu.Lock()
	k.state = state
	k.history = append(k.history, change{from: from, to: to, permit: state == active})
	c.m.mu.Unlock()
	c.made[state]++
}

// rotate rotates k's secret; the new one is sent once every replica has
// it, the previous one until the next rotation, in and past its grace.
func (c *chaos) rotate(k *key) {
	k.rotations++
	from := time.Now()
	c.patch(k, fmt.Sprintf(`{"metadata":{"annotations":{%q:"%d"}}}`, keywardv1.RotateAnnotation, k.rotations))
	var plain, serial string
	var version int64
	var graceEnds time.Time
	// Done once the record has the new secret as its current one and the
	// replaced one with the end of its grace; the records between (the
	// new secret staged, then delivered) change no verdict.
	c.g.Eventually(func(g Gomega) {
		plain = delivered(g, k.name)
		g.Expect(plain).NotTo(Equal(k.current.plain))
		rec := published(g, k.keyID)
		serial, graceEnds = "", time.Time{}
		for _, s := range rec.Secrets {
			switch {
			case s.Serial == k.current.serial && s.NotAfter != nil:
				graceEnds = *s.NotAfter
			case s.Serial != k.current.serial && s.NotAfter == nil:
				serial = s.Serial
			}
		}
		g.Expect(graceEnds).NotTo(BeZero(), "the replaced secret's grace is published: replaced %s, record %s", k.current.serial, secretsOf(rec))
		g.Expect(serial).NotTo(BeEmpty(), "the new secret is published")
		version = rec.Version
	}).WithTimeout(waitFor).WithPolling(5 * time.Millisecond).Should(Succeed())
	c.land(k.keyID, version)
	to := time.Now()
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	// A key has one previous secret: a rotation ends the grace of the
	// one before.
	if k.previous != nil {
		k.previous.history = append(k.previous.history, change{from: from, to: to, permit: false})
	}
	// The grace ends at an instant of the verifiers' own clock, this
	// process's, but only once they hold the record that says when: the
	// manager may publish it after that instant has passed.
	k.current.history = append(k.current.history, change{from: graceEnds, to: later(graceEnds, to), permit: false})
	k.previous, k.current = k.current, c.m.newSecret(k, plain, serial)
	c.m.publish()
	c.made["rotated"]++
}

func (c *chaos) patch(k *key, patch string) {
	c.g.Expect(k8s.Patch(context.Background(), &keywardv1.APIKey{ObjectMeta: metav1.ObjectMeta{Namespace: keyNamespace, Name: k.name}},
		client.RawPatch(types.MergePatchType, []byte(patch)))).To(Succeed())
}

func delivered(g Gomega, name string) string {
	var s corev1.Secret
	g.Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: keyNamespace, Name: name}, &s)).To(Succeed())
	g.Expect(s.Data["key"]).NotTo(BeEmpty())
	return string(s.Data["key"])
}

func getKey(g Gomega, name string) *keywardv1.APIKey {
	k := &keywardv1.APIKey{}
	g.Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: keyNamespace, Name: name}, k)).To(Succeed())
	return k
}

// published is a key's record as the API server holds it.
func published(g Gomega, keyID string) record.Record {
	sec := &corev1.Secret{}
	g.Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: verifierNamespace, Name: record.SecretName(keyID)}, sec)).To(Succeed())
	rec, err := record.Decode(sec.Data[record.DataKey])
	g.Expect(err).NotTo(HaveOccurred())
	return rec
}

// secretsOf tells a record's secrets apart by serial and validity, for a
// failure message.
func secretsOf(rec record.Record) string {
	out := fmt.Sprintf("v%d %s", rec.Version, rec.State)
	for _, s := range rec.Secrets {
		out += fmt.Sprintf(" %s(notAfter %v)", s.Serial, s.NotAfter)
	}
	if rec.Ledger != nil {
		out += fmt.Sprintf(" ledger %+v", *rec.Ledger)
	}
	return out
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

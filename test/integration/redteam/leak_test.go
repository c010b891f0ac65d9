package redteam

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/keyward-dev/keyward/internal/leak"
	"github.com/keyward-dev/keyward/internal/record"
)

// TestAttackForgedLeakReportRevokesNothing: a leak report is what makes
// the manager revoke a key, so a tenant dresses one up, naming a victim's
// key ID, in its own namespace (which it may write) and in the verifier's
// (which it may not). The manager reads reports only from the verifier
// namespace; the victim's key keeps working.
func TestAttackForgedLeakReportRevokesNothing(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	mallory := newTenant(t, g, "mallory")
	victimID, victimKey := victimsKey(t, g)
	sum := sha256.Sum256([]byte(victimKey))
	data, err := leak.Encode(leak.Report{
		KeyID: victimID, Serial: "1", TokenSHA256: hex.EncodeToString(sum[:]),
		URL: "https://github.com/mallory/bait", Source: "content", ReportedAt: time.Now(),
	})
	g.Expect(err).NotTo(HaveOccurred())
	forged := func(ns string) *corev1.ConfigMap {
		return &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: leak.Name(victimID, "1"),
				Labels: map[string]string{leak.Label: "true", record.KeyIDLabel: victimID, record.VerifierReportLabel: "true"}},
			Data: map[string]string{leak.DataKey: string(data)},
		}
	}
	err = mallory.c.Create(ctx, forged(verifierNamespace))
	g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "a tenant wrote a leak report into the verifier namespace: %v", err)
	g.Expect(mallory.c.Create(ctx, forged(mallory.ns))).To(Succeed())

	g.Consistently(func(g Gomega) {
		status, _ := decide(g, victimKey)
		g.Expect(status).To(Equal(http.StatusOK), "the victim's key survives a forged leak report")
	}).WithTimeout(3 * time.Second).Should(Succeed())
	g.Expect(recordOf(g, victimID).State).To(Equal(record.Active))
}

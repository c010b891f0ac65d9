package integration

import (
	"context"
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/controllers"
	"github.com/keyward-dev/keyward/internal/leak"
	"github.com/keyward-dev/keyward/internal/record"
	"github.com/keyward-dev/keyward/verifier"
)

// Cleaning up the leak reports (as an administrator may) must not lift a
// suspension: only a rotation does.
func TestALeakSuspensionOutlivesItsReports(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	g.Eventually(watch.Ready).WithTimeout(waitFor).Should(BeTrue())
	ns := suspendingNamespace(t, g)
	plain, key := liveKey(t, g, ns, "kept")
	code, _ := signedReport(g, plain)
	g.Expect(code).To(Equal(http.StatusOK))
	g.Eventually(func(g Gomega) {
		rec := publishedRecord(g, key.Status.KeyID)
		g.Expect(rec.State).To(Equal(record.Suspended))
		g.Expect(rec.Ledger.LeakedSerials).NotTo(BeEmpty())
	}).WithTimeout(waitFor).Should(Succeed())

	for _, cm := range leakConfigMaps(g, key.Status.KeyID) {
		g.Expect(k8s.Delete(ctx, &cm)).To(Succeed())
	}
	g.Eventually(func() []corev1.ConfigMap { return leakConfigMaps(g, key.Status.KeyID) }).WithTimeout(waitFor).Should(BeEmpty())
	// A spec edit makes the manager reconcile the key without its reports.
	patchSpec(g, ns, "kept", `{"spec":{"description":"after the cleanup"}}`)
	k := settled(g, ns, "kept")
	g.Expect(meta.FindStatusCondition(k.Status.Conditions, keywardv1.ReadyCondition).Reason).To(Equal(keywardv1.LeakedReason))
	g.Expect(publishedRecord(g, key.Status.KeyID).State).To(Equal(record.Suspended), "deleting the reports lifted the suspension")
	_, reason := endpoints[1].send(g, plain, "GET", "/acme/payments/investigations/INV-7", nil)
	g.Expect(reason).To(Equal(string(verifier.ReasonSuspended)))
}

// A second verified report, of another secret of a key already revoked
// for a leak, changes neither the decided action nor the recorded URL, and
// emits no second KeyLeaked Event.
func TestASecondLeakReportKeepsTheDecidedAction(t *testing.T) {
	g := NewWithT(t)
	g.Eventually(watch.Ready).WithTimeout(waitFor).Should(BeTrue())
	ns := newNamespace(t, g)
	plain, key := liveKey(t, g, ns, "twice")
	code, _ := signedReport(g, plain)
	g.Expect(code).To(Equal(http.StatusOK))
	g.Eventually(func(g Gomega) {
		k := getKey(g, ns, "twice")
		g.Expect(k.Status.Leak).NotTo(BeNil())
		g.Expect(k.Status.Leak.NotifiedTime).NotTo(BeNil())
	}).WithTimeout(waitFor).Should(Succeed())
	first := getKey(g, ns, "twice").Status.Leak

	// What the verifier writes when one report holds the current and the
	// previous secret and hashing crosses a second boundary.
	rep := leak.Report{KeyID: key.Status.KeyID, Serial: "2", TokenSHA256: sha256Hex("other"),
		URL: "https://github.com/acme/app/blob/1/old.env", Source: "commit", ReportedAt: first.ReportedTime.Add(2 * time.Second)}
	data, err := leak.Encode(rep)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(k8s.Create(context.Background(), &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: verifierNamespace, Name: leak.Name(rep.KeyID, rep.Serial),
			Labels: map[string]string{leak.Label: "true", record.KeyIDLabel: rep.KeyID, record.VerifierReportLabel: "true"}},
		Data: map[string]string{leak.DataKey: string(data)},
	})).To(Succeed())
	g.Eventually(func() int { return len(leakConfigMaps(g, key.Status.KeyID)) }).WithTimeout(waitFor).Should(Equal(2))
	patchSpec(g, ns, "twice", `{"spec":{"description":"after the second report"}}`)
	k := settled(g, ns, "twice")
	g.Expect(k.Status.Leak.Action).To(Equal(keywardv1.LeakActionRevoke))
	g.Expect(k.Status.Leak.URL).To(Equal(first.URL))
	g.Expect(k.Status.Leak.ReportedTime.Equal(&first.ReportedTime)).To(BeTrue())
	g.Expect(publishedRecord(g, key.Status.KeyID).State).To(Equal(record.Revoked))
	g.Expect(countOf(eventReasons(g, ns), keywardv1.KeyLeakedReason)).To(Equal(1))
}

// A leak report written by a verifier of an earlier version lacks the
// label the manager's cache selects: labelled at start, it is acted on.
func TestALeakReportOfAnEarlierVerifierIsActedOnOnceLabelled(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	g.Eventually(watch.Ready).WithTimeout(waitFor).Should(BeTrue())
	ns := newNamespace(t, g)
	_, key := liveKey(t, g, ns, "earlier")
	rep := leak.Report{KeyID: key.Status.KeyID, Serial: "1", TokenSHA256: sha256Hex("earlier"),
		URL: leakedAt, Source: "content", ReportedAt: time.Now()}
	data, err := leak.Encode(rep)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(k8s.Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: verifierNamespace, Name: leak.Name(rep.KeyID, rep.Serial),
			Labels: map[string]string{leak.Label: "true", record.KeyIDLabel: rep.KeyID}},
		Data: map[string]string{leak.DataKey: string(data)},
	})).To(Succeed())

	n, err := controllers.LabelVerifierReports(ctx, k8s, k8s, verifierNamespace)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(n).To(BeNumerically(">=", 1))
	g.Eventually(func(g Gomega) {
		k := getKey(g, ns, "earlier")
		g.Expect(k.Status.Leak).NotTo(BeNil())
		g.Expect(publishedRecord(g, key.Status.KeyID).State).To(Equal(record.Revoked))
	}).WithTimeout(waitFor).Should(Succeed())
}

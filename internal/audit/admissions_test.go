package audit

import (
	"fmt"
	"io"
	"testing"

	. "github.com/onsi/gomega"
)

func admission(uid string, generation int64, actor string, changes ...string) Event {
	return Event{Action: "admitted_update", UID: uid, Generation: generation, Actor: actor, Admission: "req-" + actor, Changes: changes}
}

func TestAWriterRecallsWhoAdmittedAChange(t *testing.T) {
	g := NewWithT(t)
	w := NewWriter(io.Discard)
	w.Record(admission("k1", 3, "mallory", Revoked))
	w.Record(admission("k1", 2, "alice", Deleted))
	w.Record(Event{Action: Revoked, UID: "k2", Generation: 1, Actor: "someone"})
	w.Record(admission("k3", 1, "", Created))

	got, ok := w.Admitted("k1", 3, Revoked)
	g.Expect(ok).To(BeTrue())
	g.Expect(got.Actor).To(Equal("mallory"))
	g.Expect(got.Admission).To(Equal("req-mallory"))
	_, ok = w.Admitted("k1", 4, Revoked)
	g.Expect(ok).To(BeFalse(), "a change at another generation is another change")
	got, ok = w.Admitted("k1", 7, Deleted)
	g.Expect(ok).To(BeTrue(), "an object is deleted once, whatever its generation")
	g.Expect(got.Actor).To(Equal("alice"))
	_, ok = w.Admitted("k2", 1, Revoked)
	g.Expect(ok).To(BeFalse(), "only admission lines are recalled, not lifecycle lines")
	_, ok = w.Admitted("k3", 1, Created)
	g.Expect(ok).To(BeFalse(), "an admission without an authenticated user names nobody")

	// The latest admission of a change wins, as a retried request is
	// admitted again.
	w.Record(admission("k1", 3, "mallory-again", Revoked))
	got, _ = w.Admitted("k1", 3, Revoked)
	g.Expect(got.Actor).To(Equal("mallory-again"))
}

// Admission requests come from every editor of every namespace: what a
// Writer remembers of them is bounded, oldest out first, and a change
// remembered again stays.
func TestAWriterRemembersABoundedNumberOfAdmissions(t *testing.T) {
	g := NewWithT(t)
	w := NewWriter(io.Discard)
	w.Record(admission("first", 1, "a", Created))
	w.Record(admission("kept", 1, "a", Created))
	for i := range MaxAdmissions - 2 {
		w.Record(admission(fmt.Sprintf("k%d", i), 1, "a", Created))
	}
	w.Record(admission("kept", 1, "b", Created))
	w.Record(admission("one-more", 1, "a", Created))
	g.Expect(w.admitted.byKey).To(HaveLen(MaxAdmissions))
	g.Expect(w.admitted.ring).To(HaveLen(MaxAdmissions))
	_, ok := w.Admitted("first", 1, Created)
	g.Expect(ok).To(BeFalse(), "the oldest is forgotten")
	got, ok := w.Admitted("kept", 1, Created)
	g.Expect(ok).To(BeTrue(), "remembered again after its first place went")
	g.Expect(got.Actor).To(Equal("b"))
	for range 2 * MaxAdmissions {
		w.Record(admission("flood", 1, "a", Created, Suspended))
	}
	g.Expect(w.admitted.byKey).To(HaveLen(2))
	g.Expect(w.admitted.live).To(HaveLen(2))
}

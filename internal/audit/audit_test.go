package audit

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func TestWriterWritesOneJSONLinePerEvent(t *testing.T) {
	g := NewWithT(t)
	path := filepath.Join(t.TempDir(), "audit.log")
	w, closer, err := Open(path)
	g.Expect(err).NotTo(HaveOccurred())
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			w.Record(Event{Time: time.Unix(int64(i), 0).UTC(), Action: Rotated, KeyID: "abc", Owner: "15a6", Namespace: "ns", Name: "k", Reason: "scheduled"})
		})
	}
	wg.Wait()
	g.Expect(closer.Close()).To(Succeed())

	info, err := os.Stat(path)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(info.Mode().Perm()).To(Equal(os.FileMode(0o600)))
	f, _ := os.Open(path)
	defer f.Close()
	lines := 0
	for sc := bufio.NewScanner(f); sc.Scan(); lines++ {
		var e Event
		g.Expect(json.Unmarshal(sc.Bytes(), &e)).To(Succeed())
		g.Expect(e.Action).To(Equal(Rotated))
	}
	g.Expect(lines).To(Equal(50))
}

package logging

import (
	"bytes"
	"testing"

	"github.com/go-logr/logr/funcr"
	. "github.com/onsi/gomega"
)

func TestCapDropsEverythingAboveMaxVerbosity(t *testing.T) {
	g := NewWithT(t)
	var out bytes.Buffer
	base := funcr.New(func(prefix, args string) { out.WriteString(args + "\n") }, funcr.Options{Verbosity: 100})
	l := Cap(base).WithName("x").WithValues("k", "v")

	for level := 0; level <= 10; level++ {
		l.V(level).Info("msg", "level", level)
		g.Expect(l.V(level).Enabled()).To(Equal(level <= MaxVerbosity), "level %d", level)
	}
	g.Expect(out.String()).To(ContainSubstring(`"level"=5`))
	g.Expect(out.String()).NotTo(ContainSubstring(`"level"=6`))
	g.Expect(out.String()).NotTo(ContainSubstring(`"level"=8`))
	g.Expect(out.String()).To(ContainSubstring(`"k"="v"`))
}

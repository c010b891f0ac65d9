package testutil

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func hostPort(g *WithT, addr string) (string, int) {
	host, p, err := net.SplitHostPort(addr)
	g.Expect(err).NotTo(HaveOccurred())
	port, err := strconv.Atoi(p)
	g.Expect(err).NotTo(HaveOccurred())
	return host, port
}

func TestWaitForTLSReturnsOnceTheServerHandshakes(t *testing.T) {
	g := NewWithT(t)
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	defer srv.Close()
	host, port := hostPort(g, srv.Listener.Addr().String())
	g.Expect(WaitForTLS(host, port, 5*time.Second)).To(Succeed())
}

// A port that accepts connections but speaks no TLS is not a webhook
// server that is serving.
func TestWaitForTLSGivesUpOnAPortWithoutTLS(t *testing.T) {
	g := NewWithT(t)
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	host, port := hostPort(g, srv.Listener.Addr().String())
	g.Expect(WaitForTLS(host, port, 200*time.Millisecond)).To(MatchError(ContainSubstring("webhook server did not start")))
}

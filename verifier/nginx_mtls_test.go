package verifier

import (
	"net"
	"net/http"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/keyward-dev/keyward/internal/testutil"
)

// Real nginx terminates mutual TLS (docs/proxies/nginx-mtls.conf) and
// passes the client's certificate to the verifier in X-SSL-Client-Cert;
// real curl is the client. nginx refuses a certificate of another CA;
// the verifier refuses one of the right CA bound to no key, and one a
// client names in a header of its own, on the mTLS site and on a plain
// site (nginx.conf) of the same nginx, which the verifier trusts as much.
func TestRealNginxMutualTLS(t *testing.T) {
	p := newMTLSProxy(t, testutil.CertOptions{CommonName: "nginx", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	foreign := p.other.Issue(t, reporterOptions)
	backends := startProxyBackends(t, p.v, Config{ClientCertificates: ClientCertificates{
		Forwarded: &ForwardedCertificate{Format: ForwardedNginx, Header: "X-SSL-Client-Cert", TrustedHops: []string{"127.0.0.0/8"}},
	}})
	listen := startNginxConf(t, "nginx-mtls.conf", map[string]string{
		"Upstream": backends.Upstream, "Verifier": backends.Verifier,
		"ServerCert": p.ServerCert, "ServerKey": p.ServerKey, "ClientCA": p.ClientCA,
	})
	url := "https://" + listen + "/acme/payments/investigations/INV-7"

	get := func(cert *testutil.Cert, name string, headers ...string) int {
		t.Helper()
		return curlStatus(t, url, p.ClientCA, cert, name, headers...)
	}
	g := NewWithT(t)

	g.Expect(get(p.bound, "bound")).To(Equal(http.StatusOK))
	p.expectBoundReachesUpstream(g, backends)

	backends.upstreamSaw.Store(nil)
	g.Expect(get(foreign, "foreign")).To(Equal(http.StatusBadRequest), "nginx refuses a certificate of another CA")
	g.Expect(get(nil, "none")).To(Equal(http.StatusBadRequest), "nginx requires a certificate")
	g.Expect(get(p.unbound, "unbound")).To(Equal(http.StatusUnauthorized), "the verifier refuses a certificate bound to no key")
	// The client's own X-SSL-Client-Cert naming the bound certificate is
	// replaced by nginx with the one the client proved it holds.
	g.Expect(get(p.unbound, "unbound-claiming", "X-SSL-Client-Cert: "+escapedPEM(p.bound.Cert))).To(Equal(http.StatusUnauthorized))
	g.Expect(backends.upstreamSaw.Load()).To(BeNil(), "no refused request reached the upstream")

	plain := "http://" + startNginxConf(t, "nginx.conf", map[string]string{"Upstream": backends.Upstream, "Verifier": backends.Verifier})
	a := proxyRequest(t, http.MethodGet, plain+"/acme/payments/investigations/INV-7", "", map[string]string{"X-SSL-Client-Cert": escapedPEM(p.bound.Cert)})
	g.Expect(a.StatusCode).To(Equal(http.StatusUnauthorized), "a plain site's client names the bound (public) certificate in the header")
	g.Expect(backends.upstreamSaw.Load()).To(BeNil())
}

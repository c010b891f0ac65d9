package redisconn_test

import (
	"crypto/tls"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/keyward-dev/keyward/internal/redisconn"
	"github.com/keyward-dev/keyward/internal/testutil"
)

func TestOptionsNeverFallBelowTLS12(t *testing.T) {
	g := NewWithT(t)
	asked := &tls.Config{MinVersion: tls.VersionTLS10}
	o := redisconn.Options(redisconn.Config{Address: "127.0.0.1:6379", TLS: asked, Timeout: time.Second})
	g.Expect(o.TLSConfig.MinVersion).To(Equal(uint16(tls.VersionTLS12)))
	g.Expect(asked.MinVersion).To(Equal(uint16(tls.VersionTLS10)), "the caller's configuration is not changed")
	g.Expect(o.MaxRetries).To(Equal(-1), "one try")
	g.Expect(o.Dialer).NotTo(BeNil(), "the handshake happens while dialing")
	g.Expect(redisconn.Options(redisconn.Config{Address: "127.0.0.1:6379"}).TLSConfig).To(BeNil())
}

func TestLoadTLSVerifiesTheServer(t *testing.T) {
	g := NewWithT(t)
	dir := t.TempDir()
	ca := testutil.NewCA(t, "redis CA")
	certFile, keyFile := ca.Issue(t, testutil.CertOptions{CommonName: "client"}).WriteFiles(t, dir, "client")
	conf, err := redisconn.LoadTLS(redisconn.TLSFiles{CAFile: ca.WriteFile(t, dir, "ca"), CertFile: certFile, KeyFile: keyFile, ServerName: "redis.example"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(conf.InsecureSkipVerify).To(BeFalse())
	g.Expect(conf.MinVersion).To(Equal(uint16(tls.VersionTLS12)))
	g.Expect(conf.ServerName).To(Equal("redis.example"))
	g.Expect(conf.RootCAs.Equal(ca.Pool())).To(BeTrue())
	g.Expect(conf.Certificates).To(HaveLen(1))
}

// TestAClientOfATLSOnlyRedis: the address's host is the name verified
// when none is configured, and the server is reached with TLS only.
func TestAClientOfATLSOnlyRedis(t *testing.T) {
	g := NewWithT(t)
	ca := testutil.NewCA(t, "redis CA")
	srv := testutil.StartRedisServerWith(t, testutil.RedisServerOptions{TLS: &testutil.RedisTLS{CA: ca, AuthClients: "no"}})
	good := redisconn.NewClient(redisconn.Config{Address: srv.Addr(), TLS: &tls.Config{RootCAs: ca.Pool()}, Timeout: time.Second})
	defer good.Close()
	g.Expect(good.Ping(t.Context()).Err()).To(Succeed())

	plain := redisconn.NewClient(redisconn.Config{Address: srv.Addr(), Timeout: time.Second})
	defer plain.Close()
	g.Expect(plain.Ping(t.Context()).Err()).To(HaveOccurred(), "no plain port")
}

// A script is named by the SHA-1 Redis gives it, also under
// GODEBUG=fips140=only (make test runs this package so), where computing
// SHA-1 otherwise panics.
func TestNewScriptHasRedisName(t *testing.T) {
	g := NewWithT(t)
	g.Expect(redisconn.NewScript("return 1").Hash()).To(Equal("e0e1f9fabfc9d4800c877a703b823ac0578ff8db"))
}

package e2e

import (
	"encoding/json"
	"sync"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/keyward-dev/keyward/internal/testutil"
)

// The verifier's configuration is the ConfigMap the manager mounts whole
// at /etc/keyward (config/e2e sets --verifier-config-map). The tests that
// need more than config/e2e's trusted callers write all of it here, so
// that each runs alone too: the client-certificate authority e2e-clients
// always, with its CA as another key of the ConfigMap, and the token
// issuer when asked.
const (
	verifierConfigMap = "keyward-verifier-config"
	e2eClientsCAKey   = "e2e-clients-ca.crt"
)

// verifierSettings says which optional parts of the configuration a test
// needs.
type verifierSettings struct {
	tokens bool
}

func (s verifierSettings) yaml() string {
	y := "trustedCallers: [127.0.0.0/8]\n" +
		"clientCertificates:\n" +
		"  authorities:\n" +
		"    - name: e2e-clients\n" +
		"      caFile: /etc/keyward/" + e2eClientsCAKey + "\n"
	if s.tokens {
		// The public port speaks TLS (config/e2e), so the issuer is https.
		y += "oauth:\n  issuer: https://" + publicAddr + "\n"
	}
	return y
}

// e2eClients is the CA of the authority e2e-clients, made once per run:
// its certificate goes into the ConfigMap, its key never leaves the test.
var e2eClients struct {
	once sync.Once
	ca   *testutil.CA
}

func e2eClientsCA(t *testing.T) *testutil.CA {
	t.Helper()
	e2eClients.once.Do(func() { e2eClients.ca = testutil.NewCA(t, "e2e-clients") })
	return e2eClients.ca
}

// configureVerifier writes the verifier's configuration and, when that
// changed it, rolls the verifier pods: the verifier reads its
// configuration, and the files its authorities name, when it starts.
func configureVerifier(t *testing.T, s verifierSettings) {
	t.Helper()
	g := NewWithT(t)
	want := map[string]string{
		"verifier.yaml": s.yaml(),
		e2eClientsCAKey: string(e2eClientsCA(t).CertPEM()),
	}
	raw := must(t, "-n", verifierNS, "get", "configmap", verifierConfigMap, "-o", "jsonpath={.data}")
	var have map[string]string
	g.Expect(json.Unmarshal([]byte(raw), &have)).To(Succeed())
	if have[e2eClientsCAKey] == want[e2eClientsCAKey] && have["verifier.yaml"] == want["verifier.yaml"] {
		return
	}
	data, err := json.Marshal(map[string]any{"data": want})
	g.Expect(err).NotTo(HaveOccurred())
	must(t, "-n", verifierNS, "patch", "configmap", verifierConfigMap, "--type=merge", "-p", string(data))
	// Run alone, a test may come before the manager has deployed the
	// verifier.
	g.Eventually(func(g Gomega) {
		g.Expect(jsonpath(g, "{.spec.template.spec.volumes[*].configMap.name}", "-n", verifierNS, "get", "deployment", "keyward-verifier")).
			To(ContainSubstring(verifierConfigMap))
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	must(t, "-n", verifierNS, "rollout", "restart", "deployment/keyward-verifier")
	must(t, "-n", verifierNS, "rollout", "status", "deployment/keyward-verifier", "--timeout=3m")
}

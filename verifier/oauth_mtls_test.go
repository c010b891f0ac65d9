package verifier

import (
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	. "github.com/onsi/gomega"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/keyward-dev/keyward/internal/certbind"
	"github.com/keyward-dev/keyward/internal/record"
	"github.com/keyward-dev/keyward/internal/testutil"
)

const (
	boundResource = "acme/payments/investigations:read"
	boundPath     = "/acme/payments/investigations/INV-7"
)

// mtlsServer is an OAuth fixture served over TLS by a server that asks
// for client certificates without judging them, as the verifier's own
// listener does: the verifier decides what a certificate is worth.
type mtlsServer struct {
	*oauthFixture
	srv *httptest.Server
	// clients is the authority named "clients" in the configuration.
	clients *testutil.CA
}

func servedMutualTLS(t *testing.T) *mtlsServer {
	t.Helper()
	ca := testutil.NewCA(t, "clients")
	auth, err := LoadAuthorities([]CertificateAuthority{{Name: "clients", CAFile: ca.WriteFile(t, t.TempDir(), "clients")}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(nil)
	base := "https://" + srv.Listener.Addr().String()
	f := newOAuthFixture(t, OAuthConfig{Issuer: base, MutualTLSBaseURL: base}, func(o *Options) { o.Authorities = auth })
	// Test certificates are valid around the real time; so is the
	// verifier's clock here.
	now := time.Now().Truncate(time.Second)
	f.clock.SetTime(now)
	f.putIssuer(testRSAKey(t, 0), now.Add(-time.Hour), now.Add(-time.Hour), nil, nil)
	h, err := newTestHandler(f.v, Config{})
	if err != nil {
		t.Fatal(err)
	}
	f.handler = h
	srv.Config.Handler = h
	srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return &mtlsServer{oauthFixture: f, srv: srv, clients: ca}
}

// client connects with cert, or with no certificate when cert is nil.
func (m *mtlsServer) client(cert *testutil.Cert) *http.Client {
	tr := m.srv.Client().Transport.(*http.Transport).Clone()
	if cert != nil {
		tr.TLSClientConfig.Certificates = []tls.Certificate{cert.TLSCertificate()}
	}
	return &http.Client{Transport: tr}
}

// boundKey publishes a key that authenticates by certificate only.
func (m *mtlsServer) boundKey(b certbind.Binding, methods ...string) *issued {
	m.t.Helper()
	k := m.issue(boundResource)
	k.rec.AuthMethods = append([]string{record.AuthMutualTLS}, methods...)
	k.rec.ClientCertificate = &b
	m.publish(k)
	return k
}

// reporterNamed is what the reporter's certificates name: its keys are
// bound by the DNS name.
var reporterNamed = testutil.CertOptions{CommonName: "reporter", DNSNames: []string{"reporter.example"}}

// reporterByName binds a key to the reporter's DNS name under the
// clients authority.
var reporterByName = certbind.Binding{DNSName: "reporter.example", Authority: "clients"}

// boundReporter issues the reporter a certificate and a key bound to its
// name with credential (empty: the certificate alone), accepting methods
// besides mutual TLS.
func (m *mtlsServer) boundReporter(credential certbind.Credential, methods ...string) (*testutil.Cert, *issued) {
	m.t.Helper()
	b := reporterByName
	b.Credential = credential
	return m.clients.Issue(m.t, reporterNamed), m.boundKey(b, methods...)
}

// tokenFor runs the client credentials grant with x/oauth2 over a
// connection with cert, client_id in the body and no secret
// (tls_client_auth, RFC 8705 §2).
func (m *mtlsServer) tokenFor(keyID string, cert *testutil.Cert) (*oauth2.Token, error) {
	cc := clientcredentials.Config{
		ClientID: keyID, TokenURL: m.srv.URL + TokenPath,
		Scopes: []string{boundResource}, AuthStyle: oauth2.AuthStyleInParams,
	}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, m.client(cert))
	return cc.Token(ctx)
}

// use presents a token on forward-auth over a connection with cert.
// answer is what a test reads of a response, its body closed.
type answer struct {
	StatusCode int
	Header     http.Header
}

func (m *mtlsServer) use(accessToken string, cert *testutil.Cert) answer {
	m.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, m.srv.URL+EnvoyPrefix+boundPath, nil)
	req.Header.Set("Authorization", "Bearer "+accessToken)
	res, err := m.client(cert).Do(req)
	if err != nil {
		m.t.Fatal(err)
	}
	_ = res.Body.Close()
	return answer{res.StatusCode, res.Header}
}

// independentClaims validates a token with golang-jwt against the key
// the verifier publishes in its JWKS: nothing of keyward's own token code
// takes part.
func (m *mtlsServer) independentClaims(g *WithT, raw string) jwt.MapClaims {
	res, err := m.client(nil).Get(m.srv.URL + JWKSPath)
	g.Expect(err).NotTo(HaveOccurred())
	defer res.Body.Close()
	var set struct {
		Keys []struct{ Kid, Kty, N, E string } `json:"keys"`
	}
	g.Expect(json.NewDecoder(res.Body).Decode(&set)).To(Succeed())
	keyFunc := func(tok *jwt.Token) (any, error) {
		for _, k := range set.Keys {
			if k.Kid == tok.Header["kid"] && k.Kty == "RSA" {
				n, err1 := base64.RawURLEncoding.DecodeString(k.N)
				e, err2 := base64.RawURLEncoding.DecodeString(k.E)
				if err := errors.Join(err1, err2); err != nil {
					return nil, err
				}
				return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}, nil
			}
		}
		return nil, errors.New("the token's kid is not in the JWKS")
	}
	claims := jwt.MapClaims{}
	_, err = jwt.ParseWithClaims(raw, claims, keyFunc,
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithIssuer(m.srv.URL), jwt.WithAudience(m.srv.URL),
		jwt.WithExpirationRequired(), jwt.WithTimeFunc(m.clock.Now))
	g.Expect(err).NotTo(HaveOccurred())
	return claims
}

// x5tS256 computes RFC 8705's thumbprint here, apart from certbind.
func x5tS256(c *testutil.Cert) string {
	sum := sha256.Sum256(c.Cert.Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func challengeOf(res answer) string { return res.Header.Get("WWW-Authenticate") }

// TestTLSClientAuthIssuesABoundToken: x/oauth2 authenticates with its
// certificate alone; the token carries cnf.x5t#S256 of that certificate
// (read by an independent JWT library) and works only over a connection
// with the same certificate.
func TestTLSClientAuthIssuesABoundToken(t *testing.T) {
	g := NewWithT(t)
	m := servedMutualTLS(t)
	cert, k := m.boundReporter("")

	tok, err := m.tokenFor(k.key.ID(), cert)
	g.Expect(testutil.ErrorText(err)).To(BeEmpty())
	g.Expect(tok.Extra("scope")).To(Equal(boundResource))

	claims := m.independentClaims(g, tok.AccessToken)
	g.Expect(claims).To(HaveKeyWithValue("sub", k.key.ID()))
	g.Expect(claims).To(HaveKeyWithValue("cnf", map[string]any{"x5t#S256": certbind.Thumbprint(cert.Cert.Raw)}))
	g.Expect(certbind.Thumbprint(cert.Cert.Raw)).To(Equal(x5tS256(cert)))

	res := m.use(tok.AccessToken, cert)
	g.Expect(res.StatusCode).To(Equal(http.StatusOK))
	g.Expect(res.Header.Get(HeaderKeyID)).To(Equal(k.key.ID()))

	other := m.clients.Issue(t, reporterNamed)
	res = m.use(tok.AccessToken, other)
	g.Expect(res.StatusCode).To(Equal(http.StatusUnauthorized), "the same name from the same CA is another certificate")
	g.Expect(challengeOf(res)).To(ContainSubstring(`error="invalid_token"`))
	g.Expect(challengeOf(res)).To(ContainSubstring("bound to another client certificate"))
	g.Expect(res.Header.Get(HeaderKeyID)).To(BeEmpty())

	res = m.use(tok.AccessToken, nil)
	g.Expect(res.StatusCode).To(Equal(http.StatusUnauthorized))
	g.Expect(challengeOf(res)).To(ContainSubstring(`error="invalid_token"`))
	g.Expect(challengeOf(res)).To(ContainSubstring("presents none"))
}

// TestSelfSignedTLSClientAuth: a key bound by thumbprint without an
// authority takes a self-signed certificate (RFC 8705 §2.2), that one only.
func TestSelfSignedTLSClientAuth(t *testing.T) {
	g := NewWithT(t)
	m := servedMutualTLS(t)
	cert := testutil.SelfSigned(t, testutil.CertOptions{CommonName: "device-17"})
	k := m.boundKey(certbind.Binding{Thumbprint: certbind.Thumbprint(cert.Cert.Raw)})

	tok, err := m.tokenFor(k.key.ID(), cert)
	g.Expect(testutil.ErrorText(err)).To(BeEmpty())
	g.Expect(m.independentClaims(g, tok.AccessToken)).To(HaveKeyWithValue("cnf", map[string]any{"x5t#S256": x5tS256(cert)}))
	g.Expect(m.use(tok.AccessToken, cert).StatusCode).To(Equal(http.StatusOK))

	impostor := testutil.SelfSigned(t, testutil.CertOptions{CommonName: "device-17"})
	_, err = m.tokenFor(k.key.ID(), impostor)
	g.Expect(tokenError(err)).To(HaveKeyWithValue("error", "invalid_client"))
	g.Expect(tokenError(err)["error_description"]).To(ContainSubstring(authSelfSignedTLSClient))
	g.Expect(m.use(tok.AccessToken, impostor).StatusCode).To(Equal(http.StatusUnauthorized))
}

// tokenError is the RFC 6749 §5.2 body of a refused x/oauth2 request.
func tokenError(err error) map[string]any {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return nil
	}
	var body map[string]any
	_ = json.Unmarshal(re.Body, &body)
	body["status"] = re.Response.StatusCode
	return body
}

// TestTLSClientAuthRefusals: every way a certificate fails to
// authenticate its key is 401 invalid_client naming what was wrong.
func TestTLSClientAuthRefusals(t *testing.T) {
	m := servedMutualTLS(t)
	good := m.clients.Issue(t, reporterNamed)
	byName := reporterByName
	rogueCA := testutil.NewCA(t, "clients")
	expired := m.clients.Issue(t, testutil.CertOptions{DNSNames: reporterNamed.DNSNames,
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})

	revoked := m.issue(boundResource)
	revokedAt := m.clock.Now()
	revoked.rec.AuthMethods, revoked.rec.ClientCertificate = []string{record.AuthMutualTLS}, &byName
	revoked.rec.State, revoked.rec.RevokedAt, revoked.rec.Secrets = record.Revoked, &revokedAt, nil
	m.publish(revoked)
	withKey := byName
	withKey.Credential = certbind.CertificateAndKey

	tests := map[string]struct {
		keyID       string
		cert        *testutil.Cert
		status      int
		code        string
		description string
	}{
		"another CA, same name": {m.boundKey(byName).key.ID(), rogueCA.Issue(t, reporterNamed), 401, "invalid_client", authTLSClient},
		"the CA, another name": {m.boundKey(byName).key.ID(),
			m.clients.Issue(t, testutil.CertOptions{DNSNames: []string{"billing.example"}}), 401, "invalid_client", authTLSClient},
		"expired":                 {m.boundKey(byName).key.ID(), expired, 401, "invalid_client", authTLSClient},
		"no certificate":          {m.boundKey(byName).key.ID(), nil, 401, "invalid_client", "client certificate"},
		"key without MutualTLS":   {m.issueWithMethods([]string{record.AuthClientCredentials}, boundResource).key.ID(), good, 401, "invalid_client", "spec.authMethods"},
		"binding needs the key":   {m.boundKey(withKey).key.ID(), good, 401, "invalid_client", "requires the key as well"},
		"revoked key":             {revoked.key.ID(), good, 401, "invalid_client", string(ReasonRevoked)},
		"unknown key":             {"nosuchkeyxxxxxxx", good, 401, "invalid_client", string(ReasonUnknownKey)},
		"no client_id":            {"", good, 400, "invalid_request", "client_id is required"},
		"a name bound, self-sign": {m.boundKey(byName).key.ID(), testutil.SelfSigned(t, reporterNamed), 401, "invalid_client", authTLSClient},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			form := url.Values{"grant_type": {"client_credentials"}}
			if tc.keyID != "" {
				form.Set("client_id", tc.keyID)
			}
			req, _ := http.NewRequest(http.MethodPost, m.srv.URL+TokenPath, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			res, err := m.client(tc.cert).Do(req)
			g.Expect(err).NotTo(HaveOccurred())
			defer res.Body.Close()
			var body map[string]any
			g.Expect(json.NewDecoder(res.Body).Decode(&body)).To(Succeed())
			g.Expect(res.StatusCode).To(Equal(tc.status))
			g.Expect(body).To(HaveKeyWithValue("error", tc.code))
			g.Expect(body["error_description"]).To(ContainSubstring(tc.description))
			g.Expect(body).NotTo(HaveKey("access_token"))
		})
	}
}

// TestSecretOverMutualTLSBindsTheToken: RFC 8705 §3 binds the token when
// the client used mutual TLS, whatever it authenticated with: a key sent
// as client_secret over a connection with a certificate gets a bound
// token, and the same key without a certificate an unbound one.
func TestSecretOverMutualTLSBindsTheToken(t *testing.T) {
	g := NewWithT(t)
	m := servedMutualTLS(t)
	k := m.issueWithMethods([]string{record.AuthClientCredentials}, boundResource)
	cert := m.clients.Issue(t, testutil.CertOptions{CommonName: "any client"})
	cc := clientcredentials.Config{ClientID: k.key.ID(), ClientSecret: k.key.Plaintext(), TokenURL: m.srv.URL + TokenPath}

	tok, err := cc.Token(context.WithValue(context.Background(), oauth2.HTTPClient, m.client(cert)))
	g.Expect(testutil.ErrorText(err)).To(BeEmpty())
	g.Expect(m.independentClaims(g, tok.AccessToken)).To(HaveKeyWithValue("cnf", map[string]any{"x5t#S256": x5tS256(cert)}))
	g.Expect(m.use(tok.AccessToken, cert).StatusCode).To(Equal(http.StatusOK))
	g.Expect(m.use(tok.AccessToken, nil).StatusCode).To(Equal(http.StatusUnauthorized))

	plain, err := cc.Token(context.WithValue(context.Background(), oauth2.HTTPClient, m.client(nil)))
	g.Expect(testutil.ErrorText(err)).To(BeEmpty())
	g.Expect(m.independentClaims(g, plain.AccessToken)).NotTo(HaveKey("cnf"))
	g.Expect(m.use(plain.AccessToken, nil).StatusCode).To(Equal(http.StatusOK), "an unbound token works as before")
	g.Expect(m.use(plain.AccessToken, cert).StatusCode).To(Equal(http.StatusOK))
}

// TestMutualTLSMetadata: RFC 8414 metadata with RFC 8705's additions.
func TestMutualTLSMetadata(t *testing.T) {
	g := NewWithT(t)
	m := servedMutualTLS(t)
	res, err := m.client(nil).Get(m.srv.URL + ASMetadataPath)
	g.Expect(err).NotTo(HaveOccurred())
	var doc map[string]any
	g.Expect(json.NewDecoder(res.Body).Decode(&doc)).To(Succeed())
	_ = res.Body.Close()
	g.Expect(doc).To(HaveKeyWithValue("tls_client_certificate_bound_access_tokens", true))
	g.Expect(doc["token_endpoint_auth_methods_supported"]).To(ContainElements(authTLSClient, authSelfSignedTLSClient, "client_secret_basic", "private_key_jwt"))
	g.Expect(doc).To(HaveKeyWithValue("mtls_endpoint_aliases", map[string]any{"token_endpoint": m.srv.URL + TokenPath}))

	// Without a mutual-TLS URL no client can present a certificate to the
	// token endpoint, so neither the methods nor an alias are advertised.
	_, plain := served(t)
	res, err = http.Get(plain.URL + ASMetadataPath)
	g.Expect(err).NotTo(HaveOccurred())
	doc = nil
	g.Expect(json.NewDecoder(res.Body).Decode(&doc)).To(Succeed())
	_ = res.Body.Close()
	g.Expect(doc).To(HaveKeyWithValue("tls_client_certificate_bound_access_tokens", true))
	g.Expect(doc["token_endpoint_auth_methods_supported"]).NotTo(ContainElement(authTLSClient))
	g.Expect(doc).NotTo(HaveKey("mtls_endpoint_aliases"))
}

func TestMutualTLSBaseURLMustBeHTTPS(t *testing.T) {
	for _, bad := range []string{"http://keyward.example.com", "keyward.example.com", "https://keyward.example.com/?x=1", "https://"} {
		g := NewWithT(t)
		_, err := NewTokens(NewSigningKeys(), OAuthConfig{Issuer: testIssuer, MutualTLSBaseURL: bad}, nil)
		g.Expect(err).To(MatchError(ContainSubstring("oauth.mutualTLSBaseURL")), bad)
	}
}

// behindProxy serves the same verifier plainly, as behind a proxy that
// terminates mutual TLS and passes the certificate in nginx's form; only
// peers in trustedHops are believed.
func (m *mtlsServer) behindProxy(trustedHops ...string) *httptest.Server {
	m.t.Helper()
	h, err := newTestHandler(m.v, Config{ClientCertificates: ClientCertificates{
		Forwarded: &ForwardedCertificate{Format: ForwardedNginx, TrustedHops: trustedHops},
	}})
	if err != nil {
		m.t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	m.t.Cleanup(srv.Close)
	return srv
}

// forwardedUse presents a token on the forward-auth of mutual-TLS sites
// with cert in the header nginx fills from $ssl_client_escaped_cert.
func forwardedUse(t *testing.T, srv *httptest.Server, accessToken string, cert *testutil.Cert) answer {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+MTLSEnvoyPrefix+boundPath, nil)
	req.Header.Set("Authorization", "Bearer "+accessToken)
	req.Header.Set("X-SSL-Client-Cert", strings.ReplaceAll(url.QueryEscape(string(cert.CertPEM())), "+", "%20"))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	return answer{res.StatusCode, res.Header}
}

// TestStolenBoundTokenIsWorthless: an attacker who copied a victim's
// bound token (from a log, a proxy, a compromised upstream) replays it
// with its own certificate, with none, and through a proxy header it
// writes itself. Every replay is refused; only the victim's certificate,
// over TLS or from a trusted proxy, is accepted.
func TestStolenBoundTokenIsWorthless(t *testing.T) {
	g := NewWithT(t)
	m := servedMutualTLS(t)
	victim, k := m.boundReporter("")
	tok, err := m.tokenFor(k.key.ID(), victim)
	g.Expect(testutil.ErrorText(err)).To(BeEmpty())
	stolen := tok.AccessToken

	// The attacker's own certificate from the same CA, and even one
	// naming the victim: neither has the victim's thumbprint.
	for _, attacker := range []*testutil.Cert{
		m.clients.Issue(t, testutil.CertOptions{CommonName: "attacker", DNSNames: []string{"attacker.example"}}),
		m.clients.Issue(t, reporterNamed),
		testutil.SelfSigned(t, reporterNamed),
	} {
		res := m.use(stolen, attacker)
		g.Expect(res.StatusCode).To(Equal(http.StatusUnauthorized))
		g.Expect(challengeOf(res)).To(ContainSubstring(`error="invalid_token"`))
		g.Expect(res.Header.Get(HeaderKeyID)).To(BeEmpty())
	}
	g.Expect(m.use(stolen, nil).StatusCode).To(Equal(http.StatusUnauthorized))

	// A header the attacker writes (it has the victim's certificate,
	// which is public, but not its key) from a peer that is not a trusted
	// hop is ignored: the token came with no certificate.
	untrusted := m.behindProxy("10.0.0.0/8")
	res := forwardedUse(t, untrusted, stolen, victim)
	g.Expect(res.StatusCode).To(Equal(http.StatusUnauthorized))
	g.Expect(challengeOf(res)).To(ContainSubstring("presents none"))

	// The same header from a trusted proxy is believed: the refusal above
	// was the peer's, not the header's.
	trusted := m.behindProxy("127.0.0.0/8")
	g.Expect(forwardedUse(t, trusted, stolen, victim).StatusCode).To(Equal(http.StatusOK))
	res = forwardedUse(t, trusted, stolen, m.clients.Issue(t, testutil.CertOptions{CommonName: "attacker"}))
	g.Expect(res.StatusCode).To(Equal(http.StatusUnauthorized))
	g.Expect(challengeOf(res)).To(ContainSubstring("bound to another client certificate"))

	// The decision API has no field for the client's certificate (its
	// caller's own TLS certificate is not the client's), so a bound token
	// is refused there whoever asks.
	body := `{"subject":{"credential":"` + stolen + `"},"resource":{"org":"acme","project":"payments","type":"investigations","id":"INV-7"},"action":{"id":"read"}}`
	decided, err := m.client(victim).Post(m.srv.URL+DecisionPath, "application/json", strings.NewReader(body))
	g.Expect(err).NotTo(HaveOccurred())
	var d Decision
	g.Expect(json.NewDecoder(decided.Body).Decode(&d)).To(Succeed())
	_ = decided.Body.Close()
	g.Expect(d.Result).To(Equal(Deny))
	g.Expect(d.Reason).To(Equal(ReasonTokenCertificateMissing))
	g.Expect(d.KeyID).To(BeEmpty())

	// The victim's own requests still pass.
	g.Expect(m.use(stolen, victim).StatusCode).To(Equal(http.StatusOK))
}

// TestCertificateAndKeyAtTheTokenEndpoint: a key bound with credential
// CertificateAndKey gets a token only when its secret comes over a
// connection with its certificate, and that token is bound to it.
func TestCertificateAndKeyAtTheTokenEndpoint(t *testing.T) {
	g := NewWithT(t)
	m := servedMutualTLS(t)
	cert, k := m.boundReporter(certbind.CertificateAndKey, record.AuthClientCredentials)
	cc := clientcredentials.Config{ClientID: k.key.ID(), ClientSecret: k.key.Plaintext(), TokenURL: m.srv.URL + TokenPath}
	token := func(c *testutil.Cert) (*oauth2.Token, error) {
		return cc.Token(context.WithValue(context.Background(), oauth2.HTTPClient, m.client(c)))
	}

	tok, err := token(cert)
	g.Expect(testutil.ErrorText(err)).To(BeEmpty())
	g.Expect(m.independentClaims(g, tok.AccessToken)).To(HaveKeyWithValue("cnf", map[string]any{"x5t#S256": x5tS256(cert)}))
	g.Expect(m.use(tok.AccessToken, cert).StatusCode).To(Equal(http.StatusOK))

	for name, c := range map[string]*testutil.Cert{
		"no certificate":      nil,
		"another certificate": m.clients.Issue(t, testutil.CertOptions{DNSNames: []string{"billing.example"}}),
	} {
		_, err := token(c)
		g.Expect(tokenError(err)).To(HaveKeyWithValue("error", "invalid_client"), name)
	}
}

// TestTLSClientAuthWithCurl: the real curl, with --cert, gets a bound
// token and uses it; without its certificate the token is refused.
func TestTLSClientAuthWithCurl(t *testing.T) {
	g := NewWithT(t)
	curl := testutil.Program(t, "curl", "curl")
	m := servedMutualTLS(t)
	cert := m.clients.Issue(t, testutil.CertOptions{CommonName: "reporter", URIs: []string{"spiffe://example.org/ns/payments/sa/reporter"}})
	k := m.boundKey(certbind.Binding{URI: "spiffe://example.org/ns/payments/sa/reporter", Authority: "clients"})
	dir := t.TempDir()
	certFile, keyFile := cert.WriteFiles(t, dir, "reporter")
	serverCA := dir + "/server.crt"
	testutil.WriteFile(t, serverCA, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: m.srv.Certificate().Raw}))
	run := func(args ...string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, curl, append([]string{"-sS", "--cacert", serverCA}, args...)...).Output()
		g.Expect(err).NotTo(HaveOccurred(), string(out))
		return string(out)
	}

	var tok map[string]any
	g.Expect(json.Unmarshal([]byte(run("--cert", certFile, "--key", keyFile,
		"-d", "grant_type=client_credentials", "-d", "client_id="+k.key.ID(), m.srv.URL+TokenPath)), &tok)).To(Succeed())
	g.Expect(tok).To(HaveKey("access_token"))
	raw := tok["access_token"].(string)
	g.Expect(m.independentClaims(g, raw)).To(HaveKeyWithValue("cnf", map[string]any{"x5t#S256": x5tS256(cert)}))

	status := func(args ...string) string {
		return run(append(args, "-o", "/dev/null", "-w", "%{http_code}", "-H", "Authorization: Bearer "+raw, m.srv.URL+EnvoyPrefix+boundPath)...)
	}
	g.Expect(status("--cert", certFile, "--key", keyFile)).To(Equal("200"))
	g.Expect(status()).To(Equal("401"))
}

package redteam

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keywardv1 "github.com/keyward-dev/keyward/api/v1alpha1"
	"github.com/keyward-dev/keyward/internal/signingrecord"
	"github.com/keyward-dev/keyward/internal/token"
	"github.com/keyward-dev/keyward/verifier"
)

// clientKeyPair is a client's key pair: the private half stays with the
// client, the public half is what anyone may see and enrol.
type clientKeyPair struct {
	priv *ecdsa.PrivateKey
	pem  string
	kid  string
}

func newClientKeyPair(g Gomega) clientKeyPair {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	g.Expect(err).NotTo(HaveOccurred())
	der, err := x509.MarshalPKIXPublicKey(k.Public())
	g.Expect(err).NotTo(HaveOccurred())
	kid, err := signingrecord.KID(k.Public())
	g.Expect(err).NotTo(HaveOccurred())
	return clientKeyPair{priv: k, pem: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), kid: kid}
}

// assertionSpec is an APIKey that authenticates with enrolled keys only.
func assertionSpec(owner string) keywardv1.APIKeySpec {
	return keywardv1.APIKeySpec{
		Owner: owner, Scopes: readScope,
		AuthMethods: []keywardv1.AuthMethod{keywardv1.AuthMethodClientAssertion},
	}
}

// clientSigningKey is a client SigningKey enrolling pub for an APIKey.
func clientSigningKey(ns, name, owner, apiKey, pub string) *keywardv1.SigningKey {
	return &keywardv1.SigningKey{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: keywardv1.SigningKeySpec{Mode: keywardv1.SigningKeyModeClient, Owner: owner,
			Client: &keywardv1.ClientKey{APIKeyName: apiKey, PublicKey: pub}},
	}
}

// enrol enrols the key pair for an APIKey of the tenant and waits until
// the SigningKey is Ready.
func (tn tenant) enrol(t *testing.T, g *WithT, name, owner, apiKey string, kp clientKeyPair) *keywardv1.SigningKey {
	t.Helper()
	sk := clientSigningKey(tn.ns, name, owner, apiKey, kp.pem)
	g.Expect(tn.c.Create(context.Background(), sk)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(tn.c.Get(context.Background(), client.ObjectKeyFromObject(sk), sk)).To(Succeed())
		g.Expect(meta.IsStatusConditionTrue(sk.Status.Conditions, keywardv1.ReadyCondition)).To(BeTrue(), "Ready: %+v", sk.Status.Conditions)
	}).WithTimeout(waitFor).Should(Succeed())
	return sk
}

// readyReason is the reason of the SigningKey's Ready condition, "" while
// it has none.
func (tn tenant) readyReason(g Gomega, name string) string {
	sk := &keywardv1.SigningKey{}
	g.Expect(tn.c.Get(context.Background(), client.ObjectKey{Namespace: tn.ns, Name: name}, sk)).To(Succeed())
	if c := meta.FindStatusCondition(sk.Status.Conditions, keywardv1.ReadyCondition); c != nil {
		return c.Reason
	}
	return ""
}

// signAssertion is a client assertion (RFC 7523) for keyID, signed with
// the key pair, addressed to aud, with a fresh jti.
func signAssertion(g Gomega, kp clientKeyPair, keyID, aud string) string {
	jti, err := token.NewJTI()
	g.Expect(err).NotTo(HaveOccurred())
	return signAssertionJTI(g, kp, keyID, aud, jti)
}

func signAssertionJTI(g Gomega, kp clientKeyPair, keyID, aud, jti string) string {
	s, err := token.NewSigner(kp.kid, kp.priv)
	g.Expect(err).NotTo(HaveOccurred())
	now := time.Now()
	raw, err := token.Sign(s, token.Claims{
		Issuer: keyID, Subject: keyID, Audience: []string{aud},
		IssuedAt: now, Expiry: now.Add(2 * time.Minute), ID: jti,
	})
	g.Expect(err).NotTo(HaveOccurred())
	return raw
}

// tokenByAssertion asks a token endpoint for a token with private_key_jwt
// and returns the status and the OAuth error description, if any.
func tokenByAssertion(g Gomega, base, assertion string) (int, string) {
	form := url.Values{
		"grant_type":            {"client_credentials"},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {assertion},
	}
	resp, err := http.PostForm(base+verifier.TokenPath, form)
	g.Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	var body struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body.Error + ": " + body.Description
}

// decisionAPI asks the decision API about a read with the credential.
func decisionAPI(g Gomega, credential string) verifier.Result {
	var in verifier.DecisionRequest
	in.Subject.Credential = credential
	in.Resource.Org, in.Resource.Project, in.Resource.Type = "acme", "payments", "investigations"
	in.Action.ID = "read"
	b, err := json.Marshal(in)
	g.Expect(err).NotTo(HaveOccurred())
	resp, err := http.Post(verifierURL+verifier.DecisionPath, "application/json", bytes.NewReader(b))
	g.Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	var out struct {
		Result verifier.Result `json:"decision"`
	}
	g.Expect(json.NewDecoder(resp.Body).Decode(&out)).To(Succeed())
	return out.Result
}

// expectTokenByAssertion waits until the verifier at base gives a token
// for a fresh assertion of the key pair.
func expectTokenByAssertion(g *WithT, base string, kp clientKeyPair, keyID, aud string) {
	g.Eventually(func(g Gomega) {
		status, desc := tokenByAssertion(g, base, signAssertion(g, kp, keyID, aud))
		g.Expect(status).To(Equal(http.StatusOK), desc)
	}).WithTimeout(waitFor).Should(Succeed())
}

// signingRecord reads the record of a kid as the verifier would, with the
// UID of the SigningKey that owns its Secret.
func signingRecord(g Gomega, kid string) (signingrecord.Record, string) {
	sec := &corev1.Secret{}
	g.Expect(admin.Get(context.Background(), client.ObjectKey{Namespace: verifierNamespace, Name: signingrecord.SecretName(kid)}, sec)).To(Succeed())
	rec, err := signingrecord.Decode(sec.Data[signingrecord.DataKey])
	g.Expect(err).NotTo(HaveOccurred())
	return rec, sec.Labels[signingrecord.SigningKeyUIDLabel]
}

// TestAttackClientKidCollision: public keys are public. A tenant enrols
// another tenant's published client key for an APIKey of its own, so
// that the manager rebinds the kid and the victim's assertions stop
// working. Admission refuses it, naming the kid, and the victim's key
// keeps authenticating as the victim.
func TestAttackClientKidCollision(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ensureIssuer(t, g)
	victim, mallory := newTenant(t, g, "victim"), newTenant(t, g, "mallory")
	vk := victim.createKey(t, g, "signer", assertionSpec("victim"))
	kp := newClientKeyPair(g)
	vsk := victim.enrol(t, g, "laptop", "victim", "signer", kp)
	expectTokenByAssertion(g, publicURL, kp, vk.Status.KeyID, publicURL)

	mallory.createKey(t, g, "device", assertionSpec("mallory"))
	err := mallory.c.Create(ctx, clientSigningKey(mallory.ns, "borrowed", "mallory", "device", kp.pem))
	g.Consistently(func(g Gomega) {
		rec, owner := signingRecord(g, kp.kid)
		g.Expect(rec.KeyID).To(Equal(vk.Status.KeyID), "the kid still names the victim's key ID")
		g.Expect(owner).To(Equal(string(vsk.UID)), "the Secret is still the victim's SigningKey's")
		status, desc := tokenByAssertion(g, publicURL, signAssertion(g, kp, vk.Status.KeyID, publicURL))
		g.Expect(status).To(Equal(http.StatusOK), desc)
	}).WithTimeout(5 * time.Second).Should(Succeed())
	g.Expect(err).To(HaveOccurred(), "enrolling a published kid is refused at admission")
	g.Expect(err.Error()).To(ContainSubstring(kp.kid))
}

// TestAttackPendingKidOverwrite: admission cannot see a kid nobody has
// published yet. A tenant enrols another tenant's public key for an
// APIKey that does not exist yet (admitted: manifests applied together
// arrive in any order), waits until the victim enrols and publishes it,
// then creates the APIKey. The manager must not write over the victim's
// Secret: the late SigningKey is Ready=False and the victim's key keeps
// working.
func TestAttackPendingKidOverwrite(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ensureIssuer(t, g)
	victim, mallory := newTenant(t, g, "victim"), newTenant(t, g, "mallory")
	kp := newClientKeyPair(g)
	g.Expect(mallory.c.Create(ctx, clientSigningKey(mallory.ns, "sleeper", "mallory", "later", kp.pem))).To(Succeed())
	g.Eventually(func(g Gomega) string { return mallory.readyReason(g, "sleeper") }).WithTimeout(waitFor).
		Should(Equal(keywardv1.APIKeyNotReadyReason))

	vk := victim.createKey(t, g, "signer", assertionSpec("victim"))
	vsk := victim.enrol(t, g, "laptop", "victim", "signer", kp)
	expectTokenByAssertion(g, publicURL, kp, vk.Status.KeyID, publicURL)

	mallory.createKey(t, g, "later", assertionSpec("mallory"))
	g.Consistently(func(g Gomega) {
		rec, owner := signingRecord(g, kp.kid)
		g.Expect(rec.KeyID).To(Equal(vk.Status.KeyID), "the kid still names the victim's key ID")
		g.Expect(owner).To(Equal(string(vsk.UID)), "the Secret is still the victim's SigningKey's")
		status, desc := tokenByAssertion(g, publicURL, signAssertion(g, kp, vk.Status.KeyID, publicURL))
		g.Expect(status).To(Equal(http.StatusOK), desc)
	}).WithTimeout(5 * time.Second).Should(Succeed())
	g.Eventually(func(g Gomega) string { return mallory.readyReason(g, "sleeper") }).WithTimeout(waitFor).
		Should(Equal(keywardv1.KidInUseReason), "the late SigningKey is told the kid belongs to another")
}

// TestAttackEnrolledKeyFollowsNewAPIKey: a key pair was enrolled for the
// APIKey "device" (a laptop since lost, say). The team deletes "device"
// and creates a new "device" under a new key ID. The old key pair must
// not authenticate as the new APIKey, at the token endpoint or as a
// bearer credential, and the SigningKey says to enrol again.
func TestAttackEnrolledKeyFollowsNewAPIKey(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ensureIssuer(t, g)
	team := newTenant(t, g, "team")
	old := team.createKey(t, g, "device", assertionSpec("team"))
	kp := newClientKeyPair(g)
	team.enrol(t, g, "lost-laptop", "team", "device", kp)
	expectTokenByAssertion(g, publicURL, kp, old.Status.KeyID, publicURL)

	g.Expect(team.c.Delete(ctx, &keywardv1.APIKey{ObjectMeta: metav1.ObjectMeta{Namespace: team.ns, Name: "device"}})).To(Succeed())
	g.Eventually(func(g Gomega) {
		err := team.c.Get(ctx, client.ObjectKey{Namespace: team.ns, Name: "device"}, &keywardv1.APIKey{})
		g.Expect(err).To(HaveOccurred())
	}).WithTimeout(waitFor).Should(Succeed())
	renewed := team.createKey(t, g, "device", assertionSpec("team"))
	g.Expect(renewed.Status.KeyID).NotTo(Equal(old.Status.KeyID))

	g.Consistently(func(g Gomega) {
		for _, id := range []string{renewed.Status.KeyID, old.Status.KeyID} {
			status, desc := tokenByAssertion(g, publicURL, signAssertion(g, kp, id, publicURL))
			g.Expect(status).To(Equal(http.StatusUnauthorized), "token for key ID %s: %s", id, desc)
			g.Expect(reason(g, signAssertion(g, kp, id, publicURL))).NotTo(BeEmpty(), "bearer assertion for key ID %s", id)
		}
	}).WithTimeout(5 * time.Second).Should(Succeed())
	rec, _ := signingRecord(g, kp.kid)
	g.Expect(rec.KeyID).NotTo(Equal(renewed.Status.KeyID), "the record never names the new APIKey's key ID")
	g.Eventually(func(g Gomega) string { return team.readyReason(g, "lost-laptop") }).WithTimeout(waitFor).
		Should(Equal(keywardv1.APIKeyReplacedReason), "the SigningKey stays bound to the APIKey it was enrolled for")
}

// TestAttackTokenEndpointAssertionAsBearer: an assertion addressed to the
// token endpoint (aud = issuer + token path, as RFC 7523 suggests) is
// meant for private_key_jwt only. Whoever sees it on its way (a proxy's
// log, a compromised token endpoint client library) must not use it as a
// bearer credential on forward-auth or the decision API.
func TestAttackTokenEndpointAssertionAsBearer(t *testing.T) {
	g := NewWithT(t)
	ensureIssuer(t, g)
	team := newTenant(t, g, "team")
	ak := team.createKey(t, g, "signer", assertionSpec("team"))
	kp := newClientKeyPair(g)
	team.enrol(t, g, "laptop", "team", "signer", kp)
	tokenAud := publicURL + verifier.TokenPath
	expectTokenByAssertion(g, publicURL, kp, ak.Status.KeyID, tokenAud)

	g.Consistently(func(g Gomega) {
		status, _ := decide(g, signAssertion(g, kp, ak.Status.KeyID, tokenAud))
		g.Expect(status).To(Equal(http.StatusUnauthorized), "forward-auth refuses a token endpoint assertion")
		g.Expect(decisionAPI(g, signAssertion(g, kp, ak.Status.KeyID, tokenAud))).NotTo(Equal(verifier.Permit), "the decision API refuses it")
	}).WithTimeout(3 * time.Second).Should(Succeed())
	// The same client, addressing the verifier itself, still may.
	g.Expect(reason(g, signAssertion(g, kp, ak.Status.KeyID, publicURL))).To(BeEmpty())
}

// TestAttackReplayAcrossReplicas: an assertion intercepted after use is
// replayed at another verifier replica, and at a replica that restarted.
// With Redis configured (over TLS, as an ACL user) the jti is accepted
// once, cluster-wide.
func TestAttackReplayAcrossReplicas(t *testing.T) {
	g := NewWithT(t)
	ensureIssuer(t, g)
	team := newTenant(t, g, "team")
	ak := team.createKey(t, g, "signer", assertionSpec("team"))
	kp := newClientKeyPair(g)
	team.enrol(t, g, "laptop", "team", "signer", kp)

	redis := startRedis(t)
	a := startTokenReplica(t, g, redis)
	b := startTokenReplica(t, g, redis)
	expectTokenByAssertion(g, a.url, kp, ak.Status.KeyID, replicaIssuer)
	expectTokenByAssertion(g, b.url, kp, ak.Status.KeyID, replicaIssuer)

	jti, err := token.NewJTI()
	g.Expect(err).NotTo(HaveOccurred())
	once := signAssertionJTI(g, kp, ak.Status.KeyID, replicaIssuer, jti)
	status, desc := tokenByAssertion(g, a.url, once)
	g.Expect(status).To(Equal(http.StatusOK), desc)
	status, desc = tokenByAssertion(g, b.url, once)
	g.Expect(status).To(Equal(http.StatusUnauthorized), "replayed at another replica: %s", desc)
	g.Expect(desc).To(ContainSubstring("assertion_replayed"))

	a.stop()
	restarted := startTokenReplica(t, g, redis)
	expectTokenByAssertion(g, restarted.url, kp, ak.Status.KeyID, replicaIssuer)
	status, desc = tokenByAssertion(g, restarted.url, once)
	g.Expect(status).To(Equal(http.StatusUnauthorized), "replayed after a restart: %s", desc)
	g.Expect(desc).To(ContainSubstring("assertion_replayed"))
	// A fresh assertion is still welcome everywhere.
	status, desc = tokenByAssertion(g, b.url, signAssertion(g, kp, ak.Status.KeyID, replicaIssuer))
	g.Expect(status).To(Equal(http.StatusOK), desc)
	g.Expect(strings.Contains(desc, "replayed")).To(BeFalse())
}

package verifier

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/keyward-dev/keyward/internal/record"
	"github.com/keyward-dev/keyward/internal/token"
)

// TestJWTAttacks: every forged, stale, misdirected or replayed token is
// denied with the RFC 6750 error and the reason that names the problem.
func TestJWTAttacks(t *testing.T) {
	const path = "/acme/payments/investigations/INV-7"
	issuerKey, retiredKey, strangerKey := testRSAKey(t, 0), testRSAKey(t, 1), testRSAKey(t, 2)
	clientKey := newECKey(t)

	type setup struct {
		f      *oauthFixture
		key    *issued
		claims token.Claims
	}
	tests := map[string]struct {
		// token returns the credential to present; it may present others
		// before it to set the stage.
		token  func(s *setup) string
		status int
		error  string
		reason Reason
	}{
		"alg none": {
			token: func(s *setup) string {
				return unsigned(t, map[string]any{"alg": "none", "kid": kidOf(t, issuerKey.Public()), "typ": "JWT"}, s.claims)
			},
			status: 401, error: "invalid_token", reason: ReasonTokenAlgorithm,
		},
		"HS256 with the RSA public key as secret": {
			token: func(s *setup) string {
				der, _ := x509.MarshalPKIXPublicKey(issuerKey.Public())
				secret := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
				return hmacSigned(t, secret, map[string]any{"alg": "HS256", "kid": kidOf(t, issuerKey.Public()), "typ": "JWT"}, s.claims)
			},
			status: 401, error: "invalid_token", reason: ReasonTokenAlgorithm,
		},
		"unknown kid": {
			token:  func(s *setup) string { return sign(t, strangerKey, s.claims) },
			status: 401, error: "invalid_token", reason: ReasonTokenUnknownKID,
		},
		"kid of a retired key after its retirement": {
			token:  func(s *setup) string { return sign(t, retiredKey, s.claims) },
			status: 401, error: "invalid_token", reason: ReasonTokenUnknownKID,
		},
		"expired": {
			token: func(s *setup) string {
				c := s.claims
				c.IssuedAt, c.NotBefore, c.Expiry = t0.Add(-time.Hour), t0.Add(-time.Hour), t0.Add(-time.Minute)
				return sign(t, issuerKey, c)
			},
			status: 401, error: "invalid_token", reason: ReasonTokenExpired,
		},
		"not yet valid": {
			token: func(s *setup) string {
				c := s.claims
				c.NotBefore, c.Expiry = t0.Add(time.Minute), t0.Add(5*time.Minute)
				return sign(t, issuerKey, c)
			},
			status: 401, error: "invalid_token", reason: ReasonTokenNotYetValid,
		},
		"wrong iss": {
			token: func(s *setup) string {
				c := s.claims
				c.Issuer = "https://evil.example.com"
				return sign(t, issuerKey, c)
			},
			status: 401, error: "invalid_token", reason: ReasonTokenIssuer,
		},
		"wrong aud": {
			token: func(s *setup) string {
				c := s.claims
				c.Audience = []string{"https://other.example.com"}
				return sign(t, issuerKey, c)
			},
			status: 401, error: "invalid_token", reason: ReasonTokenAudience,
		},
		"tampered payload": {
			token: func(s *setup) string {
				parts := strings.Split(sign(t, issuerKey, s.claims), ".")
				c := s.claims
				c.Scope = "acme/*/investigations:admin"
				parts[1] = b64JSON(t, c)
				return strings.Join(parts, ".")
			},
			status: 401, error: "invalid_token", reason: ReasonTokenSignature,
		},
		"token of a revoked key": {
			token: func(s *setup) string {
				raw := sign(t, issuerKey, s.claims)
				// Accepted (and cached) first, then the key is revoked.
				if w := s.f.forward(raw, path); w.Code != http.StatusOK {
					t.Fatalf("before revocation: %d %s", w.Code, w.Body)
				}
				revoked := t0
				s.key.rec.State, s.key.rec.Secrets, s.key.rec.RevokedAt = record.Revoked, nil, &revoked
				s.key.rec.Version++
				s.f.publish(s.key)
				return raw
			},
			status: 401, error: "invalid_token", reason: ReasonRevoked,
		},
		"replayed jti": {
			token: func(s *setup) string {
				a := assertionFor(t, clientKey, s.key.key.ID(), t0, "jti-1")
				if w := s.f.forward(a, path); w.Code != http.StatusOK {
					t.Fatalf("first use: %d %s", w.Code, w.Body)
				}
				return a
			},
			status: 401, error: "invalid_token", reason: ReasonAssertionReplayed,
		},
		"client assertion from a skewed clock": {
			token: func(s *setup) string {
				if w := s.f.forward(assertionFor(t, clientKey, s.key.key.ID(), t0, "jti-1"), path); w.Code != http.StatusOK {
					t.Fatalf("baseline: %d %s", w.Code, w.Body)
				}
				// A minute later by our clock, the client's clock says three
				// minutes earlier: it jumped back four minutes. The assertion
				// itself is still within its exp.
				s.f.clock.Step(time.Minute)
				return assertionFor(t, clientKey, s.key.key.ID(), t0.Add(-3*time.Minute), "jti-2")
			},
			status: 401, error: "invalid_token", reason: ReasonClientClockSkew,
		},
		"token for scopes beyond the key's": {
			token: func(s *setup) string {
				c := s.claims
				c.Scope = "acme/payments/evidence:read"
				return sign(t, issuerKey, c)
			},
			status: 403, error: "insufficient_scope", reason: ReasonInsufficientScope,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			f := newOAuthFixture(t, OAuthConfig{})
			f.putIssuer(issuerKey, t0.Add(-time.Hour), t0.Add(-time.Hour), nil, nil)
			gone, withdrawn := t0.Add(-time.Hour), t0.Add(-time.Minute)
			f.putIssuer(retiredKey, t0.Add(-2*time.Hour), t0.Add(-2*time.Hour), &gone, &withdrawn)
			k := f.issueWithMethods(bothMethods, "acme/payments/investigations:read")
			f.putClient(clientKey.Public(), k.key.ID(), "")
			s := &setup{f: f, key: k, claims: token.Claims{
				Issuer: testIssuer, Subject: k.key.ID(), Audience: []string{testIssuer},
				IssuedAt: t0, NotBefore: t0, Expiry: t0.Add(5 * time.Minute),
				Scope: "acme/payments/investigations:read",
			}}
			// The same claims, honestly signed, pass: each row breaks one thing.
			g.Expect(f.forward(sign(t, issuerKey, s.claims), path).Code).To(Equal(http.StatusOK))

			w := f.forward(tc.token(s), path)
			g.Expect(w.Code).To(Equal(tc.status), w.Body.String())
			g.Expect(challengeError(w)).To(Equal(tc.error))
			var body denialBody
			g.Expect(json.Unmarshal(w.Body.Bytes(), &body)).To(Succeed())
			g.Expect(body.Reason).To(Equal(tc.reason))
			g.Expect(body.Message).NotTo(BeEmpty())
		})
	}
}

// assertionFor is a client assertion (RFC 7523) signed at iat by the
// client's own clock.
func assertionFor(t *testing.T, key *ecdsa.PrivateKey, keyID string, iat time.Time, jti string) string {
	t.Helper()
	return sign(t, key, assertionClaims(keyID, iat, jti, testIssuer))
}

func assertionClaims(keyID string, iat time.Time, jti, aud string) token.Claims {
	return token.Claims{
		Issuer: keyID, Subject: keyID, Audience: []string{aud},
		IssuedAt: iat, Expiry: iat.Add(5 * time.Minute), ID: jti,
	}
}

// signerKey is what sign accepts.
type signerKey = crypto.Signer

func b64JSON(t *testing.T, v any) string {
	return base64.RawURLEncoding.EncodeToString(mustJSON(t, v))
}

func unsigned(t *testing.T, header map[string]any, c token.Claims) string {
	return b64JSON(t, header) + "." + b64JSON(t, c) + "."
}

func hmacSigned(t *testing.T, secret []byte, header map[string]any, c token.Claims) string {
	input := b64JSON(t, header) + "." + b64JSON(t, c)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(input))
	return input + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

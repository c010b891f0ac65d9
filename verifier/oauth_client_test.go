package verifier

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"
	. "github.com/onsi/gomega"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/keyward-dev/keyward/internal/record"
	"github.com/keyward-dev/keyward/internal/token"
)

// served starts a real server for an OAuth fixture whose issuer is the
// server's own URL, as the metadata documents require.
func served(t *testing.T) (*oauthFixture, *httptest.Server) {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	f := newOAuthFixture(t, OAuthConfig{Issuer: "http://" + srv.Listener.Addr().String()})
	srv.Config.Handler = f.handler
	srv.Start()
	t.Cleanup(srv.Close)
	return f, srv
}

// TestClientCredentialsEndToEnd: a token from the real x/oauth2 client,
// checked by an independent JOSE library against the published JWKS, and
// accepted by forward-auth.
func TestClientCredentialsEndToEnd(t *testing.T) {
	for name, style := range map[string]oauth2.AuthStyle{
		"client_secret_basic": oauth2.AuthStyleInHeader,
		"client_secret_post":  oauth2.AuthStyleInParams,
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			f, srv := served(t)
			f.putIssuer(testRSAKey(t, 0), t0.Add(-time.Hour), t0.Add(-time.Hour), nil, nil)
			k := f.issueWithMethods([]string{record.AuthClientCredentials}, "acme/payments/investigations:read", "acme/payments/evidence:read")

			cc := clientcredentials.Config{
				ClientID: k.key.ID(), ClientSecret: k.key.Plaintext(), TokenURL: srv.URL + TokenPath,
				Scopes: []string{"acme/payments/investigations:read"}, AuthStyle: style,
			}
			tok, err := cc.Token(context.Background())
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(tok.TokenType).To(Equal("Bearer"))
			g.Expect(tok.Extra("scope")).To(Equal("acme/payments/investigations:read"))

			res, err := http.Get(srv.URL + JWKSPath)
			g.Expect(err).NotTo(HaveOccurred())
			body, _ := io.ReadAll(res.Body)
			_ = res.Body.Close()
			set, err := jwk.Parse(body)
			g.Expect(err).NotTo(HaveOccurred())
			parsed, err := jwt.Parse([]byte(tok.AccessToken), jwt.WithKeySet(set),
				jwt.WithIssuer(srv.URL), jwt.WithAudience(srv.URL),
				jwt.WithClock(jwt.ClockFunc(f.clock.Now)))
			g.Expect(err).NotTo(HaveOccurred())
			sub, _ := parsed.Subject()
			g.Expect(sub).To(Equal(k.key.ID()))
			jti, _ := parsed.JwtID()
			g.Expect(jti).NotTo(BeEmpty())
			exp, _ := parsed.Expiration()
			g.Expect(exp).To(Equal(t0.Add(testTokenLifetime)))

			w := f.forward(tok.AccessToken, "/acme/payments/investigations/INV-7")
			g.Expect(w.Code).To(Equal(http.StatusOK), w.Body.String())
			g.Expect(w.Header().Get(HeaderKeyID)).To(Equal(k.key.ID()))
			// The upstream learns the token's scopes, not the key's wider ones.
			g.Expect(w.Header().Get(HeaderScopes)).To(Equal("acme/payments/investigations:read"))

			// The token carries less than the key: evidence is the key's,
			// not the token's.
			w = f.forward(tok.AccessToken, "/acme/payments/evidence/E-1")
			g.Expect(w.Code).To(Equal(http.StatusForbidden))
			g.Expect(challengeError(w)).To(Equal("insufficient_scope"))
		})
	}
}

func postToken(t *testing.T, srv *httptest.Server, form url.Values, basicUser, basicPass string) (int, http.Header, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+TokenPath, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicUser != "" {
		req.SetBasicAuth(basicUser, basicPass)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(res.Body).Decode(&body)
	return res.StatusCode, res.Header, body
}

// TestTokenEndpointErrors: RFC 6749 §5.2 codes and statuses, each with a
// description naming what was wrong.
func TestTokenEndpointErrors(t *testing.T) {
	f, srv := served(t)
	f.putIssuer(testRSAKey(t, 0), t0.Add(-time.Hour), t0.Add(-time.Hour), nil, nil)
	cc := f.issueWithMethods([]string{record.AuthClientCredentials}, "acme/payments/investigations:read")
	plain := f.issueWithMethods(nil, "acme/payments/investigations:read")
	grant := url.Values{"grant_type": {"client_credentials"}}
	with := func(extra url.Values) url.Values {
		out := url.Values{}
		for k, v := range grant {
			out[k] = v
		}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	tests := map[string]struct {
		form        url.Values
		user, pass  string
		status      int
		code        string
		description string
	}{
		"wrong grant type":     {url.Values{"grant_type": {"password"}}, cc.key.ID(), cc.key.Plaintext(), 400, "unsupported_grant_type", "client_credentials"},
		"no grant type":        {url.Values{}, cc.key.ID(), cc.key.Plaintext(), 400, "invalid_request", "grant_type"},
		"no client":            {grant, "", "", 401, "invalid_client", "authentication is required"},
		"wrong secret":         {grant, cc.key.ID(), plain.key.Plaintext(), 401, "invalid_client", "key ID"},
		"not a key":            {grant, cc.key.ID(), "hunter2", 401, "invalid_client", "key ID"},
		"method not allowed":   {grant, plain.key.ID(), plain.key.Plaintext(), 400, "unauthorized_client", "ClientCredentials"},
		"scope beyond the key": {with(url.Values{"scope": {"acme/payments/evidence:read"}}), cc.key.ID(), cc.key.Plaintext(), 400, "invalid_scope", "beyond the key's scopes"},
		"scope not a scope":    {with(url.Values{"scope": {"everything"}}), cc.key.ID(), cc.key.Plaintext(), 400, "invalid_scope", "not a valid scope"},
		"two methods":          {with(url.Values{"client_id": {cc.key.ID()}, "client_secret": {cc.key.Plaintext()}}), cc.key.ID(), cc.key.Plaintext(), 400, "invalid_request", "exactly one"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			status, hdr, body := postToken(t, srv, tc.form, tc.user, tc.pass)
			g.Expect(status).To(Equal(tc.status))
			g.Expect(body).To(HaveKeyWithValue("error", tc.code))
			g.Expect(body["error_description"]).To(ContainSubstring(tc.description))
			g.Expect(hdr.Get("Cache-Control")).To(Equal("no-store"))
			if tc.code == "invalid_client" && tc.user != "" {
				g.Expect(hdr.Get("WWW-Authenticate")).To(HavePrefix("Basic "))
			}
			// Never the key in an answer.
			g.Expect(mustJSON(t, body)).NotTo(ContainSubstring(cc.key.Plaintext()))
		})
	}
}

// TestMetadataDocuments: RFC 8414 and OpenID discovery name the endpoints,
// and every cache header stays within the rotation overlap.
func TestMetadataDocuments(t *testing.T) {
	g := NewWithT(t)
	f, srv := served(t)
	f.putIssuer(testRSAKey(t, 0), t0.Add(-time.Hour), t0.Add(-time.Hour+testOverlap), nil, nil)
	for _, p := range []string{ASMetadataPath, OIDCDiscoveryPath} {
		res, err := http.Get(srv.URL + p)
		g.Expect(err).NotTo(HaveOccurred())
		var doc map[string]any
		g.Expect(json.NewDecoder(res.Body).Decode(&doc)).To(Succeed())
		_ = res.Body.Close()
		g.Expect(doc).To(HaveKeyWithValue("issuer", srv.URL))
		g.Expect(doc).To(HaveKeyWithValue("token_endpoint", srv.URL+TokenPath))
		g.Expect(doc).To(HaveKeyWithValue("jwks_uri", srv.URL+JWKSPath))
		g.Expect(res.Header.Get("Cache-Control")).To(Equal("public, max-age=300"))
	}
}

// TestDecisionAPIAcceptsTokens: the decision API takes a token as
// subject.credential, like forward-auth.
func TestDecisionAPIAcceptsTokens(t *testing.T) {
	g := NewWithT(t)
	f := newOAuthFixture(t, OAuthConfig{})
	key := testRSAKey(t, 0)
	f.putIssuer(key, t0.Add(-time.Hour), t0.Add(-time.Hour), nil, nil)
	k := f.issueWithMethods([]string{record.AuthClientCredentials}, "acme/payments/investigations:read")
	raw := sign(t, key, token.Claims{
		Issuer: testIssuer, Subject: k.key.ID(), Audience: []string{testIssuer},
		IssuedAt: t0, NotBefore: t0, Expiry: t0.Add(5 * time.Minute), Scope: "acme/payments/investigations:read",
	})
	decide := func(action string) Decision {
		body := `{"subject":{"credential":"` + raw + `"},"resource":{"org":"acme","project":"payments","type":"investigations","id":"INV-7"},"action":{"id":"` + action + `"}}`
		r := httptest.NewRequest(http.MethodPost, DecisionPath, strings.NewReader(body))
		w := httptest.NewRecorder()
		f.handler.ServeHTTP(w, r)
		g.Expect(w.Code).To(Equal(http.StatusOK))
		var d Decision
		g.Expect(json.Unmarshal(w.Body.Bytes(), &d)).To(Succeed())
		return d
	}
	d := decide("read")
	g.Expect(d.Result).To(Equal(Permit))
	g.Expect(d.KeyID).To(Equal(k.key.ID()))
	d = decide("write")
	g.Expect(d.Result).To(Equal(Deny))
	g.Expect(d.Reason).To(Equal(ReasonInsufficientScope))
	g.Expect(d.RequiredScope).To(Equal("acme/payments/investigations/INV-7:write"))
}

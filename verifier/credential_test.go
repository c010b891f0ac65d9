package verifier

import (
	"net/http"
	"testing"

	. "github.com/onsi/gomega"
)

func TestExtractCredential(t *testing.T) {
	headers := []string{http.CanonicalHeaderKey("Argus-API-Key")}
	tests := map[string]struct {
		h       http.Header
		want    string
		problem CredentialProblem
	}{
		"bearer":                      {http.Header{"Authorization": {"Bearer abc"}}, "abc", CredentialPresent},
		"bearer, any case":            {http.Header{"Authorization": {"bEaReR   abc"}}, "abc", CredentialPresent},
		"api key header":              {http.Header{"Argus-Api-Key": {"abc"}}, "abc", CredentialPresent},
		"both, the same key":          {http.Header{"Authorization": {"Bearer abc"}, "Argus-Api-Key": {"abc"}}, "abc", CredentialPresent},
		"none":                        {http.Header{}, "", CredentialMissing},
		"both, different keys":        {http.Header{"Authorization": {"Bearer abc"}, "Argus-Api-Key": {"xyz"}}, "", CredentialMalformed},
		"basic scheme":                {http.Header{"Authorization": {"Basic YWJjOmRlZg=="}}, "", CredentialMalformed},
		"bearer without token":        {http.Header{"Authorization": {"Bearer "}}, "", CredentialMalformed},
		"two authorization headers":   {http.Header{"Authorization": {"Bearer abc", "Bearer abc"}}, "", CredentialMalformed},
		"two api key headers":         {http.Header{"Argus-Api-Key": {"abc", "abc"}}, "", CredentialMalformed},
		"token with a space":          {http.Header{"Authorization": {"Bearer abc def"}}, "", CredentialMalformed},
		"list in api key header":      {http.Header{"Argus-Api-Key": {"abc,def"}}, "", CredentialMalformed},
		"tab in api key header":       {http.Header{"Argus-Api-Key": {"abc\tdef"}}, "", CredentialMalformed},
		"empty api key header":        {http.Header{"Argus-Api-Key": {""}}, "", CredentialMalformed},
		"unconfigured header ignored": {http.Header{"X-Api-Key": {"abc"}}, "", CredentialMissing},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			got, problem := ExtractCredential(tc.h, headers)
			g.Expect(problem).To(Equal(tc.problem))
			g.Expect(got).To(Equal(tc.want))
		})
	}
}

func TestCredentialInQuery(t *testing.T) {
	g := NewWithT(t)
	for q, want := range map[string]bool{
		"":                        false,
		"page=2":                  false,
		"access_token=abc":        true,
		"x=1&ACCESS_TOKEN=abc":    true,
		"k=keyward_abc":           true,
		"api_key=abc":             true,
		"apikey=abc":              true,
		"token_type=access_token": false,
		"API_KEY=abc":             true,
		"q=1&Access_Token=abc":    true,
		"apikey":                  false,
		"api-key=abc":             false,
	} {
		g.Expect(credentialInQuery(q)).To(Equal(want), q)
	}
}

func FuzzExtractCredential(f *testing.F) {
	f.Add("Bearer keyward_abc", "keyward_abc", "x=1")
	f.Add("bearer  a", "", "access_token=b")
	f.Add("Basic Zm9vOmJhcg==", "a,b", "")
	f.Fuzz(func(t *testing.T, authz, apiKey, query string) {
		h := http.Header{}
		if authz != "" {
			h.Set("Authorization", authz)
		}
		if apiKey != "" {
			h.Set("Argus-API-Key", apiKey)
		}
		got, problem := ExtractCredential(h, []string{http.CanonicalHeaderKey("Argus-API-Key")})
		switch problem {
		case CredentialPresent:
			if got == "" || len(got) > maxCredentialHeader {
				t.Fatalf("present but %d bytes", len(got))
			}
		default:
			if got != "" {
				t.Fatalf("a credential returned with problem %d", problem)
			}
		}
		_ = credentialInQuery(query)
	})
}

package snippets

import (
	"go/parser"
	"go/token"
	"strings"
	"testing"
	"unicode"

	"sigs.k8s.io/yaml"
)

// FuzzRender feeds every text a snippet takes from a key or an endpoint
// flag. Whatever is accepted must leave each snippet's shape alone: the
// same lines as a plain key's, the Go program still Go, the YAML still
// YAML with the URL it was given, and no control character anywhere.
func FuzzRender(f *testing.F) {
	f.Add("15a6", "payments", "reporting-key", "acme/payments/investigations:read", "http://127.0.0.1:8080")
	f.Add(`a'b"c`, "$(id)", "`x`", "a/b/c:admin", "https://v.example.com:8443/p/")
	f.Add("\u2028", "\\", "\"\n", "*/*/*:read", "http://[::1]:80")
	f.Fuzz(func(t *testing.T, owner, namespace, secretName, scope, decision string) {
		k := testKey(MethodAPIKey, MethodClientCredentials, MethodClientAssertion, MethodMutualTLS)
		k.Owner, k.Namespace, k.SecretName, k.Scopes = owner, namespace, secretName, []string{scope}
		e := testEndpoints
		e.Decision = decision
		plain := testKey(k.AuthMethods...)
		plain.Scopes = []string{"acme/payments/investigations:read"}
		for _, lang := range Langs {
			out, err := Render(lang, k, e, "")
			if err != nil {
				continue
			}
			base, err := Render(lang, plain, e, "")
			if err != nil {
				t.Fatalf("%s: the plain key is refused where the fuzzed one is not: %v", lang, err)
			}
			if got, want := strings.Count(out, "\n"), strings.Count(base, "\n"); got != want {
				t.Fatalf("%s: %d lines, a plain key's snippet has %d:\n%s", lang, got, want, out)
			}
			for _, r := range out {
				if r != '\n' && r != '\t' && unicode.IsControl(r) {
					t.Fatalf("%s: control character %U in\n%s", lang, r, out)
				}
			}
			switch lang {
			case Go:
				if _, err := parser.ParseFile(token.NewFileSet(), "main.go", out, 0); err != nil {
					t.Fatalf("Go snippet does not parse: %v\n%s", err, out)
				}
			case Envoy, Traefik:
				var v map[string]any
				if err := yaml.Unmarshal([]byte(out), &v); err != nil {
					t.Fatalf("%s snippet is not YAML: %v\n%s", lang, err, out)
				}
			}
		}
	})
}

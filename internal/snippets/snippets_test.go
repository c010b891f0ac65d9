package snippets

import (
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/yaml"

	"github.com/keyward-dev/keyward/internal/keys"
)

const testKeyID = "abcdefghijklmnop"

func testKey(methods ...string) Key {
	return Key{
		Owner: "15a6", KeyID: testKeyID, Namespace: "payments", SecretName: "reporting-key",
		AuthMethods: methods, Scopes: []string{"acme/payments/investigations:read", "acme/payments/evidence:write"},
	}
}

var testEndpoints = Endpoints{
	Decision: "http://127.0.0.1:8080",
	Token:    "https://keyward-verifier.keyward-verifier.svc:8083/oauth2/token",
}

var methodSets = map[string][]string{
	"default":           nil,
	"APIKey":            {MethodAPIKey},
	"ClientCredentials": {MethodClientCredentials},
	"ClientAssertion":   {MethodClientAssertion},
	"MutualTLS":         {MethodMutualTLS},
	"all":               {MethodAPIKey, MethodClientCredentials, MethodClientAssertion, MethodMutualTLS},
}

func TestClientSnippetsUseEachMethodOfTheKeyAndNeverTheKey(t *testing.T) {
	plain, err := keys.Generate(testKeyID)
	if err != nil {
		t.Fatal(err)
	}
	marks := map[string]map[Lang]string{
		MethodAPIKey:            {Curl: `Authorization: Bearer $KEYWARD_KEY`, Go: `"Bearer "+key`, Python: `call("Bearer " + KEY)`, JavaScript: `call("Bearer " + key)`},
		MethodClientCredentials: {Curl: `-u 'abcdefghijklmnop':"$KEYWARD_KEY" -d grant_type=client_credentials`, Go: `token(form, keyID, key)`, Python: `KEY_ID, KEY)`, JavaScript: `keyID, key)`},
		MethodClientAssertion:   {Curl: `client_assertion=$KEYWARD_ASSERTION`, Go: `"client_assertion": {os.Getenv("KEYWARD_ASSERTION")}`, Python: `os.environ["KEYWARD_ASSERTION"]`, JavaScript: `process.env["KEYWARD_ASSERTION"]`},
		MethodMutualTLS:         {Curl: `--cert client.crt`, Go: `certificateClient("client.crt", "client.key")`, Python: `load_cert_chain`, JavaScript: `cert: readFileSync("client.crt")`},
	}
	for name, methods := range methodSets {
		for _, lang := range []Lang{Curl, Go, Python, JavaScript} {
			t.Run(name+"/"+string(lang), func(t *testing.T) {
				g := NewWithT(t)
				out, err := Render(lang, testKey(methods...), testEndpoints, "")
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(out).NotTo(ContainSubstring(plain.Plaintext()))
				g.Expect(out).NotTo(ContainSubstring(keys.Prefix + testKeyID + "_"))
				g.Expect(out).To(ContainSubstring("secretKeyRef: {name: \"reporting-key\", key: key}"))
				for method, byLang := range marks {
					want := methods == nil && method == MethodAPIKey
					for _, m := range methods {
						want = want || m == method
					}
					if want {
						g.Expect(out).To(ContainSubstring(byLang[lang]), method)
					} else {
						g.Expect(out).NotTo(ContainSubstring(byLang[lang]), method)
					}
				}
				checkSyntax(t, lang, out)

				embedded, err := Render(lang, testKey(methods...), testEndpoints, plain.Plaintext())
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(embedded).To(ContainSubstring(plain.Plaintext()))
				checkSyntax(t, lang, embedded)
			})
		}
	}
}

// A key shown once leaves its delivery Secret when revealed: a pod told
// to read it from there would fail from then on.
func TestClientSnippetsOfAKeyShownOnceNeverPointPodsAtTheDeliverySecret(t *testing.T) {
	key := testKey()
	key.RevealOnce = true
	for _, lang := range []Lang{Curl, Go, Python, JavaScript} {
		t.Run(string(lang), func(t *testing.T) {
			g := NewWithT(t)
			out, err := Render(lang, key, testEndpoints, "")
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(out).NotTo(ContainSubstring(`secretKeyRef: {name: "reporting-key"`))
			g.Expect(out).To(ContainSubstring("It is shown once: revealing it empties the delivery"))
			g.Expect(out).To(ContainSubstring(`--from-literal=key="$(kubectl keyward reveal 15a6/abcdefghijklmnop -n payments)"`))
			g.Expect(out).To(ContainSubstring("secretKeyRef: {name: my-keyward-key, key: key}"))
			checkSyntax(t, lang, out)
		})
	}
}

func TestProxySnippetsAskTheVerifierAndPassOnlyItsHeaders(t *testing.T) {
	g := NewWithT(t)
	for _, decision := range []string{"http://keyward-verifier.keyward-verifier.svc", "https://verifier.example.com:8443/base/"} {
		e := testEndpoints
		e.Decision = decision
		out, err := Render(Envoy, testKey(), e, "")
		g.Expect(err).NotTo(HaveOccurred())
		var envoyCfg struct {
			HTTPFilters []map[string]any `json:"http_filters"`
			Clusters    []struct {
				LoadAssignment struct {
					Endpoints []struct {
						LBEndpoints []struct {
							Endpoint struct {
								Address struct {
									SocketAddress struct {
										Address   string `json:"address"`
										PortValue int    `json:"port_value"`
									} `json:"socket_address"`
								} `json:"address"`
							} `json:"endpoint"`
						} `json:"lb_endpoints"`
					} `json:"endpoints"`
				} `json:"load_assignment"`
				TransportSocket map[string]any `json:"transport_socket"`
			} `json:"clusters"`
		}
		g.Expect(yaml.Unmarshal([]byte(out), &envoyCfg)).To(Succeed())
		g.Expect(envoyCfg.HTTPFilters).To(HaveLen(3))
		sock := envoyCfg.Clusters[0].LoadAssignment.Endpoints[0].LBEndpoints[0].Endpoint.Address.SocketAddress
		if strings.HasPrefix(decision, "https") {
			g.Expect(sock.Address).To(Equal("verifier.example.com"))
			g.Expect(sock.PortValue).To(Equal(8443))
			g.Expect(out).To(ContainSubstring(`path_prefix: "/base/authz/envoy"`))
			g.Expect(envoyCfg.Clusters[0].TransportSocket).NotTo(BeNil())
		} else {
			g.Expect(sock.Address).To(Equal("keyward-verifier.keyward-verifier.svc"))
			g.Expect(sock.PortValue).To(Equal(80))
			g.Expect(out).To(ContainSubstring(`path_prefix: "/authz/envoy"`))
			g.Expect(envoyCfg.Clusters[0].TransportSocket).To(BeNil())
		}

		out, err = Render(Traefik, testKey(), e, "")
		g.Expect(err).NotTo(HaveOccurred())
		var mw struct {
			Kind string `json:"kind"`
			Spec struct {
				ForwardAuth struct {
					Address                  string `json:"address"`
					AuthResponseHeadersRegex string `json:"authResponseHeadersRegex"`
				} `json:"forwardAuth"`
			} `json:"spec"`
		}
		g.Expect(yaml.Unmarshal([]byte(out), &mw)).To(Succeed())
		g.Expect(mw.Kind).To(Equal("Middleware"))
		g.Expect(mw.Spec.ForwardAuth.Address).To(Equal(strings.TrimSuffix(decision, "/") + "/authz/traefik"))
		g.Expect(mw.Spec.ForwardAuth.AuthResponseHeadersRegex).To(Equal("^X-Keyward-"))
	}

	out, err := Render(Nginx, testKey(MethodMutualTLS), testEndpoints, "")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out).To(ContainSubstring("proxy_pass http://127.0.0.1:8080/authz/nginx;"))
	g.Expect(out).To(ContainSubstring("docs/mtls.md"))
	checkSyntax(t, Nginx, out)
}

func TestTenantTextStaysInsideStringsAndComments(t *testing.T) {
	// The API's schema allows none of this in an owner, a name or a
	// scope; the snippets do not rely on it.
	hostile := []string{`a'b"c`, `$(touch pwned)`, "`id`", `\";os.exit(1);\"`, `*/ }); process.exit(1); //`, `${KEYWARD_KEY}`, `ünïcödé ✓`}
	for _, h := range hostile {
		k := testKey(MethodAPIKey, MethodClientCredentials, MethodClientAssertion, MethodMutualTLS)
		k.Owner, k.Namespace, k.SecretName = h, h, h
		for _, lang := range Langs {
			out, err := Render(lang, k, testEndpoints, "")
			if err != nil {
				t.Fatalf("%s with %q: %v", lang, h, err)
			}
			checkSyntax(t, lang, out)
		}
	}
}

func TestRefusedInputsSayWhatIsWrong(t *testing.T) {
	g := NewWithT(t)
	plain, _ := keys.Generate("zzzzzzzzzzzzzzzz")
	cases := []struct {
		name      string
		key       func(*Key)
		endpoints func(*Endpoints)
		plaintext string
		want      string
	}{
		{name: "bad key ID", key: func(k *Key) { k.KeyID = "NOPE" }, want: "key ID must be"},
		{name: "newline in owner", key: func(k *Key) { k.Owner = "a\nb" }, want: "owner must be printable"},
		{name: "empty namespace", key: func(k *Key) { k.Namespace = "" }, want: "namespace must be printable"},
		{name: "unknown method", key: func(k *Key) { k.AuthMethods = []string{"Telepathy"} }, want: `unknown auth method "Telepathy"`},
		{name: "bad scope", key: func(k *Key) { k.Scopes = []string{"everything"} }, want: "scope"},
		{name: "query in decision URL", endpoints: func(e *Endpoints) { e.Decision = "http://v/x?$host" }, want: "decision URL"},
		{name: "ftp token URL", endpoints: func(e *Endpoints) { e.Token = "ftp://v/token" }, want: "token URL \"ftp://v/token\": must be an http or https URL"},
		{name: "nginx variable in path", endpoints: func(e *Endpoints) { e.Decision = "http://v/$uri" }, want: "path has characters"},
		{name: "foreign key embedded", plaintext: plain.Plaintext(), want: "belongs to another key ID"},
		{name: "not a key embedded", plaintext: "hunter2", want: "the key to embed"},
	}
	for _, c := range cases {
		k, e := testKey(), testEndpoints
		if c.key != nil {
			c.key(&k)
		}
		if c.endpoints != nil {
			c.endpoints(&e)
		}
		_, err := Render(Curl, k, e, c.plaintext)
		g.Expect(err).To(MatchError(ContainSubstring(c.want)), c.name)
	}
	_, err := ParseLang("cobol")
	g.Expect(err).To(MatchError(`unknown snippet language "cobol": one of curl, go, python, js, envoy, traefik, nginx`))
}

func TestRenderAllNamesEveryFile(t *testing.T) {
	g := NewWithT(t)
	all, err := RenderAll(testKey(), testEndpoints)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(all).To(HaveLen(len(Langs)))
	for _, l := range Langs {
		g.Expect(all).To(HaveKey(l.FileName()))
	}
}

// checkSyntax hands a snippet to the real tool of its language.
func checkSyntax(t *testing.T, lang Lang, out string) {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, lang.FileName())
	if lang == JavaScript {
		file = filepath.Join(dir, "client.mjs")
	}
	if err := os.WriteFile(file, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	var cmd *exec.Cmd
	switch lang {
	case Curl:
		cmd = exec.Command("sh", "-n", file)
	case Go:
		// Built by go vet where the methods vary; elsewhere only comments
		// and strings do, and parsing is enough.
		if _, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.AllErrors); err != nil {
			t.Fatalf("Go snippet does not parse: %v\n%s", err, out)
		}
		if !strings.HasPrefix(t.Name(), "TestClientSnippets") {
			return
		}
		cmd = exec.Command("go", "vet", file)
		cmd.Env = append(os.Environ(), "GO111MODULE=off")
	case Python:
		cmd = exec.Command("python3", "-c", "import ast,sys; ast.parse(open(sys.argv[1]).read())", file)
	case JavaScript:
		cmd = exec.Command("node", "--check", file)
	case Envoy, Traefik:
		var v any
		if err := yaml.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("%s snippet is not YAML: %v\n%s", lang, err, out)
		}
		return
	case Nginx:
		conf := "pid " + dir + "/nginx.pid;\nerror_log stderr;\nevents {}\nhttp {\n  access_log off;\n  client_body_temp_path " + dir + ";\n  proxy_temp_path " + dir + ";\n  fastcgi_temp_path " + dir + ";\n  uwsgi_temp_path " + dir + ";\n  scgi_temp_path " + dir + ";\n  server {\n    listen 127.0.0.1:1;\n" + out + "\n  }\n}\n"
		if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd = exec.Command("nginx", "-t", "-q", "-p", dir, "-c", file)
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s snippet refused by %s: %v\n%s\n%s", lang, cmd.Path, err, b, out)
	}
}

package snippets

import (
	"fmt"
	"go/format"
	"strings"
)

const jwtBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// curl is a shell script calling the API once per auth method.
func curl(s snippet) string {
	var b strings.Builder
	b.WriteString("#!/bin/sh\n")
	b.WriteString(lineComment("#", s.about()))
	b.WriteString("set -eu\n")
	if s.plaintext != "" {
		fmt.Fprintf(&b, "%s=%s\n", KeyEnv, sh(s.plaintext))
	} else {
		fmt.Fprintf(&b, ": \"${%s:?set %s to the key}\"\n", KeyEnv, KeyEnv)
	}
	fmt.Fprintf(&b, "API=%s\n", sh(s.ep.api.String()))
	accessToken := ` | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')"`
	if s.has(MethodAPIKey) {
		b.WriteString("\n# APIKey: the key as a bearer token (RFC 6750).\n")
		fmt.Fprintf(&b, "curl -sS -H \"Authorization: Bearer $%s\" \"$API\"\n", KeyEnv)
	}
	if s.has(MethodClientCredentials) {
		b.WriteString("\n# ClientCredentials: the key ID and key buy a short-lived token (RFC 6749 4.4).\n")
		fmt.Fprintf(&b, "TOKEN=\"$(curl -sS -u %s:\"$%s\" -d grant_type=client_credentials", sh(s.KeyID), KeyEnv)
		if len(s.Scopes) > 0 {
			fmt.Fprintf(&b, " --data-urlencode %s", sh("scope="+s.tokenScope()))
		}
		fmt.Fprintf(&b, " %s%s\n", sh(s.ep.token.String()), accessToken)
		b.WriteString("curl -sS -H \"Authorization: Bearer $TOKEN\" \"$API\"\n")
	}
	if s.has(MethodClientAssertion) {
		fmt.Fprintf(&b, "\n# ClientAssertion: %s holds a JWT signed with the client SigningKey enrolled for this key (RFC 7523).\n", AssertionEnv)
		fmt.Fprintf(&b, "TOKEN=\"$(curl -sS -d grant_type=client_credentials -d client_id=%s -d client_assertion_type=%s --data-urlencode \"client_assertion=$%s\" %s%s\n",
			sh(s.KeyID), jwtBearer, AssertionEnv, sh(s.ep.token.String()), accessToken)
		b.WriteString("curl -sS -H \"Authorization: Bearer $TOKEN\" \"$API\"\n")
	}
	if s.has(MethodMutualTLS) {
		b.WriteString("\n# MutualTLS: the client certificate the key binds (RFC 8705).\n")
		b.WriteString("curl -sS --cert client.crt --key client.key \"$API\"\n")
	}
	return b.String()
}

// goClient is a Go program calling the API once per auth method.
func goClient(s snippet) string {
	var b strings.Builder
	b.WriteString(lineComment("//", s.about()))
	b.WriteString("package main\n\nimport (\n")
	imports := []string{"crypto/tls", "encoding/json", "fmt", "io", "log", "net/http", "net/url", "strings"}
	if s.plaintext == "" || s.has(MethodClientAssertion) {
		imports = append(imports, "os")
	}
	for _, imp := range imports {
		fmt.Fprintf(&b, "\t%q\n", imp)
	}
	b.WriteString(")\n\n")
	fmt.Fprintf(&b, "const (\n\tapiURL   = %s\n\ttokenURL = %s\n\tkeyID    = %s\n)\n\n", goString(s.ep.api.String()), goString(s.ep.token.String()), goString(s.KeyID))
	b.WriteString("func main() {\n")
	if s.plaintext != "" {
		fmt.Fprintf(&b, "\tkey := %s\n", goString(s.plaintext))
	} else {
		fmt.Fprintf(&b, "\tkey := os.Getenv(%s)\n\tif key == \"\" {\n\t\tlog.Fatal(%s)\n\t}\n", goString(KeyEnv), goString("set "+KeyEnv+" to the key"))
	}
	if s.has(MethodAPIKey) {
		b.WriteString("\n\t// APIKey: the key as a bearer token (RFC 6750).\n\tcall(http.DefaultClient, \"Bearer \"+key)\n")
	}
	if s.has(MethodClientCredentials) {
		b.WriteString("\n\t// ClientCredentials: the key ID and key buy a short-lived token (RFC 6749 4.4).\n")
		fmt.Fprintf(&b, "\tform := url.Values{\"grant_type\": {\"client_credentials\"}, \"scope\": {%s}}\n", goString(s.tokenScope()))
		b.WriteString("\tcall(http.DefaultClient, \"Bearer \"+token(form, keyID, key))\n")
	}
	if s.has(MethodClientAssertion) {
		fmt.Fprintf(&b, "\n\t// ClientAssertion: %s holds a JWT signed with the client SigningKey enrolled for this key (RFC 7523).\n", AssertionEnv)
		fmt.Fprintf(&b, "\tassertion := url.Values{\"grant_type\": {\"client_credentials\"}, \"client_id\": {keyID},\n\t\t\"client_assertion_type\": {%s}, \"client_assertion\": {os.Getenv(%s)}}\n", goString(jwtBearer), goString(AssertionEnv))
		b.WriteString("\tcall(http.DefaultClient, \"Bearer \"+token(assertion, \"\", \"\"))\n")
	}
	if s.has(MethodMutualTLS) {
		b.WriteString("\n\t// MutualTLS: the client certificate the key binds (RFC 8705).\n")
		b.WriteString("\tcall(certificateClient(\"client.crt\", \"client.key\"), \"\")\n")
	}
	b.WriteString("\t_ = key\n}\n")
	b.WriteString(`
// call sends one request to the API, with authorization when not empty.
func call(c *http.Client, authorization string) {
	req, err := http.NewRequest(http.MethodGet, apiURL, nil)
	if err != nil {
		log.Fatal(err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := c.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.Status, string(body))
}

// certificateClient presents a client certificate.
func certificateClient(certFile, keyFile string) *http.Client {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		log.Fatal(err)
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}}
}

// token asks the token endpoint for an access token.
func token(form url.Values, user, password string) string {
	req, err := http.NewRequest(http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		log.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(password))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string ` + "`json:\"access_token\"`" + `
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.AccessToken == "" {
		log.Fatalf("token endpoint answered %s", resp.Status)
	}
	return out.AccessToken
}
`)
	// The program is assembled from parts; gofmt aligns them. A part that
	// does not parse is a bug the tests catch, so it is returned as is.
	if formatted, err := format.Source([]byte(b.String())); err == nil {
		return string(formatted)
	}
	return b.String()
}

// python is a Python 3 script (standard library only).
func python(s snippet) string {
	var b strings.Builder
	b.WriteString(lineComment("#", s.about()))
	b.WriteString("import base64\nimport json\nimport os\nimport ssl\nimport urllib.parse\nimport urllib.request\n\n")
	fmt.Fprintf(&b, "API_URL = %s\nTOKEN_URL = %s\nKEY_ID = %s\n", pyString(s.ep.api.String()), pyString(s.ep.token.String()), pyString(s.KeyID))
	if s.plaintext != "" {
		fmt.Fprintf(&b, "KEY = %s\n", pyString(s.plaintext))
	} else {
		fmt.Fprintf(&b, "KEY = os.environ[%s]\n", pyString(KeyEnv))
	}
	b.WriteString(`

def call(authorization=None, context=None):
    req = urllib.request.Request(API_URL)
    if authorization:
        req.add_header("Authorization", authorization)
    with urllib.request.urlopen(req, context=context) as resp:
        print(resp.status, resp.read().decode())


def token(form, user=None, password=None):
    req = urllib.request.Request(TOKEN_URL, data=urllib.parse.urlencode(form).encode(), method="POST")
    if user:
        basic = urllib.parse.quote(user, safe="") + ":" + urllib.parse.quote(password, safe="")
        req.add_header("Authorization", "Basic " + base64.b64encode(basic.encode()).decode())
    with urllib.request.urlopen(req) as resp:
        return json.load(resp)["access_token"]

`)
	if s.has(MethodAPIKey) {
		b.WriteString("\n# APIKey: the key as a bearer token (RFC 6750).\ncall(\"Bearer \" + KEY)\n")
	}
	if s.has(MethodClientCredentials) {
		b.WriteString("\n# ClientCredentials: the key ID and key buy a short-lived token (RFC 6749 4.4).\n")
		fmt.Fprintf(&b, "call(\"Bearer \" + token({\"grant_type\": \"client_credentials\", \"scope\": %s}, KEY_ID, KEY))\n", pyString(s.tokenScope()))
	}
	if s.has(MethodClientAssertion) {
		fmt.Fprintf(&b, "\n# ClientAssertion: %s holds a JWT signed with the client SigningKey enrolled for this key (RFC 7523).\n", AssertionEnv)
		fmt.Fprintf(&b, "call(\"Bearer \" + token({\"grant_type\": \"client_credentials\", \"client_id\": KEY_ID,\n                      \"client_assertion_type\": %s, \"client_assertion\": os.environ[%s]}))\n", pyString(jwtBearer), pyString(AssertionEnv))
	}
	if s.has(MethodMutualTLS) {
		b.WriteString("\n# MutualTLS: the client certificate the key binds (RFC 8705).\n")
		b.WriteString("context = ssl.create_default_context()\ncontext.load_cert_chain(\"client.crt\", \"client.key\")\ncall(context=context)\n")
	}
	return b.String()
}

// javaScript is a Node.js (18 or later) ES module.
func javaScript(s snippet) string {
	var b strings.Builder
	b.WriteString(lineComment("//", s.about()))
	b.WriteString("import { readFileSync } from \"node:fs\";\nimport https from \"node:https\";\n\n")
	fmt.Fprintf(&b, "const apiURL = %s;\nconst tokenURL = %s;\nconst keyID = %s;\n", jsString(s.ep.api.String()), jsString(s.ep.token.String()), jsString(s.KeyID))
	if s.plaintext != "" {
		fmt.Fprintf(&b, "const key = %s;\n", jsString(s.plaintext))
	} else {
		fmt.Fprintf(&b, "const key = process.env[%s];\nif (!key) throw new Error(%s);\n", jsString(KeyEnv), jsString("set "+KeyEnv+" to the key"))
	}
	b.WriteString(`
async function call(authorization) {
  const resp = await fetch(apiURL, { headers: authorization ? { Authorization: authorization } : {} });
  console.log(resp.status, await resp.text());
}

async function token(form, user, password) {
  const headers = { "Content-Type": "application/x-www-form-urlencoded" };
  if (user) {
    const basic = encodeURIComponent(user) + ":" + encodeURIComponent(password);
    headers.Authorization = "Basic " + Buffer.from(basic).toString("base64");
  }
  const resp = await fetch(tokenURL, { method: "POST", headers, body: new URLSearchParams(form) });
  if (!resp.ok) throw new Error("token endpoint answered " + resp.status);
  return (await resp.json()).access_token;
}
`)
	if s.has(MethodAPIKey) {
		b.WriteString("\n// APIKey: the key as a bearer token (RFC 6750).\nawait call(\"Bearer \" + key);\n")
	}
	if s.has(MethodClientCredentials) {
		b.WriteString("\n// ClientCredentials: the key ID and key buy a short-lived token (RFC 6749 4.4).\n")
		fmt.Fprintf(&b, "await call(\"Bearer \" + (await token({ grant_type: \"client_credentials\", scope: %s }, keyID, key)));\n", jsString(s.tokenScope()))
	}
	if s.has(MethodClientAssertion) {
		fmt.Fprintf(&b, "\n// ClientAssertion: %s holds a JWT signed with the client SigningKey enrolled for this key (RFC 7523).\n", AssertionEnv)
		fmt.Fprintf(&b, "await call(\"Bearer \" + (await token({ grant_type: \"client_credentials\", client_id: keyID,\n  client_assertion_type: %s, client_assertion: process.env[%s] })));\n", jsString(jwtBearer), jsString(AssertionEnv))
	}
	if s.has(MethodMutualTLS) {
		b.WriteString("\n// MutualTLS: the client certificate the key binds (RFC 8705); fetch takes no client certificate.\n")
		b.WriteString("https.get(apiURL, { cert: readFileSync(\"client.crt\"), key: readFileSync(\"client.key\") }, (resp) => {\n  console.log(resp.statusCode);\n  resp.resume();\n});\n")
	}
	return b.String()
}

// Package snippets renders ready-to-use integration examples for one API
// key: clients (curl, Go, Python, JavaScript) for the key's own auth
// methods, and the forward-auth configuration of the proxies keyward's
// verifier answers (Envoy, Traefik, nginx). A snippet reads the key from
// the environment variable KeyEnv, which a pod fills from the delivery
// Secret; it holds the plaintext only when the caller hands it one.
//
// Every value that reaches a snippet is quoted for the language it lands
// in, so a namespace editor's choice of owner, names or scopes cannot
// break out of a string or a comment.
package snippets

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/keyward-dev/keyward/internal/keys"
	"github.com/keyward-dev/keyward/internal/scope"
)

// KeyEnv is the environment variable every client snippet reads the key
// from.
const KeyEnv = "KEYWARD_KEY"

// AssertionEnv holds, for the ClientAssertion method, a JWT the client
// signed with its enrolled key.
const AssertionEnv = "KEYWARD_ASSERTION"

// Auth methods, as APIKey spec.authMethods names them.
const (
	MethodAPIKey            = "APIKey"
	MethodClientCredentials = "ClientCredentials"
	MethodClientAssertion   = "ClientAssertion"
	MethodMutualTLS         = "MutualTLS"
)

// Key is what the snippets say about one key.
type Key struct {
	// Owner and KeyID make the key's prefix "<owner>/<keyID>".
	Owner, KeyID string
	// Namespace and SecretName locate the delivery Secret, whose "key"
	// the snippets tell a pod to read.
	Namespace, SecretName string
	// AuthMethods are the key's methods; none means APIKey.
	AuthMethods []string
	// Scopes are the key's scopes, asked for in token requests.
	Scopes []string
	// RevealOnce: the key is shown once (spec.delivery.revealOnce), so
	// the delivery Secret stops holding it when it is revealed and a pod
	// must not read it from there.
	RevealOnce bool
}

// Endpoints are where the snippets send requests.
type Endpoints struct {
	// Decision is the base URL of the verifier's decision port, which
	// proxies ask (the forward-auth endpoints hang below it).
	Decision string
	// Token is the URL of the verifier's OAuth 2.0 token endpoint.
	Token string
	// API is the protected service the client snippets call.
	API string
}

// DefaultAPI stands for the protected service when none is known.
const DefaultAPI = "https://api.example.com/"

// Lang is one kind of snippet.
type Lang string

// The snippets there are.
const (
	Curl       Lang = "curl"
	Go         Lang = "go"
	Python     Lang = "python"
	JavaScript Lang = "js"
	Envoy      Lang = "envoy"
	Traefik    Lang = "traefik"
	Nginx      Lang = "nginx"
)

// Langs lists every Lang, in the order they are presented.
var Langs = []Lang{Curl, Go, Python, JavaScript, Envoy, Traefik, Nginx}

var fileNames = map[Lang]string{
	Curl: "curl.sh", Go: "main.go", Python: "client.py", JavaScript: "client.js",
	Envoy: "envoy.yaml", Traefik: "traefik.yaml", Nginx: "nginx.conf",
}

// FileName is the name the snippet is stored under (a ConfigMap key).
func (l Lang) FileName() string { return fileNames[l] }

// ParseLang reads a language name as the plugin's --lang takes it.
func ParseLang(s string) (Lang, error) {
	if l := Lang(s); slices.Contains(Langs, l) {
		return l, nil
	}
	names := make([]string, len(Langs))
	for i, l := range Langs {
		names[i] = string(l)
	}
	return "", fmt.Errorf("unknown snippet language %q: one of %s", s, strings.Join(names, ", "))
}

// Render renders one snippet. plaintext, when not empty, is written into
// the snippet instead of reading KeyEnv: only for a person who asked for it.
func Render(l Lang, k Key, e Endpoints, plaintext string) (string, error) {
	render, ok := renderers[l]
	if !ok {
		_, err := ParseLang(string(l))
		return "", err
	}
	if err := k.validate(); err != nil {
		return "", err
	}
	ep, err := e.parse()
	if err != nil {
		return "", err
	}
	if plaintext != "" {
		pk, err := keys.Parse(plaintext)
		if err != nil {
			return "", fmt.Errorf("the key to embed: %w", err)
		}
		if pk.ID() != k.KeyID {
			return "", errors.New("the key to embed belongs to another key ID")
		}
	}
	return render(snippet{Key: k, ep: ep, plaintext: plaintext}), nil
}

// RenderAll renders every snippet, by file name, without the key.
func RenderAll(k Key, e Endpoints) (map[string]string, error) {
	out := make(map[string]string, len(Langs))
	for _, l := range Langs {
		s, err := Render(l, k, e, "")
		if err != nil {
			return nil, err
		}
		out[l.FileName()] = s
	}
	return out, nil
}

var renderers = map[Lang]func(snippet) string{
	Curl: curl, Go: goClient, Python: python, JavaScript: javaScript,
	Envoy: envoy, Traefik: traefik, Nginx: nginx,
}

// snippet is one rendering's input, checked.
type snippet struct {
	Key
	ep        parsedEndpoints
	plaintext string
}

func (s snippet) prefix() string { return s.Owner + "/" + s.KeyID }

func (s snippet) has(method string) bool {
	if len(s.AuthMethods) == 0 {
		return method == MethodAPIKey
	}
	return slices.Contains(s.AuthMethods, method)
}

// maxField bounds every text field: the API's own bounds are smaller.
const maxField = 512

func (k Key) validate() error {
	var errs []error
	if err := keys.ValidateID(k.KeyID); err != nil {
		errs = append(errs, err)
	}
	for name, v := range map[string]string{"owner": k.Owner, "namespace": k.Namespace, "secret name": k.SecretName} {
		if err := printable(v); err != nil || v == "" {
			errs = append(errs, fmt.Errorf("%s must be printable text of 1 to %d characters", name, maxField))
		}
	}
	for _, m := range k.AuthMethods {
		switch m {
		case MethodAPIKey, MethodClientCredentials, MethodClientAssertion, MethodMutualTLS:
		default:
			errs = append(errs, fmt.Errorf("unknown auth method %q", clip(m)))
		}
	}
	for _, sc := range k.Scopes {
		if _, err := scope.Parse(sc); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// printable refuses what no snippet could hold on one line: control
// characters, invalid UTF-8 and overlong values.
func printable(s string) error {
	if len(s) > maxField || !utf8.ValidString(s) {
		return errors.New("too long or not UTF-8")
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return fmt.Errorf("control character %U", r)
		}
	}
	return nil
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// parsedEndpoints are the endpoints as URLs, each of a plain shape that
// every configuration language holds without escaping beyond quotes.
type parsedEndpoints struct {
	decision, token, api *url.URL
}

// ValidateSet checks the endpoints that are set, before defaults fill the
// others.
func (e Endpoints) ValidateSet() error {
	var errs []error
	for name, raw := range map[string]string{"decision URL": e.Decision, "token URL": e.Token, "API URL": e.API} {
		if raw == "" {
			continue
		}
		if err := ValidateURL(raw); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: %w", name, clip(raw), err))
		}
	}
	return errors.Join(errs...)
}

// ValidateURL checks one endpoint URL as the snippets need it.
func ValidateURL(raw string) error {
	_, err := plainURL(raw)
	return err
}

func (e Endpoints) parse() (parsedEndpoints, error) {
	api := e.API
	if api == "" {
		api = DefaultAPI
	}
	var p parsedEndpoints
	var errs []error
	for _, f := range []struct {
		name, raw string
		into      **url.URL
	}{{"decision URL", e.Decision, &p.decision}, {"token URL", e.Token, &p.token}, {"API URL", api, &p.api}} {
		u, err := plainURL(f.raw)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %q: %w", f.name, clip(f.raw), err))
		}
		*f.into = u
	}
	return p, errors.Join(errs...)
}

// plainURL accepts http and https URLs of a host, an optional port and a
// path of URL-safe characters: no user, query or fragment, nothing a
// proxy configuration would read as a variable or a comment.
func plainURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return nil, err
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, errors.New("must be an http or https URL")
	case u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" || u.ForceQuery:
		return nil, errors.New("must be a host, an optional port and a path, without user, query or fragment")
	case !within(u.Host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]"):
		return nil, errors.New("host has characters outside letters, digits, '.', '-' and a port")
	case !within(u.EscapedPath(), "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_~/%"):
		return nil, errors.New("path has characters outside letters, digits and -._~/")
	case u.Port() == "" && strings.HasSuffix(u.Host, ":"):
		return nil, errors.New("empty port")
	}
	return u, nil
}

func within(s, set string) bool {
	for _, r := range s {
		if !strings.ContainsRune(set, r) {
			return false
		}
	}
	return true
}

// join is base's URL with path appended, without doubling the slash.
func join(base *url.URL, path string) string {
	return strings.TrimSuffix(base.String(), "/") + path
}

// hostPort is the URL's host and port, the port defaulting by scheme.
func hostPort(u *url.URL) (string, string) {
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return u.Hostname(), port
}

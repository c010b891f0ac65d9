package main

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
)

// exampleAPIKey is printed unindented: a heredoc's closing EOF only counts
// at the start of a line, and people paste what they see.
const exampleAPIKey = `kubectl apply -f - <<EOF
apiVersion: keyward.dev/v1alpha1
kind: APIKey
metadata:
  name: my-first-key
spec:
  owner: "15a6"
  description: Trying keyward out
  scopes:
    - acme/payments/investigations:read
  expiration:
    afterDays: 7
  rateLimit:
    limits:
      - {name: per-second, strategy: TokenBucket, limit: 5, periodSeconds: 1, burst: 10}
EOF`

// refusedAPIKey breaks the sample KeyPolicy four ways; the admission
// webhook says so, field by field.
const refusedAPIKey = `kubectl apply -f - <<EOF
apiVersion: keyward.dev/v1alpha1
kind: APIKey
metadata:
  name: too-broad
spec:
  owner: "15a6"
  scopes:
    - acme/hr/users:read
    - acme/payments/evidence:delete
  expiration:
    afterDays: 365
  rateLimit:
    limits:
      - {name: per-second, strategy: TokenBucket, limit: 1000, periodSeconds: 1}
EOF`

// samplePolicyFile is the sample KeyPolicy alone, for --samples=false.
const samplePolicyFile = samplesFile + "00_keyward_v1alpha1_keypolicy.yaml"

func printInstructions(kubeconfig, assets, verifierAddr, publicAddr string, samples bool) {
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }

	line("")
	line("keyward is running on a local control plane.")
	line("")
	if _, err := exec.LookPath("kubectl"); err != nil {
		line("  export PATH=%s:\"$PATH\"   # kubectl from the envtest binaries", shellQuote(assets))
	}
	line("  export KUBECONFIG=%s", shellQuote(kubeconfig))
	line("  kubectl get apikeys                       # Owner, Prefix, Ready, Expires")
	if samples {
		line("  kubectl get apikeys --field-selector spec.owner=15a6")
		line("  kubectl describe apikey fraud-reporting   # conditions and Events: the key's story")
		line("  kubectl get secret fraud-reporting -o jsonpath='{.data.key}' | base64 -d; echo   # the key, shown once to whoever may read the Secret")
	}
	line("  kubectl get secrets -n %s -l keyward.dev/record=true   # hashed key records, no plaintext", verifierNamespace)
	line("  tail -f %s %s", filepath.Join(localDir, "manager.log"), filepath.Join(localDir, "verifier.log"))
	line("")
	line("The verifier has two doors: %s for proxies (forward-auth and the decision API),", verifierAddr)
	line("and %s, public, for OAuth clients (token endpoint, JWKS; 404 until oauth.issuer is", publicAddr)
	line("configured). Neither serves the other's paths.")
	line("")
	line("  export VERIFIER=http://%s PUBLIC=http://%s", verifierAddr, publicAddr)
	if samples {
		line("  KEY=$(kubectl get secret fraud-reporting -o jsonpath='{.data.key}' | base64 -d)")
		line("  # Permit: 200 with X-Keyward-Key-Id, -Owner and -Scopes (the key allows 10.0.0.0/8)")
		line(`  curl -i -H "Authorization: Bearer $KEY" -H "X-Forwarded-For: 10.1.2.3" $VERIFIER/authz/envoy/acme/payments/investigations/INV-7`)
		line("  # Deny: 401 without a key, 403 insufficient_scope for a write")
		line(`  curl -i -H "X-Forwarded-For: 10.1.2.3" $VERIFIER/authz/envoy/acme/payments/investigations/INV-7`)
		line(`  curl -i -X POST -H "Authorization: Bearer $KEY" -H "X-Forwarded-For: 10.1.2.3" $VERIFIER/authz/envoy/acme/payments/investigations`)
		line("  # Revoke it; the next request is denied")
		line(`  kubectl patch apikey fraud-reporting --type=merge -p '{"spec":{"revoked":true}}'`)
	}
	line("")
	line("Create a key of your own:")
	line("")
	if !samples {
		// Without the sample KeyPolicy nothing selects "default", and the
		// manager refuses keys there by default.
		line("  kubectl apply -f %s   # first: keys need a KeyPolicy that selects their namespace", samplePolicyFile)
		line("")
	}
	line("%s", exampleAPIKey)
	line("")
	if samples {
		line("And one the sample KeyPolicy refuses (kubectl describe keypolicy payments):")
		line("")
		line("%s", refusedAPIKey)
		line("")
	}
	line("Everything lives only as long as this program: the data is gone when it stops.")
	line("Press Ctrl-C to stop the verifier, the manager and the control plane.")
	fmt.Print(b.String())
}

// shellQuote leaves ordinary paths readable and quotes the others so the
// printed commands still paste into a shell.
func shellQuote(s string) string {
	safe := strings.IndexFunc(s, func(r rune) bool {
		plain := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+:@", r)
		return !plain
	}) < 0
	if safe && s != "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

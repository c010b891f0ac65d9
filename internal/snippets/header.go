package snippets

import (
	"fmt"
	"strings"
)

// about is the comment every client snippet opens with: which key, and
// where a pod or a person gets it. It is plain text for a comment:
// lineComment puts it behind the language's marker.
func (s snippet) about() []string {
	lines := []string{
		fmt.Sprintf("keyward API key %s (namespace %s).", s.prefix(), s.Namespace),
	}
	if s.plaintext != "" {
		return append(lines, "This snippet contains the key itself: keep it out of files, logs and version control.")
	}
	if s.RevealOnce {
		return append(lines,
			KeyEnv+" holds the key. It is shown once: revealing it empties the delivery",
			"Secret "+yamlString(s.SecretName)+", so a pod must not read it from there. Reveal it once",
			"into a Secret of your own and read it from that:",
			"  kubectl -n "+s.Namespace+" create secret generic my-keyward-key \\",
			"    --from-literal=key=\"$(kubectl keyward reveal "+s.prefix()+" -n "+s.Namespace+")\"",
			"  env:",
			"  - name: "+KeyEnv,
			"    valueFrom:",
			"      secretKeyRef: {name: my-keyward-key, key: key}",
			"Each rotation delivers the new key once: reveal it into that Secret again.",
		)
	}
	return append(lines,
		KeyEnv+" holds the key. In a pod, from the delivery Secret:",
		"  env:",
		"  - name: "+KeyEnv,
		"    valueFrom:",
		"      secretKeyRef: {name: "+yamlString(s.SecretName)+", key: key}",
		"As a person: export "+KeyEnv+"=\"$(kubectl keyward reveal "+s.prefix()+" -n "+s.Namespace+")\"",
	)
}

// lineComment writes lines behind a line comment marker.
func lineComment(marker string, lines []string) string {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(strings.TrimRight(marker+" "+l, " ") + "\n")
	}
	return b.String()
}

// tokenScope is the scope parameter of a token request: every scope of
// the key, space-separated (RFC 6749 §3.3).
func (s snippet) tokenScope() string { return strings.Join(s.Scopes, " ") }

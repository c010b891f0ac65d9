package main

import (
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

func TestCompletionScripts(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		t.Run(shell, func(t *testing.T) {
			g := NewWithT(t)
			res := asAdmin("completion", shell)
			g.Expect(res.code).To(Equal(0), res.stderr)
			g.Expect(res.stdout).To(ContainSubstring("kubectl-keyward"))
			g.Expect(res.stdout).To(ContainSubstring("__complete"))
		})
	}
}

// The shell asks `kubectl-keyward __complete <words>` for candidates.
func TestKeyNamesComplete(t *testing.T) {
	g := NewWithT(t)
	ns := namespace(t, nil)
	readyKey(t, ns, "alice-ci", "alice")
	readyKey(t, ns, "alice-prod", "alice")
	readyKey(t, ns, "bob-ci", "bob")
	// A key of another namespace whose name matches is not offered.
	readyKey(t, namespace(t, nil), "alice-elsewhere", "alice")

	for _, cmd := range []string{"describe", "rotate", "revoke", "get"} {
		res := asAdmin("__complete", cmd, "-n", ns, "ali")
		g.Expect(res.code).To(Equal(0), res.stderr)
		lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
		g.Expect(lines).To(Equal([]string{"alice-ci", "alice-prod", ":4"}), cmd)
	}
	res := asAdmin("__complete", "get", "-n", ns, "-o", "")
	g.Expect(strings.Split(strings.TrimSpace(res.stdout), "\n")).To(Equal([]string{"wide", "yaml", "json", "name", ":4"}))
}

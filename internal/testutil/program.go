package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// Program finds a program a test runs for real (nginx, redis-server), in
// PATH or at one of the given paths. Without it the test is skipped, except
// under CI=true, where it fails: `make test` installs these programs
// (hack/test-deps.sh), and a skipped test there would prove nothing.
func Program(t testing.TB, name, debianPackage string, paths ...string) string {
	t.Helper()
	for _, p := range append([]string{name}, paths...) {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed (apt-get install %s); CI must run the tests that use it", name, debianPackage)
	}
	t.Skipf("%s is not installed; apt-get install %s to run this test", name, debianPackage)
	return ""
}

// BuiltProgram finds a program that the Makefile builds into bin/ from its
// Go module (Caddy), at the path `make test` passes in envVar. Without it
// the test is skipped, except under CI=true, where it fails.
func BuiltProgram(t testing.TB, name, envVar, makeTarget string) string {
	t.Helper()
	path := os.Getenv(envVar)
	if path != "" {
		if _, err := os.Stat(path); err == nil {
			return path
		}
	}
	why := fmt.Sprintf("%s is not built (%s=%q); `make %s` builds it and `make test` sets %s", name, envVar, path, makeTarget, envVar)
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s; CI must run the tests that use it", why)
	}
	t.Skip(why)
	return ""
}

// Command gen-gitleaks writes scanning/gitleaks.toml, the gitleaks rule for
// keyward's key format. Run it from the repository root (make
// gitleaks-config).
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/keyward-dev/keyward/scanning"
)

func main() {
	config, err := scanning.GitleaksConfig()
	if err == nil {
		err = os.WriteFile(filepath.Join("scanning", scanning.GitleaksConfigFile), config, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen-gitleaks:", err)
		os.Exit(1)
	}
}

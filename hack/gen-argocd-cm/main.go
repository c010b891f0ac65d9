// Command gen-argocd-cm writes argocd/argocd-cm-patch.yaml from the health
// scripts in argocd/resource_customizations. Run it from the repository
// root (make argocd-cm).
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/keyward-dev/keyward/argocd"
)

func main() {
	patch, err := argocd.ConfigMapPatch()
	if err == nil {
		err = os.WriteFile(filepath.Join("argocd", argocd.PatchFile), patch, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen-argocd-cm:", err)
		os.Exit(1)
	}
}

// Package scanning holds the secret-scanning rule for keyward's key format,
// generated from internal/keys so that scanners and the verifier share one
// definition of what a key looks like (docs/secret-scanning.md).
package scanning

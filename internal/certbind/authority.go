package certbind

import "fmt"

// ValidateAuthority checks the name of a certificate authority as
// bindings name it, so that the verifier's configuration refuses a name no
// binding could ever refer to.
func ValidateAuthority(name string) error {
	if name == "" || len(name) > MaxAuthorityLength || !authorityPattern.MatchString(name) {
		return fmt.Errorf("%q is not a lower-case DNS label of at most %d characters, such as corp-ca", name, MaxAuthorityLength)
	}
	return nil
}

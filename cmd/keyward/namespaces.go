package main

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// The install's namespaces (config/default). They are kept apart because
// the verifier may read every Secret of its namespace (RBAC cannot narrow
// a list by label), so its namespace must hold only what the verifier
// reads: key records, signing keys and usage reports. The manager's
// webhook certificate, its leader-election Lease and its Events live in
// the manager's own.
const (
	defaultManagerNamespace  = "keyward-system"
	defaultVerifierNamespace = "keyward-verifier"
)

// managerNamespace is the namespace the manager runs in: $POD_NAMESPACE,
// which config/manager sets from the pod, else keyward-system (a manager
// outside the cluster, as `make run` starts it).
func managerNamespace() string { return envOr("POD_NAMESPACE", defaultManagerNamespace) }

// checkVerifierNamespace refuses a verifier namespace the verifier would
// share with the manager.
func checkVerifierNamespace(verifierNS, managerNS string) error {
	if errs := validation.IsDNS1123Label(verifierNS); len(errs) > 0 {
		return fmt.Errorf("--verifier-namespace %q is not a namespace name: %s", verifierNS, strings.Join(errs, "; "))
	}
	if verifierNS == managerNS {
		return fmt.Errorf("--verifier-namespace must not be the manager's own namespace %q ($POD_NAMESPACE): "+
			"the verifier can read every Secret of its namespace, the manager's webhook certificate included; "+
			"give it a namespace of its own (default %s)", managerNS, defaultVerifierNamespace)
	}
	return nil
}

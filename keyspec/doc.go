// Package keyspec is what an APIKey or KeyPolicy spec means for the policy
// engine, the key record and the verifier. The webhook and the controllers
// both read specs through it, so that admission and reconciliation can
// never disagree about a field; api/v1alpha1 stays a package of types that
// imports neither a client nor the domain packages under internal/.
package keyspec

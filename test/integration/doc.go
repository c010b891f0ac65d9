// Package integration runs keyward's faces together against a real API
// server (envtest): the manager's controllers mint and publish keys, and the
// verifier, reading records with exactly the Role the manager gives it,
// enforces them on its HTTP endpoints. It holds tests only.
package integration

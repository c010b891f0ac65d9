// Package redteam attacks keyward the way a tenant would: a team with
// "edit" in its own namespace (APIKeys, SigningKeys, any Secret there)
// that wants another team's key, a revoked key back, or the shared
// manager and verifier down. Every test plays one attack against the
// whole product on a real API server (envtest): the webhook, the
// manager's controllers and the verifier, which reads records with only
// the Role the manager gives it. docs/security.md maps each trust
// boundary to its test. It holds tests only.
package redteam

// Package soak runs keyward's manager and two verifier replicas against a
// real API server for a bounded time (SOAK_DURATION) at half of the
// verifier's measured peak rate, while keys are rotated, suspended,
// resumed and revoked and a replica is replaced, and checks every answer
// against the state the test expects. It holds tests only.
package soak

// Package outage takes the API server away from keyward's verifier and
// manager for real: it stops envtest's kube-apiserver while they run, cuts
// the verifier off behind a proxy, and stalls the verifier's watches. Its
// tests stop the API server, so the package has one of its own and its
// tests run one after another. It holds tests only.
package outage

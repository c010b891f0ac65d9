// Package leak is how a verified leaked-key report travels from the
// verifier, which cannot write APIKeys, to the manager, which can: one
// ConfigMap per leaked key ID in the verifier namespace, where only keyward
// writes. The verifier writes it once a reported token's secret verified
// against the key's record; the manager revokes or suspends the key from
// it.
//
// A report holds where the key was found and which of its secrets it was,
// never the key: the token appears only as its SHA-256, the digest GitHub's
// own feedback format names tokens by.
package leak

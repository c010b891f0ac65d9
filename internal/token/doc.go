// Package token issues and validates the signed JWTs keyward speaks: access
// tokens the verifier issues (RFC 7519, compact JWS), the JWKS that publishes
// their public keys (RFC 7517/7518), and the bookkeeping that validating
// client assertions needs (RFC 7523): a replay cache for their jti and a
// per-client clock-skew tracker.
//
// Only RS256 (RSA keys of at least 2048 bits) and ES256 (ECDSA P-256) exist
// here. A token never chooses how it is checked: the algorithm must be on the
// validator's allow-list and equal the algorithm recorded for the key its kid
// names, so "none", HMAC and key-type confusion are refused before any
// signature is computed.
//
// Time is always a parameter, so callers drive it from one injected clock.
// Every map that request traffic can grow has a hard cap.
package token

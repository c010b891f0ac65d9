// Package verifier is keyward's request-time service. It keeps an in-memory
// index of the key records in its namespace, fed by a watch, and answers
// "may this credential do this action on this resource, here and now?"
// without calling the API server.
//
// A request goes through these steps, each refusing as early and as cheaply
// as it can:
//
//  1. Credential intake: the key is taken from the Authorization header
//     (RFC 6750 Bearer) or the configured API-key header, never from the
//     query string. A malformed key or one with a bad checksum is refused
//     before any lookup.
//  2. Lookup: an unknown key ID is refused without hashing. A known one is
//     checked against the record's state (revoked, suspended, expired).
//  3. Verification: a key this process verified before is found in a cache
//     keyed by an HMAC of the key under a per-process random key, so the
//     cache holds nothing that could be replayed elsewhere. Otherwise one
//     PBKDF2 comparison per valid secret runs, in constant time, with
//     bounded concurrency, concurrent identical attempts sharing one hash,
//     and exponential backoff of repeated failures per key ID and per
//     client address.
//  4. Authorisation: the request's resource and action against the key's
//     scopes (package scope), then the key's access conditions against the
//     request's environment (package access).
//
// Decisions are Permit, Deny, NotApplicable (the request names nothing the
// verifier protects) or Indeterminate (the verifier cannot decide now), each
// with a machine-readable reason; see Reason.
//
// The verifier imports only keyward's internal packages, never the API
// types or the controllers: records are all it knows.
package verifier

// Package analytics is what keyward learns from how a key is used: the
// per-minute activity a verifier replica counts (Minute), each key's history
// and baseline as the manager keeps it (Store), the summary a person reads
// in status.usage (Summary), and the detectors that flag a key whose use
// changes in a way that suggests it was stolen or broken (Finding).
//
// It imports nothing from Kubernetes: the verifier counts, the manager
// aggregates and decides, and both use these types, so that one rule has
// one implementation.
//
// Only verified requests (the key's secret, token or certificate proved)
// count as the key's own use: permits, and denials decided after the
// credential verified. Denials of requests that only named the key
// (a wrong secret, backoff) are counted apart, because anyone who read a
// key ID can cause them; they never make a key look used, never move it to
// a new country or network, and a spike of them alone never suspends or
// revokes a key (see Finding.Actionable).
package analytics

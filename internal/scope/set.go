package scope

import (
	"errors"
	"fmt"
)

// Set is the scopes granted to one key; a request is allowed if any of them
// allows it.
type Set []Scope

// ParseSet reports every bad scope at once, each prefixed with its index, so a
// user fixes a manifest in one round trip. The errors wrap *ParseError.
func ParseSet(ss []string) (Set, error) {
	set := make(Set, 0, len(ss))
	var errs []error
	for i, s := range ss {
		sc, err := Parse(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("scopes[%d]: %w", i, err))
			continue
		}
		set = append(set, sc)
	}
	if errs != nil {
		return nil, errors.Join(errs...)
	}
	return set, nil
}

// Allows returns the scope that granted the request so the verifier can
// record why it was allowed.
func (set Set) Allows(r Resource, a Action) (Scope, bool) {
	if i := set.Match(r, a); i >= 0 {
		return set[i], true
	}
	return Scope{}, false
}

// Match is Allows by position, so a caller can keep per-scope data (such as
// the scope's string) beside the set: the index of the first scope that
// allows the request, or -1.
func (set Set) Match(r Resource, a Action) int {
	for i, s := range set {
		if s.Allows(r, a) {
			return i
		}
	}
	return -1
}

// Covers checks each scope of o against single scopes of set. That is as
// exact as comparing against their union: a request o allows that uses values
// no scope mentions (for each "*" in o) and the collection (if o has no id)
// can only be allowed by a scope of set that covers o on its own.
func (set Set) Covers(o Set) bool {
	for _, os := range o {
		if !set.coversOne(os) {
			return false
		}
	}
	return true
}

func (set Set) coversOne(o Scope) bool {
	for _, s := range set {
		if s.Covers(o) {
			return true
		}
	}
	return false
}

func (set Set) Strings() []string {
	out := make([]string, len(set))
	for i, s := range set {
		out[i] = s.String()
	}
	return out
}

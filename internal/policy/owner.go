package policy

import (
	"fmt"
	"strings"
	"time"
)

// OwnerSettle is how long after a KeyPolicy's creation keyward still
// cannot be sure the webhook checked a new key's owner against it: the API
// server stamps an object's creation time before its admission webhooks
// run, which may take up to 30 seconds. A key created within it counts as
// created before the policy: reported rather than trusted.
const OwnerSettle = 30 * time.Second

// Owners are a KeyPolicy's rules for spec.owner: the owner must be the
// requesting user's (FromRequester) or match one of Allowed, either one
// when both are set.
type Owners struct {
	FromRequester *Requester
	// Allowed are patterns in which "*" matches any run of characters.
	Allowed []string
}

// OwnerForm says which part of a username is the owner.
type OwnerForm string

const (
	// FormUsername: the whole username (after StripPrefix).
	FormUsername OwnerForm = "Username"
	// FormLocalPart: the part before the last "@" of an e-mail-shaped
	// username.
	FormLocalPart OwnerForm = "LocalPart"
)

// Requester derives the owner a user may give keys from the username the
// API server authenticated.
type Requester struct {
	Form OwnerForm
	// StripPrefix must begin the username and is removed first.
	StripPrefix string
	// Domain, with FormLocalPart, is the only e-mail domain accepted.
	Domain string
}

// Owner is the owner the user named username may give keys, or an error
// that says why the user can own none.
func (r Requester) Owner(username string) (string, error) {
	name, ok := strings.CutPrefix(username, r.StripPrefix)
	if !ok {
		return "", fmt.Errorf("user %q does not begin with %q", username, r.StripPrefix)
	}
	if r.Form == FormLocalPart {
		at := strings.LastIndexByte(name, '@')
		if at < 0 {
			return "", fmt.Errorf("user %q is not an e-mail address", username)
		}
		if r.Domain != "" && !strings.EqualFold(name[at+1:], r.Domain) {
			return "", fmt.Errorf("user %q is not in domain %q", username, r.Domain)
		}
		name = name[:at]
	}
	if !validOwner(name) {
		return "", fmt.Errorf("user %q does not make a valid owner (%q)", username, name)
	}
	return name, nil
}

// validOwner mirrors the APIKey schema's pattern for spec.owner:
// ^[A-Za-z0-9]([A-Za-z0-9._@+-]*[A-Za-z0-9])?$, at most 128 characters.
func validOwner(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && ((i == 0 || i == len(s)-1) || !strings.ContainsRune("._@+-", rune(c))) {
			return false
		}
	}
	return true
}

// MatchOwner reports whether owner matches pattern, in which "*" matches
// any run of characters (the empty one too) and everything else only
// itself.
func MatchOwner(pattern, owner string) bool {
	// Iterative wildcard matching: on a mismatch, let the last "*" take
	// one more character. Linear in practice, quadratic at worst, on
	// strings of at most 128 characters.
	p, o := 0, 0
	star, mark := -1, 0
	for o < len(owner) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, o
			p++
		case p < len(pattern) && pattern[p] == owner[o]:
			p++
			o++
		case star >= 0:
			p = star + 1
			mark++
			o = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// checkOwner applies one policy's owner rules. A key's requester is known
// only while its creation is admitted; afterwards the owner cannot change,
// so what was checked then still holds. The re-check, which has no
// request, can only tell keys created before the policy, whose owner
// nobody checked against the requester.
func (r Rules) checkOwner(k Key) []Violation {
	o := r.Owners
	if o == nil {
		return nil
	}
	for _, p := range o.Allowed {
		if MatchOwner(p, k.Owner) {
			return nil
		}
	}
	allowed := ""
	if len(o.Allowed) > 0 {
		allowed = strings.Join(o.Allowed, ", ")
	}
	if o.FromRequester == nil {
		return []Violation{{Field: "spec.owner", Message: fmt.Sprintf("owner %q is not allowed by KeyPolicy %q (allowed: %s)", k.Owner, r.Name, allowed)}}
	}
	switch {
	case k.Requester != nil:
		want, err := o.FromRequester.Owner(*k.Requester)
		if err == nil && want == k.Owner {
			return nil
		}
		msg := fmt.Sprintf("owner %q is not allowed by KeyPolicy %q: a key here belongs to the user who creates it", k.Owner, r.Name)
		if err != nil {
			msg += ", and " + err.Error()
		} else {
			msg += fmt.Sprintf(" (owner %q for user %q)", want, *k.Requester)
		}
		if allowed != "" {
			msg += ", or to one of: " + allowed
		}
		return []Violation{{Field: "spec.owner", Message: msg}}
	case !k.Created.IsZero() && !r.Created.IsZero() && k.Created.Before(r.Created.Add(OwnerSettle)):
		msg := fmt.Sprintf("KeyPolicy %q binds owners to the user who creates a key, and this key was created before the policy applied, so nobody can tell whether %q created it: create a new key to have its owner checked", r.Name, k.Owner)
		if allowed != "" {
			msg += ", or use one of: " + allowed
		}
		return []Violation{{Field: "spec.owner", Message: msg}}
	}
	return nil
}

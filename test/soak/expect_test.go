package soak

import "time"

// change is one change of whether a credential may be permitted. It is
// made at from (the test sends it, or a secret's grace ends) and is
// enforced by every replica from to on (the test saw it land in every
// replica's index): an answer whose request overlaps [from, to] may be
// either, one that came before from must be the old verdict, one sent
// after to the new.
type change struct {
	from, to time.Time
	permit   bool
}

// history is a credential's changes in the order they were made; before
// the first, it is permitted.
type history []change

// possible says which verdicts are correct for a request sent at sent and
// answered at came.
func (h history) possible(sent, came time.Time) (permit, deny bool) {
	add := func(p bool) {
		if p {
			permit = true
		} else {
			deny = true
		}
	}
	current, settled := true, time.Time{}
	for _, c := range h {
		// The stretch between the previous change's end and this one's
		// start, where current alone is correct.
		if sent.Before(c.from) && came.After(settled) {
			add(current)
		}
		// The change's own window, where both are.
		if !came.Before(c.from) && !sent.After(c.to) {
			add(current)
			add(c.permit)
		}
		current, settled = c.permit, c.to
	}
	if came.After(settled) || len(h) == 0 {
		add(current)
	}
	return permit, deny
}

// verdicts combines a key's history with one of its secret's: a request is
// permitted only when both the key and the secret may be.
func verdicts(key, secret history, sent, came time.Time) (permit, deny bool) {
	keyPermit, keyDeny := key.possible(sent, came)
	secretPermit, secretDeny := secret.possible(sent, came)
	return keyPermit && secretPermit, keyDeny || secretDeny
}

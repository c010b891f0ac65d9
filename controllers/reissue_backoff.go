package controllers

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// reissueBackoff bounds how fast one key's lost secret is replaced. A lost
// secret (the delivery Secret deleted, its key edited) costs a PBKDF2 hash
// on the manager's shared hashing slots, and whoever edits the key's
// namespace can lose it at will: the first few reissues are immediate,
// later ones wait, doubling, until the key has been left alone for a while.
type reissueBackoff struct {
	mu    sync.Mutex
	byUID map[types.UID]reissueState
}

type reissueState struct {
	count int
	last  time.Time
}

const (
	freeReissues     = 2
	reissueBase      = 5 * time.Second
	reissueMax       = 10 * time.Minute
	reissueForgiven  = 30 * time.Minute
	reissueMaxTraced = 10000
)

// wait is how long the key must wait before its next reissue; zero: now.
func (b *reissueBackoff) wait(uid types.UID, now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	st, ok := b.byUID[uid]
	if !ok || now.Sub(st.last) >= reissueForgiven || st.count < freeReissues {
		return 0
	}
	delay := reissueBase << min(st.count-freeReissues, 16)
	delay = min(delay, reissueMax)
	return max(0, st.last.Add(delay).Sub(now))
}

// done counts a reissue.
func (b *reissueBackoff) done(uid types.UID, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.byUID == nil {
		b.byUID = map[types.UID]reissueState{}
	}
	st := b.byUID[uid]
	if now.Sub(st.last) >= reissueForgiven {
		st.count = 0
	}
	st.count++
	st.last = now
	if _, ok := b.byUID[uid]; !ok && len(b.byUID) >= reissueMaxTraced {
		b.forgetOldest()
	}
	b.byUID[uid] = st
}

// forgetOldest keeps the table bounded: the key left alone longest goes.
func (b *reissueBackoff) forgetOldest() {
	var oldest types.UID
	var at time.Time
	for uid, st := range b.byUID {
		if oldest == "" || st.last.Before(at) {
			oldest, at = uid, st.last
		}
	}
	delete(b.byUID, oldest)
}

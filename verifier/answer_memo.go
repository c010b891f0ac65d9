package verifier

import (
	"maps"
	"sync"
	"sync/atomic"
)

// answerMemo remembers what a denial's answer is made of (its body, its
// challenge, its counter), computed once per distinct key: a flood of
// denials then formats nothing. The reasons and messages are a fixed set
// far below maxAnswers, so the bound only guards against a mistake; past
// it, values are computed every time.
//
// Reads take no lock and hash the key as its own type: the map is replaced
// whole on the rare write. A sync.Map hashes its keys as interfaces, which
// for a struct of strings costs more than the rest of a denial's answer.
type answerMemo[K comparable, V any] struct {
	m  atomic.Pointer[map[K]V]
	mu sync.Mutex
}

const maxAnswers = 256

func (c *answerMemo[K, V]) get(k K, compute func(K) V) V {
	if m := c.m.Load(); m != nil {
		if v, ok := (*m)[k]; ok {
			return v
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.m.Load()
	if old != nil {
		if v, ok := (*old)[k]; ok {
			return v
		}
	}
	v := compute(k)
	if old == nil || len(*old) < maxAnswers {
		next := make(map[K]V, 1)
		if old != nil {
			next = maps.Clone(*old)
		}
		next[k] = v
		c.m.Store(&next)
	}
	return v
}

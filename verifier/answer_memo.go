package verifier

import (
	"sync"
	"sync/atomic"
)

// answerMemo remembers what a denial's answer is made of (its body, its
// challenge), computed once per distinct key: a flood of denials then
// formats nothing. The reasons and messages are a fixed set far below
// maxAnswers, so the bound only guards against a mistake; past it, values
// are computed every time.
type answerMemo[K comparable, V any] struct {
	m sync.Map
	n atomic.Int32
}

const maxAnswers = 256

func (c *answerMemo[K, V]) get(k K, compute func(K) V) V {
	if v, ok := c.m.Load(k); ok {
		return v.(V)
	}
	v := compute(k)
	if c.n.Add(1) <= maxAnswers {
		c.m.Store(k, v)
	}
	return v
}

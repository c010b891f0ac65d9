// Package testutil holds helpers shared by keyward's tests.
package testutil

import (
	"bytes"
	"sync"
)

// SyncBuffer collects output written from many goroutines, such as a
// manager's log or audit lines, for a test to read.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p to the buffer.
func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

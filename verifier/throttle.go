package verifier

import (
	"sync/atomic"
	"time"
)

// logThrottle lets one log line through per interval: a caller repeating
// its mistake must not flood the log, while a metric counts every one.
type logThrottle struct{ last atomic.Int64 }

// allow reports whether a line may be logged now.
func (t *logThrottle) allow(now time.Time, every time.Duration) bool {
	sec := now.Unix()
	last := t.last.Load()
	return sec-last >= int64(every/time.Second) && t.last.CompareAndSwap(last, sec)
}

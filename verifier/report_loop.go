package verifier

import (
	"context"
	"time"

	"k8s.io/utils/clock"
)

// everyInterval calls report at each tick of clk (the real clock when nil)
// every interval (DefaultUsageInterval when not positive) until ctx ends.
// The usage and activity reporters and the Redis flush share it: reports
// are informational, so a failed one waits for the next tick.
func everyInterval(ctx context.Context, clk clock.WithTicker, interval time.Duration, report func(context.Context)) {
	if clk == nil {
		clk = clock.RealClock{}
	}
	if interval <= 0 {
		interval = DefaultUsageInterval
	}
	ticker := clk.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C():
			report(ctx)
		}
	}
}

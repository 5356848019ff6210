package storage

import (
	"context"
	"sync"
	"time"
)

// Throttle limits bytes to a rate per second, shared by its users: the
// cleaner's reads and writes (log.cleaner.io.max.bytes.per.second), the
// snapshot streams catching up replicas a reassignment brings in
// (--reassignment-throttle-bytes). A nil Throttle does not limit.
type Throttle struct {
	rate float64

	mu     sync.Mutex
	tokens float64
	last   time.Time
}

// NewThrottle returns a limit of bytesPerSecond, with up to a second's
// worth of burst; 0 or less means no limit (nil).
func NewThrottle(bytesPerSecond float64) *Throttle {
	if bytesPerSecond <= 0 {
		return nil
	}
	return &Throttle{rate: bytesPerSecond, tokens: bytesPerSecond, last: time.Now()}
}

// Wait accounts for n bytes, sleeping while the rate is exceeded.
func (t *Throttle) Wait(ctx context.Context, n int64) {
	if t == nil {
		return
	}
	t.mu.Lock()
	now := time.Now()
	t.tokens = min(t.tokens+now.Sub(t.last).Seconds()*t.rate, t.rate)
	t.last = now
	t.tokens -= float64(n)
	debt := t.tokens
	t.mu.Unlock()
	if debt >= 0 {
		return
	}
	timer := time.NewTimer(time.Duration(-debt / t.rate * float64(time.Second)))
	defer timer.Stop()
	select {
	case <-ctx.Done():
	case <-timer.C:
	}
}

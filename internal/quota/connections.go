package quota

import (
	"net/netip"
	"sync"
	"time"
)

// ConnectionCreationRate is the quota key of ip entities (KIP-612):
// connections accepted per second from one address.
const ConnectionCreationRate = "connection_creation_rate"

// Connections counts the connections each address opens against its
// connection_creation_rate, as Kafka's ConnectionQuotas does per broker.
// The zero value is ready to use.
type Connections struct {
	mu     sync.Mutex
	rates  map[netip.Addr]*rate
	pruned int64 // unix ms of the last pass dropping idle rates
}

// Admit counts a new connection from ip under its quota limit and returns
// zero to accept it, or how long to hold it before closing it unserved.
// A refused connection is taken back out of the rate, as Kafka does, so a
// client retrying in a loop is let in again as soon as the rate allows.
// The delay is Kafka's throttle, capped at one sample window (Kafka caps
// it at quota.window.size.seconds): a client that reconnects when it is
// closed is slowed down without being locked out for long.
func (c *Connections) Admit(ip netip.Addr, limit float64, now time.Time) time.Duration {
	ms := now.UnixMilli()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.prune(ms)
	r, ok := c.rates[ip]
	if !ok {
		if c.rates == nil {
			c.rates = map[netip.Addr]*rate{}
		}
		r = &rate{}
		c.rates[ip] = r
	}
	r.record(1, ms)
	d := throttle(r, limit, ms)
	if d > 0 {
		r.record(-1, ms)
	}
	return min(d, oneWindow)
}

// prune drops, at most once a window, the rates with nothing left in it,
// so that addresses that stopped connecting cost nothing.
func (c *Connections) prune(now int64) {
	if now-c.pruned < samples*sampleWindow {
		return
	}
	c.pruned = now
	pruneIdle(c.rates, now)
}

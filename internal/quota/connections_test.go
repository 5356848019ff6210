package quota

import (
	"net/netip"
	"testing"
	"time"
)

// TestConnectionsIsKafkas: under connection_creation_rate 1 a fresh
// address may open ten connections at once (a new rate is measured over
// ten windows); the eleventh is refused for the capped delay and taken
// back out, so the address is let in again once the burst has left the
// window.
func TestConnectionsIsKafkas(t *testing.T) {
	var c Connections
	ip, other := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	start := time.UnixMilli(1_000_000)
	for i := range 10 {
		if d := c.Admit(ip, 1, start); d != 0 {
			t.Fatalf("connection %d within the quota: delayed %v", i+1, d)
		}
	}
	// 11 over 10 s: X = (1.1-1)/1*10 s = 1 s, which is the cap.
	for i := range 3 {
		if d := c.Admit(ip, 1, start); d != time.Second {
			t.Fatalf("refused connection %d: delayed %v, want 1s", i+1, d)
		}
	}
	// Past the cap: 20 at 2/s would be 10 s, held for one.
	for range 10 {
		c.Admit(other, 2, start)
	}
	if d := c.Admit(other, 0.5, start); d != time.Second {
		t.Fatalf("far over the quota: delayed %v, want the 1 s cap", d)
	}
	// The burst holds the address to its rate until it leaves the window:
	// still refused a second later, let in once it has expired, and the
	// refused ones, taken back, do not count.
	if d := c.Admit(ip, 1, start.Add(time.Second)); d != time.Second {
		t.Fatalf("a second later: delayed %v, want 1s", d)
	}
	later := start.Add(samples * time.Second)
	for i := range 10 {
		if d := c.Admit(ip, 1, later); d != 0 {
			t.Fatalf("connection %d after the burst expired: delayed %v", i+1, d)
		}
	}
	// Idle addresses are dropped once their samples have expired: other
	// is, ip (counted at later) is not.
	if d := c.Admit(netip.MustParseAddr("10.0.0.3"), 1, later.Add(time.Second)); d != 0 {
		t.Fatalf("a new address: delayed %v", d)
	}
	c.mu.Lock()
	_, kept := c.rates[ip]
	n := len(c.rates)
	c.mu.Unlock()
	if n != 2 || !kept {
		t.Fatalf("%d rates held after the window (ip's kept: %v), want ip's and the new address's", n, kept)
	}
}

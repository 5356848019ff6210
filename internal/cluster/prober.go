package cluster

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/longboat/longboat/internal/meta"
)

const (
	// peerProbeTimeout bounds one liveness probe, so a paused broker counts
	// as down.
	peerProbeTimeout = 500 * time.Millisecond
	// peerFailures consecutive failed probes make a broker suspected: a
	// killed broker is suspected within ~0.4 s, a paused one within ~1.4 s.
	peerFailures = 2
)

// probeClient makes the liveness probes.
var probeClient = &http.Client{Timeout: peerProbeTimeout}

// peerClient asks peers' health endpoints for the leader balancer and the
// scrape-time under-replication figure.
var peerClient = &http.Client{Timeout: time.Second}

// prober asks other brokers' HTTP endpoints whether they answer 200; its
// client's timeout bounds one probe.
type prober struct {
	client *http.Client
}

// answers tells whether a broker's HTTP path answers 200.
func (p prober) answers(ctx context.Context, b *meta.Broker, path string) bool {
	if b == nil {
		return false
	}
	req, err := peerRequest(ctx, b, path)
	if err != nil {
		return false
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return false
	}
	// Reading the (short) body to its end lets the client keep the
	// connection: each peer is probed five times a second, and a new TCP
	// connection per probe cost a dial each time and left ~600 sockets per
	// broker in TIME_WAIT.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// peerRequest is a GET of path on a broker's HTTP listener. A wildcard
// HTTP host is reached at the host of the broker's Raft address.
func peerRequest(ctx context.Context, b *meta.Broker, path string) (*http.Request, error) {
	host, port, err := net.SplitHostPort(b.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("broker %d HTTP address %q: %w", b.ID, b.HTTPAddr, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host, _, _ = net.SplitHostPort(b.RaftAddr)
	}
	return http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+path, nil)
}

// downPeers asks every broker but self for /livez, in parallel, and returns
// those that did not answer.
func (p prober) downPeers(ctx context.Context, self uint64, st *meta.State) map[uint64]bool {
	var mu sync.Mutex
	var wg sync.WaitGroup
	down := map[uint64]bool{}
	for id, b := range st.Brokers {
		if id == self {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !p.answers(ctx, b, "/livez") {
				mu.Lock()
				down[id] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return down
}

// peerLiveness follows the other brokers' /livez: a broker is down after
// peerFailures probes in a row went unanswered, and up again at its next
// answer.
type peerLiveness struct {
	self     uint64
	probe    prober
	failures map[uint64]int
	down     map[uint64]bool
}

func newPeerLiveness(self uint64, probe prober) *peerLiveness {
	return &peerLiveness{self: self, probe: probe, failures: map[uint64]int{}, down: map[uint64]bool{}}
}

// round probes every other broker of st, one after another, and calls
// changed as soon as one goes down or comes back.
func (l *peerLiveness) round(ctx context.Context, st *meta.State, changed func(id uint64, down bool)) {
	for id, b := range st.Brokers {
		if id == l.self {
			continue
		}
		if l.probe.answers(ctx, b, "/livez") {
			l.failures[id] = 0
			if l.down[id] {
				l.down[id] = false
				changed(id, false)
			}
			continue
		}
		if ctx.Err() != nil {
			return // a cancelled probe says nothing about the peer
		}
		l.failures[id]++
		if l.failures[id] == peerFailures {
			l.down[id] = true
			changed(id, true)
		}
	}
}

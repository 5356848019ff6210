package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/longboat/longboat/internal/meta"
)

const (
	// peerProbeTimeout bounds one liveness probe.
	peerProbeTimeout = 500 * time.Millisecond
	// peerFailures consecutive probes refused (nothing listens: the
	// process is gone) make a broker down, within ~0.4 s of a kill.
	peerFailures = 2
	// peerSlowDownAfter is how long probes must fail in other ways
	// (timeouts, errors, non-200) before a broker is down: a broker that
	// was merely slow to answer on a loaded machine was once declared down
	// within a second, and waking the followers of every partition it led
	// elected a new leader for each (hundreds of leadership changes at
	// 1,000 partitions under load). A paused or cut-off broker is down
	// within ~3.5 s.
	peerSlowDownAfter = 3 * time.Second
)

// peerProbeClient makes the liveness probes; peerAskTimeout bounds the
// requests to peers' health endpoints for the leader balancer and the
// scrape-time under-replication figure.
const peerAskTimeout = time.Second

// peerURL is a path at a broker's HTTP address. A wildcard HTTP host is
// reached at the host of the broker's Raft address.
func (h peerHTTP) peerURL(httpAddr, raftAddr, path string) string {
	host, port, err := net.SplitHostPort(httpAddr)
	if err != nil {
		return h.url(httpAddr, path)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host, _, _ = net.SplitHostPort(raftAddr)
	}
	return h.url(net.JoinHostPort(host, port), path)
}

// prober asks other brokers' HTTP endpoints whether they answer 200; its
// client's timeout bounds one probe.
type prober struct {
	client peerHTTP
}

// answers tells whether a broker's HTTP path answers 200.
func (p prober) answers(ctx context.Context, b *meta.Broker, path string) bool {
	return p.check(ctx, b, path) == nil
}

// check asks a broker's HTTP path and says why it did not answer 200.
func (p prober) check(ctx context.Context, b *meta.Broker, path string) error {
	url, err := p.client.brokerURL(b, path)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	// Reading the (short) body to its end lets the client keep the
	// connection: each peer is probed five times a second, and a new TCP
	// connection per probe cost a dial each time and left ~600 sockets per
	// broker in TIME_WAIT.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %d", url, resp.StatusCode)
	}
	return nil
}

// brokerURL is a path at the HTTP address a registered broker advertises
// to its peers, or, for a registration made before brokers advertised
// one, peerURL of its HTTP address; it refuses an unregistered broker or
// an address that does not parse.
func (h peerHTTP) brokerURL(b *meta.Broker, path string) (string, error) {
	if b == nil {
		return "", errors.New("unregistered broker")
	}
	if b.AdvertisedHTTPAddr != "" {
		if _, _, err := net.SplitHostPort(b.AdvertisedHTTPAddr); err != nil {
			return "", fmt.Errorf("advertised HTTP address of broker %d: %w", b.ID, err)
		}
		return h.url(b.AdvertisedHTTPAddr, path), nil
	}
	if _, _, err := net.SplitHostPort(b.HTTPAddr); err != nil {
		return "", fmt.Errorf("HTTP address of broker %d: %w", b.ID, err)
	}
	return h.peerURL(b.HTTPAddr, b.RaftAddr, path), nil
}

// raftReachable tells whether a TCP connection to a broker's Raft address
// opens: a firewall that cuts only the Raft port leaves /livez answering
// while no Raft message gets through.
func (p prober) raftReachable(ctx context.Context, b *meta.Broker) error {
	d := net.Dialer{Timeout: p.client.Timeout}
	conn, err := d.DialContext(ctx, "tcp", b.RaftAddr)
	if err != nil {
		return fmt.Errorf("dial Raft address %s: %w", b.RaftAddr, err)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		// Close with a reset: a dial per probe would otherwise leave a
		// socket in TIME_WAIT each time. dragonboat's transport reads no
		// magic number from it and drops it without a log line.
		_ = tc.SetLinger(0)
	}
	return conn.Close()
}

// reachable tells why a broker is not reachable as a Raft peer (nil when
// it is): its /livez must answer 200 and its Raft address accept a
// connection.
func (p prober) reachable(ctx context.Context, b *meta.Broker) error {
	if err := p.check(ctx, b, "/livez"); err != nil {
		return err
	}
	return p.raftReachable(ctx, b)
}

// downPeers asks every broker but self for /livez, in parallel, and returns
// those that did not answer. A broker whose port refuses is down at once;
// one that was only slow or answered otherwise is asked a second time: a
// single late answer on a loaded machine made a reassignment onto a broker
// that had just joined fail as "broker 5 is down".
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
			err := p.check(ctx, b, "/livez")
			if err != nil && !errors.Is(err, syscall.ECONNREFUSED) && ctx.Err() == nil {
				err = p.check(ctx, b, "/livez")
			}
			if err != nil {
				mu.Lock()
				down[id] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return down
}

// peerLiveness follows whether the other brokers are reachable (their
// /livez and their Raft address): a broker is down after peerFailures
// probes in a row were refused, or after its probes failed otherwise for
// peerSlowDownAfter; it is up again at its next success.
type peerLiveness struct {
	self      uint64
	probe     prober
	slowAfter time.Duration
	failures  map[uint64]int
	since     map[uint64]time.Time // first failure of the current run
	down      map[uint64]bool
}

func newPeerLiveness(self uint64, probe prober) *peerLiveness {
	return &peerLiveness{self: self, probe: probe, slowAfter: peerSlowDownAfter,
		failures: map[uint64]int{}, since: map[uint64]time.Time{}, down: map[uint64]bool{}}
}

// round probes every other broker of st, one after another, and calls
// changed as soon as one goes down (with the failed probe) or comes back.
func (l *peerLiveness) round(ctx context.Context, st *meta.State, changed func(id uint64, down bool, why error)) {
	for id, b := range st.Brokers {
		if id == l.self {
			continue
		}
		err := l.probe.reachable(ctx, b)
		if err == nil {
			l.failures[id] = 0
			if l.down[id] {
				l.down[id] = false
				changed(id, false, nil)
			}
			continue
		}
		if ctx.Err() != nil {
			return // a cancelled probe says nothing about the peer
		}
		if l.failures[id] == 0 {
			l.since[id] = time.Now()
		}
		l.failures[id]++
		if l.down[id] || l.failures[id] < peerFailures {
			continue
		}
		if errors.Is(err, syscall.ECONNREFUSED) || time.Since(l.since[id]) >= l.slowAfter {
			l.down[id] = true
			changed(id, true, err)
		}
	}
}

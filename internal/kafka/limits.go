package kafka

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/longboat/longboat/internal/quota"
)

// Reasons a connection is refused at accept, as the rejected metric's label.
const (
	rejectMaxConnections = "max_connections"
	rejectPerIP          = "max_connections_per_ip"
	rejectConnectionRate = "connection_creation_rate" // an ip quota
)

// budget counts bytes held against a limit. acquire waits while taking n
// would pass the limit, except when nothing is held, so that one request
// larger than the whole limit is still served, alone.
//
// Request bytes are held as they arrive, so a client that announces a large
// frame and trickles it holds only what it sent. Frames being received
// hold tickets: the oldest may always take more, past the limit, so frames
// that together fill the budget halfway through cannot wait on each other
// forever; the oldest completes, is answered, and releases its bytes.
type budget struct {
	mu      sync.Mutex
	used    int64
	limit   int64
	changed chan struct{}       // closed and replaced on every release
	open    map[uint64]struct{} // tickets of frames being received
	next    uint64
}

func newBudget(limit int64) *budget {
	return &budget{limit: limit, changed: make(chan struct{}), open: map[uint64]struct{}{}}
}

// ticket starts a frame's reception; end it with done.
func (b *budget) ticket() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.next++
	b.open[b.next] = struct{}{}
	return b.next
}

func (b *budget) done(t uint64) {
	b.mu.Lock()
	delete(b.open, t)
	b.broadcast()
	b.mu.Unlock()
}

func (b *budget) broadcast() {
	close(b.changed)
	b.changed = make(chan struct{})
}

// oldest reports whether t is the oldest open ticket.
func (b *budget) oldest(t uint64) bool {
	if _, ok := b.open[t]; !ok {
		return false
	}
	for o := range b.open {
		if o < t {
			return false
		}
	}
	return true
}

// acquire takes n bytes for the frame holding ticket t (0 for none).
func (b *budget) acquire(ctx context.Context, n int64, t uint64) error {
	for {
		b.mu.Lock()
		if b.used == 0 || b.used+n <= b.limit || b.oldest(t) {
			b.used += n
			b.mu.Unlock()
			return nil
		}
		changed := b.changed
		b.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (b *budget) release(n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	b.broadcast()
	b.mu.Unlock()
}

// Used returns the bytes held.
func (b *budget) Used() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// memory is one connection's share of request bytes: held against its own
// budget and the broker's, so one client can neither take the broker's
// whole budget with pipelined requests nor starve it. Only the reader
// reserves; the writer frees.
type memory struct {
	conn, broker *budget
	held         atomic.Int64
	ticket       uint64 // of the frame being received, 0 between frames
}

// reserve takes n bytes for the frame being received.
func (m *memory) reserve(ctx context.Context, n int64) error {
	if m.ticket == 0 {
		m.ticket = m.broker.ticket()
	}
	if err := m.conn.acquire(ctx, n, 0); err != nil {
		return err
	}
	if err := m.broker.acquire(ctx, n, m.ticket); err != nil {
		m.conn.release(n)
		return err
	}
	m.held.Add(n)
	return nil
}

// received ends the current frame's ticket.
func (m *memory) received() {
	if m.ticket != 0 {
		m.broker.done(m.ticket)
		m.ticket = 0
	}
}

func (m *memory) free(n int64) {
	m.held.Add(-n)
	m.conn.release(n)
	m.broker.release(n)
}

// errIdle ends a connection that sent nothing and awaited nothing for
// connections.max.idle.ms.
var errIdle = errors.New("idle")

// idleReader reads a connection, failing with errIdle once it has had no
// request in flight and sent no byte for idle; a long-polling Fetch is in
// flight, so it never counts as idle.
type idleReader struct {
	c      net.Conn
	idle   time.Duration
	busy   func() bool
	active *atomic.Int64 // unix nanoseconds of the last byte read or response written
}

func (r *idleReader) Read(p []byte) (int, error) {
	for {
		deadline := time.Unix(0, r.active.Load()).Add(r.idle)
		if r.busy() {
			deadline = time.Now().Add(r.idle)
		}
		if err := r.c.SetReadDeadline(deadline); err != nil {
			return 0, fmt.Errorf("set read deadline: %w", err)
		}
		n, err := r.c.Read(p)
		if n > 0 {
			r.active.Store(time.Now().UnixNano())
		}
		var ne net.Error
		if err == nil || !errors.As(err, &ne) || !ne.Timeout() {
			return n, err
		}
		if n > 0 {
			return n, nil
		}
		if !r.busy() && time.Since(time.Unix(0, r.active.Load())) >= r.idle {
			return 0, errIdle
		}
	}
}

// progressWriter writes in pieces, each of which must go out within
// timeout: a client that stops reading fails the write instead of holding
// its responses, and the request bytes behind them, forever.
type progressWriter struct {
	c       net.Conn
	timeout time.Duration
}

func (w progressWriter) Write(p []byte) (int, error) {
	const piece = 64 << 10
	written := 0
	for written < len(p) {
		if err := w.c.SetWriteDeadline(time.Now().Add(w.timeout)); err != nil {
			return written, fmt.Errorf("set write deadline: %w", err)
		}
		n, err := w.c.Write(p[written:min(len(p), written+piece)])
		written += n
		if err != nil {
			return written, err
		}
	}
	return written, nil
}

// admission tracks open connections per client address for
// max.connections and max.connections.per.ip, and the connections each
// address opens for its connection_creation_rate quota.
type admission struct {
	maxTotal, maxPerIP int
	mu                 sync.Mutex
	total              int
	perIP              map[string]int
	rates              quota.Connections
	rejected           *prometheus.CounterVec // listener, reason
	log                zerolog.Logger
	lastWarn           time.Time
	unlogged           int // rejections since the last warning
}

// admit counts a new connection from host, or returns why it is refused.
func (a *admission) admit(host string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.maxTotal > 0 && a.total >= a.maxTotal {
		return rejectMaxConnections
	}
	if a.maxPerIP > 0 && a.perIP[host] >= a.maxPerIP {
		return rejectPerIP
	}
	a.total++
	a.perIP[host]++
	return ""
}

func (a *admission) leave(host string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.total--
	if a.perIP[host]--; a.perIP[host] == 0 {
		delete(a.perIP, host)
	}
}

// reject counts a refused connection and warns at most every ten seconds,
// since a flood of them would otherwise flood the log too.
func (a *admission) reject(listener, host, reason string) {
	a.rejected.WithLabelValues(listener, reason).Inc()
	a.mu.Lock()
	a.unlogged++
	if time.Since(a.lastWarn) < 10*time.Second {
		a.mu.Unlock()
		return
	}
	n := a.unlogged
	a.unlogged, a.lastWarn = 0, time.Now()
	a.mu.Unlock()
	a.log.Warn().Str("listener", listener).Str("remote_host", host).Str("reason", reason).Int("rejected", n).
		Int("max_connections", a.maxTotal).Int("max_connections_per_ip", a.maxPerIP).
		Msg("refusing connections over the limit")
}

// rejectedCounter registers longboat_kafka_connections_rejected_total, or
// finds it when a broker restarted in the same process registered it.
func rejectedCounter(reg prometheus.Registerer) *prometheus.CounterVec {
	return registerCounter(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "longboat_kafka_connections_rejected_total",
		Help: "Kafka connections closed at accept because of --max-connections, --max-connections-per-ip or an ip quota's connection_creation_rate, by listener and reason.",
	}, []string{"listener", "reason"}))
}

// registerCounter registers c, or returns the counter a broker restarted
// in the same process registered under its name.
func registerCounter(reg prometheus.Registerer, c *prometheus.CounterVec) *prometheus.CounterVec {
	if err := reg.Register(c); err != nil {
		var dup prometheus.AlreadyRegisteredError
		if errors.As(err, &dup) {
			return dup.ExistingCollector.(*prometheus.CounterVec)
		}
		panic(err)
	}
	return c
}

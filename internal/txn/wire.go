package txn

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/meta"
)

// maxResponseBytes bounds a WriteTxnMarkers response read from a peer.
const maxResponseBytes = 16 << 20

// markersVersion is the WriteTxnMarkers version sent: Kafka 4.1's highest.
const markersVersion = 1

// Wire sends WriteTxnMarkers over the Kafka protocol to the brokers'
// advertised endpoints of one listener. A request takes an idle connection
// to the broker or dials one, and gives it back after a complete round
// trip: the markers of concurrent completions reach a leader in parallel
// instead of queueing behind each other's Raft commits on one connection.
// A connection that fails is closed.
type Wire struct {
	meta     func() *meta.State
	listener string
	tls      *tls.Config // nil: the listener is plaintext
	fmt      *kmsg.RequestFormatter

	mu     sync.Mutex
	idle   map[uint64][]*wireConn
	corr   int32
	closed bool
}

// maxIdleConns bounds the idle connections kept per broker.
const maxIdleConns = 8

type wireConn struct {
	addr string
	tls  *tls.Config
	c    net.Conn
	r    *bufio.Reader
}

// NewWire returns a marker client reaching brokers on the named listener,
// over TLS with tlsCfg when it is not nil (an SSL listener).
func NewWire(metaState func() *meta.State, listener string, tlsCfg *tls.Config) *Wire {
	return &Wire{meta: metaState, listener: listener, tls: tlsCfg, idle: map[uint64][]*wireConn{},
		fmt: kmsg.NewRequestFormatter(kmsg.FormatterClientID("longboat-txn-coordinator"))}
}

// Close closes every idle connection; those in use close when their
// request ends.
func (w *Wire) Close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	for id, cs := range w.idle {
		for _, c := range cs {
			c.c.Close()
		}
		delete(w.idle, id)
	}
}

// WriteTxnMarkers sends req to a broker and reads its response.
func (w *Wire) WriteTxnMarkers(ctx context.Context, broker uint64, req *kmsg.WriteTxnMarkersRequest) (*kmsg.WriteTxnMarkersResponse, error) {
	b, ok := w.meta().Brokers[broker]
	if !ok {
		return nil, fmt.Errorf("broker %d is not registered", broker)
	}
	ep, ok := b.Endpoint(w.listener)
	if !ok {
		return nil, fmt.Errorf("broker %d has no listener %s", broker, w.listener)
	}
	addr := net.JoinHostPort(ep.Host, strconv.Itoa(int(ep.Port)))
	w.mu.Lock()
	var c *wireConn
	for cs := w.idle[broker]; len(cs) > 0 && c == nil; cs = w.idle[broker] {
		c, w.idle[broker] = cs[len(cs)-1], cs[:len(cs)-1]
		if c.addr != addr {
			c.c.Close()
			c = nil
		}
	}
	if c == nil {
		c = &wireConn{addr: addr, tls: w.tls}
	}
	w.corr++
	corr := w.corr
	w.mu.Unlock()

	req.SetVersion(markersVersion)
	resp, err := c.roundTrip(ctx, w.fmt.AppendRequest(nil, req, corr), corr, req)
	if err != nil {
		if c.c != nil {
			c.c.Close()
		}
		return nil, fmt.Errorf("WriteTxnMarkers to broker %d at %s: %w", broker, addr, err)
	}
	w.mu.Lock()
	if w.closed || len(w.idle[broker]) >= maxIdleConns {
		c.c.Close()
	} else {
		w.idle[broker] = append(w.idle[broker], c)
	}
	w.mu.Unlock()
	return resp, nil
}

func (c *wireConn) roundTrip(ctx context.Context, msg []byte, corr int32, req *kmsg.WriteTxnMarkersRequest) (*kmsg.WriteTxnMarkersResponse, error) {
	if c.c == nil {
		var d interface {
			DialContext(ctx context.Context, network, addr string) (net.Conn, error)
		} = &net.Dialer{}
		if c.tls != nil {
			cfg := c.tls.Clone()
			cfg.ServerName, _, _ = net.SplitHostPort(c.addr)
			d = &tls.Dialer{Config: cfg}
		}
		conn, err := d.DialContext(ctx, "tcp", c.addr)
		if err != nil {
			return nil, err
		}
		c.c, c.r = conn, bufio.NewReader(conn)
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(10 * time.Second)
	}
	_ = c.c.SetDeadline(deadline)
	if _, err := c.c.Write(msg); err != nil {
		return nil, err
	}
	var size [4]byte
	if _, err := io.ReadFull(c.r, size[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(size[:])
	if n < 4 || n > maxResponseBytes {
		return nil, fmt.Errorf("response size %d out of bounds", n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(c.r, body); err != nil {
		return nil, err
	}
	if got := int32(binary.BigEndian.Uint32(body)); got != corr {
		return nil, fmt.Errorf("correlation id %d, want %d", got, corr)
	}
	body = body[4:]
	if req.IsFlexible() {
		// The response header's tagged fields: none are defined.
		tags, n := binary.Uvarint(body)
		if n <= 0 || tags != 0 {
			return nil, errors.New("unexpected tagged fields in the response header")
		}
		body = body[n:]
	}
	resp := req.ResponseKind().(*kmsg.WriteTxnMarkersResponse)
	if err := resp.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("decode response: %w", err)
	}
	return resp, nil
}

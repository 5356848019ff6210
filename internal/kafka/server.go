// Package kafka speaks the Kafka wire protocol (decoded with franz-go's
// kmsg) on a broker's listeners and answers from the cluster node: one file
// per API, each registering its versions and handler in its init, like
// franz-go's kfake.
package kafka

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/acl"
	"github.com/longboat/longboat/internal/config"
	"github.com/longboat/longboat/internal/metrics"
	"github.com/longboat/longboat/internal/quota"
	"github.com/longboat/longboat/internal/tlscert"
)

// maxInFlight bounds the requests one connection may have pipelined; past
// it the reader stops reading, which pushes back on the client.
const maxInFlight = 64

// Server serves every Kafka listener of one broker.
type Server struct {
	cfg     *config.Config
	node    Node
	groups  Groups
	txns    Txns // nil until SetTransactions
	metrics *metrics.Metrics
	log     zerolog.Logger

	listeners []net.Listener
	mu        sync.Mutex
	conns     map[net.Conn]struct{}
	closed    atomic.Bool
	wg        sync.WaitGroup
	observer  atomic.Pointer[func(ClientRequest)]
	admission *admission
	inflight  *budget // request bytes read and not yet answered, broker-wide
	quotas    *quota.Manager
	throttled *prometheus.CounterVec // seconds, by quota key
	certs     *tlscert.Store
	authz     *acl.Authorizer // nil: --authorizer none
	// saslListeners: the SASL_PLAINTEXT and SASL_SSL listeners, by name.
	saslListeners map[string]bool
	// Connections counts open connections per listener name.
	Connections sync.Map // name -> *atomic.Int64
}

// New returns a server answering from node and groups (the broker passes
// its *cluster.Node and *group.Coordinator); call Listen to bind.
func New(cfg *config.Config, node Node, groups Groups, m *metrics.Metrics, log zerolog.Logger) *Server {
	s := &Server{cfg: cfg, node: waitingNode{node}, groups: waitingGroups{groups}, metrics: m, log: log.With().Str("component", "kafka").Logger(), conns: map[net.Conn]struct{}{}}
	s.admission = &admission{maxTotal: cfg.MaxConnections, maxPerIP: cfg.MaxConnectionsPerIP, perIP: map[string]int{},
		rejected: rejectedCounter(m.Registry), log: s.log}
	s.inflight = newBudget(cfg.MaxInflightRequestBytes)
	s.quotas, s.throttled = quota.NewManager(), throttledCounter(m.Registry)
	s.authz = newAuthorizer(cfg)
	return s
}

// InflightRequestBytes returns the request bytes read and not yet
// answered, across connections.
func (s *Server) InflightRequestBytes() int64 { return s.inflight.Used() }

// ConnectionCounts returns open connections per listener.
func (s *Server) ConnectionCounts() map[string]int64 {
	out := map[string]int64{}
	s.Connections.Range(func(k, v any) bool {
		out[k.(string)] = v.(*atomic.Int64).Load()
		return true
	})
	return out
}

// UseTLS gives SSL listeners their certificates; call before Listen.
func (s *Server) UseTLS(certs *tlscert.Store) { s.certs = certs }

// tlsHandshakeTimeout bounds a handshake, so that a client that connects
// and sends nothing cannot hold a connection slot before its first request.
const tlsHandshakeTimeout = 10 * time.Second

// Listen binds every configured listener and starts accepting.
func (s *Server) Listen() error {
	// Filled before any connection is served, read-only afterwards.
	s.saslListeners = map[string]bool{}
	for _, l := range s.cfg.Listeners {
		s.saslListeners[l.Name] = l.Protocol == config.ProtocolSASLPlaintext || l.Protocol == config.ProtocolSASLSSL
	}
	for _, l := range s.cfg.Listeners {
		protocol := l.Protocol
		if protocol == "" { // a Config built in code rather than parsed
			protocol = config.ProtocolPlaintext
		}
		var tlsCfg *tls.Config
		switch {
		case config.UsesTLS(protocol) && s.certs == nil:
			s.Close()
			return fmt.Errorf("listener %s is %s but no certificate is loaded: set --tls-cert-file and --tls-key-file", l.Name, protocol)
		case config.UsesTLS(protocol):
			tlsCfg = s.certs.ServerConfig(s.cfg.TLS.ClientAuthOf(l.Name))
		case protocol != config.ProtocolPlaintext && protocol != config.ProtocolSASLPlaintext:
			s.Close()
			return fmt.Errorf("listener %s: security protocol %s is not served by this broker", l.Name, protocol)
		}
		ln, err := net.Listen("tcp", l.Addr())
		if err != nil {
			s.Close()
			return fmt.Errorf("listener %s on %s: %w", l.Name, l.Addr(), err)
		}
		s.listeners = append(s.listeners, ln)
		s.log.Info().Str("listener", l.Name).Str("protocol", protocol).Str("addr", ln.Addr().String()).Msg("Kafka listener bound")
		s.wg.Add(1)
		go s.accept(l.Name, ln, tlsCfg)
	}
	return nil
}

func (s *Server) accept(name string, ln net.Listener, tlsCfg *tls.Config) {
	defer s.wg.Done()
	counter, _ := s.Connections.LoadOrStore(name, new(atomic.Int64))
	for {
		c, err := ln.Accept()
		if err != nil {
			if s.closed.Load() {
				return
			}
			s.log.Warn().Err(err).Str("listener", name).Msg("accept")
			time.Sleep(50 * time.Millisecond)
			continue
		}
		host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
		if s.throttleConnection(name, host, c) {
			continue
		}
		if reason := s.admission.admit(host); reason != "" {
			c.Close()
			s.admission.reject(name, host, reason)
			continue
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		counter.(*atomic.Int64).Add(1)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer counter.(*atomic.Int64).Add(-1)
			defer s.admission.leave(host)
			s.serveConn(name, c, tlsCfg)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

// Close stops accepting, closes every connection and waits for handlers.
func (s *Server) Close() {
	s.closed.Store(true)
	for _, ln := range s.listeners {
		ln.Close()
	}
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// request is one decoded request and where it arrived.
type request struct {
	listener      string
	key           int16
	version       int16
	correlationID int32
	clientID      string
	remoteHost    string
	principal     string // User:<name>, for the authorizer
	body          kmsg.Request
	sasl          *saslConn     // the connection's authentication state
	size          int           // the request's frame, in bytes
	mute          *mute         // the connection's, while its client is throttled
	read          time.Time     // when its frame had been read
	clock         *requestClock // its waits, when request_percentage applies
}

// slot carries one response back to the writer, which writes slots in the
// order the requests arrived. A nil frame means "send nothing" (acks=0);
// an empty one closes the connection once the responses before it are out.
type slot struct {
	frame chan []byte
	size  int64 // request bytes held until the response is out
	// ready, for a Produce, is when its response was encoded (Unix
	// nanoseconds), so the writer can time the write stage; nil otherwise.
	ready *atomic.Int64
}

// closeFrame, sent on a slot, closes the connection in request order.
var closeFrame = []byte{}

func (s *Server) serveConn(listener string, c net.Conn, tlsCfg *tls.Config) {
	defer c.Close()
	log := s.log.With().Str("remote", c.RemoteAddr().String()).Str("listener", listener).Logger()
	principal := tlscert.Anonymous
	if tlsCfg != nil {
		tc, err := handshake(c, tlsCfg)
		if err != nil {
			if !s.closed.Load() {
				log.Info().Err(err).Msg("closing connection: TLS handshake failed")
			}
			return
		}
		principal = tlscert.Principal(tc.ConnectionState())
		log.Debug().Str("principal", principal).Str("tls_version", tls.VersionName(tc.ConnectionState().Version)).Msg("TLS connection")
		c = tc
	}
	remoteHost, _, _ := net.SplitHostPort(c.RemoteAddr().String())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mem := &memory{conn: newBudget(int64(s.cfg.MaxRequestBytes)), broker: s.inflight}
	var pending atomic.Int32 // requests read whose response is not out
	var active atomic.Int64
	active.Store(time.Now().UnixNano())
	queue := make(chan slot, maxInFlight)
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		s.writeLoop(ctx, c, queue, cancel, log, func(sl slot) {
			mem.free(sl.size)
			pending.Add(-1)
			active.Store(time.Now().UnixNano())
		})
	}()
	in := &idleReader{c: c, idle: s.cfg.ConnectionsMaxIdle, busy: func() bool { return pending.Load() > 0 }, active: &active}
	r := bufio.NewReaderSize(in, 16<<10)
	var handlers sync.WaitGroup
	var software clientSoftware
	// lastInOrder is closed once the latest inOrder request has finished.
	var lastInOrder chan struct{}
	sc := &saslConn{required: s.saslListeners[listener]}
	var muted mute
	// enqueue hands a slot to the writer, in request order.
	enqueue := func(sl slot) {
		pending.Add(1)
		select {
		case queue <- sl:
		case <-ctx.Done():
		}
	}
	for ctx.Err() == nil {
		frame, err := readFrame(r, s.cfg.MaxRequestBytes, func(n int) error { return mem.reserve(ctx, int64(n)) })
		if err == nil && !muted.wait(ctx) {
			break
		}
		read := time.Now()
		if err != nil {
			switch {
			case errors.Is(err, errIdle):
				log.Debug().Dur("idle", s.cfg.ConnectionsMaxIdle).Msg("closing idle connection")
			case !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && ctx.Err() == nil:
				log.Info().Err(err).Msg("closing connection: bad frame")
			}
			break
		}
		if sc.raw { // a bare token after SaslHandshake v0
			mem.received()
			enqueue(s.rawSASLToken(sc, listener, remoteHost, frame))
			continue
		}
		req, resp, err := decodeRequest(frame)
		if err != nil {
			log.Info().Err(err).Msg("closing connection: undecodable request")
			break
		}
		if reason := sc.admit(req.key, time.Now()); reason != "" {
			log.Info().Str("api", apiName(req.key)).Str("principal", sc.principal()).Msg("closing connection: " + reason)
			break
		}
		req.sasl, req.size, req.mute = sc, len(frame), &muted
		// Decoding can multiply a frame (many tiny elements, each a larger
		// struct): the decoded form is held against the budgets too, and a
		// request that decodes past socket.request.max.bytes is refused.
		extra := decodedSize(req.body, int64(s.cfg.MaxRequestBytes-len(frame)))
		if total := int64(len(frame)) + extra; total > int64(s.cfg.MaxRequestBytes) {
			log.Info().Str("api", apiName(req.key)).Int("frame_bytes", len(frame)).Int64("decoded_bytes", extra).
				Int("socket_request_max_bytes", s.cfg.MaxRequestBytes).Msg("closing connection: request decodes larger than socket.request.max.bytes")
			break
		}
		if err := mem.reserve(ctx, extra); err != nil {
			break
		}
		mem.received()
		req.listener = listener
		req.remoteHost = remoteHost
		req.principal = principal
		if sc.required { // SASL's principal, also over TLS (SASL_SSL), as Kafka
			req.principal = sc.principal()
		}
		s.noteRequest(&software, req)
		sl := slot{frame: make(chan []byte, 1), size: int64(len(frame)) + extra}
		produce := req.key == produceKey
		if produce {
			sl.ready = new(atomic.Int64)
		}
		enqueue(sl)
		if resp != nil { // answered without a handler (ApiVersions fallback)
			s.observe(req, resp, 0)
			sl.frame <- encodeResponse(req, resp)
			continue
		}
		start := time.Now()
		if produce {
			s.metrics.Stage(metrics.StageDecode).Observe(start.Sub(read).Seconds())
		}
		req.read = read
		hctx := s.timeRequest(ctx, req)
		finish := apis[req.key].start(s, hctx, req)
		if sc.closing {
			// A failed SASL exchange: its answer goes out, then the
			// connection closes, as Kafka does.
			closing := slot{frame: make(chan []byte, 1)}
			closing.frame <- closeFrame
			enqueue(closing)
		}
		var after, done chan struct{}
		if apis[req.key].inOrder {
			after, done = lastInOrder, make(chan struct{})
			lastInOrder = done
		}
		handlers.Add(1)
		go func() {
			defer handlers.Done()
			if done != nil {
				defer close(done)
			}
			defer func() {
				if p := recover(); p != nil {
					log.Error().Interface("panic", p).Str("api", kmsg.NameForKey(req.key)).Bytes("stack", debug.Stack()).Msg("closing connection: handler panicked")
					sl.frame <- nil
					cancel()
					c.Close()
				}
			}()
			if after != nil {
				done := waiting(hctx)
				<-after
				done()
			}
			out := finish()
			finished := time.Now()
			if failed, ok := out.(acklessFailure); ok {
				s.observe(req, failed.ProduceResponse, time.Since(start))
				log.Info().Str("error", errorName(firstError(failed.ProduceResponse))).Msg("closing connection: acks=0 produce failed")
				sl.frame <- closeFrame
				return
			}
			s.observe(req, out, time.Since(start))
			if out == nil {
				sl.frame <- nil
				return
			}
			if !produce && req.key != fetchKey {
				s.throttleResponse(req, out)
			}
			frame := encodeResponse(req, out)
			if produce {
				sl.ready.Store(s.stage(metrics.StageRespond, finished).UnixNano())
			}
			sl.frame <- frame
		}()
	}
	cancel()
	close(queue)
	<-writerDone
	handlers.Wait()
	mem.received()
	mem.free(mem.held.Load())
}

// handshake runs the server side of a TLS handshake within
// tlsHandshakeTimeout.
func handshake(c net.Conn, cfg *tls.Config) (*tls.Conn, error) {
	tc := tls.Server(c, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), tlsHandshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, err
	}
	return tc, nil
}

// writeLoop writes responses in request order; done runs for each slot
// answered, to release what its request held.
func (s *Server) writeLoop(ctx context.Context, c net.Conn, queue <-chan slot, cancel context.CancelFunc, log zerolog.Logger, done func(slot)) {
	w := bufio.NewWriterSize(progressWriter{c: c, timeout: s.cfg.ConnectionWriteTimeout}, 16<<10)
	fail := func(err error) {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			log.Info().Dur("timeout", s.cfg.ConnectionWriteTimeout).Msg("closing connection: client stopped reading responses")
		}
		cancel()
		c.Close()
	}
	for sl := range queue {
		var frame []byte
		select {
		case frame = <-sl.frame:
		case <-ctx.Done():
			return
		}
		if frame == nil {
			done(sl)
			continue
		}
		if len(frame) == 0 {
			fail(w.Flush())
			return
		}
		if _, err := w.Write(frame); err != nil {
			fail(err)
			return
		}
		// Flush when nothing else is ready, so pipelined responses share a write.
		if len(queue) == 0 {
			if err := w.Flush(); err != nil {
				fail(err)
				return
			}
		}
		if sl.ready != nil {
			s.metrics.Stage(metrics.StageWrite).Observe(time.Since(time.Unix(0, sl.ready.Load())).Seconds())
		}
		done(sl)
	}
	w.Flush()
}

// readFrame reads one size-prefixed frame, calling reserve for each piece
// before reading it, so that bytes are held only once they arrive.
func readFrame(r *bufio.Reader, max int, reserve func(int) error) ([]byte, error) {
	var sz [4]byte
	if _, err := io.ReadFull(r, sz[:]); err != nil {
		return nil, err
	}
	n := int32(binary.BigEndian.Uint32(sz[:]))
	if n < 8 || int(n) > max {
		return nil, fmt.Errorf("frame size %d outside 8..%d bytes", n, max)
	}
	// Grow the buffer as bytes arrive rather than trusting the announced
	// size: idle connections announcing 100 MiB must not pin 100 MiB each.
	const chunk = 1 << 20
	buf := make([]byte, 0, min(int(n), chunk))
	for len(buf) < int(n) {
		want := min(int(n)-len(buf), chunk)
		if err := reserve(want); err != nil {
			return nil, err
		}
		buf = slices.Grow(buf, want)
		m, err := io.ReadFull(r, buf[len(buf):len(buf)+want])
		buf = buf[:len(buf)+m]
		if err != nil {
			return nil, fmt.Errorf("truncated frame of %d bytes: %w", n, err)
		}
	}
	return buf, nil
}

// encodeResponse frames a response: size, correlation id, the flexible
// header's empty tag section (never for ApiVersions, whose response header
// is always v0 so that old clients can read it), then the body.
func encodeResponse(req *request, resp kmsg.Response) []byte {
	buf := make([]byte, 8, 256)
	binary.BigEndian.PutUint32(buf[4:], uint32(req.correlationID))
	if resp.IsFlexible() && req.key != 18 {
		buf = append(buf, 0)
	}
	buf = resp.AppendTo(buf)
	binary.BigEndian.PutUint32(buf, uint32(len(buf)-4))
	return buf
}

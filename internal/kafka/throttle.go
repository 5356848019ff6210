package kafka

import (
	"context"
	"math"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/longboat/longboat/internal/quota"
)

// mute holds a connection's reads while its client is throttled.
type mute struct{ until atomic.Int64 } // unix nanoseconds

func (m *mute) extend(d time.Duration) {
	t := time.Now().Add(d).UnixNano()
	for {
		cur := m.until.Load()
		if cur >= t || m.until.CompareAndSwap(cur, t) {
			return
		}
	}
}

// wait returns once the connection is no longer muted; false if ctx ends
// first.
func (m *mute) wait(ctx context.Context) bool {
	d := time.Until(time.Unix(0, m.until.Load()))
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// throttleMillis is a delay as a response's ThrottleMillis.
func throttleMillis(d time.Duration) int32 { return int32(min(d.Milliseconds(), math.MaxInt32)) }

// quotaClient names a request's connection as client quotas do: the
// principal's name (ANONYMOUS without authentication) and the client id.
func quotaClient(req *request) quota.Client {
	return quota.Client{User: strings.TrimPrefix(req.principal, "User:"), ClientID: req.clientID}
}

// throttle records bytes against the request's client quota of kind k and,
// past the quota, mutes the connection for the delay Kafka computes: the
// response goes out at once carrying the delay (KIP-219), and nothing more
// is read from the connection until it has passed, so a client that
// ignores ThrottleMillis is held to its quota too. It returns the delay in
// milliseconds, 0 within the quota.
func (s *Server) throttle(req *request, k quota.Kind, bytes int) int32 {
	d := s.quotas.Record(s.node.Meta(), k, quotaClient(req), float64(bytes), time.Now())
	if d <= 0 {
		return 0
	}
	s.muted(req, k, d)
	return throttleMillis(d)
}

func (s *Server) muted(req *request, k quota.Kind, d time.Duration) {
	if req.mute != nil {
		req.mute.extend(d)
	}
	s.throttled.WithLabelValues(k.Key()).Add(d.Seconds())
}

// throttledCounter registers longboat_kafka_throttle_seconds_total, or
// finds it when a broker restarted in the same process registered it.
func throttledCounter(reg prometheus.Registerer) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "longboat_kafka_throttle_seconds_total",
		Help: "Time clients were throttled for exceeding a client quota (connections muted, ThrottleMillis in responses, new connections held before being closed), by quota key.",
	}, []string{"quota"})
	// Every series from the start, at zero, so that a rate over them reads
	// 0 rather than nothing before the first throttle.
	c.WithLabelValues(quota.ConnectionCreationRate)
	c.WithLabelValues(quota.Produce.Key())
	c.WithLabelValues(quota.Fetch.Key())
	c.WithLabelValues(quota.Mutation.Key())
	c.WithLabelValues(quota.Request.Key())
	return registerCounter(reg, c)
}

// mutations charges the partitions a CreateTopics, CreatePartitions or
// DeleteTopics request creates or deletes against its client's
// controller_mutation_rate (KIP-599), topic by topic.
type mutations struct {
	s      *Server
	req    *request
	strict bool // the versions that can answer THROTTLING_QUOTA_EXCEEDED
	delay  time.Duration
}

func (s *Server) mutations(req *request, strict bool) *mutations {
	return &mutations{s: s, req: req, strict: strict}
}

// take asks for n partition mutations: an error code and Kafka's message
// when the quota refuses them, 0 otherwise.
func (m *mutations) take(n int) (int16, string) {
	ok, d := m.s.quotas.Mutate(m.s.node.Meta(), quotaClient(m.req), float64(n), m.strict, time.Now())
	m.delay = max(m.delay, d)
	if !ok {
		return kerr.ThrottlingQuotaExceeded.Code, "The throttling quota has been exceeded."
	}
	return 0, ""
}

// throttle ends the request: its response's ThrottleMillis, the
// connection muted for as long.
func (m *mutations) throttle() int32 {
	if m.delay <= 0 {
		return 0
	}
	m.s.muted(m.req, quota.Mutation, m.delay)
	return throttleMillis(m.delay)
}

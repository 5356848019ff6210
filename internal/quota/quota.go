// Package quota holds each client's rates against its client quotas
// (producer_byte_rate, consumer_byte_rate, request_percentage) and says how
// long to throttle it, as Kafka's client quota managers do: per broker,
// over a window of one-second samples, the quota shared by every
// connection of the entity it was set on.
package quota

import (
	"sync"
	"time"

	"github.com/longboat/longboat/internal/meta"
)

// Kafka's defaults for quota.window.num and quota.window.size.seconds.
const (
	samples      = 11
	sampleWindow = int64(time.Second / time.Millisecond)
	// oneWindow bounds the delays Kafka caps at quota.window.size.seconds
	// (request_percentage's and connection_creation_rate's).
	oneWindow = time.Duration(sampleWindow) * time.Millisecond
)

// Kind is what a quota limits.
type Kind uint8

const (
	Produce  Kind = iota // bytes of Produce requests
	Fetch                // bytes of Fetch responses
	Mutation             // partitions created, added or deleted (KIP-599)
	Request              // time handling requests, in percent-seconds (KIP-124)
)

// The quota keys, as AlterClientQuotas names them.
const (
	ProducerByteRate       = "producer_byte_rate"
	ConsumerByteRate       = "consumer_byte_rate"
	ControllerMutationRate = "controller_mutation_rate"
	RequestPercentage      = "request_percentage"
)

// Key is the quota key that limits a kind.
func (k Kind) Key() string {
	switch k {
	case Fetch:
		return ConsumerByteRate
	case Mutation:
		return ControllerMutationRate
	case Request:
		return RequestPercentage
	}
	return ProducerByteRate
}

// Limits finds the quota that applies to a user's client id (a
// *meta.State).
type Limits interface {
	ClientQuotaFor(key, user, clientID string) (limit float64, entity meta.QuotaEntity, ok bool)
}

// Manager holds the rates of every entity with a quota on this broker.
type Manager struct {
	mu      sync.Mutex
	rates   map[rateKey]*rate
	buckets map[rateKey]*bucket // controller_mutation_rate's
	pruned  int64               // unix ms of the last pass dropping idle rates
}

// rateKey is the entity a quota was set on, with the connection's own
// names for its default parts: a default quota is each name's own.
type rateKey struct {
	kind                Kind
	user, client        string
	hasUser, hasClients bool
}

// NewManager returns a Manager with no rates.
func NewManager() *Manager {
	return &Manager{rates: map[rateKey]*rate{}, buckets: map[rateKey]*bucket{}}
}

// Client is the connection a request came on, as quotas name it.
type Client struct {
	User, ClientID string
}

// keyOf names the rate a quota set on entity e counts a client in.
func keyOf(k Kind, e meta.QuotaEntity, c Client) rateKey {
	key := rateKey{kind: k, hasUser: e.User.Set, hasClients: e.ClientID.Set}
	if key.hasUser {
		key.user = c.User
	}
	if key.hasClients {
		key.client = c.ClientID
	}
	return key
}

// rateOf returns the rate a quota set on entity e counts a client in;
// m.mu must be held.
func (m *Manager) rateOf(k Kind, e meta.QuotaEntity, c Client) *rate {
	key := keyOf(k, e, c)
	r, ok := m.rates[key]
	if !ok {
		r = &rate{}
		m.rates[key] = r
	}
	return r
}

// Record adds value (bytes; percent-seconds for Request) to the client's
// rate for a kind and returns how long the client must wait to bring its
// rate back to its quota: zero when it is within it or has none. A
// Request delay is at most one sample window, as Kafka bounds it: one
// slow request must not hold a client for the whole window.
func (m *Manager) Record(l Limits, k Kind, c Client, value float64, now time.Time) time.Duration {
	limit, e, ok := l.ClientQuotaFor(k.Key(), c.User, c.ClientID)
	if !ok { // most requests: no lock taken
		return 0
	}
	ms := now.UnixMilli()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.prune(ms)
	r := m.rateOf(k, e, c)
	r.record(value, ms)
	d := throttle(r, limit, ms)
	if k == Request {
		d = min(d, oneWindow)
	}
	return d
}

// Unrecord takes back a value Record added, for a response not sent
// (Kafka sends a throttled Fetch empty).
func (m *Manager) Unrecord(l Limits, k Kind, c Client, value float64, now time.Time) {
	if _, e, ok := l.ClientQuotaFor(k.Key(), c.User, c.ClientID); ok {
		m.mu.Lock()
		m.rateOf(k, e, c).record(-value, now.UnixMilli())
		m.mu.Unlock()
	}
}

// WindowMax is the most a client may take in one go without exceeding its
// quota from an empty window; ok is false when it has no quota. A fetch
// is cut to it, or a response larger than the quota allows would be
// throttled, sent empty, and asked for again forever.
func (m *Manager) WindowMax(l Limits, k Kind, c Client) (float64, bool) {
	limit, _, ok := l.ClientQuotaFor(k.Key(), c.User, c.ClientID)
	return limit * float64(samples-1) * float64(sampleWindow) / 1000, ok
}

// prune drops, at most once a window, the rates with nothing left in it.
func (m *Manager) prune(now int64) {
	if now-m.pruned < samples*sampleWindow {
		return
	}
	m.pruned = now
	pruneIdle(m.rates, now)
	for k, b := range m.buckets {
		if b.refill(b.limit, now); b.tokens >= burst(b.limit) {
			delete(m.buckets, k)
		}
	}
}

// Mutate takes n mutations from the client's controller_mutation_rate
// token bucket, as Kafka's controller mutation quota does: the bucket
// holds at most samples seconds of the quota and refills at it. Strict
// (the request versions that can answer THROTTLING_QUOTA_EXCEEDED), a
// bucket already in deficit refuses them (ok false); otherwise they are
// taken even past empty. The delay is how long the deficit takes to
// refill: for a strict request only when refused, for another whenever
// there is one. Without a quota, ok and no delay.
func (m *Manager) Mutate(l Limits, c Client, n float64, strict bool, now time.Time) (ok bool, delay time.Duration) {
	limit, e, has := l.ClientQuotaFor(ControllerMutationRate, c.User, c.ClientID)
	if !has || limit <= 0 {
		return true, 0
	}
	ms := now.UnixMilli()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.prune(ms)
	key := keyOf(Mutation, e, c)
	b, found := m.buckets[key]
	if !found {
		b = &bucket{tokens: burst(limit), last: ms}
		m.buckets[key] = b
	}
	b.refill(limit, ms)
	deficit := func() time.Duration {
		return time.Duration(max(0, -b.tokens) / limit * float64(time.Second))
	}
	if strict && b.tokens < 0 {
		return false, deficit()
	}
	b.tokens -= n
	if strict {
		return true, 0
	}
	return true, deficit()
}

// bucket is a controller_mutation_rate token bucket.
type bucket struct {
	tokens float64
	last   int64   // unix ms of the last refill
	limit  float64 // the quota at the last refill
}

func burst(limit float64) float64 { return limit * samples * float64(sampleWindow) / 1000 }

func (b *bucket) refill(limit float64, now int64) {
	b.tokens = min(burst(limit), b.tokens+limit*float64(now-b.last)/1000)
	b.last, b.limit = now, limit
}

// throttle is Kafka's: the delay X that brings the observed rate O over
// window W down to the target T, O*W/(W+X) = T, so X = (O-T)/T*W.
func throttle(r *rate, limit float64, now int64) time.Duration {
	total, window := r.measure(now)
	observed := total / (float64(window) / 1000)
	if observed <= limit || limit <= 0 {
		return 0
	}
	return time.Duration((observed - limit) / limit * float64(window) * float64(time.Millisecond))
}

// rate is a ring of samples, each covering sampleWindow from the first
// value recorded in it.
type rate struct {
	start [samples]int64 // unix ms; 0: never used
	value [samples]float64
	cur   int
}

func (r *rate) record(v float64, now int64) {
	if r.start[r.cur] == 0 || now >= r.start[r.cur]+sampleWindow {
		r.cur = (r.cur + 1) % samples
		r.start[r.cur], r.value[r.cur] = now, 0
	}
	r.value[r.cur] += v
}

// measure returns the total of the live samples and the window it covers
// in milliseconds: from the oldest live sample's start, and never less
// than samples-1 full windows (as Kafka's Rate), so a new client's first
// bytes are not taken for a burst.
func (r *rate) measure(now int64) (float64, int64) {
	total, oldest := 0.0, now
	for i := range samples {
		if r.start[i] == 0 || now-r.start[i] >= samples*sampleWindow {
			continue
		}
		total += r.value[i]
		oldest = min(oldest, r.start[i])
	}
	window := now - oldest
	if full := window / sampleWindow; full < samples-1 {
		window += (samples - 1 - full) * sampleWindow
	}
	return total, window
}

// pruneIdle drops the rates with nothing left in their window.
func pruneIdle[K comparable](rates map[K]*rate, now int64) {
	for k, r := range rates {
		if r.idle(now) {
			delete(rates, k)
		}
	}
}

func (r *rate) idle(now int64) bool {
	for i := range samples {
		if r.start[i] != 0 && now-r.start[i] < samples*sampleWindow {
			return false
		}
	}
	return true
}

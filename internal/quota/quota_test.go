package quota

import (
	"testing"
	"time"

	"github.com/longboat/longboat/internal/meta"
)

// limits is one client-id quota, as a *meta.State would hold it.
type limits map[string]float64

func (l limits) ClientQuotaFor(key, _, clientID string) (float64, meta.QuotaEntity, bool) {
	if v, ok := l[clientID]; ok && key == ProducerByteRate {
		return v, meta.QuotaEntity{ClientID: meta.Named(clientID)}, true
	}
	if v, ok := l["<default>"]; ok && key == ProducerByteRate {
		return v, meta.QuotaEntity{ClientID: meta.DefaultName()}, true
	}
	return 0, meta.QuotaEntity{}, false
}

func TestThrottleIsKafkas(t *testing.T) {
	m := NewManager()
	l := limits{"slow": 1000}
	c := Client{User: "ANONYMOUS", ClientID: "slow"}
	start := time.UnixMilli(1_000_000)
	// A fresh rate is measured over ten windows: 10,000 bytes at once is
	// exactly the quota.
	if d := m.Record(l, Produce, c, 10000, start); d != 0 {
		t.Fatalf("10,000 bytes against 1,000/s over a 10 s window: throttled %v", d)
	}
	// 5,000 more: observed 1,500/s over 10 s, X = (1500-1000)/1000*10 s.
	if d := m.Record(l, Produce, c, 5000, start); d != 5*time.Second {
		t.Fatalf("throttle %v, want 5s", d)
	}
	// Unrecorded bytes no longer count.
	m.Unrecord(l, Produce, c, 5000, start)
	if d := m.Record(l, Produce, c, 0, start); d != 0 {
		t.Fatalf("after Unrecord: throttled %v", d)
	}
	// Other kinds and clients have rates of their own.
	if d := m.Record(l, Fetch, c, 1e9, start); d != 0 {
		t.Fatalf("fetch without a consumer quota: throttled %v", d)
	}
	if d := m.Record(l, Produce, Client{ClientID: "fast"}, 1e9, start); d != 0 {
		t.Fatalf("a client without a quota: throttled %v", d)
	}
	// After the window has passed, the bytes have expired.
	later := start.Add(samples * time.Second)
	if d := m.Record(l, Produce, c, 10000, later); d != 0 {
		t.Fatalf("11 s later: throttled %v", d)
	}
}

func TestDefaultQuotaIsPerClient(t *testing.T) {
	m := NewManager()
	l := limits{"<default>": 1000}
	now := time.UnixMilli(5_000_000)
	for _, id := range []string{"a", "b", "c"} {
		if d := m.Record(l, Produce, Client{ClientID: id}, 10000, now); d != 0 {
			t.Fatalf("client %s: throttled %v by the others' bytes", id, d)
		}
	}
	if d := m.Record(l, Produce, Client{ClientID: "a"}, 1000, now); d != time.Second {
		t.Fatalf("client a over its own default quota: throttle %v, want 1s", d)
	}
}

func TestWindowMax(t *testing.T) {
	m := NewManager()
	if _, ok := m.WindowMax(limits{}, Produce, Client{ClientID: "x"}); ok {
		t.Fatal("WindowMax without a quota")
	}
	if v, ok := m.WindowMax(limits{"x": 1000}, Produce, Client{ClientID: "x"}); !ok || v != 10000 {
		t.Fatalf("WindowMax = %v, want 10000", v)
	}
}

func TestIdleRatesArePruned(t *testing.T) {
	m := NewManager()
	l := limits{"<default>": 1000}
	now := time.UnixMilli(9_000_000)
	for i := range 100 {
		m.Record(l, Produce, Client{ClientID: string(rune('a'+i%26)) + string(rune('a'+i/26))}, 1, now)
	}
	m.Record(l, Produce, Client{ClientID: "late"}, 1, now.Add(2*samples*time.Second))
	if len(m.rates) != 1 {
		t.Fatalf("%d rates held after the others went idle, want 1", len(m.rates))
	}
}

// mutationLimits is a controller_mutation_rate quota of 10 a second on
// every client id.
type mutationLimits struct{}

func (mutationLimits) ClientQuotaFor(key, _, _ string) (float64, meta.QuotaEntity, bool) {
	return 10, meta.QuotaEntity{ClientID: meta.DefaultName()}, key == ControllerMutationRate
}

func TestMutationTokenBucket(t *testing.T) {
	m := NewManager()
	c := Client{ClientID: "admin"}
	now := time.UnixMilli(7_000_000)
	// The bucket starts full, eleven seconds' worth (110); a strict
	// request is taken while any token is left, even past empty.
	for i, n := range []float64{100, 100} {
		if ok, d := m.Mutate(mutationLimits{}, c, n, true, now); !ok || d != 0 {
			t.Fatalf("request %d: ok %v, delay %v", i, ok, d)
		}
	}
	// -90 tokens: refused for nine seconds.
	if ok, d := m.Mutate(mutationLimits{}, c, 1, true, now); ok || d != 9*time.Second {
		t.Fatalf("in deficit: ok %v, delay %v, want refused for 9s", ok, d)
	}
	if ok, _ := m.Mutate(mutationLimits{}, c, 1, true, now.Add(9*time.Second)); !ok {
		t.Fatal("refused once the deficit has refilled")
	}
	// A permissive request is always taken and told the deficit.
	other := Client{ClientID: "old-admin"}
	if ok, d := m.Mutate(mutationLimits{}, other, 200, false, now); !ok || d != 9*time.Second {
		t.Fatalf("permissive: ok %v, delay %v, want taken with 9s", ok, d)
	}
	// Without a quota nothing is counted.
	if ok, d := m.Mutate(limits{}, c, 1e6, true, now); !ok || d != 0 {
		t.Fatalf("no quota: ok %v, delay %v", ok, d)
	}
}

// requestLimits is a request_percentage quota of 10 (a tenth of one
// thread's time) on every client id.
type requestLimits struct{}

func (requestLimits) ClientQuotaFor(key, _, _ string) (float64, meta.QuotaEntity, bool) {
	return 10, meta.QuotaEntity{ClientID: meta.DefaultName()}, key == RequestPercentage
}

func TestRequestDelayIsBoundedToOneWindow(t *testing.T) {
	m := NewManager()
	c := Client{ClientID: "busy"}
	now := time.UnixMilli(11_000_000)
	// 1 s of handling is 100 percent-seconds: over 10 s, 10%, the quota.
	if d := m.Record(requestLimits{}, Request, c, 100, now); d != 0 {
		t.Fatalf("at the quota: throttled %v", d)
	}
	// 0.2 s more: 12% observed, X = (12-10)/10*10 s = 2 s, bounded to 1 s.
	if d := m.Record(requestLimits{}, Request, c, 20, now); d != time.Second {
		t.Fatalf("throttle %v, want the 1s bound", d)
	}
	// Byte quotas keep their unbounded delay.
	if d := m.Record(limits{"busy": 1}, Produce, c, 15, now); d != 5*time.Second {
		t.Fatalf("produce throttle %v, want 5s", d)
	}
}

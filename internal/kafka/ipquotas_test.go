package kafka_test

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/longboat/longboat/internal/testcluster"
)

// TestIPQuotas sets connection_creation_rate on ip entities (KIP-612),
// reads them back, and opens raw connections from other loopback
// addresses than the admin client's (127.0.0.1), which stays unthrottled.
func TestIPQuotas(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts a broker")
	}
	c := testcluster.Start(t, testcluster.Options{Nodes: 1})
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	e := &adminEnv{c: c, cl: cl, adm: kadm.NewClient(cl)}
	t.Run("AlterDescribe", e.testIPQuotaAlterDescribe)
	t.Run("Enforced", e.testIPQuotaEnforced)
}

func (e *adminEnv) alterQuotas(t *testing.T, entries ...kadm.AlterClientQuotaEntry) {
	t.Helper()
	altered, err := e.adm.AlterClientQuotas(ctxT(t, 10*time.Second), entries)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range altered {
		if a.Err != nil {
			t.Fatalf("alter %v: %v %s", a.Entity, a.Err, a.ErrMessage)
		}
	}
}

func (e *adminEnv) testIPQuotaAlterDescribe(t *testing.T) {
	ctx := ctxT(t, 30*time.Second)
	const rate = "connection_creation_rate"
	e.alterQuotas(t,
		kadm.AlterClientQuotaEntry{Entity: quotaEntity("ip", "10.1.1.1"), Ops: []kadm.AlterClientQuotaOp{setQuota(rate, 10)}},
		kadm.AlterClientQuotaEntry{Entity: quotaEntity("ip", "2001:db8::7"), Ops: []kadm.AlterClientQuotaOp{setQuota(rate, 20)}},
		kadm.AlterClientQuotaEntry{Entity: quotaEntity("ip", "<default>"), Ops: []kadm.AlterClientQuotaOp{setQuota(rate, 1000)}},
		kadm.AlterClientQuotaEntry{Entity: quotaEntity("user", "alice"), Ops: []kadm.AlterClientQuotaOp{setQuota("producer_byte_rate", 1024)}},
	)
	ip := "10.1.1.1"
	cases := []struct {
		name   string
		strict bool
		filter []kadm.DescribeClientQuotaComponent
		want   []string
	}{
		{"all", false, nil, []string{
			"ip=10.1.1.1 connection_creation_rate=10",
			"ip=2001:db8::7 connection_creation_rate=20",
			"ip=<default> connection_creation_rate=1000",
			"user=alice producer_byte_rate=1024"}},
		{"ip exact", true, []kadm.DescribeClientQuotaComponent{{Type: "ip", MatchName: &ip}}, []string{
			"ip=10.1.1.1 connection_creation_rate=10"}},
		{"ip default", false, []kadm.DescribeClientQuotaComponent{{Type: "ip", MatchType: 1}}, []string{
			"ip=<default> connection_creation_rate=1000"}},
		{"any ip", true, []kadm.DescribeClientQuotaComponent{{Type: "ip", MatchType: 2}}, []string{
			"ip=10.1.1.1 connection_creation_rate=10",
			"ip=2001:db8::7 connection_creation_rate=20",
			"ip=<default> connection_creation_rate=1000"}},
		{"any user", false, []kadm.DescribeClientQuotaComponent{{Type: "user", MatchType: 2}}, []string{
			"user=alice producer_byte_rate=1024"}},
	}
	for _, c := range cases {
		got, err := e.adm.DescribeClientQuotas(ctx, c.strict, c.filter)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if lines := describedQuotas(got); !slices.Equal(lines, c.want) {
			t.Errorf("%s: described\n  %q\nwant\n  %q", c.name, lines, c.want)
		}
	}
	// An ip filter with a user filter fails the request, as Kafka's.
	_, err := e.adm.DescribeClientQuotas(ctx, false, []kadm.DescribeClientQuotaComponent{{Type: "ip", MatchType: 2}, {Type: "user", MatchType: 2}})
	if !errors.Is(err, kerr.InvalidRequest) {
		t.Errorf("ip and user filter: %v, want INVALID_REQUEST", err)
	}

	// Kafka's controller's validation: each entry fails alone (and one
	// entity may appear once in a request).
	bad := []struct {
		entry kadm.AlterClientQuotaEntry
		msg   string
	}{
		{kadm.AlterClientQuotaEntry{Entity: quotaEntity("ip", "10.0.0.9", "user", "bob"), Ops: []kadm.AlterClientQuotaOp{setQuota(rate, 1)}},
			"IP entity should not be combined with User or ClientId"},
		{kadm.AlterClientQuotaEntry{Entity: quotaEntity("client-id", "<default>", "ip", "<default>"), Ops: []kadm.AlterClientQuotaOp{setQuota(rate, 1)}},
			"IP entity should not be combined with User or ClientId"},
		{kadm.AlterClientQuotaEntry{Entity: quotaEntity("ip", "broker.example"), Ops: []kadm.AlterClientQuotaOp{setQuota(rate, 1)}},
			"broker.example is not a valid IP"},
		{kadm.AlterClientQuotaEntry{Entity: quotaEntity("ip", "10.0.0.256"), Ops: []kadm.AlterClientQuotaOp{setQuota(rate, 1)}},
			"10.0.0.256 is not a valid IP"},
		{kadm.AlterClientQuotaEntry{Entity: quotaEntity("ip", ""), Ops: []kadm.AlterClientQuotaOp{setQuota(rate, 1)}},
			"Empty ip not supported"},
		{kadm.AlterClientQuotaEntry{Entity: quotaEntity("ip", "10.0.0.21"), Ops: []kadm.AlterClientQuotaOp{setQuota("producer_byte_rate", 1)}},
			"Invalid configuration key producer_byte_rate"},
		{kadm.AlterClientQuotaEntry{Entity: quotaEntity("user", "bob"), Ops: []kadm.AlterClientQuotaOp{setQuota(rate, 1)}},
			"Invalid configuration key connection_creation_rate"},
		{kadm.AlterClientQuotaEntry{Entity: quotaEntity("ip", "10.0.0.22"), Ops: []kadm.AlterClientQuotaOp{setQuota(rate, 0)}},
			"Quota connection_creation_rate must be greater than 0"},
		{kadm.AlterClientQuotaEntry{Entity: quotaEntity("ip", "10.0.0.23"), Ops: []kadm.AlterClientQuotaOp{setQuota(rate, -3)}},
			"Quota connection_creation_rate must be greater than 0"},
		{kadm.AlterClientQuotaEntry{Entity: quotaEntity("ip", "10.0.0.24"), Ops: []kadm.AlterClientQuotaOp{setQuota(rate, 2.5)}},
			"connection_creation_rate cannot be a fractional value."},
		{kadm.AlterClientQuotaEntry{Entity: quotaEntity("ip", "10.0.0.25"), Ops: []kadm.AlterClientQuotaOp{setQuota(rate, 3e9)}},
			"Proposed value for connection_creation_rate is too large for an INT."},
	}
	entries := []kadm.AlterClientQuotaEntry{{Entity: quotaEntity("ip", "10.1.1.1"), Ops: []kadm.AlterClientQuotaOp{{Key: rate, Remove: true}}}}
	for _, b := range bad {
		entries = append(entries, b.entry)
	}
	results, err := e.adm.AlterClientQuotas(ctx, entries)
	if err != nil || len(results) != len(entries) {
		t.Fatalf("bad alterations: %v, %d results", err, len(results))
	}
	if results[0].Err != nil {
		t.Errorf("removal beside the bad alterations: %v", results[0].Err)
	}
	for i, b := range bad {
		r := results[i+1]
		if !errors.Is(r.Err, kerr.InvalidRequest) || !strings.Contains(r.ErrMessage, b.msg) {
			t.Errorf("%v: %v %q, want INVALID_REQUEST %q", b.entry.Entity, r.Err, r.ErrMessage, b.msg)
		}
	}
	got, err := e.adm.DescribeClientQuotas(ctx, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if lines := describedQuotas(got); !slices.Equal(lines, []string{
		"ip=2001:db8::7 connection_creation_rate=20",
		"ip=<default> connection_creation_rate=1000",
		"user=alice producer_byte_rate=1024"}) {
		t.Errorf("after the bad alterations: %q", lines)
	}
	e.alterQuotas(t,
		kadm.AlterClientQuotaEntry{Entity: quotaEntity("ip", "2001:db8::7"), Ops: []kadm.AlterClientQuotaOp{{Key: rate, Remove: true}}},
		kadm.AlterClientQuotaEntry{Entity: quotaEntity("ip", "<default>"), Ops: []kadm.AlterClientQuotaOp{{Key: rate, Remove: true}}},
		kadm.AlterClientQuotaEntry{Entity: quotaEntity("user", "alice"), Ops: []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Remove: true}}},
	)
}

// apiVersionsFrame is an ApiVersions v0 request, the first thing a
// client sends on a new connection.
var apiVersionsFrame = func() []byte {
	frame := headerBytes(18, 0, 1, "ipquota", false)
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(frame))), frame...)
}()

// connectFrom opens n connections from a loopback address, sends an
// ApiVersions request on each and returns how many were answered; the
// others must be closed by the broker neither at once nor much more than
// the capped throttle (1 s) later.
func connectFrom(t *testing.T, addr, src string, n int) (served int) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	type opened struct {
		conn net.Conn
		at   time.Time
	}
	var conns []opened
	for i := range n {
		conn, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial %d from %s: %v", i, src, err)
		}
		t.Cleanup(func() { conn.Close() })
		conns = append(conns, opened{conn, time.Now()})
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := conn.Write(apiVersionsFrame); err != nil {
			t.Fatalf("connection %d from %s: write: %v", i, src, err)
		}
	}
	for i, o := range conns {
		var size [4]byte
		_, err := io.ReadFull(o.conn, size[:])
		if err == nil {
			served++
			continue
		}
		held := time.Since(o.at)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("connection %d from %s: neither answered nor closed after %v", i, src, held)
		}
		if held < 500*time.Millisecond || held > 3*time.Second {
			t.Errorf("connection %d from %s: closed unanswered after %v, want about 1 s (%v)", i, src, held, err)
		}
	}
	return served
}

// testIPQuotaEnforced: under connection_creation_rate 1 an address may
// open ten connections at once (a new rate is measured over ten one-second
// windows); those past it are held unread and closed after the throttle,
// counted in the rejected connections and the throttle time. A named ip
// quota wins over the default; without a quota nothing is refused, and
// removing one lifts it.
func (e *adminEnv) testIPQuotaEnforced(t *testing.T) {
	const rate = "connection_creation_rate"
	addr := e.c.Addrs()[0]
	if served := connectFrom(t, addr, "127.0.0.2", 30); served != 30 {
		t.Fatalf("without a quota: %d of 30 connections served", served)
	}
	e.alterQuotas(t, kadm.AlterClientQuotaEntry{Entity: quotaEntity("ip", "127.0.0.2"), Ops: []kadm.AlterClientQuotaOp{setQuota(rate, 1)}})
	if served := connectFrom(t, addr, "127.0.0.2", 14); served != 10 {
		t.Errorf("ip=127.0.0.2 at 1/s: %d of 14 connections served, want 10", served)
	}
	if n := rejected(t, e.c, "connection_creation_rate"); n != 4 {
		t.Errorf("%v connections counted rejected for connection_creation_rate, want 4", n)
	}
	if s := throttleSeconds(t, e.c, rate); s < 3.5 || s > 4.5 {
		t.Errorf("%v s of connection throttle counted, want 4 (1 s per refused connection)", s)
	}
	if served := connectFrom(t, addr, "127.0.0.3", 14); served != 14 {
		t.Errorf("127.0.0.3, without a quota: %d of 14 served", served)
	}

	// The default applies to every address without its own: 127.0.0.1,
	// the admin client's, is given a quota of its own far above it.
	e.alterQuotas(t,
		kadm.AlterClientQuotaEntry{Entity: quotaEntity("ip", "<default>"), Ops: []kadm.AlterClientQuotaOp{setQuota(rate, 1)}},
		kadm.AlterClientQuotaEntry{Entity: quotaEntity("ip", "127.0.0.1"), Ops: []kadm.AlterClientQuotaOp{setQuota(rate, 100000)}},
	)
	if served := connectFrom(t, addr, "127.0.0.4", 12); served != 10 {
		t.Errorf("127.0.0.4 under the default 1/s: %d of 12 served, want 10", served)
	}
	if served := connectFrom(t, addr, "127.0.0.1", 30); served != 30 {
		t.Errorf("127.0.0.1 under its own quota: %d of 30 served", served)
	}

	e.alterQuotas(t,
		kadm.AlterClientQuotaEntry{Entity: quotaEntity("ip", "<default>"), Ops: []kadm.AlterClientQuotaOp{{Key: rate, Remove: true}}},
		kadm.AlterClientQuotaEntry{Entity: quotaEntity("ip", "127.0.0.1"), Ops: []kadm.AlterClientQuotaOp{{Key: rate, Remove: true}}},
		kadm.AlterClientQuotaEntry{Entity: quotaEntity("ip", "127.0.0.2"), Ops: []kadm.AlterClientQuotaOp{{Key: rate, Remove: true}}},
	)
	for _, src := range []string{"127.0.0.2", "127.0.0.4"} {
		if served := connectFrom(t, addr, src, 14); served != 14 {
			t.Errorf("%s after the quotas were removed: %d of 14 served", src, served)
		}
	}
	if n := rejected(t, e.c, "connection_creation_rate"); n != 6 {
		t.Errorf("%v connections counted rejected for connection_creation_rate in all, want 6", n)
	}
}

// throttleSeconds reads longboat_kafka_throttle_seconds_total for a quota
// key on the first broker.
func throttleSeconds(t *testing.T, c *testcluster.Cluster, key string) float64 {
	t.Helper()
	families, err := c.Brokers[0].Metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "longboat_kafka_throttle_seconds_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "quota" && l.GetValue() == key {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no longboat_kafka_throttle_seconds_total{quota=%q}", key)
	return 0
}

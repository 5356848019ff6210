package meta

import (
	"encoding/json"
	"net/netip"
	"testing"
)

func TestClientQuotaPrecedence(t *testing.T) {
	s := newState()
	set := func(e QuotaEntity, v float64) {
		s.alterClientQuotas(&AlterClientQuotas{Entries: []QuotaAlteration{{Entity: e, Set: map[string]float64{"producer_byte_rate": v}}}})
	}
	alice, c1 := Named("alice"), Named("c1")
	if _, _, ok := s.ClientQuotaFor("producer_byte_rate", "alice", "c1"); ok {
		t.Fatal("a quota applies with none set")
	}
	// Set from least to most specific; each one set must win from then on.
	steps := []QuotaEntity{
		{ClientID: DefaultName()}, {ClientID: c1},
		{User: DefaultName()}, {User: DefaultName(), ClientID: DefaultName()}, {User: DefaultName(), ClientID: c1},
		{User: alice}, {User: alice, ClientID: DefaultName()}, {User: alice, ClientID: c1},
	}
	for i, e := range steps {
		set(e, float64(i+1))
		v, got, ok := s.ClientQuotaFor("producer_byte_rate", "alice", "c1")
		if !ok || v != float64(i+1) || got != e {
			t.Fatalf("after setting %+v: limit %v from %+v (ok %v)", e, v, got, ok)
		}
	}
	// Another user and client id fall back to the defaults.
	if v, got, _ := s.ClientQuotaFor("producer_byte_rate", "bob", "c2"); v != 4 || got != (QuotaEntity{User: DefaultName(), ClientID: DefaultName()}) {
		t.Fatalf("bob/c2: %v from %+v", v, got)
	}
	if _, _, ok := s.ClientQuotaFor("consumer_byte_rate", "alice", "c1"); ok {
		t.Fatal("consumer_byte_rate applies though only producer_byte_rate is set")
	}
	// Removing the last value removes the entity.
	s.alterClientQuotas(&AlterClientQuotas{Entries: []QuotaAlteration{{Entity: QuotaEntity{User: alice, ClientID: c1}, Remove: []string{"producer_byte_rate"}}}})
	if len(s.ClientQuotas) != len(steps)-1 || s.quotaValues(QuotaEntity{User: alice, ClientID: c1}) != nil {
		t.Fatalf("after removal: %+v", s.ClientQuotas)
	}
	if v, _, _ := s.ClientQuotaFor("producer_byte_rate", "alice", "c1"); v != 7 {
		t.Fatalf("after removal alice/c1 gets %v, want user alice's default client id (7)", v)
	}
}

func TestIPQuotaPrecedence(t *testing.T) {
	s := newState()
	const key = "connection_creation_rate"
	set := func(e QuotaEntity, v float64) {
		s.alterClientQuotas(&AlterClientQuotas{Entries: []QuotaAlteration{{Entity: e, Set: map[string]float64{key: v}}}})
	}
	v4, v6 := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("2001:db8::1")
	// A user quota is no ip quota.
	s.alterClientQuotas(&AlterClientQuotas{Entries: []QuotaAlteration{{Entity: QuotaEntity{User: DefaultName()}, Set: map[string]float64{"producer_byte_rate": 1}}}})
	if _, ok := s.IPQuotaFor(key, v4); ok {
		t.Fatal("an ip quota applies with none set")
	}
	set(QuotaEntity{IP: DefaultName()}, 5)
	set(QuotaEntity{IP: Named("10.0.0.1")}, 7)
	set(QuotaEntity{IP: Named("2001:0db8:0:0:0:0:0:0001")}, 9) // stored as spelt
	for _, c := range []struct {
		ip   netip.Addr
		want float64
	}{
		{v4, 7}, {netip.MustParseAddr("::ffff:10.0.0.1"), 7}, {v6, 9},
		{netip.MustParseAddr("10.0.0.2"), 5},
	} {
		if got, ok := s.IPQuotaFor(key, c.ip); !ok || got != c.want {
			t.Errorf("%s: %v (ok %v), want %v", c.ip, got, ok, c.want)
		}
	}
	if _, _, ok := s.ClientQuotaFor(key, "alice", "c1"); ok {
		t.Error("an ip quota applies to a user")
	}
	if s.quotaValues(QuotaEntity{IP: Named("2001:0db8:0:0:0:0:0:0001")}) == nil {
		t.Error("the ip entity is not kept as named")
	}
	// A State decoded from a snapshot, with no index, answers the same.
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var decoded State
	if err := json.Unmarshal(b, &decoded); err != nil {
		t.Fatal(err)
	}
	if got, ok := decoded.IPQuotaFor(key, v6); !ok || got != 9 {
		t.Errorf("decoded: %v (ok %v), want 9", got, ok)
	}
}

// TestQuotaEntityJSON: entities without an ip part encode as before ip
// quotas, so snapshots and log entries read both ways.
func TestQuotaEntityJSON(t *testing.T) {
	old := `{"user":{"set":true,"name":"alice"},"client_id":{"set":true,"default":true}}`
	var e QuotaEntity
	if err := json.Unmarshal([]byte(old), &e); err != nil {
		t.Fatal(err)
	}
	if e != (QuotaEntity{User: Named("alice"), ClientID: DefaultName()}) {
		t.Fatalf("decoded %+v", e)
	}
	if b, err := json.Marshal(e); err != nil || string(b) != old {
		t.Fatalf("encoded %s (%v), want %s", b, err, old)
	}
	if b, _ := json.Marshal(QuotaEntity{IP: Named("10.0.0.1")}); string(b) != `{"ip":{"set":true,"name":"10.0.0.1"}}` {
		t.Fatalf("ip entity encoded %s", b)
	}
}

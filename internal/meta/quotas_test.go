package meta

import "testing"

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

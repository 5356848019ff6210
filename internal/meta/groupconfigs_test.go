package meta

import (
	"maps"
	"testing"
)

// Group configs change per group, copy on write: a published state keeps
// the configs it had, and a group left without any has no entry.
func TestAlterGroupConfigs(t *testing.T) {
	s := newState()
	apply := func(a AlterGroupConfigs) *State {
		next := s.clone()
		if code, msg := next.apply(&Command{AlterGroupConfigs: &a}); code != ErrNone {
			t.Fatalf("%+v: %d %s", a, code, msg)
		}
		return next
	}
	s = apply(AlterGroupConfigs{Group: "g", Set: map[string]string{"consumer.session.timeout.ms": "50000", "consumer.heartbeat.interval.ms": "6000"}})
	s = apply(AlterGroupConfigs{Group: "h", Set: map[string]string{"consumer.heartbeat.interval.ms": "7000"}})
	published := s
	s = apply(AlterGroupConfigs{Group: "g", Delete: []string{"consumer.session.timeout.ms"}})
	if want := map[string]string{"consumer.heartbeat.interval.ms": "6000"}; !maps.Equal(s.GroupConfigs["g"], want) {
		t.Fatalf("g after the delete: %v", s.GroupConfigs["g"])
	}
	if len(published.GroupConfigs["g"]) != 2 {
		t.Fatalf("the published state changed: %v", published.GroupConfigs["g"])
	}
	s = apply(AlterGroupConfigs{Group: "h", Replace: true})
	if _, ok := s.GroupConfigs["h"]; ok || len(s.GroupConfigs) != 1 {
		t.Fatalf("h emptied is still listed: %v", s.GroupConfigs)
	}
	s = apply(AlterGroupConfigs{Group: "g", Delete: []string{"consumer.heartbeat.interval.ms"}})
	if s.GroupConfigs != nil {
		t.Fatalf("no group has configs, yet %v", s.GroupConfigs)
	}
}

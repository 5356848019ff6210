package group

import (
	"bytes"
	"reflect"
	"testing"

	sm "github.com/lni/dragonboat/v4/statemachine"
)

func apply(t *testing.T, m *StateMachine, index uint64, c Command) {
	t.Helper()
	if res, err := m.Apply(sm.Entry{Index: index, Cmd: c.Encode()}); err != nil || res.Value != 0 {
		t.Fatalf("update %d: %v %+v", index, err, res)
	}
}

func TestStateMachineCommandsAndSnapshot(t *testing.T) {
	m := NewStateMachine()
	inst := "static-1"
	apply(t, m, 1, Command{StoreGroup: &StoreGroup{Group: "g", ProtocolType: "consumer", Protocol: "range", Generation: 3, Leader: "a",
		Members: []MemberRecord{{ID: "a", InstanceID: &inst, SessionTimeoutMs: 10000, Assignment: []byte{1}}}}})
	apply(t, m, 2, Command{Commit: &Commit{Group: "g", Offsets: map[string]map[int32]OffsetRecord{"t": {0: {Offset: 5}, 1: {Offset: 7}}}}})
	apply(t, m, 3, Command{Commit: &Commit{Group: "g", Offsets: map[string]map[int32]OffsetRecord{"t": {1: {Offset: 9}}, "u": {0: {Offset: 1}}}}})
	g, ok := m.Group("g")
	if !ok || g.Generation != 3 || g.Leader != "a" || len(g.Members) != 1 || *g.Members[0].InstanceID != inst {
		t.Fatalf("group after store: %+v", g)
	}
	if g.Offsets["t"][0].Offset != 5 || g.Offsets["t"][1].Offset != 9 || g.Offsets["u"][0].Offset != 1 {
		t.Fatalf("offsets merge per partition: %+v", g.Offsets)
	}
	// A later membership store keeps the offsets.
	apply(t, m, 4, Command{StoreGroup: &StoreGroup{Group: "g", ProtocolType: "consumer", Generation: 4}})
	if g, _ := m.Group("g"); g.Generation != 4 || len(g.Members) != 0 || g.Offsets["t"][1].Offset != 9 {
		t.Fatalf("store replaced offsets: %+v", g)
	}
	apply(t, m, 5, Command{DeleteOffsets: &DeleteOffsets{Group: "g", Partitions: map[string][]int32{"u": {0}, "t": {0}}}})
	g, _ = m.Group("g")
	if _, ok := g.Offsets["u"]; ok || len(g.Offsets["t"]) != 1 {
		t.Fatalf("after delete offsets: %+v", g.Offsets)
	}
	// Copies handed out are not changed by later updates.
	apply(t, m, 6, Command{Commit: &Commit{Group: "g", Offsets: map[string]map[int32]OffsetRecord{"t": {1: {Offset: 11}}}}})
	if g.Offsets["t"][1].Offset != 9 {
		t.Fatal("a record handed out changed under the reader")
	}

	restored := restoreSnapshot(t, m)
	a, _ := m.Group("g")
	b, _ := restored.Group("g")
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("snapshot round trip:\n%+v\n%+v", a, b)
	}
	name := "g"
	apply(t, restored, 7, Command{Delete: &name})
	if _, ok := restored.Group("g"); ok || len(restored.Groups()) != 0 {
		t.Fatal("deleted group still present")
	}
	if res, _ := m.Apply(sm.Entry{Index: 8, Cmd: []byte("{not json")}); res.Value == 0 {
		t.Fatal("an undecodable command was accepted")
	}
}

// restoreSnapshot saves m's snapshot and recovers a fresh replica from it.
func restoreSnapshot(t *testing.T, m *StateMachine) *StateMachine {
	t.Helper()
	var buf bytes.Buffer
	frozen, err := m.PrepareSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	if err := m.SaveSnapshot(frozen, &buf, nil, nil); err != nil {
		t.Fatal(err)
	}
	restored := NewStateMachine()
	if err := restored.RecoverFromSnapshot(&buf, nil, nil); err != nil {
		t.Fatal(err)
	}
	return restored
}

func TestSelectProtocol(t *testing.T) {
	mk := func(names ...string) *member {
		m := &member{}
		for _, n := range names {
			m.Protocols = append(m.Protocols, Protocol{Name: n})
		}
		return m
	}
	cases := []struct {
		name    string
		members map[string]*member
		leader  string
		want    string
	}{
		{"one member: its first", map[string]*member{"a": mk("sticky", "range")}, "a", "sticky"},
		{"only the common one", map[string]*member{"a": mk("sticky", "range"), "b": mk("range")}, "a", "range"},
		{"most first votes", map[string]*member{"a": mk("range", "rr"), "b": mk("rr", "range"), "c": mk("rr", "range")}, "a", "rr"},
		{"tie: leader's order", map[string]*member{"a": mk("range", "rr"), "b": mk("rr", "range")}, "a", "range"},
		{"nothing common", map[string]*member{"a": mk("x"), "b": mk("y")}, "a", ""},
	}
	for _, tc := range cases {
		g := &group{members: tc.members, leader: tc.leader}
		if got := selectProtocol(g); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

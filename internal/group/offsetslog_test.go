package group

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

func readAll(m *StateMachine, from int64) ([]LogRecord, int64) {
	var out []LogRecord
	end := m.ReadLog(from, func(r LogRecord) bool {
		out = append(out, r)
		return true
	})
	return out, end
}

func offsetKey(g, t string, p int32) LogKey {
	return LogKey{Group: g, Offset: true, Topic: t, Partition: p}
}

// applyAt applies a command stamped with atMs.
func applyAt(t *testing.T, m *StateMachine, index uint64, atMs int64, c Command) {
	t.Helper()
	c.AtMs = atMs
	apply(t, m, index, c)
}

// TestOffsetsLogNumbersRecordsInApplyOrder: every command's records take
// the next offsets, partitions in a fixed order; the log serves only each
// key's latest record, with the value the state machine holds.
func TestOffsetsLogNumbersRecordsInApplyOrder(t *testing.T) {
	m := NewStateMachine()
	const t0 = 1_700_000_000_000
	applyAt(t, m, 1, t0, Command{Commit: &Commit{Group: "a", Offsets: map[string]map[int32]OffsetRecord{
		"t": {1: {Offset: 10, CommitMs: t0}, 0: {Offset: 5, CommitMs: t0}}, "s": {0: {Offset: 1, CommitMs: t0}}}}})
	applyAt(t, m, 2, t0+1, Command{StoreGroup: &StoreGroup{Group: "a", ProtocolType: "consumer", Protocol: "range", Generation: 1, Leader: "m1",
		Members: []MemberRecord{{ID: "m1", ClientID: "c", Protocols: []Protocol{{Name: "range", Metadata: []byte{1}}}, Assignment: []byte{2}}}}})
	applyAt(t, m, 3, t0+2, Command{Commit: &Commit{Group: "a", Offsets: map[string]map[int32]OffsetRecord{"t": {0: {Offset: 7, CommitMs: t0 + 2}}}}})

	recs, end := readAll(m, 0)
	if end != 5 {
		t.Fatalf("end offset %d, want 5 (five records written)", end)
	}
	var got []int64
	for _, r := range recs {
		got = append(got, r.Offset)
	}
	// Offsets 0 (s-0), 1 (t-0, superseded by 4), 2 (t-1), 3 (group), 4 (t-0).
	if !reflect.DeepEqual(got, []int64{0, 2, 3, 4}) {
		t.Fatalf("live offsets %v, want [0 2 3 4]", got)
	}
	if recs[0].Key != offsetKey("a", "s", 0) || recs[1].Key != offsetKey("a", "t", 1) || recs[2].Key != (LogKey{Group: "a"}) || recs[3].Key != offsetKey("a", "t", 0) {
		t.Fatalf("keys: %+v", recs)
	}
	if recs[3].Committed == nil || recs[3].Committed.Offset != 7 || recs[3].TimestampMs != t0+2 {
		t.Fatalf("latest t-0: %+v", recs[3])
	}
	if g := recs[2].Group; g == nil || g.Generation != 1 || g.Leader != "m1" || len(g.Members) != 1 || recs[2].TimestampMs != t0+1 {
		t.Fatalf("group record: %+v", recs[2])
	}
	if from3, _ := readAll(m, 3); len(from3) != 2 || from3[0].Offset != 3 {
		t.Fatalf("read from 3: %+v", from3)
	}

	// OffsetDelete of one partition (and of one never committed) and then
	// DeleteGroups leave tombstones, the group's last.
	applyAt(t, m, 4, t0+3, Command{DeleteOffsets: &DeleteOffsets{Group: "a", Partitions: map[string][]int32{"s": {0}, "x": {9}}}})
	name := "a"
	applyAt(t, m, 5, t0+4, Command{Delete: &name})
	recs, end = readAll(m, 0)
	if end != 9 {
		t.Fatalf("end offset %d after deletes, want 9", end)
	}
	want := []LogKey{offsetKey("a", "s", 0), offsetKey("a", "t", 0), offsetKey("a", "t", 1), {Group: "a"}}
	for i, r := range recs {
		if r.Key != want[i] || r.Committed != nil || r.Group != nil || r.Offset != int64(5+i) {
			t.Fatalf("record %d: %+v, want a tombstone of %+v at %d", i, r, want[i], 5+i)
		}
	}

	// Tombstones expire TombstoneRetention after their command, judged by
	// a later command's time; the partition's last record stays.
	late := t0 + 4 + TombstoneRetention.Milliseconds() + 1
	applyAt(t, m, 6, late, Command{DeleteOffsets: &DeleteOffsets{Group: "gone"}})
	if recs, _ := readAll(m, 0); len(recs) != 1 || recs[0].Offset != 8 {
		t.Fatalf("after retention: %+v, want only the last tombstone", recs)
	}
}

// TestOffsetsLogSignalsAppends: a reader waiting at the end is woken by the
// next record.
func TestOffsetsLogSignalsAppends(t *testing.T) {
	m := NewStateMachine()
	wait := m.Appended()
	apply(t, m, 1, Command{Commit: &Commit{Group: "g", Offsets: map[string]map[int32]OffsetRecord{"t": {0: {Offset: 1}}}}})
	select {
	case <-wait:
	case <-time.After(time.Second):
		t.Fatal("no signal for an appended record")
	}
}

// TestOffsetsLogSnapshotRoundTrip: a replica restored from a snapshot
// serves the same records and numbers later commands alike.
func TestOffsetsLogSnapshotRoundTrip(t *testing.T) {
	m := NewStateMachine()
	const t0 = 1_700_000_000_000
	for i := uint64(1); i <= 20; i++ {
		applyAt(t, m, i, t0+int64(i), Command{Commit: &Commit{Group: []string{"g1", "g2"}[i%2], Offsets: map[string]map[int32]OffsetRecord{
			"t": {int32(i % 3): {Offset: int64(i), CommitMs: t0 + int64(i)}}}}})
	}
	applyAt(t, m, 21, t0+21, Command{StoreGroup: &StoreGroup{Group: "g1", ProtocolType: "consumer", Generation: 4}})
	name := "g2"
	applyAt(t, m, 22, t0+22, Command{Delete: &name})

	restored := restoreSnapshot(t, m)
	next := Command{Commit: &Commit{Group: "g1", Offsets: map[string]map[int32]OffsetRecord{"u": {0: {Offset: 99}}}}}
	for _, sm := range []*StateMachine{m, restored} {
		applyAt(t, sm, 23, t0+23, next)
	}
	a, endA := readAll(m, 0)
	b, endB := readAll(restored, 0)
	if endA != endB || !reflect.DeepEqual(a, b) {
		t.Fatalf("restored replica differs:\n%d %+v\n%d %+v", endA, a, endB, b)
	}
	if len(a) == 0 || a[len(a)-1].Key != offsetKey("g1", "u", 0) || a[len(a)-1].Offset != endA-1 {
		t.Fatalf("last record: %+v (end %d)", a, endA)
	}
}

// TestOffsetsLogLoadsLegacySnapshot: a snapshot from before the log (a bare
// JSON object of groups) loads, its records numbered by group, metadata
// first, then topic and partition.
func TestOffsetsLogLoadsLegacySnapshot(t *testing.T) {
	legacy := map[string]*Record{
		"b": {ProtocolType: "consumer", Generation: 2, Offsets: map[string]map[int32]OffsetRecord{"t": {1: {Offset: 4}, 0: {Offset: 3}}}},
		"a": {Offsets: map[string]map[int32]OffsetRecord{"t": {0: {Offset: 1}}}},
	}
	raw, err := json.Marshal(legacy)
	if err != nil {
		t.Fatal(err)
	}
	m := NewStateMachine()
	if err := m.RecoverFromSnapshot(strings.NewReader(string(raw)), nil, nil); err != nil {
		t.Fatal(err)
	}
	recs, end := readAll(m, 0)
	want := []LogKey{offsetKey("a", "t", 0), {Group: "b"}, offsetKey("b", "t", 0), offsetKey("b", "t", 1)}
	if end != 4 || len(recs) != 4 {
		t.Fatalf("legacy records: end %d %+v", end, recs)
	}
	for i, r := range recs {
		if r.Key != want[i] || r.Offset != int64(i) {
			t.Fatalf("record %d: %+v, want %+v", i, r, want[i])
		}
	}
	if g, ok := m.Group("b"); !ok || g.Offsets["t"][1].Offset != 4 {
		t.Fatalf("legacy group: %+v", g)
	}
}

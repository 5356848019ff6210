package group

import (
	"errors"
	"reflect"
	"testing"

	sm "github.com/lni/dragonboat/v4/statemachine"
)

// TestTxnStateCommandsAndSnapshot: a transaction record is stored only
// from the version it was read at; pending offsets stay out of the group
// until the commit and are dropped by the abort; all of it survives a
// snapshot.
func TestTxnStateCommandsAndSnapshot(t *testing.T) {
	m := NewStateMachine()
	rec := TxnRecord{ID: "tx", ProducerID: 7, Epoch: 0, LastEpoch: -1, TimeoutMs: 1000, State: TxnEmpty, Version: 1}
	apply(t, m, 1, Command{Txn: &TxnCommand{Put: &rec}})
	stale := rec // computed from version 0 again: refused
	res, _ := m.Apply(sm.Entry{Index: 2, Cmd: Command{Txn: &TxnCommand{Put: &stale}}.Encode()})
	if !errors.Is(CommandError(res), ErrTxnConflict) {
		t.Fatalf("a put from a stale version: %+v", res)
	}
	rec.State, rec.Partitions, rec.Groups, rec.Version = TxnOngoing, map[string][]int32{"t": {0}}, []string{"g"}, 2
	apply(t, m, 3, Command{Txn: &TxnCommand{Put: &rec}})
	offs := map[string]map[int32]OffsetRecord{"t": {0: {Offset: 5}}}
	apply(t, m, 4, Command{Txn: &TxnCommand{Offsets: &TxnOffsets{Group: "g", ProducerID: 7, Offsets: offs}}})
	apply(t, m, 5, Command{Txn: &TxnCommand{Offsets: &TxnOffsets{Group: "g", ProducerID: 8, Offsets: offs}}})
	if _, ok := m.Group("g"); ok {
		t.Fatal("pending offsets made the group visible")
	}
	if p := m.PendingTxnOffsets("g"); len(p) != 2 || len(p[7]["t"]) != 1 {
		t.Fatalf("pending: %+v", p)
	}

	restored := restoreSnapshot(t, m)
	if a, b := m.Txns(), restored.Txns(); !reflect.DeepEqual(a, b) || len(a) != 1 {
		t.Fatalf("records after the snapshot:\n%+v\n%+v", a, b)
	}
	if a, b := m.PendingTxnOffsets("g"), restored.PendingTxnOffsets("g"); !reflect.DeepEqual(a, b) {
		t.Fatalf("pending after the snapshot:\n%+v\n%+v", a, b)
	}

	apply(t, restored, 6, Command{Txn: &TxnCommand{End: &TxnOffsetsEnd{Group: "g", ProducerID: 8}}})
	apply(t, restored, 7, Command{Txn: &TxnCommand{Offsets: &TxnOffsets{Group: "h", ProducerID: 7, Offsets: offs}}})
	// No group: the producer's pending offsets in every group of the shard.
	apply(t, restored, 7, Command{Txn: &TxnCommand{End: &TxnOffsetsEnd{ProducerID: 7, Commit: true}}})
	for _, name := range []string{"g", "h"} {
		g, ok := restored.Group(name)
		if !ok || g.Offsets["t"][0].Offset != 5 || len(restored.PendingTxnOffsets(name)) != 0 {
			t.Fatalf("group %s after the commit: %+v, pending %+v", name, g, restored.PendingTxnOffsets(name))
		}
	}
	// A KIP-447 commit of an older generation than the stored one is fenced.
	apply(t, restored, 8, Command{StoreGroup: &StoreGroup{Group: "g", Generation: 3}})
	res, _ = restored.Apply(sm.Entry{Index: 9, Cmd: Command{Txn: &TxnCommand{Offsets: &TxnOffsets{Group: "g", ProducerID: 9, Offsets: offs, Generation: 2}}}.Encode()})
	if !errors.Is(CommandError(res), ErrFenced) {
		t.Fatalf("an older generation's transactional commit: %+v", res)
	}
}

// TestTxnExpire: an Expire command removes, on any replica applying it,
// exactly the ids it names that still hold the version named, have no
// transaction and were last written the expiration or more before the
// command's time.
func TestTxnExpire(t *testing.T) {
	m := NewStateMachine()
	put := func(index uint64, id, state string, updateMs int64) {
		rec := TxnRecord{ID: id, ProducerID: int64(index), LastEpoch: -1, TimeoutMs: 1000, State: state, UpdateMs: updateMs, Version: 1}
		if state == TxnOngoing {
			rec.Partitions = map[string][]int32{"t": {0}}
		}
		apply(t, m, index, Command{Txn: &TxnCommand{Put: &rec}})
	}
	put(1, "empty-old", TxnEmpty, 1000)
	put(2, "commit-old", TxnCompleteCommit, 1000)
	put(3, "abort-at-limit", TxnCompleteAbort, 5000)
	put(4, "ongoing-old", TxnOngoing, 1000)
	put(5, "prepared-old", TxnPrepareCommit, 1000)
	put(6, "empty-recent", TxnEmpty, 5001)
	put(7, "rewritten", TxnEmpty, 1000)
	put(8, "not-named", TxnEmpty, 1000)
	// "rewritten" was judged at version 1 and written again since.
	again := TxnRecord{ID: "rewritten", ProducerID: 7, LastEpoch: -1, TimeoutMs: 1000, State: TxnEmpty, UpdateMs: 1000, Version: 2}
	apply(t, m, 9, Command{Txn: &TxnCommand{Put: &again}})
	ids := map[string]int64{}
	for _, id := range []string{"empty-old", "commit-old", "abort-at-limit", "ongoing-old", "prepared-old", "empty-recent", "rewritten", "unknown"} {
		ids[id] = 1
	}
	applyAt(t, m, 10, 10000, Command{Txn: &TxnCommand{Expire: &TxnExpire{ExpirationMs: 5000, IDs: ids}}})
	var left []string
	for _, r := range m.Txns() {
		left = append(left, r.ID)
	}
	want := []string{"empty-recent", "not-named", "ongoing-old", "prepared-old", "rewritten"}
	if !reflect.DeepEqual(left, want) {
		t.Fatalf("ids left %v, want %v", left, want)
	}
	if restored := restoreSnapshot(t, m); !reflect.DeepEqual(restored.Txns(), m.Txns()) {
		t.Fatalf("after a snapshot: %+v", restored.Txns())
	}
}

// TestLateTxnCommandsChangeNothing: Raft may apply a proposal long after it
// was made (a follower forwarded it, a paused broker held it). A
// transactional offset commit applied after its transaction was aborted,
// or a retried group end applied again after the producer's next
// transaction wrote its offsets, must leave the group's offsets as the
// transactions that committed made them: otherwise the group skips
// records whose output was aborted (what the chaos suite's exactly-once
// pipeline saw as eos-lost), or commits an aborted transaction's offsets.
func TestLateTxnCommandsChangeNothing(t *testing.T) {
	m := NewStateMachine()
	offsets := func(off int64) map[string]map[int32]OffsetRecord {
		return map[string]map[int32]OffsetRecord{"in": {0: {Offset: off}}}
	}
	committed := func(m *StateMachine) int64 {
		g, ok := m.Group("g")
		if !ok {
			return -1
		}
		return g.Offsets["in"][0].Offset
	}
	index := uint64(0)
	step := func(c Command) sm.Result {
		t.Helper()
		index++
		res, err := m.Apply(sm.Entry{Index: index, Cmd: c.Encode()})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	commit := func(off int64, ends int64) error {
		return CommandError(step(Command{Txn: &TxnCommand{Offsets: &TxnOffsets{Group: "g", ProducerID: 7, Offsets: offsets(off), Ends: ends}}}))
	}
	end := func(seq int64, ok bool) {
		t.Helper()
		if err := CommandError(step(Command{Txn: &TxnCommand{End: &TxnOffsetsEnd{Group: "g", ProducerID: 7, Commit: ok, Seq: seq}}})); err != nil {
			t.Fatal(err)
		}
	}

	// Transaction 1 commits offset 10.
	if err := commit(10, m.TxnEnds(7)+1); err != nil {
		t.Fatal(err)
	}
	end(3, true)
	// Transaction 2 (its commit checked at 1 end) is aborted before its
	// offset commit reaches the log; applied afterwards, it is refused.
	late := m.TxnEnds(7) + 1
	end(5, false)
	if err := commit(20, late); !errors.Is(err, ErrTxnEnded) {
		t.Fatalf("an offset commit applied after its transaction was aborted: %v", err)
	}
	if p := m.PendingTxnOffsets("g"); len(p) != 0 {
		t.Fatalf("the aborted transaction's offsets are pending again: %+v", p)
	}
	// Transaction 3 writes offset 15; a copy of transaction 1's end
	// applied now changes nothing; transaction 3 aborts.
	if err := commit(15, m.TxnEnds(7)+1); err != nil {
		t.Fatal(err)
	}
	end(3, true)
	if got := committed(m); got != 10 || len(m.PendingTxnOffsets("g")) != 1 {
		t.Fatalf("a late copy of an earlier end committed the next transaction's offsets: committed %d, pending %+v", got, m.PendingTxnOffsets("g"))
	}
	end(7, false)
	// Transaction 4 commits offset 30; the log replayed from a snapshot
	// judges the same.
	restored := restoreSnapshot(t, m)
	if a, b := m.TxnEnds(7), restored.TxnEnds(7); a != b || a != 3 {
		t.Fatalf("ends after the snapshot: %d, %d", a, b)
	}
	m = restored
	if err := commit(30, m.TxnEnds(7)+1); err != nil {
		t.Fatal(err)
	}
	end(7, true) // a copy of transaction 3's end: ignored
	end(9, true)
	if got := committed(m); got != 30 {
		t.Fatalf("committed %d, want 30", got)
	}
	// Commands written before the check (no Ends, no Seq) apply as before.
	if err := commit(40, 0); err != nil {
		t.Fatal(err)
	}
	end(0, true)
	if got := committed(m); got != 40 {
		t.Fatalf("an unchecked commit and end: committed %d, want 40", got)
	}
}

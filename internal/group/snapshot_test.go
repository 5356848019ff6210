package group

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	sm "github.com/lni/dragonboat/v4/statemachine"
)

// TestSnapshotConcurrentWithCommits: a snapshot prepared at one point
// holds that point's state although commits, deletions, offset deletions,
// expiry and transactional offsets apply (as a batch) while it is written;
// the live state has them all. Run with -race: the writer and the commits
// share no memory they change.
func TestSnapshotConcurrentWithCommits(t *testing.T) {
	m := NewStateMachine()
	const groups = 200
	name := func(i int) string { return fmt.Sprintf("g%03d", i) }
	at := int64(1_000_000)
	idx := uint64(0)
	cmd := func(c Command) sm.Entry {
		idx++
		c.AtMs = at
		return sm.Entry{Index: idx, Cmd: c.Encode()}
	}
	offs := func(o int64) map[string]map[int32]OffsetRecord {
		return map[string]map[int32]OffsetRecord{"t": {0: {Offset: o, CommitMs: at}, 1: {Offset: o, CommitMs: at}}}
	}
	for i := range groups {
		apply(t, m, idx+1, Command{Commit: &Commit{Group: name(i), Offsets: offs(10)}, AtMs: at})
		idx++
	}
	apply(t, m, idx+1, Command{Txn: &TxnCommand{Offsets: &TxnOffsets{Group: name(0), ProducerID: 7, Offsets: offs(11)}}, AtMs: at})
	idx++

	frozen, err := m.PrepareSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	var batch []sm.Entry
	for i := range groups {
		batch = append(batch, cmd(Command{Commit: &Commit{Group: name(i), Offsets: offs(20)}}))
	}
	batch = append(batch,
		cmd(Command{Delete: ptr(name(1))}),
		cmd(Command{DeleteOffsets: &DeleteOffsets{Group: name(2), Partitions: map[string][]int32{"t": {0}}}}),
		cmd(Command{Txn: &TxnCommand{Offsets: &TxnOffsets{Group: name(0), ProducerID: 7, Offsets: offs(12)}}}),
		cmd(Command{Txn: &TxnCommand{End: &TxnOffsetsEnd{Group: name(0), ProducerID: 7, Commit: true}}}),
		cmd(Command{Commit: &Commit{Group: "new", Offsets: offs(30)}}),
	)
	at += 10
	expire := cmd(Command{ExpireOffsets: &ExpireOffsets{RetentionMs: 1}})

	var buf bytes.Buffer
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := m.SaveSnapshot(frozen, &buf, nil, nil); err != nil {
			t.Error(err)
		}
	}()
	if _, err := m.Update(batch); err != nil {
		t.Fatal(err)
	}
	for i, e := range batch {
		if e.Result.Value != 0 {
			t.Fatalf("entry %d refused: %+v", i, e.Result)
		}
	}
	if _, err := m.Update([]sm.Entry{expire}); err != nil {
		t.Fatal(err)
	}
	wg.Wait()

	if n := len(m.Groups()); n != 0 {
		t.Fatalf("live state after expiry: %d groups, want none", n)
	}
	restored := NewStateMachine()
	if err := restored.RecoverFromSnapshot(&buf, nil, nil); err != nil {
		t.Fatal(err)
	}
	if n := len(restored.Groups()); n != groups {
		t.Fatalf("snapshot holds %d groups, want %d", n, groups)
	}
	for i := range groups {
		g, _ := restored.Group(name(i))
		if g.Offsets["t"][0].Offset != 10 || g.Offsets["t"][1].Offset != 10 {
			t.Fatalf("group %s in the snapshot: %+v", name(i), g.Offsets)
		}
	}
	if p := restored.PendingTxnOffsets(name(0)); len(p[7]["t"]) != 2 {
		t.Fatalf("pending offsets in the snapshot: %+v", p)
	}
	if restored.LogEnd() != int64(groups*2) {
		t.Fatalf("snapshot's log end %d, want %d", restored.LogEnd(), groups*2)
	}
}

func ptr[T any](v T) *T { return &v }

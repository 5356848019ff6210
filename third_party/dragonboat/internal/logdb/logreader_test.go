// Copyright 2026 The Longboat Authors. Licensed under the Apache License,
// Version 2.0. A Longboat patch to the log reader, see LONGBOAT-PATCHES.md.

package logdb_test

import (
	"testing"

	"github.com/lni/vfs"

	"github.com/lni/dragonboat/v4/config"
	"github.com/lni/dragonboat/v4/internal/logdb"
	"github.com/lni/dragonboat/v4/internal/tan"
	"github.com/lni/dragonboat/v4/raftio"
	pb "github.com/lni/dragonboat/v4/raftpb"
)

// countingDB is a real tan log store that counts the entry reads.
type countingDB struct {
	raftio.ILogDB
	reads int
}

func (c *countingDB) IterateEntries(ents []pb.Entry, size uint64, shardID, replicaID, low, high, maxSize uint64) ([]pb.Entry, uint64, error) {
	c.reads++
	return c.ILogDB.IterateEntries(ents, size, shardID, replicaID, low, high, maxSize)
}

func openTan(t *testing.T) *countingDB {
	t.Helper()
	cfg := config.NodeHostConfig{Expert: config.ExpertConfig{FS: vfs.Default, LogDB: config.GetTinyMemLogDBConfig()}}
	dir := t.TempDir()
	db, err := tan.CreateLogMultiplexedTan(cfg, nil, []string{dir}, []string{dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &countingDB{ILogDB: db}
}

const shard, replica = 7, 1

// keepSnapshots is a snapshot compactor that keeps every snapshot file.
type keepSnapshots struct{}

func (keepSnapshots) Compact(uint64) error { return nil }

func newReader(db raftio.ILogDB) *logdb.LogReader {
	lr := logdb.NewLogReader(shard, replica, db)
	lr.SetCompactor(keepSnapshots{})
	return lr
}

// appendTerm saves entries [from, to] of one term and appends them to lr,
// recording each entry's term in want.
func appendTerm(t *testing.T, db raftio.ILogDB, lr *logdb.LogReader, want map[uint64]uint64, from, to, term uint64) {
	t.Helper()
	var ents []pb.Entry
	for i := from; i <= to; i++ {
		ents = append(ents, pb.Entry{Index: i, Term: term, Cmd: make([]byte, 512)})
		want[i] = term
	}
	for i := to + 1; want[i] != 0; i++ {
		delete(want, i) // overwritten: a longer log loses its tail
	}
	u := pb.Update{ShardID: shard, ReplicaID: replica, State: pb.State{Term: term, Commit: from - 1}, EntriesToSave: ents}
	if err := db.SaveRaftState([]pb.Update{u}, 1); err != nil {
		t.Fatal(err)
	}
	if err := lr.Append(ents); err != nil {
		t.Fatal(err)
	}
}

// checkTerms asks lr for the term of every entry in the log and wants the
// term each was saved with, with reads more reads of the store.
func checkTerms(t *testing.T, db *countingDB, lr *logdb.LogReader, want map[uint64]uint64, reads int) {
	t.Helper()
	first, last := lr.GetRange()
	before := db.reads
	for i := first; i <= last; i++ {
		got, err := lr.Term(i)
		if err != nil || got != want[i] {
			t.Fatalf("Term(%d) = %d, %v; want %d", i, got, err, want[i])
		}
	}
	if n := db.reads - before; n != reads {
		t.Fatalf("%d reads of the log store for the terms of [%d, %d], want %d", n, first, last, reads)
	}
}

// TestTermOfAppendedEntriesWithoutReading: the reader answers the term of
// every entry appended through it, through overwrites, compactions and a
// snapshot, without reading the log store, and the same terms as the store
// holds; entries it was only told the range of (a restart) are read.
func TestTermOfAppendedEntriesWithoutReading(t *testing.T) {
	db := openTan(t)
	lr := newReader(db)
	want := map[uint64]uint64{}
	appendTerm(t, db, lr, want, 1, 10, 1)
	appendTerm(t, db, lr, want, 11, 20, 2)
	appendTerm(t, db, lr, want, 15, 25, 3) // a new leader overwrites 15-20
	appendTerm(t, db, lr, want, 26, 30, 3)
	appendTerm(t, db, lr, want, 31, 31, 5)
	checkTerms(t, db, lr, want, 0)

	if err := lr.Compact(17); err != nil {
		t.Fatal(err)
	}
	if first, _ := lr.GetRange(); first != 18 {
		t.Fatalf("first index %d after compacting to 17, want 18", first)
	}
	checkTerms(t, db, lr, want, 0)
	if err := lr.Compact(31); err != nil {
		t.Fatal(err)
	}
	appendTerm(t, db, lr, want, 32, 34, 5)
	checkTerms(t, db, lr, want, 0)

	// What the store says, read by a reader that appended nothing.
	restarted := newReader(db)
	if err := restarted.ApplySnapshot(pb.Snapshot{Index: 17, Term: want[17]}); err != nil {
		t.Fatal(err)
	}
	restarted.SetRange(18, 17)
	checkTerms(t, db, restarted, want, 17)
	appendTerm(t, db, restarted, want, 35, 36, 6)
	checkTerms(t, db, restarted, want, 17)
	if err := restarted.Compact(20); err != nil {
		t.Fatal(err)
	}
	if reads := db.reads; restarted.Compact(35) != nil || db.reads != reads {
		t.Fatalf("compacting to an appended entry read the store %d times", db.reads-reads)
	}

	ss := pb.Snapshot{Index: 50, Term: 7, Membership: pb.Membership{Addresses: map[uint64]string{1: "a:1"}}}
	if err := lr.ApplySnapshot(ss); err != nil {
		t.Fatal(err)
	}
	if got, err := lr.Term(50); err != nil || got != 7 {
		t.Fatalf("Term(50) = %d, %v after a snapshot at 50 in term 7", got, err)
	}
	appendTerm(t, db, lr, want, 51, 53, 7)
	checkTerms(t, db, lr, want, 0)
}

// Copyright 2026 The Longboat Authors. Licensed under the Apache License,
// Version 2.0. A Longboat patch to tan, see LONGBOAT-PATCHES.md.

package tan

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	pb "github.com/lni/dragonboat/v4/raftpb"
	"github.com/lni/vfs"
)

const testLogSize = 256 << 10

func openShared(t *testing.T, dir string) *db {
	t.Helper()
	d, err := open(dir, dir, &Options{FS: vfs.Default, MaxLogFileSize: testLogSize})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	d.shared = true
	d.startRelocation()
	return d
}

// settledFiles waits for the relocation worker and the delete worker to
// bring the log down to at most want files and returns the count.
func settledFiles(t *testing.T, dir string, want int) int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := logFiles(t, dir)
		if n <= want || time.Now().After(deadline) {
			return n
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func payload(shard, index uint64) []byte {
	return bytes.Repeat([]byte(fmt.Sprintf("%d/%d;", shard, index)), 800)
}

func save(t *testing.T, d *db, shard, index, term uint64) {
	t.Helper()
	u := pb.Update{ShardID: shard, ReplicaID: 1,
		State:         pb.State{Term: term, Vote: 1, Commit: index},
		EntriesToSave: []pb.Entry{{Index: index, Term: term, Cmd: payload(shard, index)}}}
	sync, err := d.write(u, make([]byte, 1<<20))
	if err != nil {
		t.Fatalf("write shard %d index %d: %v", shard, index, err)
	}
	if sync {
		if err := d.sync(); err != nil {
			t.Fatalf("sync: %v", err)
		}
	}
}

func logFiles(t *testing.T, dir string) int {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	return len(m)
}

// checkReplica reads back a replica's state, snapshot and live entries.
func checkReplica(t *testing.T, d *db, shard, first, last, term, ssIndex uint64) {
	t.Helper()
	rs, err := d.getRaftState(shard, 1, ssIndex)
	if err != nil {
		t.Fatalf("shard %d state: %v", shard, err)
	}
	if rs.State.Commit != last || rs.State.Term != term {
		t.Fatalf("shard %d state %+v, want commit %d term %d", shard, rs.State, last, term)
	}
	if ssIndex > 0 {
		ss, err := d.getSnapshot(shard, 1)
		if err != nil || ss.Index != ssIndex {
			t.Fatalf("shard %d snapshot %+v %v, want index %d", shard, ss, err, ssIndex)
		}
	}
	ents, _, err := d.getEntries(shard, 1, nil, 0, first, last+1, 0)
	if err != nil {
		t.Fatalf("shard %d entries: %v", shard, err)
	}
	if uint64(len(ents)) != last-first+1 {
		t.Fatalf("shard %d: %d entries from %d, want %d..%d", shard, len(ents), first, first, last)
	}
	for _, e := range ents {
		if !bytes.Equal(e.Cmd, payload(shard, e.Index)) {
			t.Fatalf("shard %d entry %d: wrong payload", shard, e.Index)
		}
	}
}

// A busy replica beside a slow one and an idle one in a shared log: the
// slow and idle replicas' records are moved out of old files, so the log
// keeps about maxLiveLogs files instead of every file the slow replica
// wrote to, and every replica reads back the same records, also after the
// db is reopened (the index rebuilt from the files).
func TestRelocationBoundsSharedLog(t *testing.T) {
	dir := t.TempDir()
	d := openShared(t, dir)
	const busy, slow, idle = 16, 32, 48
	for i := uint64(1); i <= 3; i++ {
		save(t, d, idle, i, 2)
	}
	ss := pb.Update{ShardID: idle, ReplicaID: 1, Snapshot: pb.Snapshot{Index: 2, Term: 2, Filepath: "ss"}}
	if _, err := d.write(ss, make([]byte, 4096)); err != nil {
		t.Fatal(err)
	}
	if err := d.removeEntries(idle, 1, 1); err != nil {
		t.Fatal(err)
	}
	var slowLast uint64
	maxFiles := 0
	for i := uint64(1); i <= 2000; i++ {
		save(t, d, busy, i, 3)
		if i%40 == 0 {
			if err := d.removeEntries(busy, 1, i-10); err != nil {
				t.Fatal(err)
			}
		}
		if i%30 == 0 {
			slowLast++
			save(t, d, slow, slowLast, 5)
		}
		if i%100 == 0 {
			maxFiles = max(maxFiles, settledFiles(t, dir, maxLiveLogs+2))
		}
	}
	// 2,000 entries of ~6 KiB are ~48 files of 256 KiB: without moving,
	// the slow replica (never compacted) would keep all of them.
	if maxFiles > maxLiveLogs+2 {
		t.Fatalf("shared log kept up to %d files, want at most %d", maxFiles, maxLiveLogs+2)
	}
	// and none of them is old: the idle replica's first records moved too.
	if names, _ := filepath.Glob(filepath.Join(dir, "*.log")); len(names) == 0 ||
		filepath.Base(names[0]) < fmt.Sprintf("%06d.log", d.mu.logNum-maxLiveLogs-1) {
		t.Fatalf("log files %v, the current one is %d: an old file stayed", names, d.mu.logNum)
	}
	checkReplica(t, d, busy, 1991, 2000, 3, 0)
	checkReplica(t, d, slow, 1, slowLast, 5, 0)
	checkReplica(t, d, idle, 2, 3, 2, 2)
	if err := d.close(); err != nil {
		t.Fatal(err)
	}
	d = openShared(t, dir)
	defer func() { _ = d.close() }()
	checkReplica(t, d, busy, 1991, 2000, 3, 0)
	checkReplica(t, d, slow, 1, slowLast, 5, 0)
	checkReplica(t, d, idle, 2, 3, 2, 2)
	if _, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	}
}

// A file-per-replica db (not shared) never moves records.
func TestNoRelocationWhenNotShared(t *testing.T) {
	dir := t.TempDir()
	d, err := open(dir, dir, &Options{FS: vfs.Default, MaxLogFileSize: testLogSize})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = d.close() }()
	for i := uint64(1); i <= 1000; i++ {
		save(t, d, 16, i, 1)
	}
	if n := logFiles(t, dir); n <= maxLiveLogs+2 {
		t.Fatalf("%d log files: the test wrote too little to tell", n)
	}
}

// Removing one replica's data from a shared log deletes only the files no
// other replica refers to (upstream's removeAll deleted every file but the
// current one, the other replicas' records with them).
func TestRemoveAllKeepsOtherReplicasOfSharedLog(t *testing.T) {
	dir := t.TempDir()
	d := openShared(t, dir)
	defer func() { _ = d.close() }()
	for i := uint64(1); i <= 90; i++ {
		save(t, d, 16, i, 1)
		save(t, d, 32, i, 1)
	}
	if err := d.removeAll(32, 1); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // the delete worker runs
	checkReplica(t, d, 16, 1, 90, 1, 0)
	if _, err := d.getRaftState(32, 1, 0); err == nil {
		t.Fatal("the removed replica still has a state")
	}
}

// Writes between the worker's read and its write under the lock: a
// replica that appended is moved with its new entries, one whose read
// entries were overwritten (a new leader's) is left for the next round
// rather than written back with the old ones.
func TestRelocationSeesWritesMadeWhileReading(t *testing.T) {
	dir := t.TempDir()
	d, err := open(dir, dir, &Options{FS: vfs.Default, MaxLogFileSize: testLogSize})
	if err != nil {
		t.Fatal(err)
	}
	d.shared = true // no worker: the test runs the three steps itself
	defer func() { _ = d.close() }()
	const busy, appended, overwritten = 16, 32, 48
	for i := uint64(1); i <= 5; i++ {
		save(t, d, appended, i, 1)
		save(t, d, overwritten, i, 1)
	}
	// The busy replica keeps ~17 files of entries, so that more than
	// maxLiveLogs are live.
	for i := uint64(1); i <= 1000; i++ {
		save(t, d, busy, i, 1)
		if i%40 == 0 && i > 700 {
			if err := d.removeEntries(busy, 1, i-700); err != nil {
				t.Fatal(err)
			}
		}
	}
	rs, limit := d.relocationCandidates()
	quiet := 0
	for _, r := range rs {
		if r.idx.shardID != busy {
			quiet++
		}
	}
	if limit == 0 || quiet != 2 {
		t.Fatalf("%d candidates before file %d, want the two quiet replicas among them", len(rs), limit)
	}
	read := d.readRelocations(rs, limit)
	save(t, d, appended, 6, 1)
	u := pb.Update{ShardID: overwritten, ReplicaID: 1, State: pb.State{Term: 2, Vote: 1, Commit: 5},
		EntriesToSave: []pb.Entry{{Index: 5, Term: 2, Cmd: []byte("new leader")}}}
	if _, err := d.write(u, make([]byte, 1<<16)); err != nil {
		t.Fatal(err)
	}
	if err := d.applyRelocations(read, limit, time.Now()); err != nil {
		t.Fatal(err)
	}
	checkReplica(t, d, appended, 1, 6, 1, 0)
	ents, _, err := d.getEntries(overwritten, 1, nil, 0, 1, 6, 0)
	if err != nil || len(ents) != 5 || string(ents[4].Cmd) != "new leader" || ents[4].Term != 2 {
		t.Fatalf("overwritten replica's entries after the relocation: %d, %v", len(ents), err)
	}
	if d.mu.nodeStates.getIndex(appended, 1).usesBefore(limit) {
		t.Fatal("the appending replica still refers to an old file")
	}
	if !d.mu.nodeStates.getIndex(overwritten, 1).usesBefore(limit) {
		t.Fatal("the overwritten replica was moved with entries read before the overwrite")
	}
}

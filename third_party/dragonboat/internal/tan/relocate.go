// Copyright 2026 The Longboat Authors. Licensed under the Apache License,
// Version 2.0. A Longboat patch to tan, see LONGBOAT-PATCHES.md.

package tan

import (
	"math"
	"sort"
	"time"

	"github.com/cockroachdb/errors"

	pb "github.com/lni/dragonboat/v4/raftpb"
)

// maxLiveLogs is how many log files a shared (multiplexed) db keeps before
// it moves the live records out of the older ones: 1 GiB of 64 MiB files.
// A replica's live records span the entries since its last snapshot (every
// 8 MiB or 1,000 entries in Longboat) plus the 100 kept below it, which for
// a busy one is a file or two, so only replicas that write rarely are
// moved.
const maxLiveLogs = 16

// A file of a shared db is deleted only when no replica refers to it (its
// latest state record, its latest snapshot record, an entry above its
// compaction mark), so a replica that writes rarely would keep every file
// holding one of its records. When more than maxLiveLogs files are live,
// the live records of each replica that still refers to an older one are
// written again to the current file, the file is synced, and then the old
// files nobody refers to any more are deleted: in that order, so that a
// crash leaves every record in at least one file that is kept.
//
// The records are read back without the db's lock, in the relocation
// worker: they are mostly on disk (Longboat drops the log's pages after
// each fsync) and a rarely writing replica's entries are scattered over the
// log, so reading them can take a second, which under the lock would stall
// every replica's appends. Under the lock the worker then writes the
// replicas whose records did not change meanwhile, adding the entries those
// appended since.

// requestRelocationLocked wakes the relocation worker when a rotation left
// more than maxLiveLogs files.
func (d *db) requestRelocationLocked() {
	if len(d.mu.versions.currentVersion().files) <= maxLiveLogs {
		return
	}
	select {
	case d.relocateCh <- struct{}{}:
	default:
	}
}

// startRelocation starts the relocation worker of a shared db.
func (d *db) startRelocation() {
	d.relocateCh = make(chan struct{}, 1)
	d.deleteobsoleteWorker.RunWorker(func() {
		for {
			select {
			case <-d.deleteobsoleteWorker.ShouldStop():
				return
			case <-d.relocateCh:
				if err := d.relocate(); err != nil {
					panicNow(err)
				}
			}
		}
	})
}

// relocation is one replica's live records as the worker found them.
type relocation struct {
	idx      *nodeIndex
	state    indexEntry
	snapshot indexEntry
	entries  index // a copy of the replica's entry index
	read     pb.Update
	low      uint64 // first entry read, 0 if none
	last     uint64 // last entry read
}

func (d *db) relocate() error {
	start := time.Now()
	rs, limit := d.relocationCandidates()
	if len(rs) == 0 && limit == 0 {
		return nil
	}
	return d.applyRelocations(d.readRelocations(rs, limit), limit, start)
}

// relocationCandidates returns, under the lock, the replicas that refer to
// a file before limit, the oldest of the newest maxLiveLogs files (0 when
// there are no more files than that).
func (d *db) relocationCandidates() ([]*relocation, fileNum) {
	d.mu.Lock()
	defer d.mu.Unlock()
	files := d.mu.versions.currentVersion().files
	if len(files) <= maxLiveLogs {
		return nil, 0
	}
	limit := oldestKept(files)
	var rs []*relocation
	for _, idx := range d.mu.nodeStates.indexes {
		if idx.usesBefore(limit) {
			rs = append(rs, &relocation{idx: idx, state: idx.state, snapshot: idx.snapshot,
				entries: index{entries: append([]indexEntry(nil), idx.entries.entries...), compactedTo: idx.entries.compactedTo}})
		}
	}
	return rs, limit
}

// readRelocations reads the candidates' records without the lock. A file
// can go meanwhile (its replica compacted past it): that replica no longer
// needs moving, or is moved next time.
func (d *db) readRelocations(rs []*relocation, limit fileNum) []*relocation {
	var read []*relocation
	for _, r := range rs {
		if err := d.readRelocation(r, limit); err == nil {
			read = append(read, r)
		}
	}
	return read
}

// applyRelocations writes, under the lock, the records of the replicas
// that did not change since they were read, syncs, and deletes the old
// files nobody refers to any more.
func (d *db) applyRelocations(read []*relocation, limit fileNum, start time.Time) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.relocating = true
	defer func() { d.relocating = false }()
	var moved []*nodeIndex
	var bytes int
	for _, r := range read {
		u, ok, err := d.currentRelocationLocked(r, limit)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		data := pb.MustMarshalTo(&u, make([]byte, u.SizeUpperLimit()))
		// A rotation closes the current file without an fsync, and the
		// index it saves points at what was just written there.
		if d.mu.offset+int64(len(data)) >= d.opts.MaxLogFileSize {
			if err := d.mu.logFile.Sync(); err != nil {
				return err
			}
		}
		if err := d.doWriteLocked(u, data); err != nil {
			return err
		}
		moved = append(moved, r.idx)
		bytes += len(data)
	}
	if len(moved) > 0 {
		if err := d.mu.logFile.Sync(); err != nil {
			return err
		}
		for _, idx := range moved {
			idx.entries.dropCompactedBefore(limit)
		}
	}
	// Files can also have lost their last reader by an overwrite of
	// entries, which no compaction reports: look at every old one.
	var old []fileNum
	for fn := range d.mu.versions.currentVersion().files {
		if fn < limit && fn < d.mu.logNum {
			old = append(old, fn)
		}
	}
	if unused := d.mu.nodeStates.getObsolete(old); len(unused) > 0 {
		ve := versionEdit{deletedFiles: make(map[deletedFileEntry]*fileMetadata)}
		for _, fn := range unused {
			ve.deletedFiles[deletedFileEntry{fn}] = &fileMetadata{fileNum: fn}
		}
		d.mu.versions.logLock()
		if err := d.mu.versions.logAndApply(&ve, d.dataDir); err != nil {
			return err
		}
	}
	d.updateReadStateLocked(nil)
	d.notifyDeleteObsoleteWorker()
	if took := time.Since(start); took > time.Second {
		plog.Warningf("%s moved the live records of %d replicas (%d bytes) out of files older than %d in %v",
			d.id(), len(moved), bytes, limit, took)
	}
	return nil
}

// oldestKept returns the number of the oldest of the newest maxLiveLogs
// files.
func oldestKept(files map[fileNum]*fileMetadata) fileNum {
	nums := make([]fileNum, 0, len(files))
	for fn := range files {
		nums = append(nums, fn)
	}
	sort.Slice(nums, func(i, j int) bool { return nums[i] < nums[j] })
	return nums[len(nums)-maxLiveLogs]
}

// readRelocation reads a replica's state and snapshot records and, when
// some entry above its compaction mark lies before limit, its entries from
// there to its last one, as the worker's copy of its index points at them.
func (d *db) readRelocation(r *relocation, limit fileNum) error {
	var err error
	if !r.state.empty() {
		if r.read.State, err = d.readStateRecord(r.state); err != nil {
			return err
		}
	}
	if !r.snapshot.empty() {
		if r.read.Snapshot, err = d.readSnapshotRecord(r.snapshot); err != nil {
			return err
		}
	}
	low, ok := r.entries.liveFrom(limit)
	if !ok {
		return nil
	}
	ents, last, err := d.readEntries(r.idx, &r.entries, low, math.MaxUint64)
	if err != nil {
		return err
	}
	r.read.EntriesToSave, r.low, r.last = ents, low, last
	return nil
}

// currentRelocationLocked returns the update that moves a replica's live
// records as they are now: false when nothing of it needs moving any more,
// or when its entries read by the worker were overwritten meanwhile (it is
// moved next time).
func (d *db) currentRelocationLocked(r *relocation, limit fileNum) (pb.Update, bool, error) {
	cur := r.idx
	if !cur.usesBefore(limit) {
		return pb.Update{}, false, nil
	}
	u := pb.Update{ShardID: cur.shardID, ReplicaID: cur.replicaID}
	var err error
	switch {
	case cur.state == r.state:
		u.State = r.read.State
	case !cur.state.empty():
		// The in-memory state is not the record's: compactions set it too.
		if u.State, err = d.readStateRecord(cur.state); err != nil {
			return pb.Update{}, false, err
		}
	}
	if cur.snapshot == r.snapshot {
		u.Snapshot = r.read.Snapshot
	} else if !cur.snapshot.empty() && cur.snapshot.fileNum < limit {
		if u.Snapshot, err = d.readSnapshotRecord(cur.snapshot); err != nil {
			return pb.Update{}, false, err
		}
	}
	low, ok := cur.entries.liveFrom(limit)
	if !ok {
		return u, true, nil
	}
	if r.low == 0 || low < r.low || low > r.last+1 || !sameEntries(&cur.entries, &r.entries, low, r.last) {
		return pb.Update{}, false, nil
	}
	for _, e := range r.read.EntriesToSave {
		if e.Index >= low {
			u.EntriesToSave = append(u.EntriesToSave, e)
		}
	}
	if len(cur.entries.entries) > 0 && cur.entries.last().end > r.last {
		more, _, err := d.readEntries(cur, &cur.entries, r.last+1, math.MaxUint64)
		if err != nil {
			return pb.Update{}, false, err
		}
		u.EntriesToSave = append(u.EntriesToSave, more...)
	}
	return u, true, nil
}

// sameEntries reports whether the current entry index a points at the
// same records as b, the worker's copy, for the entries low..last.
func sameEntries(a, b *index, low, last uint64) bool {
	qa, oka := a.query(low, last+1)
	qb, okb := b.query(low, last+1)
	if !oka || !okb || len(qa) != len(qb) {
		return false
	}
	for i := range qa {
		x, y := qa[i], qb[i]
		if i == len(qa)-1 && x.end > y.end {
			// Appends since may have extended the last record's range.
			x.end, x.length = y.end, y.length
		}
		if x != y {
			return false
		}
	}
	return true
}

func (d *db) readStateRecord(ie indexEntry) (st pb.State, err error) {
	err = d.readLog(ie, func(u pb.Update, _ int64) bool {
		st = u.State
		return false
	})
	return st, err
}

func (d *db) readSnapshotRecord(ie indexEntry) (ss pb.Snapshot, err error) {
	err = d.readLog(ie, func(u pb.Update, _ int64) bool {
		ss = u.Snapshot
		return false
	})
	return ss, err
}

// readEntries reads a replica's entries from low to the end of ix, which
// must be contiguous, and returns them with the last index.
func (d *db) readEntries(n *nodeIndex, ix *index, low, high uint64) ([]pb.Entry, uint64, error) {
	ies, ok := ix.query(low, high)
	if !ok {
		return nil, 0, errors.Newf("shard %d replica %d: no entries from %d", n.shardID, n.replicaID, low)
	}
	var ents []pb.Entry
	expected := low
	for _, ie := range ies {
		q := ie
		if err := d.readLog(ie, func(u pb.Update, _ int64) bool {
			if u.ShardID != n.shardID || u.ReplicaID != n.replicaID {
				return false
			}
			for _, e := range u.EntriesToSave {
				if e.Index < expected {
					continue
				}
				if e.Index != expected || e.Index < q.start || e.Index > q.end {
					return false
				}
				ents = append(ents, e)
				expected++
			}
			return true
		}); err != nil {
			return nil, 0, err
		}
	}
	last := ies[len(ies)-1].end
	if expected != last+1 {
		return nil, 0, errors.Newf("shard %d replica %d: read entries up to %d, the index ends at %d",
			n.shardID, n.replicaID, expected-1, last)
	}
	return ents, last, nil
}

// usesBefore reports whether any of the replica's records that keep a file
// alive lies in a file before limit.
func (n *nodeIndex) usesBefore(limit fileNum) bool {
	if (!n.state.empty() && n.state.fileNum < limit) ||
		(!n.snapshot.empty() && n.snapshot.fileNum < limit) {
		return true
	}
	return len(n.entries.entries) > 0 && n.entries.entries[0].fileNum < limit
}

// liveFrom returns the first entry above the compaction mark when some
// entry above it lies in a file before limit: entries are rewritten from
// there (tan takes a write of entries for an overwrite of everything after
// its first index, so they are rewritten to the last one).
func (i *index) liveFrom(limit fileNum) (uint64, bool) {
	for _, e := range i.entries {
		if e.end <= i.compactedTo {
			continue
		}
		if e.fileNum >= limit {
			return 0, false
		}
		return max(e.start, i.compactedTo+1), true
	}
	return 0, false
}

// dropCompactedBefore forgets index entries that lie wholly at or below
// the compaction mark in files before limit: nothing reads them, and they
// would keep their files. Entries are ordered by index, so these form a
// prefix.
func (i *index) dropCompactedBefore(limit fileNum) {
	n := 0
	for n < len(i.entries) && i.entries[n].end <= i.compactedTo && i.entries[n].fileNum < limit {
		n++
	}
	if n > 0 {
		i.entries = append([]indexEntry(nil), i.entries[n:]...)
	}
}

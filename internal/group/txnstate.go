package group

import (
	"errors"
	"sort"
)

// Transaction states, as Kafka names them (DescribeTransactions,
// ListTransactions).
const (
	TxnEmpty          = "Empty"
	TxnOngoing        = "Ongoing"
	TxnPrepareCommit  = "PrepareCommit"
	TxnPrepareAbort   = "PrepareAbort"
	TxnCompleteCommit = "CompleteCommit"
	TxnCompleteAbort  = "CompleteAbort"
)

// TxnRecord is the coordinator's state of one transactional id, stored in
// the group shard the id hashes to (as Kafka's __transaction_state).
type TxnRecord struct {
	ID         string `json:"id"`
	ProducerID int64  `json:"producer_id"`
	Epoch      int16  `json:"epoch"`
	// LastEpoch is the epoch before the coordinator's last bump of its
	// own (a timed-out transaction aborted): a producer still at it may
	// re-initialise with KIP-360's producer id and epoch. -1 when none.
	LastEpoch  int16              `json:"last_epoch"`
	TimeoutMs  int32              `json:"timeout_ms"`
	State      string             `json:"state"`
	Partitions map[string][]int32 `json:"partitions,omitempty"`
	Groups     []string           `json:"groups,omitempty"`
	StartMs    int64              `json:"start_ms,omitempty"` // when the transaction became Ongoing
	UpdateMs   int64              `json:"update_ms"`
	// Version counts the record's writes: a TxnPut names the version it
	// was computed from, so a write based on a stale read is refused.
	Version int64 `json:"version"`
	// Prev is the producer's previous transaction, set while its markers
	// and group offsets may still be being written: the first request of
	// the next transaction wrote this record over the Prepare* one
	// without waiting for them. A Prepare* or Empty write clears it.
	Prev *TxnPrev `json:"prev,omitempty"`
}

// TxnPrev is what a new transaction's record keeps of the prepared one
// before it, for its completion.
type TxnPrev struct {
	Commit     bool               `json:"commit"`
	Epoch      int16              `json:"epoch"`
	Partitions map[string][]int32 `json:"partitions,omitempty"`
	Groups     []string           `json:"groups,omitempty"`
	// Version is the Prepare* record's: the Seq of its markers and
	// group offset ends.
	Version int64 `json:"version"`
}

// Prepared is the previous transaction as the Prepare* record it was.
func (r *TxnRecord) Prepared() TxnRecord {
	p := TxnRecord{ID: r.ID, ProducerID: r.ProducerID, Epoch: r.Prev.Epoch, LastEpoch: r.LastEpoch, TimeoutMs: r.TimeoutMs,
		State: TxnPrepareAbort, Partitions: r.Prev.Partitions, Groups: r.Prev.Groups, UpdateMs: r.UpdateMs, Version: r.Prev.Version}
	if r.Prev.Commit {
		p.State = TxnPrepareCommit
	}
	return p.Clone()
}

// HasPartition tells whether the transaction holds a partition.
func (r *TxnRecord) HasPartition(topic string, p int32) bool {
	for _, q := range r.Partitions[topic] {
		if q == p {
			return true
		}
	}
	return false
}

// HasGroup tells whether AddOffsetsToTxn added a group.
func (r *TxnRecord) HasGroup(g string) bool {
	for _, q := range r.Groups {
		if q == g {
			return true
		}
	}
	return false
}

// Clone returns a deep copy.
func (r TxnRecord) Clone() TxnRecord {
	parts := make(map[string][]int32, len(r.Partitions))
	for t, ps := range r.Partitions {
		parts[t] = append([]int32(nil), ps...)
	}
	r.Partitions = parts
	r.Groups = append([]string(nil), r.Groups...)
	if r.Prev != nil {
		prev := *r.Prev
		prev.Partitions = make(map[string][]int32, len(r.Prev.Partitions))
		for t, ps := range r.Prev.Partitions {
			prev.Partitions[t] = append([]int32(nil), ps...)
		}
		prev.Groups = append([]string(nil), r.Prev.Groups...)
		r.Prev = &prev
	}
	return r
}

// TxnCommand is one transactional change to a group shard; exactly one
// field is set.
type TxnCommand struct {
	// Put stores a transactional id's record if its stored Version is
	// still the record's Version-1 (0: the id must be new).
	Put *TxnRecord `json:"put,omitempty"`
	// Offsets adds a producer's pending transactional offsets to a group.
	Offsets *TxnOffsets `json:"offsets,omitempty"`
	// End makes a producer's pending offsets in a group committed offsets
	// (Commit) or drops them.
	End *TxnOffsetsEnd `json:"end,omitempty"`
	// Expire removes transactional ids idle past their expiration.
	Expire *TxnExpire `json:"expire,omitempty"`
}

// TxnExpire removes transactional ids with no transaction
// (transactional.id.expiration.ms). Each id is removed only if its record
// is still the version the coordinator judged, still without a
// transaction, and its last update is ExpirationMs or more before the
// command's time: every replica decides alike from the log alone.
type TxnExpire struct {
	ExpirationMs int64            `json:"expiration_ms"`
	IDs          map[string]int64 `json:"ids"` // transactional id → record version
}

// TxnExpired tells whether a record may be removed at nowMs: it holds no
// transaction (Empty or Complete*) and was last written expirationMs or
// more before.
func TxnExpired(r TxnRecord, nowMs, expirationMs int64) bool {
	switch r.State {
	case TxnEmpty, TxnCompleteCommit, TxnCompleteAbort:
		return nowMs-r.UpdateMs >= expirationMs
	}
	return false
}

// TxnOffsets are offsets a transaction commits to a group, invisible
// until it commits.
type TxnOffsets struct {
	Group      string                            `json:"group"`
	ProducerID int64                             `json:"producer_id"`
	Epoch      int16                             `json:"epoch"`
	Offsets    map[string]map[int32]OffsetRecord `json:"offsets"`
	// Generation, when positive, is the member's generation the commit was
	// accepted in (KIP-447); refused if the group has stored a later one.
	Generation int32 `json:"generation,omitempty"`
	// Ends is one more than the producer's count of ended transactions on
	// this shard when the commit was checked against its ongoing
	// transaction; refused if another has ended since. A proposal can be
	// applied long after it was made (forwarded by a follower, held in a
	// paused broker's transport): without this, offsets of a transaction
	// that was aborted meanwhile would become pending again and be
	// committed by the producer's next transaction, skipping records whose
	// output was aborted. 0 in commands written before it: not checked.
	Ends int64 `json:"ends,omitempty"`
}

// TxnOffsetsEnd ends a producer's pending offsets in a group, or in every
// group of the shard when Group is empty.
type TxnOffsetsEnd struct {
	Group      string `json:"group"`
	ProducerID int64  `json:"producer_id"`
	Commit     bool   `json:"commit"`
	// Seq names the transaction: the version of its coordinator record
	// when it was prepared, which grows with each transaction of the
	// producer. An end of a group whose Seq is not above the last one
	// applied for the producer is a late copy of one already applied (a
	// retried proposal whose first attempt was applied after all) and
	// changes nothing: applied, it would commit or drop the pending
	// offsets of the producer's next transaction. 0 (a marker received on
	// the wire, or a command written before it): always applied.
	Seq int64 `json:"seq,omitempty"`
}

// ErrTxnEnded is transactional offsets refused because a transaction of
// their producer ended after they were checked: the commit is retried
// against the producer's transaction as it now is.
var ErrTxnEnded = errors.New("a transaction of the producer ended after its offsets were checked")

// resultTxnEnded is the sm.Result of TxnOffsets refused for ErrTxnEnded.
const resultTxnEnded = 5

// ErrTxnConflict is a TxnPut computed from a record that has changed since.
var ErrTxnConflict = errors.New("transaction record changed since it was read")

// resultTxnConflict is the sm.Result of a refused TxnPut.
const resultTxnConflict = 4

// txnState is the transactional part of a group shard: the records of the
// transactional ids it coordinates and the pending offsets of the groups
// it holds, by group and producer id.
type txnState struct {
	Records map[string]*TxnRecord                                  `json:"records,omitempty"`
	Pending map[string]map[int64]map[string]map[int32]OffsetRecord `json:"pending,omitempty"`
	// Ends counts each producer's applied transaction ends (TxnOffsets.Ends);
	// EndSeq is the last Seq applied per group and producer.
	Ends   map[int64]int64            `json:"ends,omitempty"`
	EndSeq map[string]map[int64]int64 `json:"end_seq,omitempty"`
}

// applyTxn applies a TxnCommand; m.mu is held.
func (m *StateMachine) applyTxn(c *TxnCommand, atMs int64) uint64 {
	t := &m.txn
	switch {
	case c.Put != nil:
		var stored int64
		if r, ok := t.Records[c.Put.ID]; ok {
			stored = r.Version
		}
		if c.Put.Version != stored+1 {
			return resultTxnConflict
		}
		if t.Records == nil {
			t.Records = map[string]*TxnRecord{}
		}
		r := c.Put.Clone()
		t.Records[r.ID] = &r
	case c.Offsets != nil:
		o := c.Offsets
		if g, ok := m.groups[o.Group]; ok && o.Generation > 0 && g.Generation > o.Generation {
			return resultFenced
		}
		if o.Ends > 0 && o.Ends != t.Ends[o.ProducerID]+1 {
			return resultTxnEnded
		}
		if t.Pending == nil {
			t.Pending = map[string]map[int64]map[string]map[int32]OffsetRecord{}
		}
		byProducer := t.Pending[o.Group]
		if byProducer == nil {
			byProducer = map[int64]map[string]map[int32]OffsetRecord{}
			t.Pending[o.Group] = byProducer
		}
		pend := byProducer[o.ProducerID]
		if pend == nil {
			pend = map[string]map[int32]OffsetRecord{}
			byProducer[o.ProducerID] = pend
		}
		for topic, parts := range o.Offsets {
			if pend[topic] == nil {
				pend[topic] = map[int32]OffsetRecord{}
			}
			for p, rec := range parts {
				pend[topic][p] = rec
			}
		}
	case c.Expire != nil:
		for id, version := range c.Expire.IDs {
			if r, ok := t.Records[id]; ok && r.Version == version && TxnExpired(*r, atMs, c.Expire.ExpirationMs) {
				delete(t.Records, id)
			}
		}
	case c.End != nil:
		if c.End.Seq > 0 {
			if c.End.Seq <= t.EndSeq[c.End.Group][c.End.ProducerID] {
				return 0
			}
			if t.EndSeq == nil {
				t.EndSeq = map[string]map[int64]int64{}
			}
			if t.EndSeq[c.End.Group] == nil {
				t.EndSeq[c.End.Group] = map[int64]int64{}
			}
			t.EndSeq[c.End.Group][c.End.ProducerID] = c.End.Seq
		}
		if t.Ends == nil {
			t.Ends = map[int64]int64{}
		}
		t.Ends[c.End.ProducerID]++
		groups := []string{c.End.Group}
		if c.End.Group == "" {
			// A marker on the shard's __consumer_offsets partition: every
			// group the producer has pending offsets in, by name.
			groups = groups[:0]
			for name, byProducer := range t.Pending {
				if _, ok := byProducer[c.End.ProducerID]; ok {
					groups = append(groups, name)
				}
			}
			sort.Strings(groups)
		}
		for _, name := range groups {
			m.endTxnOffsets(name, c.End.ProducerID, c.End.Commit, atMs)
		}
	}
	return 0
}

// endTxnOffsets commits or drops a producer's pending offsets in a group;
// m.mu is held.
func (m *StateMachine) endTxnOffsets(name string, pid int64, commit bool, atMs int64) {
	t := &m.txn
	pend, ok := t.Pending[name][pid]
	if !ok {
		return
	}
	delete(t.Pending[name], pid)
	if len(t.Pending[name]) == 0 {
		delete(t.Pending, name)
	}
	if !commit {
		return
	}
	g := m.group(name)
	forEachOffset(pend, func(topic string, p int32) {
		if g.Offsets[topic] == nil {
			g.Offsets[topic] = map[int32]OffsetRecord{}
		}
		rec := pend[topic][p]
		rec.CommitMs = atMs
		g.Offsets[topic][p] = rec
		m.log.write(LogKey{Group: name, Offset: true, Topic: topic, Partition: p}, false, atMs)
	})
}

// Txn returns a copy of a transactional id's record.
func (m *StateMachine) Txn(id string) (TxnRecord, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	r, ok := m.txn.Records[id]
	if !ok {
		return TxnRecord{}, false
	}
	return r.Clone(), true
}

// Txns returns copies of every transactional id's record, by id.
func (m *StateMachine) Txns() []TxnRecord {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]TxnRecord, 0, len(m.txn.Records))
	for _, r := range m.txn.Records {
		out = append(out, r.Clone())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// TxnEnds is how many transaction ends of a producer this replica has
// applied (TxnOffsets.Ends).
func (m *StateMachine) TxnEnds(pid int64) int64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.txn.Ends[pid]
}

// PendingTxnOffsets returns, per producer id, the partitions of a group
// with transactional offsets not yet committed or aborted.
func (m *StateMachine) PendingTxnOffsets(group string) map[int64]map[string][]int32 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := map[int64]map[string][]int32{}
	for pid, pend := range m.txn.Pending[group] {
		out[pid] = map[string][]int32{}
		for topic, parts := range pend {
			for p := range parts {
				out[pid][topic] = append(out[pid][topic], p)
			}
		}
	}
	return out
}

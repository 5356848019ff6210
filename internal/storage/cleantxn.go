package storage

import (
	"cmp"
	"slices"

	"github.com/longboat/longboat/internal/recordbatch"
)

// AbortedTxn is one entry of a partition's aborted-transaction index as
// the cleaner needs it: the producer, the transaction's first offset and
// the offset of its ABORT marker.
type AbortedTxn struct {
	ProducerID  int64
	FirstOffset int64
	LastOffset  int64
}

// txnTracker follows transactions through a pass over the log in offset
// order, as Kafka's CleanedTransactionMetadata does: it tells which data
// batches belong to aborted transactions (their records go, and are never
// mapped) and which markers have no record of their transaction left in
// what the pass read (they may go once delete.retention.ms has passed).
// Every pass reads the cleanable log from its first segment, so "left in
// what the pass read" is "left in the log".
type txnTracker struct {
	aborted   []AbortedTxn // ascending first offset
	next      int          // aborted[next:] not yet begun
	open      map[int64]*txnSeen
	committed map[int64]*txnSeen // producers with a transactional batch read since their last marker
	// gone lists the marker offsets of aborted transactions with no
	// batch left: their index entries go before their markers may.
	gone []int64
}

// txnSeen is what a pass found of one transaction.
type txnSeen struct {
	marker  int64 // an aborted one's marker offset
	seen    bool  // a batch of it was read
	kept    bool  // a record of it stays
	removed bool  // a record of it goes
}

// newTxnTracker follows the aborted transactions for a walk of the log
// from offset from on: only those whose marker it will read, since a
// transaction is open from its first offset until that marker.
func newTxnTracker(aborted []AbortedTxn, from int64) *txnTracker {
	a := slices.DeleteFunc(slices.Clone(aborted), func(x AbortedTxn) bool { return x.LastOffset < from })
	slices.SortStableFunc(a, func(x, y AbortedTxn) int { return cmp.Compare(x.FirstOffset, y.FirstOffset) })
	return &txnTracker{aborted: a, open: map[int64]*txnSeen{}, committed: map[int64]*txnSeen{}}
}

// begin notes the aborted transactions that start at or below off.
func (t *txnTracker) begin(off int64) {
	for ; t.next < len(t.aborted) && t.aborted[t.next].FirstOffset <= off; t.next++ {
		a := t.aborted[t.next]
		t.open[a.ProducerID] = &txnSeen{marker: a.LastOffset}
	}
}

// data reads a data batch and reports whether it belongs to an aborted
// transaction, whose records all go.
func (t *txnTracker) data(h recordbatch.Header) bool {
	t.begin(h.LastOffset())
	if !h.Transactional() {
		return false
	}
	// An empty batch is what an earlier pass left of one (logs cleaned
	// before emptied dropped the producer from such batches): no record of
	// its transaction, so it keeps no marker.
	if a, ok := t.open[h.ProducerID]; ok {
		a.seen = a.seen || h.Records > 0
		return true
	}
	if h.Records == 0 {
		return false
	}
	if t.committed[h.ProducerID] == nil {
		t.committed[h.ProducerID] = &txnSeen{}
	}
	t.committed[h.ProducerID].seen = true
	return false
}

// filtered notes how many records of a committed transactional batch stay.
func (t *txnTracker) filtered(h recordbatch.Header, kept int32) {
	if c := t.committed[h.ProducerID]; h.Transactional() && c != nil {
		c.kept = c.kept || kept > 0
		c.removed = c.removed || kept < h.Records
	}
}

// marker reads a control batch and reports whether it may go (once its
// retention has passed): a COMMIT when no batch of its transaction was
// read, an ABORT when none was either, or an empty control batch, which
// an earlier pass already found so. An ABORT whose transaction still has
// batches keeps its index entry; one without loses it (see gone). next
// reports a marker that stays now but that the next pass will find
// removable, its transaction's last records going in this one.
func (t *txnTracker) marker(h recordbatch.Header, b []byte) (removable, next bool) {
	t.begin(h.LastOffset())
	ctype, _, err := recordbatch.ParseMarker(b)
	if err != nil {
		return h.Records == 0, false
	}
	switch ctype {
	case recordbatch.ControlAbort:
		a, ok := t.open[h.ProducerID]
		delete(t.open, h.ProducerID)
		delete(t.committed, h.ProducerID)
		if ok && a.seen {
			// Its records all go in this pass: the next finds none.
			return false, true
		}
		if ok {
			t.gone = append(t.gone, a.marker)
		}
		return true, false
	case recordbatch.ControlCommit:
		c := t.committed[h.ProducerID]
		delete(t.committed, h.ProducerID)
		if c != nil && c.seen {
			return false, c.removed && !c.kept
		}
		return true, false
	}
	return false, false
}

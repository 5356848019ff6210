package partition

import (
	"encoding/binary"
	"sort"
	"sync"
	"sync/atomic"

	sm "github.com/lni/dragonboat/v4/statemachine"

	"github.com/longboat/longboat/internal/recordbatch"
)

// Transactions (KIP-98) in a partition: a transactional batch opens its
// producer's transaction at its base offset; a marker (cmdMarker) appends a
// COMMIT or ABORT control batch and closes it. The last stable offset is
// the first offset of the oldest open transaction (or the high
// watermark); read_committed fetches stop there and skip the aborted
// transactions this index lists.

// cmdMarker appends a transaction marker: term, clock, producer id and
// epoch, coordinator epoch, flags, and (markerSeqSize) the transaction's
// sequence.
const (
	cmdMarker     byte = 4
	markerSize         = 1 + 8 + 8 + 8 + 2 + 4 + 1
	markerSeqSize      = markerSize + 8

	markerCommit        = 1
	markerLogAppendTime = 2
)

// MarkerCommand is what EncodeMarker proposes.
type MarkerCommand struct {
	Term             uint64
	NowMs            int64
	ProducerID       int64
	ProducerEpoch    int16
	CoordinatorEpoch int32
	Commit           bool
	// LogAppendTime stamps the marker's time as the topic's appends are.
	LogAppendTime bool
	// Seq names the transaction the marker ends: the version of its
	// coordinator record when it was prepared, which grows with each
	// transaction of the producer. A marker whose Seq is not above the
	// last one the partition applied for the producer is a copy of one
	// already applied (resent after a coordinator failover, or delayed on
	// the way) and writes nothing: applied, it would end the producer's
	// next transaction, whose records may follow the first copy. 0 (a
	// marker from a coordinator that does not send it): always applied.
	Seq int64
}

// EncodeMarker builds a proposal that writes one transaction marker. The
// leader's term guards it like an append's.
func EncodeMarker(m MarkerCommand) []byte {
	size := markerSize
	if m.Seq > 0 {
		size = markerSeqSize
	}
	cmd := make([]byte, size)
	cmd[0] = cmdMarker
	be := binary.BigEndian
	be.PutUint64(cmd[1:], m.Term)
	be.PutUint64(cmd[9:], uint64(m.NowMs))
	be.PutUint64(cmd[17:], uint64(m.ProducerID))
	be.PutUint16(cmd[25:], uint16(m.ProducerEpoch))
	be.PutUint32(cmd[27:], uint32(m.CoordinatorEpoch))
	if m.Commit {
		cmd[31] |= markerCommit
	}
	if m.LogAppendTime {
		cmd[31] |= markerLogAppendTime
	}
	if m.Seq > 0 {
		be.PutUint64(cmd[markerSize:], uint64(m.Seq))
	}
	return cmd
}

// isMarker tells whether a command is a marker, with or without Seq.
func isMarker(cmd []byte) bool {
	return (len(cmd) == markerSize || len(cmd) == markerSeqSize) && cmd[0] == cmdMarker
}

func decodeMarker(cmd []byte) MarkerCommand {
	be := binary.BigEndian
	m := MarkerCommand{
		Term:             be.Uint64(cmd[1:]),
		NowMs:            int64(be.Uint64(cmd[9:])),
		ProducerID:       int64(be.Uint64(cmd[17:])),
		ProducerEpoch:    int16(be.Uint16(cmd[25:])),
		CoordinatorEpoch: int32(be.Uint32(cmd[27:])),
		Commit:           cmd[31]&markerCommit != 0,
		LogAppendTime:    cmd[31]&markerLogAppendTime != 0,
	}
	if len(cmd) == markerSeqSize {
		m.Seq = int64(be.Uint64(cmd[markerSize:]))
	}
	return m
}

// MarkerResult decodes a marker proposal's result: the marker's offset, or
// a Kafka error code.
func MarkerResult(r sm.Result) (offset int64, code int16) { return AppendResult(r) }

// AbortedTxn is one aborted transaction: its producer, its first offset,
// the offset of its ABORT marker, and the last stable offset once it
// ended (a fetch reading below that needs no later entry).
type AbortedTxn struct {
	ProducerID  int64 `json:"pid"`
	FirstOffset int64 `json:"first"`
	LastOffset  int64 `json:"last"`
	Stable      int64 `json:"stable"`
}

// txnIndex is the replicated aborted-transaction index (ascending marker
// offsets) and the cached first offset of the oldest open transaction.
// Both change only on the apply goroutine; fetches read them.
type txnIndex struct {
	mu       sync.RWMutex
	aborted  []AbortedTxn
	unstable atomic.Int64 // math.MaxInt64: no open transaction
}

func (t *txnIndex) reset(aborted []AbortedTxn, unstable int64) {
	t.mu.Lock()
	t.aborted = append([]AbortedTxn(nil), aborted...)
	t.mu.Unlock()
	t.unstable.Store(unstable)
}

func (t *txnIndex) list() []AbortedTxn {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return append([]AbortedTxn(nil), t.aborted...)
}

func (t *txnIndex) add(a AbortedTxn) {
	t.mu.Lock()
	t.aborted = append(t.aborted, a)
	t.mu.Unlock()
}

// pruneBelow drops the transactions whose marker lies below the log
// start: no fetch starts below it, so none would be returned.
func (t *txnIndex) pruneBelow(offset int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	i := sort.Search(len(t.aborted), func(i int) bool { return t.aborted[i].LastOffset >= offset })
	if i > 0 {
		t.aborted = append([]AbortedTxn(nil), t.aborted[i:]...)
	}
}

// maxAbortedPerFetch bounds the aborted transactions one fetch returns; a
// consumer needs those overlapping the batches it got, which a fetch's
// byte limit bounds in practice.
const maxAbortedPerFetch = 10000

// AbortedTransactions lists, as Kafka's transaction index does, the
// aborted transactions that overlap [from, upper): marker at or past from
// and first offset below upper.
func (s *StateMachine) AbortedTransactions(from, upper int64) []AbortedTxn {
	t := &s.txns
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := []AbortedTxn{}
	i := sort.Search(len(t.aborted), func(i int) bool { return t.aborted[i].LastOffset >= from })
	for ; i < len(t.aborted) && len(out) < maxAbortedPerFetch; i++ {
		a := t.aborted[i]
		if a.FirstOffset < upper {
			out = append(out, a)
		}
		if a.Stable >= upper {
			break
		}
	}
	return out
}

// LastStableOffset is the offset below which every transaction has ended:
// the first offset of the oldest open transaction, never below the log
// start, and at most the high watermark. The high watermark is read
// first: a transaction's start is published before the high watermark
// moves past it, so a reader never sees its batches as stable.
func (s *StateMachine) LastStableOffset() int64 {
	hw := s.hw.Load()
	return min(hw, max(s.txns.unstable.Load(), s.start.Load()))
}

// applyMarker appends a marker's control batch and ends the producer's
// transaction. As Kafka does, an older producer epoch is refused
// (INVALID_PRODUCER_EPOCH) and so is an older coordinator epoch
// (TRANSACTION_COORDINATOR_FENCED); a marker for a producer with no open
// transaction here is still written. An ABORT that ends a transaction adds
// it to the aborted index before the last stable offset moves past it.
func (s *StateMachine) applyMarker(m MarkerCommand) (sm.Result, bool, error) {
	if p, ok := s.producers.ByID[m.ProducerID]; ok {
		switch {
		case m.ProducerEpoch < p.Epoch:
			return rejected(errInvalidProducerEpoc), false, nil
		case m.CoordinatorEpoch < p.coordEpoch():
			return rejected(errCoordinatorFenced), false, nil
		case m.Seq > 0 && m.Seq <= p.TxnSeq:
			// Already applied: answered as written, at the offset
			// the next record gets, and nothing changes.
			return sm.Result{Value: uint64(s.log.NextOffset())}, false, nil
		}
	}
	if m.ProducerID < 0 || m.ProducerEpoch < 0 {
		return rejected(errInvalidRecord), false, nil
	}
	base := s.log.NextOffset()
	batch := recordbatch.MarkerBatch(recordbatch.Marker{ProducerID: m.ProducerID, ProducerEpoch: m.ProducerEpoch,
		Commit: m.Commit, CoordinatorEpoch: m.CoordinatorEpoch, TimestampMs: m.NowMs})
	stamp := recordbatch.Stamp{BaseOffset: base, LeaderEpoch: int32(m.Term), LogAppendTime: m.LogAppendTime, AppendTimeMs: m.NowMs}
	if err := s.log.AppendParts(stamp.Apply(&s.head, batch)); err != nil {
		return sm.Result{}, false, err
	}
	s.epochs.record(int32(m.Term), base)
	if !s.producers.admits(m.ProducerID) {
		// Unknown here, so nothing to end; no room to remember its epoch
		// without forgetting an open transaction.
		return sm.Result{Value: uint64(base)}, true, nil
	}
	p := s.producers.entry(m.ProducerID, m.ProducerEpoch)
	p.CoordNext = int64(m.CoordinatorEpoch) + 1
	if m.Seq > 0 {
		p.TxnSeq = m.Seq
	}
	p.LastSeen = max(p.LastSeen, m.NowMs)
	if p.Txn {
		first := p.TxnFirst
		p.Txn, p.TxnFirst = false, 0
		unstable := s.txns.unstable.Load()
		if first <= unstable {
			unstable = s.producers.firstUnstable()
		}
		if !m.Commit {
			s.txns.add(AbortedTxn{ProducerID: m.ProducerID, FirstOffset: first, LastOffset: base, Stable: min(unstable, base+1)})
		}
		s.txns.unstable.Store(unstable)
	}
	return sm.Result{Value: uint64(base)}, true, nil
}

// beginTxn notes a transactional batch of p appended at base: it opens
// p's transaction when none is open.
func (s *StateMachine) beginTxn(p *producer, base int64) {
	if p.Txn {
		return
	}
	p.Txn, p.TxnFirst = true, base
	if base < s.txns.unstable.Load() {
		s.txns.unstable.Store(base)
	}
}

// marker applies cmdMarker with the checks an append gets: a stale term is
// refused, producers expire and the segment rolls by the command's clock.
func (s *StateMachine) marker(m MarkerCommand) (sm.Result, bool, error) {
	if int64(m.Term) < int64(s.epochs.latest()) {
		return rejected(errNotLeader), false, nil
	}
	s.producers.expire(m.NowMs)
	if age := s.segmentMs.Load(); age > 0 {
		if _, err := s.log.RollIfOlder(m.NowMs, age); err != nil {
			return sm.Result{}, false, err
		}
	}
	return s.applyMarker(m)
}

package partition

import (
	"math"

	"github.com/longboat/longboat/internal/recordbatch"
)

// Producer state for idempotent produce, kept inside the state machine so
// every replica applies the same decisions in the same order.
const (
	// cachedBatches is how many recent batches per producer are remembered
	// for duplicate detection: Kafka allows five in flight per connection.
	cachedBatches = 5
	// ProducerExpiryMs is Kafka's producer.id.expiration.ms default: a
	// producer silent this long (by the proposers' clocks carried in the
	// log) is forgotten.
	ProducerExpiryMs = 24 * 60 * 60 * 1000
	expirySweepMs    = 60 * 1000
	// maxProducers bounds the producer ids one partition remembers: each
	// new id past it evicts the one that appended longest ago (by command
	// clock), so a client minting producer ids cannot grow the state, its
	// snapshots and checkpoints without bound. An evicted producer is
	// unknown again, as after expiry.
	maxProducers = 10000
)

// Kafka error codes the producer-state check answers with.
const (
	errOutOfOrderSequence  int16 = 45
	errInvalidProducerEpoc int16 = 47
	errInvalidRecord       int16 = 87
	errInvalidTxnState     int16 = 48
	errCoordinatorFenced   int16 = 52 // TRANSACTION_COORDINATOR_FENCED
	// errConcurrentTxns (CONCURRENT_TRANSACTIONS, retriable) refuses a new
	// producer while every remembered producer has a transaction open.
	errConcurrentTxns int16 = 51
	errNotLeader      int16 = 6 // NOT_LEADER_OR_FOLLOWER
)

// batchRecord remembers one appended batch of a producer.
type batchRecord struct {
	FirstSeq   int32 `json:"first_seq"`
	LastSeq    int32 `json:"last_seq"`
	BaseOffset int64 `json:"base_offset"`
}

// producer is one producer id's state in this partition.
type producer struct {
	Epoch    int16         `json:"epoch"`
	LastSeen int64         `json:"last_seen_ms"`
	Batches  []batchRecord `json:"batches"` // oldest first, at most cachedBatches
	// Txn is set while the producer has a transaction open here, which
	// began at offset TxnFirst; a marker ends it.
	Txn      bool  `json:"txn,omitempty"`
	TxnFirst int64 `json:"txn_first,omitempty"`
	// CoordNext is the coordinator epoch of the last marker plus one (0:
	// no marker yet, which older state also decodes to); a marker from an
	// older coordinator is fenced.
	CoordNext int64 `json:"coord_next,omitempty"`
	// TxnSeq is the Seq of the last marker applied (MarkerCommand.Seq;
	// 0: none carried one).
	TxnSeq int64 `json:"txn_seq,omitempty"`
}

// coordEpoch is the coordinator epoch of the producer's last marker, or -1.
func (p *producer) coordEpoch() int32 { return int32(p.CoordNext - 1) }

// producers is the state of every live producer id, plus the command
// clock of the last expiry sweep.
type producers struct {
	ByID      map[int64]*producer `json:"by_id"`
	LastSweep int64               `json:"last_sweep_ms"`
}

func newProducers() *producers { return &producers{ByID: map[int64]*producer{}} }

// idempotence reads a batch's producer fields; ok is false for batches
// without a producer id and sequence (plain, non-idempotent produce).
func idempotence(h recordbatch.Header) (pid int64, epoch int16, firstSeq, lastSeq int32, ok bool) {
	if h.ProducerID < 0 {
		return 0, 0, 0, 0, false
	}
	// Sequences wrap at int32 max, as Kafka's do.
	lastSeq = int32((int64(h.BaseSequence) + int64(h.LastOffsetDelta)) % (math.MaxInt32 + 1))
	return h.ProducerID, h.ProducerEpoch, h.BaseSequence, lastSeq, h.Idempotent()
}

// nextSeq is the sequence that follows seq.
func nextSeq(seq int32) int32 {
	if seq == math.MaxInt32 {
		return 0
	}
	return seq + 1
}

// check decides what to do with an idempotent batch: append it (code 0,
// dup false), acknowledge it again with its original offset (dup true), or
// reject it with a Kafka error code. It follows Kafka's rules: an older
// epoch is fenced; a new epoch must start at sequence 0 unless the
// producer is unknown here; within an epoch a batch must continue the last
// sequence or repeat one of the last five batches.
func (ps *producers) check(pid int64, epoch int16, firstSeq, lastSeq int32) (dupOffset int64, dup bool, code int16) {
	p, known := ps.ByID[pid]
	if !known {
		// Unknown producer (new, or its state expired): any sequence is
		// accepted, as Kafka does since KIP-360.
		return 0, false, 0
	}
	switch {
	case epoch < p.Epoch:
		return 0, false, errInvalidProducerEpoc
	case epoch > p.Epoch:
		if firstSeq != 0 {
			return 0, false, errOutOfOrderSequence
		}
		return 0, false, 0
	}
	for _, b := range p.Batches {
		if b.FirstSeq == firstSeq && b.LastSeq == lastSeq {
			return b.BaseOffset, true, 0
		}
	}
	if len(p.Batches) > 0 && firstSeq != nextSeq(p.Batches[len(p.Batches)-1].LastSeq) {
		return 0, false, errOutOfOrderSequence
	}
	return 0, false, 0
}

// entry returns pid's state at epoch, creating it (evicting another when
// full) or starting the new epoch's sequences afresh. An open transaction
// and the coordinator epoch carry over an epoch bump, as in Kafka: the
// coordinator ends the transaction with a marker.
func (ps *producers) entry(pid int64, epoch int16) *producer {
	p, ok := ps.ByID[pid]
	if !ok {
		if len(ps.ByID) >= maxProducers {
			ps.evictLeastRecent()
		}
		p = &producer{Epoch: epoch}
		ps.ByID[pid] = p
	}
	if epoch != p.Epoch {
		p.Epoch, p.Batches = epoch, nil
	}
	return p
}

// checkTxn refuses a non-transactional batch from a producer with a
// transaction open (Kafka's INVALID_TXN_STATE).
func (ps *producers) checkTxn(pid int64, transactional bool) int16 {
	if p, ok := ps.ByID[pid]; ok && p.Txn && !transactional {
		return errInvalidTxnState
	}
	return 0
}

// record notes an appended batch.
func (ps *producers) record(pid int64, epoch int16, firstSeq, lastSeq int32, base, nowMs int64) *producer {
	p := ps.entry(pid, epoch)
	p.LastSeen = max(p.LastSeen, nowMs)
	if len(p.Batches) == cachedBatches {
		copy(p.Batches, p.Batches[1:])
		p.Batches = p.Batches[:cachedBatches-1]
	}
	p.Batches = append(p.Batches, batchRecord{FirstSeq: firstSeq, LastSeq: lastSeq, BaseOffset: base})
	return p
}

// evictLeastRecent forgets the producer without an open transaction whose
// last append is oldest (the lowest id among equals), the same one on every
// replica. Forgetting an open transaction would show its records to
// read_committed readers, so admits keeps new producers out instead when
// every producer has one.
func (ps *producers) evictLeastRecent() {
	victim, oldest := int64(0), int64(math.MaxInt64)
	for id, p := range ps.ByID {
		if !p.Txn && (p.LastSeen < oldest || (p.LastSeen == oldest && id < victim)) {
			victim, oldest = id, p.LastSeen
		}
	}
	delete(ps.ByID, victim)
}

// admits tells whether pid has, or can be given, an entry: the table is
// not full or some producer has no open transaction and can be evicted.
func (ps *producers) admits(pid int64) bool {
	if _, ok := ps.ByID[pid]; ok || len(ps.ByID) < maxProducers {
		return true
	}
	for _, p := range ps.ByID {
		if !p.Txn {
			return true
		}
	}
	return false
}

// expire forgets producers silent for ProducerExpiryMs, judged by the
// command clock so that every replica forgets the same ones. As in Kafka,
// a producer with a transaction open is kept until a marker ends it.
func (ps *producers) expire(nowMs int64) {
	if nowMs-ps.LastSweep < expirySweepMs {
		return
	}
	ps.LastSweep = nowMs
	for id, p := range ps.ByID {
		if !p.Txn && nowMs-p.LastSeen > ProducerExpiryMs {
			delete(ps.ByID, id)
		}
	}
}

// firstUnstable is the first offset of the oldest open transaction, or
// math.MaxInt64 when none is open.
func (ps *producers) firstUnstable() int64 {
	first := int64(math.MaxInt64)
	for _, p := range ps.ByID {
		if p.Txn {
			first = min(first, p.TxnFirst)
		}
	}
	return first
}

// clone deep-copies the state for a snapshot taken while updates go on.
func (ps *producers) clone() *producers {
	c := &producers{ByID: make(map[int64]*producer, len(ps.ByID)), LastSweep: ps.LastSweep}
	for id, p := range ps.ByID {
		cp := *p
		cp.Batches = append([]batchRecord(nil), p.Batches...)
		c.ByID[id] = &cp
	}
	return c
}

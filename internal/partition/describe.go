package partition

import (
	"cmp"
	"slices"
)

// ProducerState describes one idempotent producer a partition remembers.
type ProducerState struct {
	ID    int64
	Epoch int16
	// LastSequence is the last sequence number appended, LastTimestamp the
	// proposer's clock (ms) when it was.
	LastSequence  int32
	LastTimestamp int64
	// CoordinatorEpoch is that of the last marker written for the
	// producer (-1: none); TxnStartOffset is the first offset of its open
	// transaction (-1: none).
	CoordinatorEpoch int32
	TxnStartOffset   int64
}

// ActiveProducers lists the producers this replica remembers (not yet
// expired), by producer id. Safe from any goroutine.
func (s *StateMachine) ActiveProducers() []ProducerState {
	s.prodMu.Lock()
	defer s.prodMu.Unlock()
	if s.producers == nil {
		return nil
	}
	out := make([]ProducerState, 0, len(s.producers.ByID))
	for id, p := range s.producers.ByID {
		ps := ProducerState{ID: id, Epoch: p.Epoch, LastSequence: -1, LastTimestamp: p.LastSeen, CoordinatorEpoch: p.coordEpoch(), TxnStartOffset: -1}
		if p.Txn {
			ps.TxnStartOffset = p.TxnFirst
		}
		if len(p.Batches) > 0 {
			ps.LastSequence = p.Batches[len(p.Batches)-1].LastSeq
		}
		out = append(out, ps)
	}
	slices.SortFunc(out, func(a, b ProducerState) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// setProducers installs producer and transaction state read from a
// checkpoint or snapshot.
func (s *StateMachine) setProducers(ps *producers, aborted []AbortedTxn) {
	if ps == nil {
		ps = newProducers()
	}
	s.prodMu.Lock()
	s.producers = ps
	s.txns.reset(aborted, ps.firstUnstable())
	s.prodMu.Unlock()
}

package txn

import (
	"context"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/longboat/longboat/internal/group"
)

// current reads a transactional id's record for a request of its producer
// that starts or extends a transaction, and answers the request's error
// code. The request writes the record it returns, if it changes it, then
// calls after and answers its code: a previous transaction of the
// producer still completing is waited for there. Where markers are
// applied once (completion.seq) the new transaction's record is written
// while they are in flight, holding the previous one as Prev; otherwise
// it waits for them first (afterPrepared) and takes over their last write.
func (c *Coordinator) current(ctx context.Context, s shard, txnID string, pid int64, epoch int16) (group.TxnRecord, func() int16, int16) {
	rec, found := s.sm.Txn(txnID)
	if found && rec.ProducerID == pid && rec.Epoch == epoch && prepared(rec.State) && c.succeed(s, rec) {
		next := rec.Clone()
		next.Prev = &group.TxnPrev{Commit: rec.State == group.TxnPrepareCommit, Epoch: rec.Epoch,
			Partitions: next.Partitions, Groups: next.Groups, Version: rec.Version}
		next.State, next.Partitions, next.Groups, next.StartMs = group.TxnOngoing, map[string][]int32{}, nil, 0
		return next, func() int16 { return c.awaitPrev(ctx, s, next) }, 0
	}
	if found && rec.ProducerID == pid && rec.Epoch == epoch && prepared(rec.State) {
		next, release, code := c.afterPrepared(ctx, s, rec)
		after := func() int16 { release(); return 0 }
		if code != 0 || prepared(next.State) {
			return next, after, code
		}
		rec = next
	}
	code := checkProducer(rec, found, pid, epoch)
	return rec, func() int16 { return c.awaitPrev(ctx, s, rec) }, code
}

// succeed tells whether the next transaction may be written over a
// prepared record now, its markers still in flight, and claims the
// record's last write from the completion if so: the markers carry their
// Seq (completion.seq) and the completion has not yet chosen to write
// Complete* itself (then the request waits for that, as without overlap).
func (c *Coordinator) succeed(s shard, rec group.TxnRecord) bool {
	comp := c.complete(s, rec)
	c.mu.Lock()
	defer c.mu.Unlock()
	if !comp.seq || comp.version != rec.Version || comp.decided {
		return false
	}
	comp.successor = true
	return true
}

// prepared tells whether a state is PrepareCommit or PrepareAbort.
func prepared(state string) bool {
	return state == group.TxnPrepareCommit || state == group.TxnPrepareAbort
}

// begin turns a record into an ongoing transaction, keeping one that is.
func begin(rec group.TxnRecord) group.TxnRecord {
	if rec.State != group.TxnOngoing {
		rec.State, rec.Partitions, rec.Groups, rec.StartMs = group.TxnOngoing, nil, nil, 0
	}
	if rec.Partitions == nil {
		rec.Partitions = map[string][]int32{}
	}
	return rec
}

// AddOffsets adds a consumer group to a producer's transaction: its
// TxnOffsetCommits become visible when the transaction commits.
func (c *Coordinator) AddOffsets(ctx context.Context, txnID string, pid int64, epoch int16, groupID string) int16 {
	if groupID == "" {
		return kerr.InvalidGroupID.Code
	}
	unlock := c.lock(txnID)
	defer unlock()
	s, code := c.load(ctx, txnID)
	if code != 0 {
		return code
	}
	rec, after, code := c.current(ctx, s, txnID, pid, epoch)
	if code != 0 {
		after()
		return code
	}
	rec = begin(rec)
	if !rec.HasGroup(groupID) || rec.StartMs == 0 {
		if !rec.HasGroup(groupID) {
			rec.Groups = append(rec.Groups, groupID)
			slices.Sort(rec.Groups)
		}
		if rec.StartMs == 0 {
			rec.StartMs = time.Now().UnixMilli()
		}
		if rec, code = c.putCode(ctx, s, rec); code != 0 {
			after()
			return code
		}
	}
	return after()
}

// EndTxn commits or aborts a producer's transaction: it answers once
// PrepareCommit or PrepareAbort is durable; the markers are written after. A retried EndTxn of a transaction already ended the same way
// succeeds; ending one that is not ongoing, or the other way, is
// INVALID_TXN_STATE.
func (c *Coordinator) EndTxn(ctx context.Context, txnID string, pid int64, epoch int16, commit bool) int16 {
	unlock := c.lock(txnID)
	defer unlock()
	s, code := c.load(ctx, txnID)
	if code != 0 {
		return code
	}
	rec, found := s.sm.Txn(txnID)
	switch {
	case !found || rec.ProducerID != pid:
		code = kerr.InvalidProducerIDMapping.Code
	case epoch != rec.Epoch:
		code = kerr.ProducerFenced.Code
	case rec.State == group.TxnOngoing:
		// Answered once the outcome is durable, as Kafka does: the
		// markers follow, and the producer's next transaction waits
		// for them (current). The transaction before must be written
		// first: its Prev goes with this write.
		if code = c.awaitPrev(ctx, s, rec); code == 0 {
			_, code = c.prepareEnd(ctx, s, rec, commit, false)
		}
	case rec.State == group.TxnCompleteCommit && commit, rec.State == group.TxnCompleteAbort && !commit:
		code = 0
	case rec.State == group.TxnPrepareCommit && commit, rec.State == group.TxnPrepareAbort && !commit:
		c.complete(s, rec)
		code = kerr.ConcurrentTransactions.Code
	default:
		code = kerr.InvalidTxnState.Code
	}
	return code
}

// VerifyOffsets tells a group coordinator whether a TxnOffsetCommit
// belongs to an ongoing transaction of the producer that added the group.
// It reads the transaction's shard from this broker's replica after a
// ReadIndex (group shards have up to three replicas: every broker of a
// cluster of three holds them all); a broker without a replica cannot
// check and accepts, as Kafka before KIP-890's verification did.
func (c *Coordinator) VerifyOffsets(ctx context.Context, txnID string, pid int64, epoch int16, groupID string) int16 {
	id, ok := c.node.GroupShardFor(txnID)
	if !ok {
		return kerr.CoordinatorNotAvailable.Code
	}
	sm, ok := c.node.GroupStateMachine(id)
	if !ok {
		return 0
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err := c.node.ReadIndex(rctx, id)
	cancel()
	if err != nil {
		return kerr.CoordinatorLoadInProgress.Code
	}
	rec, found := sm.Txn(txnID)
	switch {
	case !found || rec.ProducerID != pid:
		return kerr.InvalidProducerIDMapping.Code
	case epoch != rec.Epoch:
		return kerr.ProducerFenced.Code
	case rec.State != group.TxnOngoing || !rec.HasGroup(groupID):
		return kerr.InvalidTxnState.Code
	}
	return 0
}

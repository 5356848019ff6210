package txn

import (
	"context"
	"math"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/longboat/longboat/internal/group"
)

// InitProducerID gives a transactional id's producer its producer id and a
// new epoch, which fences every older producer of the id. The first time
// an id is seen it gets a producer id of its own, kept for as long as the
// epoch lasts. A transaction still ongoing is aborted first, at a bumped
// epoch. A producer that gives its producer id and epoch (KIP-360, v3+)
// must hold the current or the previous epoch. The returned code is
// PRODUCER_FENCED for a stale producer; the caller translates it for
// versions that predate it.
func (c *Coordinator) InitProducerID(ctx context.Context, txnID string, timeoutMs int32, pid int64, epoch int16) (int64, int16, int16) {
	if timeoutMs <= 0 || time.Duration(timeoutMs)*time.Millisecond > c.cfg.MaxTimeout {
		return -1, -1, kerr.InvalidTransactionTimeout.Code
	}
	unlock := c.lock(txnID)
	defer unlock()
	s, code := c.load(ctx, txnID)
	if code != 0 {
		return -1, -1, code
	}
	rec, found := s.sm.Txn(txnID)
	if !found {
		id, err := c.node.NextProducerID(ctx)
		if err != nil {
			c.log.Warn().Err(err).Str("transactional_id", txnID).Msg("allocate producer id")
			return -1, -1, kerr.CoordinatorNotAvailable.Code
		}
		rec = group.TxnRecord{ID: txnID, ProducerID: id, Epoch: 0, LastEpoch: -1, TimeoutMs: timeoutMs, State: group.TxnEmpty}
		rec, code = c.putCode(ctx, s, rec)
		return rec.ProducerID, rec.Epoch, code
	}
	if pid >= 0 && (pid != rec.ProducerID || (epoch != rec.Epoch && epoch != rec.LastEpoch)) {
		return -1, -1, kerr.ProducerFenced.Code
	}
	if rec.State == group.TxnPrepareCommit || rec.State == group.TxnPrepareAbort {
		c.complete(s, rec)
		return -1, -1, kerr.ConcurrentTransactions.Code
	}
	if code := c.awaitPrev(ctx, s, rec); code != 0 {
		return -1, -1, code
	}
	if rec.State == group.TxnOngoing {
		// Fence the old producer and abort its transaction at the new
		// epoch, then give the new producer the epoch after: its first
		// batch never shares an epoch with the abort markers.
		var code int16
		if rec, code = c.prepareEnd(ctx, s, rec, false, true); code != 0 {
			return -1, -1, code
		}
		if !c.awaitComplete(ctx, s, rec) {
			return -1, -1, kerr.ConcurrentTransactions.Code
		}
		if rec, found = s.sm.Txn(txnID); !found || rec.State != group.TxnCompleteAbort {
			return -1, -1, kerr.ConcurrentTransactions.Code
		}
	}
	if rec.Epoch >= math.MaxInt16-1 {
		// The epoch is exhausted: the id moves to a new producer id.
		id, err := c.node.NextProducerID(ctx)
		if err != nil {
			c.log.Warn().Err(err).Str("transactional_id", txnID).Msg("allocate producer id")
			return -1, -1, kerr.CoordinatorNotAvailable.Code
		}
		rec.ProducerID, rec.Epoch, rec.LastEpoch = id, 0, -1
	} else {
		rec.LastEpoch, rec.Epoch = rec.Epoch, rec.Epoch+1
	}
	rec.State, rec.TimeoutMs, rec.Partitions, rec.Groups, rec.StartMs, rec.Prev = group.TxnEmpty, timeoutMs, nil, nil, 0, nil
	rec, code = c.putCode(ctx, s, rec)
	if code != 0 {
		return -1, -1, code
	}
	c.log.Debug().Str("transactional_id", txnID).Int64("producer_id", rec.ProducerID).Int16("epoch", rec.Epoch).Msg("producer initialised")
	return rec.ProducerID, rec.Epoch, 0
}

package txn

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/longboat/longboat/internal/group"
)

// Describe returns a transactional id's record, or the code to answer:
// NOT_COORDINATOR elsewhere than its coordinator, TRANSACTIONAL_ID_NOT_FOUND
// for an id never initialised.
func (c *Coordinator) Describe(ctx context.Context, txnID string) (group.TxnRecord, int16) {
	s, code := c.load(ctx, txnID)
	if code != 0 {
		return group.TxnRecord{}, code
	}
	rec, ok := s.sm.Txn(txnID)
	if !ok {
		return group.TxnRecord{}, kerr.TransactionalIDNotFound.Code
	}
	return rec, 0
}

// List returns the records of every transactional id this broker
// coordinates, in the shards it leads, by id; the code is
// COORDINATOR_LOAD_IN_PROGRESS when a shard could not be caught up.
func (c *Coordinator) List(ctx context.Context) ([]group.TxnRecord, int16) {
	var (
		out  []group.TxnRecord
		code int16
	)
	for _, id := range c.node.GroupShardIDs() {
		if _, leader := c.node.IsLeader(id); !leader {
			continue
		}
		s, scode := c.loadShard(ctx, id)
		if scode == kerr.CoordinatorLoadInProgress.Code {
			code = scode
		}
		if scode != 0 {
			continue
		}
		out = append(out, s.sm.Txns()...)
	}
	return out, code
}

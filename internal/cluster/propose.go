package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lni/dragonboat/v4"
	"github.com/lni/dragonboat/v4/client"

	"github.com/longboat/longboat/internal/group"
	"github.com/longboat/longboat/internal/metrics"
	"github.com/longboat/longboat/internal/partition"
)

// requester makes asynchronous and synchronous Raft proposals and reads (a
// dragonboat NodeHost).
type requester interface {
	syncRequester
	Propose(session *client.Session, cmd []byte, timeout time.Duration) (*dragonboat.RequestState, error)
}

// shardProposer makes proposals and reads on partition and group shards;
// a partition proposal first wakes its shard if it may have quiesced.
type shardProposer struct {
	nh      requester
	touch   func(shardID uint64)
	metrics *metrics.Metrics
}

func (p *shardProposer) propose(shardID uint64, cmd []byte, timeout time.Duration) (*dragonboat.RequestState, error) {
	p.touch(shardID)
	return p.nh.Propose(p.nh.GetNoOPSession(shardID), cmd, timeout)
}

func (p *shardProposer) readIndex(ctx context.Context, shardID uint64) error {
	_, err := p.nh.SyncRead(ctx, shardID, nil)
	return err
}

func (p *shardProposer) advanceLogStart(ctx context.Context, shardID uint64, offset int64) (int64, int16, error) {
	start := time.Now()
	p.touch(shardID)
	res, err := p.nh.SyncPropose(ctx, p.nh.GetNoOPSession(shardID), partition.EncodeAdvanceStart(offset))
	if err != nil {
		return 0, 0, fmt.Errorf("advance log start of shard %d to %d: %w", shardID, offset, err)
	}
	p.metrics.ProposalDuration.WithLabelValues(metrics.GroupPartition).Observe(time.Since(start).Seconds())
	lso, code := partition.AdvanceResult(res)
	return lso, code, nil
}

// proposeGroupAsync starts a proposal to a group shard this broker leads
// and returns the wait for its result. Proposals started one after another
// are appended to the shard's log in that order.
func (p *shardProposer) proposeGroupAsync(shard uint64, cmd []byte, timeout time.Duration) (func() error, error) {
	start := time.Now()
	rs, err := p.nh.Propose(p.nh.GetNoOPSession(shard), cmd, timeout)
	if err != nil {
		return nil, fmt.Errorf("propose to group shard %d: %w", shard, err)
	}
	return func() error {
		defer rs.Release()
		res := <-rs.ResultC()
		switch {
		case res.Completed():
			p.metrics.ProposalDuration.WithLabelValues("group").Observe(time.Since(start).Seconds())
			return group.CommandError(res.GetResult())
		case res.Timeout():
			return fmt.Errorf("propose to group shard %d: %w", shard, dragonboat.ErrTimeout)
		default:
			return fmt.Errorf("propose to group shard %d: not committed (dropped, aborted or the shard closed)", shard)
		}
	}, nil
}

func (p *shardProposer) proposeGroup(ctx context.Context, shard uint64, cmd []byte) error {
	if _, ok := ctx.Deadline(); !ok {
		// dragonboat needs a deadline; connection contexts have none.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
	}
	start := time.Now()
	for {
		res, err := p.nh.SyncPropose(ctx, p.nh.GetNoOPSession(shard), cmd)
		if err == nil {
			p.metrics.ProposalDuration.WithLabelValues("group").Observe(time.Since(start).Seconds())
			return group.CommandError(res)
		}
		if !errors.Is(err, dragonboat.ErrSystemBusy) || ctx.Err() != nil {
			return fmt.Errorf("propose to group shard %d: %w", shard, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

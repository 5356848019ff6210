package cluster

import (
	"context"
	"fmt"
	"time"

	"github.com/lni/dragonboat/v4"
	"github.com/lni/dragonboat/v4/client"
	sm "github.com/lni/dragonboat/v4/statemachine"

	"github.com/longboat/longboat/internal/meta"
	"github.com/longboat/longboat/internal/metrics"
)

// syncRequester makes synchronous Raft proposals and reads (a dragonboat
// NodeHost).
type syncRequester interface {
	SyncPropose(ctx context.Context, session *client.Session, cmd []byte) (sm.Result, error)
	SyncRead(ctx context.Context, shardID uint64, query interface{}) (interface{}, error)
	GetNoOPSession(shardID uint64) *client.Session
}

// ErrMetaRejected wraps a Kafka error code returned by the __meta state machine.
type ErrMetaRejected struct {
	Code    int16
	Message string
}

func (e *ErrMetaRejected) Error() string {
	return fmt.Sprintf("metadata: %s (code %d)", e.Message, e.Code)
}

// metaProposer commits commands to __meta and reads it linearizably.
type metaProposer struct {
	nh      syncRequester
	attempt time.Duration // one attempt of a command that may be applied twice
	metrics *metrics.Metrics
}

// propose commits a __meta command and returns its result data, or
// *ErrMetaRejected when the state machine refused it.
//
// A proposal made on a follower goes to the leader it knows of; when that
// leader has just died, dragonboat drops it without a word and it waits
// out its whole deadline (a client's InitProducerID sat 10 s behind a
// killed __meta leader). So a command that may be applied twice is
// proposed in attempts of one longest election timeout, by which time a
// dead leader has a successor; the others keep the caller's deadline.
func (p *metaProposer) propose(ctx context.Context, c meta.Command) ([]byte, error) {
	for {
		start := time.Now()
		actx, cancel := ctx, context.CancelFunc(func() {})
		if c.RetrySafe() {
			actx, cancel = context.WithTimeout(ctx, p.attempt)
		}
		res, err := p.nh.SyncPropose(actx, p.nh.GetNoOPSession(meta.ShardID), c.Encode())
		cancel()
		if err == nil {
			p.metrics.ProposalDuration.WithLabelValues(metrics.GroupMeta).Observe(time.Since(start).Seconds())
			if res.Value != meta.ErrNone {
				return nil, &ErrMetaRejected{Code: int16(res.Value), Message: string(res.Data)}
			}
			return res.Data, nil
		}
		if !dragonboat.IsTempError(err) || ctx.Err() != nil {
			return nil, fmt.Errorf("propose to __meta: %w", err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("propose to __meta: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// sync waits until this replica has applied everything __meta had
// committed when it was called (a ReadIndex).
func (p *metaProposer) sync(ctx context.Context) error {
	_, err := p.nh.SyncRead(ctx, meta.ShardID, nil)
	return err
}

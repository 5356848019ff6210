package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
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

// ErrNotMetaMember is a __meta read or write asked of a broker that no
// longer hosts a replica of __meta: its vote was taken (a voter that
// remove-broker drained) or it was removed from __meta's Raft group. Its
// applied view stands still from then on, so it cannot answer for the
// quorum: the caller must ask another broker.
var ErrNotMetaMember = errors.New("this broker is no longer a member of __meta's Raft group (removed from the cluster or its vote taken): ask another broker")

// notMember turns dragonboat's "shard not found" for __meta into
// ErrNotMetaMember: every broker starts its __meta replica before it serves,
// so the shard is missing here only once dragonboat stopped it on applying
// this replica's removal.
func notMember(err error) error {
	if errors.Is(err, dragonboat.ErrShardNotFound) {
		return ErrNotMetaMember
	}
	return err
}

// metaProposer commits commands to __meta and reads it linearizably.
type metaProposer struct {
	nh      syncRequester
	leaders leaderIDs     // __meta's leader as this replica knows it
	attempt time.Duration // one try of a proposal or a read: the longest election timeout
	metrics *metrics.Metrics
}

// metaLeaderCheck is how often an attempt checks whether __meta's leader
// changed under it.
const metaLeaderCheck = 20 * time.Millisecond

// propose commits a __meta command and returns its result data, or
// *ErrMetaRejected when the state machine refused it.
//
// A proposal made on a follower goes to the leader it knows of; when that
// leader has just died, dragonboat drops it without a word and it waits
// out its whole deadline (a client's InitProducerID sat 10 s behind a
// killed __meta leader). So a command that may be applied twice is
// proposed in attempts of one longest election timeout, by which time a
// dead leader has a successor; the others keep the caller's deadline. An
// attempt also ends as soon as this replica learns of another leader or
// term than the one it proposed under: a campaign on a dead peer elects
// one within ~0.5 s (campaign.go), and an InitProducerID made just after
// the kill would otherwise still wait out the whole attempt.
func (p *metaProposer) propose(ctx context.Context, c meta.Command) ([]byte, error) {
	for {
		start := time.Now()
		actx, cancel := ctx, context.CancelFunc(func() {})
		var moved *atomic.Bool
		if c.RetrySafe() {
			actx, cancel = context.WithTimeout(ctx, p.attempt)
			moved = p.endOnLeaderChange(actx, cancel)
		}
		res, err := p.nh.SyncPropose(actx, p.nh.GetNoOPSession(meta.ShardID), c.Encode())
		cancel()
		if err != nil && moved != nil && moved.Load() && ctx.Err() == nil {
			continue // the leader it went to is gone: propose again at once
		}
		if err == nil {
			p.metrics.ProposalDuration.WithLabelValues(metrics.GroupMeta).Observe(time.Since(start).Seconds())
			if res.Value != meta.ErrNone {
				return nil, &ErrMetaRejected{Code: int16(res.Value), Message: string(res.Data)}
			}
			return res.Data, nil
		}
		if !dragonboat.IsTempError(err) || ctx.Err() != nil {
			return nil, fmt.Errorf("propose to __meta: %w", notMember(err))
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("propose to __meta: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// endOnLeaderChange cancels an attempt once __meta's leader or term
// differs from what it is now, and tells whether it did.
func (p *metaProposer) endOnLeaderChange(ctx context.Context, cancel context.CancelFunc) *atomic.Bool {
	moved := &atomic.Bool{}
	if p.leaders == nil {
		return moved
	}
	leader, term, _, err := p.leaders.GetLeaderID(meta.ShardID)
	if err != nil {
		return moved
	}
	go func() {
		t := time.NewTicker(metaLeaderCheck)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if l, tm, _, err := p.leaders.GetLeaderID(meta.ShardID); err == nil && (l != leader || tm != term) {
				moved.Store(true)
				cancel()
				return
			}
		}
	}()
	return moved
}

// sync waits until this replica has applied everything __meta had
// committed when it was called (a ReadIndex). A follower's ReadIndex goes
// to the leader it knows of and is lost if that leader has died, so it is
// asked again as soon as another leader or term is known here: every
// Metadata request makes one, and each waited out its whole second while
// a killed broker's __meta leadership was taken over. A read can also be
// lost on its way with no leader change: a ListPartitionReassignments then
// waited out the client's whole 60 s. So each read is one attempt of a
// longest election timeout, asked again when it times out, until the
// caller's deadline: a ReadIndex is safe to repeat. A read dragonboat
// drops at once for want of a leader still fails at once, so that callers
// with a short deadline (a peer's identity check) hear of it in time.
func (p *metaProposer) sync(ctx context.Context) error {
	for {
		actx, cancel := context.WithTimeout(ctx, p.attempt)
		moved := p.endOnLeaderChange(actx, cancel)
		_, err := p.nh.SyncRead(actx, meta.ShardID, nil)
		cancel()
		if err != nil && ctx.Err() == nil && (moved.Load() || errors.Is(err, dragonboat.ErrTimeout)) {
			continue
		}
		return notMember(err)
	}
}

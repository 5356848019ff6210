package cluster

import (
	"context"
	"time"

	"github.com/longboat/longboat/internal/meta"
)

// placementProbeTimeout bounds one /livez round before a placement.
const placementProbeTimeout = 2 * time.Second

// placementStamp fills in how __meta is to place the shards a command
// creates: spread over every registered broker except those that do not
// answer /livez now. The state machine cannot probe (it must decide alike
// on every replica), so the proposer does and the command carries it.
type placementStamp struct {
	self  uint64
	meta  metaState
	peers prober
}

func (p placementStamp) stamp(ctx context.Context, c *meta.Command) {
	var slot **meta.Placement
	switch {
	case c.CreateTopic != nil:
		slot = &c.CreateTopic.Placement
	case c.CreatePartitions != nil:
		slot = &c.CreatePartitions.Placement
	case c.EnsureGroupShards != nil:
		slot = &c.EnsureGroupShards.Placement
	default:
		return
	}
	if *slot != nil {
		return
	}
	*slot = &meta.Placement{Spread: true, Exclude: p.down(ctx)}
}

// down lists the brokers that failed two /livez probes in a row: one
// missed answer on a loaded machine must not keep a live broker out of a
// placement (with three brokers and RF=3 the topic would be refused).
func (p placementStamp) down(ctx context.Context) []uint64 {
	suspects := p.meta.State()
	for attempt := 0; attempt < 2; attempt++ {
		pctx, cancel := context.WithTimeout(ctx, placementProbeTimeout)
		failed := p.peers.downPeers(pctx, p.self, suspects)
		cancel()
		if len(failed) == 0 || ctx.Err() != nil {
			return nil
		}
		again := &meta.State{Brokers: map[uint64]*meta.Broker{}}
		for id := range failed {
			again.Brokers[id] = suspects.Brokers[id]
		}
		suspects = again
	}
	return suspects.BrokerIDs()
}

// stamped wraps a proposer so that every command creating shards carries
// its placement.
func (p placementStamp) stamped(propose proposeMetaFunc) proposeMetaFunc {
	return func(ctx context.Context, c meta.Command) ([]byte, error) {
		p.stamp(ctx, &c)
		return propose(ctx, c)
	}
}

package cluster

import (
	"context"
	"errors"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/longboat/longboat/internal/meta"
)

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

// down lists the brokers that do not answer /livez, judged as the peer
// prober judges (prober.go): two refused connections in a row (the process
// is gone), or no answer for peerSlowDownAfter. One slow answer on a loaded
// machine must not keep a live broker out of a placement: with three
// brokers and RF=3 the topic would be refused.
func (p placementStamp) down(ctx context.Context) []uint64 {
	st := p.meta.State()
	var suspects, down []uint64
	for _, id := range st.BrokerIDs() {
		if id != p.self {
			suspects = append(suspects, id)
		}
	}
	refused := map[uint64]int{}
	giveUp := time.Now().Add(peerSlowDownAfter)
	for len(suspects) > 0 && ctx.Err() == nil {
		failed := p.probe(ctx, st, suspects)
		suspects = suspects[:0]
		for _, id := range sortedIDs(failed) {
			if errors.Is(failed[id], syscall.ECONNREFUSED) {
				if refused[id]++; refused[id] >= peerFailures {
					down = append(down, id)
					continue
				}
			}
			suspects = append(suspects, id)
		}
		if time.Now().After(giveUp) {
			down = append(down, suspects...)
			break
		}
		if len(suspects) > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(peerProbeInterval):
			}
		}
	}
	if ctx.Err() != nil {
		return nil // unknown: exclude nobody
	}
	slices.Sort(down)
	return down
}

// probe asks each broker's /livez at once and returns the failures.
func (p placementStamp) probe(ctx context.Context, st *meta.State, ids []uint64) map[uint64]error {
	var mu sync.Mutex
	var wg sync.WaitGroup
	failed := map[uint64]error{}
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.peers.check(ctx, st.Brokers[id], "/livez"); err != nil {
				mu.Lock()
				failed[id] = err
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return failed
}

// stamped wraps a proposer so that every command creating shards carries
// its placement.
func (p placementStamp) stamped(propose proposeMetaFunc) proposeMetaFunc {
	return func(ctx context.Context, c meta.Command) ([]byte, error) {
		p.stamp(ctx, &c)
		return propose(ctx, c)
	}
}

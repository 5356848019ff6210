package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The workload consumes through two groups, one per rebalance protocol: a
// classic group (JoinGroup/SyncGroup, franz-go's default) and a KIP-848
// consumer group (ConsumerGroupHeartbeat, the broker's uniform assignor).
// A group cannot mix the protocols while it has members, so each group has
// its own two members. Both are checked alike: commit-backwards and
// skip-past-commit per group, and every acknowledged record polled by each.

// consumerTag marks the processes of the KIP-848 group ("group848-1.2",
// "watcher848"); the classic group's have none ("group-1.2", "watcher").
const consumerTag = "848"

// groupOf is the tag of the group a process consumes or watches through.
func groupOf(process string) string {
	if strings.HasPrefix(process, "group"+consumerTag) || strings.HasPrefix(process, "watcher"+consumerTag) {
		return consumerTag
	}
	return ""
}

// groupWorkload is one group of the workload and its members' progress.
type groupWorkload struct {
	name string    // the group id
	tag  string    // "" or consumerTag
	opts []kgo.Opt // the protocol's client options
	mu   sync.Mutex
	next map[int32]int64 // next offset to read per partition, over its members
}

// groupWorkloads returns the classic group and a KIP-848 group on the same
// group shard, so that the group-leader nemesis bounces the coordinator of
// both.
func (r *runner) groupWorkloads() []*groupWorkload {
	return []*groupWorkload{
		{name: r.group, next: map[int32]int64{}},
		{name: r.sameShardGroup(r.group + "-" + consumerTag), tag: consumerTag, next: map[int32]int64{},
			opts: []kgo.Opt{kgo.ServerSideBalancer(), kgo.Balancers(kgo.CooperativeStickyBalancer())}},
	}
}

// sameShardGroup returns the first of base, base-1, base-2, ... that the
// brokers place on r.group's shard (one in GroupShards on average), or base
// if the brokers cannot tell.
func (r *runner) sameShardGroup(base string) string {
	want, err := coordinatorOf(r.b, r.group)
	if err != nil {
		r.logf("KIP-848 group %s: %v; its shard may differ from %s's", base, err, r.group)
		return base
	}
	for i := range 64 {
		name := base
		if i > 0 {
			name = fmt.Sprintf("%s-%d", base, i)
		}
		if c, err := coordinatorOf(r.b, name); err == nil && c.Shard == want.Shard {
			r.logf("KIP-848 group %s on group shard %d with %s", name, want.Shard, r.group)
			return name
		}
	}
	r.logf("no KIP-848 group name on shard %d found; using %s", want.Shard, base)
	return base
}

// start runs the group's two members until the drain target is reached
// (consumers counts them) and its committed-offsets watcher until
// watchCtx ends (watchers counts it).
func (g *groupWorkload) start(consumeCtx, watchCtx context.Context, r *runner, seeds []string, target *drainTarget, consumers, watchers *sync.WaitGroup) {
	for i := 1; i <= 2; i++ {
		consumers.Add(1)
		seed := uint64(i)
		if g.tag != "" {
			seed += 100 // lifetimes of their own
		}
		rng := rand.New(rand.NewPCG(r.cfg.Seed, seed))
		go func() {
			defer consumers.Done()
			runGroupConsumer(consumeCtx, r.h, &r.c, fmt.Sprintf("group%s-%d", g.tag, i), g.name, r.cfg.Topic, seeds, rng, target, g.next, &g.mu, g.opts...)
		}()
	}
	watchers.Add(1)
	go func() {
		defer watchers.Done()
		watchCommitted(watchCtx, r.h, "watcher"+g.tag, seeds, g.name, r.cfg.Topic, 500*time.Millisecond)
	}()
}

// drainTo makes every partition of end one the group must read.
func (g *groupWorkload) drainTo(end map[int32]int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for p := range end {
		if _, ok := g.next[p]; !ok {
			g.next[p] = 0
		}
	}
}

package cluster

import (
	"context"
	"time"

	"github.com/lni/dragonboat/v4/raftio"
	"github.com/rs/zerolog"

	"github.com/longboat/longboat/internal/meta"
)

// maxTransfersPerRound bounds how many leaderships move at once, so a
// returning broker does not cause an election storm.
const maxTransfersPerRound = 32

// leadership tells whether this broker leads a shard now, with the term.
type leadership interface {
	isLeader(shardID uint64) (term uint64, leader bool)
}

// leaderTransferer moves a shard's leadership (a dragonboat NodeHost).
type leaderTransferer interface {
	RequestLeaderTransfer(shardID uint64, target uint64) error
}

// startedShards is what the balancer needs of the replica registry.
type startedShards interface {
	partitionShards() []uint64
	firstLeadership(shardID uint64) bool
}

// peerChecker tells whether a broker's HTTP path answers 200.
type peerChecker interface {
	answers(ctx context.Context, b *meta.Broker, path string) bool
}

// takeOvers tells whether a replica is in sync enough to be handed the
// leadership of a partition led here, and whether a broker answers the
// polls (the ISR tracker).
type takeOvers interface {
	canTakeOver(shardID, replica uint64, proven bool) bool
	answering(broker uint64) bool
}

// balancer publishes this broker's partition leaderships through __meta
// (so brokers that do not host a shard can still name its leader) and
// hands leadership back to preferred replicas once they are healthy.
type balancer struct {
	self     uint64
	interval time.Duration // of the periodic balancing pass
	meta     metaState
	leaders  leadership
	nh       leaderTransferer
	propose  proposeMetaFunc
	replicas startedShards
	peers    peerChecker
	inSync   takeOvers
	changes  <-chan raftio.LeaderInfo
	// metaVoters lists __meta's voters (nil if unknown): a broker that
	// joined follows __meta without a vote and cannot take its lead.
	metaVoters func(ctx context.Context) []uint64
	// retryFresh is how long a new shard's transfer to its preferred
	// replica is given before it is asked again (0: defaultRetryFresh).
	retryFresh time.Duration
	log        zerolog.Logger
}

const (
	// defaultRetryFresh is retryFresh when not set.
	defaultRetryFresh = time.Second
	// freshHandOffFor bounds how long a new shard's leadership is pressed
	// on its preferred replica; after it the periodic pass moves it once
	// the preferred replica is seen in sync.
	freshHandOffFor = time.Minute
)

// handFresh runs one round of handing new shards to their preferred
// replicas.
func (b *balancer) handFresh(ctx context.Context, fresh *freshShards, now time.Time) {
	due := fresh.due(now, b.freshRetry())
	left := b.balanceLeaders(ctx, due, "/livez")
	fresh.asked(due, left, now)
	fresh.drop(now, func(shard uint64) bool {
		_, leader := b.leaders.isLeader(shard)
		return leader
	})
}

func (b *balancer) freshRetry() time.Duration {
	if b.retryFresh > 0 {
		return b.retryFresh
	}
	return defaultRetryFresh
}

// freshShards are the new shards whose first leadership this broker won
// and must hand to their preferred replica.
type freshShards struct {
	since map[uint64]time.Time // when this broker first led it
	last  map[uint64]time.Time // when a transfer was last asked for
}

func newFreshShards() *freshShards {
	return &freshShards{since: map[uint64]time.Time{}, last: map[uint64]time.Time{}}
}

func (f *freshShards) empty() bool { return len(f.since) == 0 }

func (f *freshShards) add(shard uint64, now time.Time) {
	if _, ok := f.since[shard]; !ok {
		f.since[shard] = now
	}
}

func (f *freshShards) forget(shard uint64) {
	delete(f.since, shard)
	delete(f.last, shard)
}

// due is the shards whose transfer was never asked for, or asked for at
// least retry ago: a transfer in progress is left to finish (dragonboat
// gives it an election timeout).
func (f *freshShards) due(now time.Time, retry time.Duration) map[uint64]bool {
	out := map[uint64]bool{}
	for shard := range f.since {
		if last, ok := f.last[shard]; !ok || now.Sub(last) >= retry {
			out[shard] = true
		}
	}
	return out
}

// asked records a round: the due shards it did not leave for the next.
func (f *freshShards) asked(due, left map[uint64]bool, now time.Time) {
	for shard := range due {
		if !left[shard] {
			f.last[shard] = now
		}
	}
}

// drop forgets the shards no longer led here (the preferred replica took
// over, or another broker won an election and hands it on itself) and
// those pressed for freshHandOffFor.
func (f *freshShards) drop(now time.Time, ledHere func(uint64) bool) {
	for shard, since := range f.since {
		if !ledHere(shard) || now.Sub(since) > freshHandOffFor {
			f.forget(shard)
		}
	}
}

func (b *balancer) run(ctx context.Context) {
	report := time.NewTicker(5 * time.Second)
	defer report.Stop()
	balance := time.NewTicker(b.interval)
	defer balance.Stop()
	pending := map[uint64]bool{}
	flush := time.NewTimer(time.Hour)
	defer flush.Stop()
	fresh := newFreshShards()
	freshTimer := time.NewTimer(time.Hour)
	defer freshTimer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case info := <-b.changes:
			startFlush, startFresh := b.leaderChanged(info, pending, fresh)
			if startFlush {
				flush.Reset(50 * time.Millisecond)
			}
			if startFresh {
				freshTimer.Reset(100 * time.Millisecond)
			}
		case <-flush.C:
			b.reportLeaders(ctx, pending)
			pending = map[uint64]bool{}
		case <-freshTimer.C:
			// The first election of a new shard is won by whichever replica
			// times out first; hand it to the preferred replica at once so
			// clients of a new topic do not meet a leader that moves later.
			// A round moves at most maxTransfersPerRound; the rest of a big
			// new topic's shards go in the next rounds, 100 ms apart, not
			// 32 every balance interval (a thousand partitions would still
			// be moving half a minute later). A transfer that did not take
			// (the preferred replica still catching up on a loaded machine,
			// or its broker not answering yet) is asked again, so that
			// creation ends with every shard led by its preferred replica:
			// left to the periodic pass, 1,000 new partitions were still
			// moving a minute after they were created.
			b.handFresh(ctx, fresh, time.Now())
			if !fresh.empty() {
				freshTimer.Reset(100 * time.Millisecond)
			}
		case <-report.C:
			all := map[uint64]bool{}
			for _, id := range b.replicas.partitionShards() {
				all[id] = true
			}
			// Group shards too: in a cluster larger than their replication
			// factor, the brokers without a replica name a group's
			// coordinator from this report.
			for _, p := range b.meta.State().GroupShardsOf(b.self) {
				all[p.ShardID] = true
			}
			b.reportLeaders(ctx, all)
		case <-balance.C:
			b.balanceLeaders(ctx, nil, "/readyz")
		}
	}
}

// leaderChanged notes a leadership change of a shard on this broker: a
// shard led here is reported to __meta (pending), a new shard's first
// leadership won here goes to fresh, and a shard led elsewhere now leaves
// fresh. It says which timers to start (those that were idle).
func (b *balancer) leaderChanged(info raftio.LeaderInfo, pending map[uint64]bool, fresh *freshShards) (startFlush, startFresh bool) {
	if info.LeaderID != 0 && info.LeaderID != b.self {
		// Handed on: pressing it later, were this broker to lead it again,
		// would undo a leadership an operator or ElectLeaders chose since.
		fresh.forget(info.ShardID)
	}
	if info.ShardID == meta.ShardID || info.LeaderID != b.self {
		return false, false
	}
	startFlush = len(pending) == 0
	pending[info.ShardID] = true
	if b.replicas.firstLeadership(info.ShardID) && preferredReplica(b.meta.State(), info.ShardID) != b.self {
		startFresh = fresh.empty()
		fresh.add(info.ShardID, time.Now())
	}
	return startFlush, startFresh
}

// reportLeaders proposes SetLeader for the given shards this broker leads
// whose __meta record is stale.
func (b *balancer) reportLeaders(ctx context.Context, shards map[uint64]bool) {
	st := b.meta.State()
	for id := range shards {
		term, leader := b.leaders.isLeader(id)
		if !leader {
			continue
		}
		if cur, ok := st.Leaders[id]; ok && cur.Replica == b.self && cur.Term == term {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := b.propose(pctx, meta.Command{SetLeader: &meta.SetLeader{ShardID: id, Leader: meta.Leader{Replica: b.self, Term: term}}})
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			b.log.Debug().Err(err).Uint64("shard", id).Msg("report leader to __meta; the periodic pass retries")
		}
	}
}

// balanceLeaders transfers leadership of shards this broker leads (only
// those in only, when given) to their preferred replica (Replicas[0]) when
// that broker answers 200 on check: /readyz for the periodic pass, so a
// returning broker first catches up; /livez for brand-new shards, whose
// replicas are all empty. The periodic pass also moves a partition only to
// a replica seen in sync during this leadership, so a returning broker does
// not lead before it has caught up. It returns the shards of only it did not
// get to because the round was full.
func (b *balancer) balanceLeaders(ctx context.Context, only map[uint64]bool, check string) map[uint64]bool {
	st := b.meta.State()
	healthy := map[uint64]bool{}
	moved := 0
	left := map[uint64]bool{}
	groups := groupShardIDs(st)
	for _, p := range st.ReplicaSetsOf(b.self) {
		if only != nil && !only[p.ShardID] {
			continue
		}
		if moved >= maxTransfersPerRound {
			if only != nil {
				left[p.ShardID] = true
				continue
			}
			return left
		}
		preferred := p.Replicas[0]
		if preferred == b.self {
			continue
		}
		if _, leader := b.leaders.isLeader(p.ShardID); !leader {
			continue
		}
		// A new shard's first leadership (only: the fresh hand-off) needs
		// no proof that the preferred replica caught up, but it must not
		// be one this leadership has seen fall behind: a preferred broker
		// that stopped right after creation is handed its partitions only
		// once in sync again.
		if !groups[p.ShardID] && !b.inSync.canTakeOver(p.ShardID, preferred, only == nil) {
			continue
		}
		ok, seen := healthy[preferred]
		if !seen {
			ok = b.peers.answers(ctx, st.Brokers[preferred], check)
			healthy[preferred] = ok
		}
		if !ok {
			continue
		}
		if err := b.nh.RequestLeaderTransfer(p.ShardID, preferred); err != nil {
			b.log.Debug().Err(err).Uint64("shard", p.ShardID).Msg("leader transfer")
			continue
		}
		moved++
		b.log.Info().Uint64("shard", p.ShardID).Uint64("to", preferred).Msg("moving leadership back to the preferred replica")
	}
	return left
}

// handOff moves every leadership this broker holds to another replica,
// until it holds none or ctx ends. A partition goes only to an in-sync
// replica, one seen caught up first; one with none stays until the stop,
// when Raft elects among the others.
func (b *balancer) handOff(ctx context.Context) {
	st := b.meta.State()
	var voters []uint64
	if b.metaVoters != nil {
		voters = b.metaVoters(ctx)
	}
	if voters == nil {
		voters = st.BrokerIDs()
	}
	shards := map[uint64][]uint64{meta.ShardID: voters}
	for _, p := range st.ReplicaSetsOf(b.self) {
		shards[p.ShardID] = p.Replicas
	}
	partitions := map[uint64]bool{}
	for _, ref := range st.PartitionsOf(b.self) {
		partitions[ref.Partition.ShardID] = true
	}
	for ctx.Err() == nil {
		held := 0
		for shard, replicas := range shards {
			if _, leader := b.leaders.isLeader(shard); !leader {
				continue
			}
			held++
			if r, ok := b.handOffTarget(shard, replicas, partitions[shard]); ok {
				_ = b.nh.RequestLeaderTransfer(shard, r)
			}
		}
		if held == 0 {
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// handOffTarget picks the replica to hand a shard to: for a partition an
// in-sync one, preferring one seen caught up in this leadership; for
// __meta and group shards (not tracked) the first other replica whose
// broker answers. A transfer to a stopped broker never takes, and the
// graceful stop would wait out its whole hand-off time asking again.
func (b *balancer) handOffTarget(shard uint64, replicas []uint64, partition bool) (uint64, bool) {
	for _, proven := range []bool{true, false} {
		for _, r := range replicas {
			if r == b.self {
				continue
			}
			if partition && b.inSync.canTakeOver(shard, r, proven) || !partition && b.inSync.answering(r) {
				return r, true
			}
		}
	}
	return 0, false
}

// groupShardIDs is the set of the consumer-group shards.
func groupShardIDs(st *meta.State) map[uint64]bool {
	out := make(map[uint64]bool, len(st.GroupShards))
	for _, p := range st.GroupShards {
		out[p.ShardID] = true
	}
	return out
}

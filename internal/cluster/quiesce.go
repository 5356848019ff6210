package cluster

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lni/dragonboat/v4"
	"github.com/rs/zerolog"

	"github.com/longboat/longboat/internal/config"
	"github.com/longboat/longboat/internal/meta"
)

// Idle partition shards quiesce (dragonboat Config.Quiesce): after ten
// election timeouts without anything but heartbeats, a replica stops
// ticking and its leader stops heartbeating, which is what makes a
// thousand idle partitions cheap. Two things dragonboat leaves to us:
//
//   - A quiesced leader's proposal does reach its followers (their answers
//     wake it), but a leader that can no longer hear them stays quiesced,
//     never ticks and so never runs CheckQuorum to step down; a produce
//     after a quiet spell therefore first wakes the shard (waker.touch).
//   - Quiesced followers expect no heartbeats, so they do not notice that
//     their leader died, was paused or was cut off: no election would ever
//     start. peerWatch asks every other broker's /livez, at the HTTP address
//     it advertises, and opens a connection to its Raft address (a firewall
//     may cut the Raft port alone); when either fails (prober.go says for
//     how long), this broker wakes its replicas of the shards that broker
//     leads, whose followers then find the election timeout long past and
//     elect a new leader at once, and the shards it leads itself, so that
//     CheckQuorum can depose it if it is the one cut off. When the broker
//     answers again, the shards this broker leads are woken so their
//     heartbeats tell a returning former leader about the newer term.
//
// One more case was seen with 1,000 partitions on an overloaded machine:
// a leader lost its quorum check (heartbeat answers came late), stepped
// down, and its followers, which had heard from it a moment earlier,
// silently dropped its pre-votes and then quiesced still naming it leader;
// it quiesced too, leaderless, and nothing would ever wake the shard. So a
// replica here that has had no leader for longer than any election takes
// (leaderlessWakeAfter) is woken: it then campaigns, and its pre-vote
// wakes the others. Not sooner: waking a replica while an election is
// still running (slow on a loaded machine) started a competing one and
// cost a term.
//
// A wake is a ReadIndex whose result nobody waits for: harmless to a shard
// that was awake, so a wrong suspicion costs some ticking, not safety.

const (
	// peerProbeInterval is how often each other broker's /livez is asked.
	peerProbeInterval = 200 * time.Millisecond
	// wakeTimeout bounds the waking ReadIndex; nobody waits for it.
	wakeTimeout = 5 * time.Second
	// leaderlessCheckRounds: every this many probe rounds (1 s), replicas
	// without a leader are looked for.
	leaderlessCheckRounds = 5
)

// leaderlessWakeAfter is longer than the longest election timeout (twice
// the configured one) plus a check interval.
func leaderlessWakeAfter(cfg *config.Config) time.Duration {
	return 2*cfg.ElectionTimeout() + time.Second
}

// quietAfter is how long a shard this broker leads may go without a
// proposal before a new one first wakes it: a quarter of dragonboat's
// quiesce threshold (ten of the longest election timeouts, which are
// twice the configured one), so a shard that may have quiesced is always
// woken and a busy one never pays for it.
func quietAfter(cfg *config.Config) time.Duration {
	return cfg.ElectionTimeout() * 10 / 2
}

// readIndexer starts a ReadIndex (a dragonboat NodeHost).
type readIndexer interface {
	ReadIndex(shardID uint64, timeout time.Duration) (*dragonboat.RequestState, error)
}

// waker takes partition shards out of quiesce: before a proposal to a
// shard quiet long enough to have quiesced, and when peerWatch asks.
type waker struct {
	enabled    bool // partition shards quiesce at all
	quietAfter time.Duration
	nh         readIndexer
	trail      *electionTrail
	log        zerolog.Logger

	mu sync.RWMutex
	// lastProposal is when this broker last proposed to each partition
	// shard it runs (Unix nanoseconds).
	lastProposal map[uint64]*atomic.Int64
}

// track starts timing proposals to a partition shard started here.
func (w *waker) track(shardID uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.lastProposal[shardID] == nil {
		// Zero: the first proposal wakes the shard, which may have
		// quiesced before this broker ever proposed to it.
		w.lastProposal[shardID] = new(atomic.Int64)
	}
}

// forget stops timing a partition shard deleted here.
func (w *waker) forget(shardID uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.lastProposal, shardID)
	w.trail.forget(shardID)
}

// touch records a proposal on a partition shard and wakes the shard first
// if it was quiet long enough to have quiesced.
func (w *waker) touch(shardID uint64) {
	if !w.enabled {
		return
	}
	w.mu.RLock()
	last := w.lastProposal[shardID]
	w.mu.RUnlock()
	if last == nil {
		return
	}
	now := time.Now().UnixNano()
	if prev := last.Swap(now); time.Duration(now-prev) >= w.quietAfter {
		w.wake(shardID, "a proposal after a quiet spell")
	}
}

// wake takes a partition shard out of quiesce on this replica; why is
// logged with a leadership change that follows.
func (w *waker) wake(shardID uint64, why string) {
	w.trail.woke(shardID, why)
	if _, err := w.nh.ReadIndex(shardID, wakeTimeout); err != nil {
		w.log.Debug().Err(err).Uint64("shard", shardID).Msg("wake quiesced shard")
	}
}

// startedPartitions tells which partition shards run here.
type startedPartitions interface {
	isStarted(shardID uint64) bool
	partitionShards() []uint64
}

// shardWaker wakes a partition shard.
type shardWaker interface {
	wake(shardID uint64, why string)
}

// peerWatch wakes shards when another broker stops or starts answering,
// and shards left without a leader (see the comment at the top of this
// file).
type peerWatch struct {
	self uint64
	// leaderlessWakeAfter is how long a replica here may go without a
	// leader before it is woken: longer than an election takes.
	leaderlessWakeAfter time.Duration
	meta                metaState
	live                *peerLiveness
	// quiesce: partition shards quiesce, so they are woken here.
	quiesce  bool
	waker    shardWaker
	nh       leaderIDs
	replicas startedPartitions
	// campaign starts elections at once for the partitions a peer whose
	// process is gone led (campaign.go); nil when that is turned off.
	campaign *campaigner
	log      zerolog.Logger
}

func (w *peerWatch) run(ctx context.Context) {
	leaderless := map[uint64]time.Time{}
	t := time.NewTicker(peerProbeInterval)
	defer t.Stop()
	// fallbacks fires when a fallback campaign is due, not at the next
	// probe round: up to a round later would add to the outage.
	fallbacks := time.NewTimer(time.Hour)
	fallbacks.Stop()
	defer fallbacks.Stop()
	for round := 0; ; {
		select {
		case <-ctx.Done():
			return
		case <-fallbacks.C:
			w.followUp(fallbacks)
			continue
		case <-t.C:
		}
		round++
		if w.quiesce && round%leaderlessCheckRounds == 0 {
			leaderless = w.wakeLeaderless(leaderless)
		}
		st := w.meta.State()
		w.live.round(ctx, st, func(id uint64, down bool, why error) {
			if down {
				w.log.Warn().Uint64("broker", id).Err(why).Msg("peer unreachable; waking the partitions it leads or shares with this broker's leaderships")
			} else {
				w.log.Info().Uint64("broker", id).Msg("peer answers again; waking the partitions it shares with this broker's leaderships")
			}
			if w.quiesce {
				w.wakeShardsWith(st, id, down)
			}
			if w.campaign != nil && down && processGone(why) {
				n := w.campaign.campaign(ctx, st, id, func(b uint64) bool { return w.live.down[b] })
				w.log.Info().Uint64("broker", id).Int("shards", n).Msg("peer's process is gone; campaigning for the shards it led where this broker is first in replica order")
			}
		})
		if w.campaign != nil && len(w.campaign.pending) > 0 {
			w.followUp(fallbacks)
		}
	}
}

// followUp starts the fallback campaigns that are due and sets timer to
// the next one.
func (w *peerWatch) followUp(timer *time.Timer) {
	if n := w.campaign.followUp(time.Now(), func(b uint64) bool { return w.live.down[b] }); n > 0 {
		w.log.Info().Int("shards", n).Msg("partitions of a gone peer still without a leader; this broker, next in replica order, campaigns")
	}
	if due, ok := w.campaign.nextDue(); ok {
		timer.Reset(time.Until(due))
	}
}

// wakeShardsWith wakes this broker's replicas of partition shards that
// broker peer is a member of: those this broker leads, and, when the peer
// is down, those the peer leads (a follower is never woken under a live
// leader: finding its election timeout long past, it would start an
// election the leader did not need).
func (w *peerWatch) wakeShardsWith(st *meta.State, peer uint64, peerDown bool) {
	why := fmt.Sprintf("broker %d answers again", peer)
	if peerDown {
		why = fmt.Sprintf("broker %d does not answer", peer)
	}
	woken := 0
	for _, ref := range st.PartitionsOf(w.self) {
		p := ref.Partition
		member := false
		for _, r := range p.Replicas {
			member = member || r == peer
		}
		if !member || !w.replicas.isStarted(p.ShardID) {
			continue
		}
		leader, _, valid, err := w.nh.GetLeaderID(p.ShardID)
		if err != nil || !valid {
			continue
		}
		if leader == w.self || (peerDown && leader == peer) {
			w.waker.wake(p.ShardID, why)
			woken++
		}
	}
	w.log.Info().Uint64("broker", peer).Int("shards", woken).Msg("woke partition shards")
}

// wakeLeaderless wakes the partition replicas here that have had no
// leader since a check at least leaderlessWakeAfter ago (since is when each
// was first seen without one); it returns the replicas without a leader
// now, with that time.
func (w *peerWatch) wakeLeaderless(since map[uint64]time.Time) map[uint64]time.Time {
	now := time.Now()
	out := map[uint64]time.Time{}
	for _, shard := range w.replicas.partitionShards() {
		leader, _, valid, err := w.nh.GetLeaderID(shard)
		if err != nil || (valid && leader != 0) {
			continue
		}
		first, seen := since[shard]
		if !seen {
			first = now
		}
		out[shard] = first
		if now.Sub(first) >= w.leaderlessWakeAfter {
			// Debug: a new topic's replicas start here before their first
			// election, so on a loaded machine this is common and harmless.
			w.log.Debug().Uint64("shard", shard).Dur("leaderless", now.Sub(first)).Msg("partition replica without a leader; waking it")
			w.waker.wake(shard, "no leader for "+now.Sub(first).Round(time.Second).String())
			out[shard] = now // the next wake only after another full wait
		}
	}
	return out
}

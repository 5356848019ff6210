package cluster

import (
	"context"
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
//     start. peerWatch asks every other broker's /livez; when one stops
//     answering, this broker wakes its replicas of the shards that broker
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
// replica here that has no leader in two checks a second apart is woken:
// it then campaigns, and its pre-vote wakes the others.
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

// quietAfter is how long a shard this broker leads may go without a
// proposal before a new one first wakes it: half of dragonboat's quiesce
// threshold (ten election timeouts), so a shard that may have quiesced is
// always woken and a busy one never pays for it.
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
		w.wake(shardID)
	}
}

// wake takes a partition shard out of quiesce on this replica.
func (w *waker) wake(shardID uint64) {
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
	wake(shardID uint64)
}

// peerWatch wakes shards when another broker stops or starts answering,
// and shards left without a leader (see the comment at the top of this
// file).
type peerWatch struct {
	self     uint64
	meta     metaState
	live     *peerLiveness
	waker    shardWaker
	nh       leaderIDs
	replicas startedPartitions
	log      zerolog.Logger
}

func (w *peerWatch) run(ctx context.Context) {
	leaderless := map[uint64]bool{}
	t := time.NewTicker(peerProbeInterval)
	defer t.Stop()
	for round := 1; ; round++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if round%leaderlessCheckRounds == 0 {
			leaderless = w.wakeLeaderless(leaderless)
		}
		st := w.meta.State()
		w.live.round(ctx, st, func(id uint64, down bool) {
			if down {
				w.log.Warn().Uint64("broker", id).Msg("peer does not answer; waking the partitions it leads or shares with this broker's leaderships")
			} else {
				w.log.Info().Uint64("broker", id).Msg("peer answers again; waking the partitions it shares with this broker's leaderships")
			}
			w.wakeShardsWith(st, id, down)
		})
	}
}

// wakeShardsWith wakes this broker's replicas of partition shards that
// broker peer is a member of: those this broker leads, and, when the peer
// is down, those the peer leads (a follower is never woken under a live
// leader: finding its election timeout long past, it would start an
// election the leader did not need).
func (w *peerWatch) wakeShardsWith(st *meta.State, peer uint64, peerDown bool) {
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
			w.waker.wake(p.ShardID)
			woken++
		}
	}
	w.log.Info().Uint64("broker", peer).Int("shards", woken).Msg("woke partition shards")
}

// wakeLeaderless wakes the partition replicas here that had no leader at
// the previous check and still have none; it returns those without one now.
func (w *peerWatch) wakeLeaderless(before map[uint64]bool) map[uint64]bool {
	now := map[uint64]bool{}
	for _, shard := range w.replicas.partitionShards() {
		leader, _, valid, err := w.nh.GetLeaderID(shard)
		if err != nil || (valid && leader != 0) {
			continue
		}
		now[shard] = true
		if before[shard] {
			// Debug: a new topic's replicas start here before their first
			// election, so on a loaded machine this is common and harmless.
			w.log.Debug().Uint64("shard", shard).Msg("partition replica without a leader for a second; waking it")
			w.waker.wake(shard)
		}
	}
	return now
}

package cluster

import (
	"sync"
	"time"

	"github.com/lni/dragonboat/v4/raftio"
	"github.com/rs/zerolog"

	"github.com/longboat/longboat/internal/meta"
)

// A steady cluster has no leadership changes, so each one this broker sees
// on a partition shard is logged with what this broker knows of its cause:
// a transfer it asked for, a wake it made (and why), or neither, which on
// an idle shard means an election nobody asked for. Every replica logs its
// own view; the old leader's broker names the transfers it requested.

// causeWindow is how long after a wake or a transfer request a leadership
// change is put down to it: an election timeout is at most twice the
// configured one, and an overloaded machine delays ticks.
func causeWindow(electionTimeout time.Duration) time.Duration {
	return 4*electionTimeout + time.Second
}

// shardTrail is what this broker saw of one partition shard's leaders.
type shardTrail struct {
	leader, term uint64
	since        time.Time // when leader/term were first seen
	changes      int       // leaderships after the first seen here
	lostAt       time.Time // when this replica last lost its leader
	wokeAt       time.Time
	wokeWhy      string
	transferAt   time.Time
	transferTo   uint64
}

// electionTrail logs every partition leadership change with its cause.
type electionTrail struct {
	window time.Duration
	// preferred is a shard's preferred replica (0 when unknown), where the
	// balancer of the leader's broker moves it back.
	preferred func(shardID uint64) uint64
	log       zerolog.Logger

	mu     sync.Mutex
	shards map[uint64]*shardTrail
}

func newElectionTrail(electionTimeout time.Duration, preferred func(uint64) uint64, log zerolog.Logger) *electionTrail {
	return &electionTrail{window: causeWindow(electionTimeout), preferred: preferred, log: log, shards: map[uint64]*shardTrail{}}
}

func (t *electionTrail) shard(id uint64) *shardTrail {
	s := t.shards[id]
	if s == nil {
		s = &shardTrail{}
		t.shards[id] = s
	}
	return s
}

// woke records that this broker took a shard's replica out of quiesce.
func (t *electionTrail) woke(shardID uint64, why string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.shard(shardID)
	s.wokeAt, s.wokeWhy = time.Now(), why
}

// transferring records a leader transfer this broker asked for.
func (t *electionTrail) transferring(shardID, to uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.shard(shardID)
	s.transferAt, s.transferTo = time.Now(), to
}

// forget drops a deleted shard.
func (t *electionTrail) forget(shardID uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.shards, shardID)
}

// observe takes a dragonboat leader update of a partition or group shard
// and tells whether it names another leader or term than this replica
// knew (the first one it hears of included); it runs on a dragonboat
// goroutine, so it only logs.
func (t *electionTrail) observe(info raftio.LeaderInfo) (changed bool) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.shard(info.ShardID)
	if info.LeaderID == 0 {
		s.lostAt = now
		return false
	}
	lost := s.lostAt
	s.lostAt = time.Time{}
	if info.LeaderID == s.leader && info.Term == s.term {
		if !lost.IsZero() {
			// dragonboat reports this as a leader update (and it is counted
			// as a leadership change): the replica campaigned in vain.
			t.log.Warn().Uint64("shard", info.ShardID).Uint64("leader", info.LeaderID).Uint64("term", info.Term).
				Dur("without_leader", now.Sub(lost)).Bool("woken_here_recently", now.Sub(s.wokeAt) < t.window).
				Msg("partition replica lost its leader and found the same one again: it heard no heartbeat for an election timeout and pre-voted in vain")
		}
		return false
	}
	prevLeader, prevTerm, held := s.leader, s.term, now.Sub(s.since)
	s.leader, s.term, s.since = info.LeaderID, info.Term, now
	if prevLeader == 0 {
		return true // the first leader this replica hears of
	}
	s.changes++
	ev, cause := t.log.Info(), ""
	preferred := t.preferred(info.ShardID)
	switch {
	case s.transferTo == info.LeaderID && now.Sub(s.transferAt) < t.window:
		cause = "transfer requested by this broker"
	case now.Sub(s.wokeAt) < t.window:
		ev, cause = t.log.Warn(), "election after this broker woke its replica: "+s.wokeWhy
	case info.LeaderID == preferred && prevLeader != preferred:
		cause = "back to the preferred replica (the previous leader's balancer)"
	default:
		ev, cause = t.log.Warn(), "election not asked for by this broker"
	}
	ev.Uint64("shard", info.ShardID).Uint64("leader_before", prevLeader).Uint64("term_before", prevTerm).
		Uint64("leader", info.LeaderID).Uint64("term", info.Term).Dur("previous_leadership_held", held).
		Int("changes_seen", s.changes).Str("cause", cause).Msg("partition leadership changed")
	return true
}

// recordedTransfers asks a NodeHost for leader transfers and records them
// in the trail, so the change that follows is not taken for an election.
type recordedTransfers struct {
	nh    leaderTransferer
	trail *electionTrail
}

func (r recordedTransfers) RequestLeaderTransfer(shardID, target uint64) error {
	r.trail.transferring(shardID, target)
	return r.nh.RequestLeaderTransfer(shardID, target)
}

// preferredReplica is a shard's preferred replica in st (Replicas[0]), 0
// for a shard st does not know.
func preferredReplica(st *meta.State, shardID uint64) uint64 {
	if ref, ok := st.Shard(shardID); ok && len(ref.Partition.Replicas) > 0 {
		return ref.Partition.Replicas[0]
	}
	for _, p := range st.GroupShards {
		if p.ShardID == shardID && len(p.Replicas) > 0 {
			return p.Replicas[0]
		}
	}
	return 0
}

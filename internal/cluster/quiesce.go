package cluster

import (
	"net/http"
	"time"

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
//     after a quiet spell therefore first wakes the shard (touch).
//   - Quiesced followers expect no heartbeats, so they do not notice that
//     their leader died, was paused or was cut off: no election would ever
//     start. watchPeers asks every other broker's /livez; when one stops
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
	// peerProbeTimeout bounds one probe, so a paused broker counts as down.
	peerProbeTimeout = 500 * time.Millisecond
	// peerFailures consecutive failed probes make a broker suspected: a
	// killed broker is suspected within ~0.4 s, a paused one within ~1.4 s.
	peerFailures = 2
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
func (n *Node) quietAfter() time.Duration {
	return n.cfg.ElectionTimeout() * 10 / 2
}

// touch records a proposal on a partition shard and wakes the shard first
// if it was quiet long enough to have quiesced.
func (n *Node) touch(shardID uint64) {
	if !n.cfg.RaftQuiesce {
		return
	}
	n.mu.RLock()
	last := n.lastProposal[shardID]
	n.mu.RUnlock()
	if last == nil {
		return
	}
	now := time.Now().UnixNano()
	if prev := last.Swap(now); time.Duration(now-prev) >= n.quietAfter() {
		n.wake(shardID)
	}
}

// wake takes a partition shard out of quiesce on this replica.
func (n *Node) wake(shardID uint64) {
	if _, err := n.nh.ReadIndex(shardID, wakeTimeout); err != nil {
		n.log.Debug().Err(err).Uint64("shard", shardID).Msg("wake quiesced shard")
	}
}

// watchPeers probes the other brokers and wakes shards when one of them
// stops or starts answering (see the comment at the top of this file).
func (n *Node) watchPeers() {
	defer n.wg.Done()
	failures := map[uint64]int{}
	down := map[uint64]bool{}
	leaderless := map[uint64]bool{}
	t := time.NewTicker(peerProbeInterval)
	defer t.Stop()
	for round := 1; ; round++ {
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
		if round%leaderlessCheckRounds == 0 {
			leaderless = n.wakeLeaderless(leaderless)
		}
		st := n.Meta()
		for id, b := range st.Brokers {
			if id == n.cfg.NodeID {
				continue
			}
			if n.peerAlive(b) {
				failures[id] = 0
				if down[id] {
					down[id] = false
					n.log.Info().Uint64("broker", id).Msg("peer answers again; waking the partitions it shares with this broker's leaderships")
					n.wakeShardsWith(st, id, false)
				}
				continue
			}
			failures[id]++
			if failures[id] == peerFailures {
				down[id] = true
				n.log.Warn().Uint64("broker", id).Msg("peer does not answer; waking the partitions it leads or shares with this broker's leaderships")
				n.wakeShardsWith(st, id, true)
			}
		}
	}
}

var probeClient = &http.Client{Timeout: peerProbeTimeout}

// peerAlive asks a broker's /livez with a short timeout; the probes of
// different peers run one after another, which is fine for a few brokers.
func (n *Node) peerAlive(b *meta.Broker) bool {
	return n.peerGet(probeClient, b, "/livez")
}

// wakeShardsWith wakes this broker's replicas of partition shards that
// broker peer is a member of: those this broker leads, and, when the peer
// is down, those the peer leads (a follower is never woken under a live
// leader: finding its election timeout long past, it would start an
// election the leader did not need).
func (n *Node) wakeShardsWith(st *meta.State, peer uint64, peerDown bool) {
	woken := 0
	for _, ref := range st.PartitionsOf(n.cfg.NodeID) {
		p := ref.Partition
		member := false
		for _, r := range p.Replicas {
			member = member || r == peer
		}
		if !member {
			continue
		}
		n.mu.RLock()
		started := n.started[p.ShardID]
		n.mu.RUnlock()
		if !started {
			continue
		}
		leader, _, valid, err := n.nh.GetLeaderID(p.ShardID)
		if err != nil || !valid {
			continue
		}
		if leader == n.cfg.NodeID || (peerDown && leader == peer) {
			n.wake(p.ShardID)
			woken++
		}
	}
	n.log.Info().Uint64("broker", peer).Int("shards", woken).Msg("woke partition shards")
}

// wakeLeaderless wakes the partition replicas here that had no leader at
// the previous check and still have none; it returns those without one now.
func (n *Node) wakeLeaderless(before map[uint64]bool) map[uint64]bool {
	now := map[uint64]bool{}
	for _, shard := range n.HostedShards() {
		leader, _, valid, err := n.nh.GetLeaderID(shard)
		if err != nil || (valid && leader != 0) {
			continue
		}
		now[shard] = true
		if before[shard] {
			// Debug: a new topic's replicas start here before their first
			// election, so on a loaded machine this is common and harmless.
			n.log.Debug().Uint64("shard", shard).Msg("partition replica without a leader for a second; waking it")
			n.wake(shard)
		}
	}
	return now
}

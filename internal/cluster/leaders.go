package cluster

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/lni/dragonboat/v4/raftio"

	"github.com/longboat/longboat/internal/meta"
)

// Events counts Raft events this broker observed.
type Events struct {
	MetaLeaderChanges      atomic.Int64
	PartitionLeaderChanges atomic.Int64
	SnapshotsSent          atomic.Int64
	SnapshotsReceived      atomic.Int64
}

func newEvents() *Events { return &Events{} }

type raftListener Node

// LeaderUpdated runs on a dragonboat goroutine: count and hand off, never block.
func (l *raftListener) LeaderUpdated(info raftio.LeaderInfo) {
	n := (*Node)(l)
	if info.LeaderID != 0 {
		if info.ShardID == meta.ShardID {
			n.Events.MetaLeaderChanges.Add(1)
		} else {
			n.Events.PartitionLeaderChanges.Add(1)
		}
	}
	select {
	case n.leaderCh <- info:
	default:
		// The periodic pass in leaderLoop reports leaders a full channel dropped.
	}
}

type systemListener Node

func (l *systemListener) NodeReady(info raftio.NodeInfo) {
	n := (*Node)(l)
	n.mu.Lock()
	n.ready[info.ShardID] = true
	n.mu.Unlock()
}

func (l *systemListener) NodeUnloaded(info raftio.NodeInfo) {
	n := (*Node)(l)
	n.mu.Lock()
	delete(n.ready, info.ShardID)
	n.mu.Unlock()
}

// SendSnapshotCompleted fires on the leader when a lagging replica needed a
// whole snapshot because the Raft log no longer held what it missed.
func (l *systemListener) SendSnapshotCompleted(info raftio.SnapshotInfo) {
	l.Events.SnapshotsSent.Add(1)
	l.log.Info().Uint64("shard", info.ShardID).Uint64("to", info.ReplicaID).Uint64("index", info.Index).Msg("snapshot sent to a lagging replica")
}

// SnapshotReceived fires when a snapshot streamed from the leader has been
// received: this replica was too far behind to catch up from the log.
func (l *systemListener) SnapshotReceived(info raftio.SnapshotInfo) {
	l.Events.SnapshotsReceived.Add(1)
	l.log.Info().Uint64("shard", info.ShardID).Uint64("from", info.From).Uint64("index", info.Index).Msg("snapshot received from the leader")
}

func (*systemListener) NodeHostShuttingDown()                       {}
func (*systemListener) ConnectionEstablished(raftio.ConnectionInfo) {}
func (*systemListener) ConnectionFailed(raftio.ConnectionInfo)      {}
func (*systemListener) NodeDeleted(raftio.NodeInfo)                 {}
func (*systemListener) MembershipChanged(raftio.NodeInfo)           {}
func (*systemListener) SendSnapshotStarted(raftio.SnapshotInfo)     {}
func (*systemListener) SendSnapshotAborted(raftio.SnapshotInfo)     {}
func (*systemListener) SnapshotRecovered(raftio.SnapshotInfo)       {}
func (*systemListener) SnapshotCreated(raftio.SnapshotInfo)         {}
func (*systemListener) SnapshotCompacted(raftio.SnapshotInfo)       {}
func (*systemListener) LogCompacted(raftio.EntryInfo)               {}
func (*systemListener) LogDBCompacted(raftio.EntryInfo)             {}

// leaderLoop publishes this broker's partition leaderships through __meta
// (so brokers that do not host a shard can still name its leader) and
// hands leadership back to preferred replicas once they are healthy.
func (n *Node) leaderLoop() {
	defer n.wg.Done()
	report := time.NewTicker(5 * time.Second)
	defer report.Stop()
	balance := time.NewTicker(n.cfg.LeaderBalanceInterval)
	defer balance.Stop()
	pending := map[uint64]bool{}
	flush := time.NewTimer(time.Hour)
	defer flush.Stop()
	fresh := map[uint64]bool{}
	freshTimer := time.NewTimer(time.Hour)
	defer freshTimer.Stop()
	for {
		select {
		case <-n.stop:
			return
		case info := <-n.leaderCh:
			if info.ShardID != meta.ShardID && info.LeaderID == n.cfg.NodeID {
				if len(pending) == 0 {
					flush.Reset(50 * time.Millisecond)
				}
				pending[info.ShardID] = true
				if n.firstLeadership(info.ShardID) {
					if len(fresh) == 0 {
						freshTimer.Reset(100 * time.Millisecond)
					}
					fresh[info.ShardID] = true
				}
			}
		case <-flush.C:
			n.reportLeaders(pending)
			pending = map[uint64]bool{}
		case <-freshTimer.C:
			// The first election of a new shard is won by whichever replica
			// times out first; hand it to the preferred replica at once so
			// clients of a new topic do not meet a leader that moves later.
			// A round moves at most maxTransfersPerRound; the rest of a big
			// new topic's shards go in the next rounds, 100 ms apart, not
			// 32 every balance interval (a thousand partitions would still
			// be moving half a minute later).
			fresh = n.balanceLeaders(fresh, "/livez")
			if len(fresh) > 0 {
				freshTimer.Reset(100 * time.Millisecond)
			}
		case <-report.C:
			all := map[uint64]bool{}
			for _, id := range n.HostedShards() {
				all[id] = true
			}
			n.reportLeaders(all)
		case <-balance.C:
			n.balanceLeaders(nil, "/readyz")
		}
	}
}

// reportLeaders proposes SetLeader for the given shards this broker leads
// whose __meta record is stale.
func (n *Node) reportLeaders(shards map[uint64]bool) {
	st := n.Meta()
	for id := range shards {
		term, leader := n.IsLeader(id)
		if !leader {
			continue
		}
		if cur, ok := st.Leaders[id]; ok && cur.Replica == n.cfg.NodeID && cur.Term == term {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := n.ProposeMeta(ctx, meta.Command{SetLeader: &meta.SetLeader{ShardID: id, Leader: meta.Leader{Replica: n.cfg.NodeID, Term: term}}})
		cancel()
		if err != nil {
			n.log.Debug().Err(err).Uint64("shard", id).Msg("report leader to __meta; the periodic pass retries")
		}
	}
}

// maxTransfersPerRound bounds how many leaderships move at once, so a
// returning broker does not cause an election storm.
const maxTransfersPerRound = 32

// balanceLeaders transfers leadership of shards this broker leads (only
// those in only, when given) to their preferred replica (Replicas[0]) when
// that broker answers 200 on check: /readyz for the periodic pass, so a
// returning broker first catches up; /livez for brand-new shards, whose
// replicas are all empty. It returns the shards of only it did not get to
// because the round was full.
func (n *Node) balanceLeaders(only map[uint64]bool, check string) map[uint64]bool {
	st := n.Meta()
	healthy := map[uint64]bool{}
	moved := 0
	left := map[uint64]bool{}
	for _, p := range st.ReplicaSetsOf(n.cfg.NodeID) {
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
		if preferred == n.cfg.NodeID {
			continue
		}
		if _, leader := n.IsLeader(p.ShardID); !leader {
			continue
		}
		ok, seen := healthy[preferred]
		if !seen {
			ok = n.peerAnswers(st.Brokers[preferred], check)
			healthy[preferred] = ok
		}
		if !ok {
			continue
		}
		if err := n.nh.RequestLeaderTransfer(p.ShardID, preferred); err != nil {
			n.log.Debug().Err(err).Uint64("shard", p.ShardID).Msg("leader transfer")
			continue
		}
		moved++
		n.log.Info().Uint64("shard", p.ShardID).Uint64("to", preferred).Msg("moving leadership back to the preferred replica")
	}
	return left
}

var peerClient = &http.Client{Timeout: time.Second}

// peerAnswers tells whether a broker's HTTP path answers 200. A wildcard
// HTTP host is reached at the host of the broker's Raft address.
func (n *Node) peerAnswers(b *meta.Broker, path string) bool {
	return n.peerGet(peerClient, b, path)
}

// peerGet is peerAnswers with a given client (and so timeout).
func (n *Node) peerGet(client *http.Client, b *meta.Broker, path string) bool {
	if b == nil {
		return false
	}
	host, port, err := net.SplitHostPort(b.HTTPAddr)
	if err != nil {
		return false
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host, _, _ = net.SplitHostPort(b.RaftAddr)
	}
	resp, err := client.Get("http://" + net.JoinHostPort(host, port) + path)
	if err != nil {
		return false
	}
	// Reading the (short) body to its end lets the client keep the
	// connection: each peer is probed five times a second, and a new TCP
	// connection per probe cost a dial each time and left ~600 sockets per
	// broker in TIME_WAIT.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// Readiness reports the checks /readyz is made of.
type Readiness struct {
	MetaLeader     bool
	MetaCaughtUp   bool
	Registered     bool
	ReplicasTotal  int
	ReplicasReady  int
	ReplicasLeader int
}

// Ready tells whether every check passes.
func (r Readiness) Ready() bool {
	return r.MetaLeader && r.MetaCaughtUp && r.Registered && r.ReplicasReady == r.ReplicasTotal && r.ReplicasLeader == r.ReplicasTotal
}

// CheckReadiness evaluates readiness now; it waits up to timeout for a
// ReadIndex on __meta to prove this replica has caught up.
func (n *Node) CheckReadiness(timeout time.Duration) Readiness {
	var r Readiness
	_, _, r.MetaLeader = n.Leader(meta.ShardID)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	r.MetaCaughtUp = n.SyncMeta(ctx) == nil
	cancel()
	st := n.Meta()
	_, r.Registered = st.Brokers[n.cfg.NodeID]
	sets := st.ReplicaSetsOf(n.cfg.NodeID)
	r.ReplicasTotal = len(sets)
	n.mu.RLock()
	defer n.mu.RUnlock()
	for _, p := range sets {
		id := p.ShardID
		if (n.started[id] || n.groupSMs[id] != nil) && n.ready[id] {
			r.ReplicasReady++
		}
		if lid, _, ok, err := n.nh.GetLeaderID(id); err == nil && ok && lid != 0 {
			r.ReplicasLeader++
		}
	}
	return r
}

// HandOffLeadership moves every leadership this broker holds to another
// replica before a graceful stop, so producers see a quick hand-over rather
// than an election timeout. It waits at most timeout.
func (n *Node) HandOffLeadership(timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	st := n.Meta()
	shards := map[uint64][]uint64{meta.ShardID: st.BrokerIDs()}
	for _, p := range st.ReplicaSetsOf(n.cfg.NodeID) {
		shards[p.ShardID] = p.Replicas
	}
	for time.Now().Before(deadline) {
		held := 0
		for shard, replicas := range shards {
			if _, leader := n.IsLeader(shard); !leader {
				continue
			}
			held++
			for _, r := range replicas {
				if r != n.cfg.NodeID {
					_ = n.nh.RequestLeaderTransfer(shard, r)
					break
				}
			}
		}
		if held == 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

package cluster

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	_ "unsafe" // go:linkname, for dragonboat's TCP transport

	dbconfig "github.com/lni/dragonboat/v4/config"
	"github.com/lni/dragonboat/v4/raftio"
	pb "github.com/lni/dragonboat/v4/raftpb"
	"github.com/lni/goutils/stringutil"

	"github.com/longboat/longboat/internal/config"
	"github.com/longboat/longboat/internal/meta"
)

// When a broker's process dies, the followers of the partitions it led
// would wait out the election timeout (5-10 ticks: 1-2 s at the default
// 200 ms tick) from its last heartbeat before one of them campaigns, and
// under produce load no partition quiesces, so waking them (quiesce.go)
// does not help. The peer prober knows much sooner (~0.4 s: two refused
// probes mean nothing listens at the peer's address), so the broker that
// should take over each such partition campaigns at once. The same goes
// for the group shards and __meta the dead broker led: a consumer group's
// coordinator is a group shard's leader, and an idempotent producer's
// InitProducerID or any topic change waits for __meta's.
//
// dragonboat has no call for "campaign now". Raft's leader transfer has
// one: the leader sends its chosen successor TimeoutNow, and the successor
// campaigns at once, without pre-vote, with a hint that makes the other
// voters answer although they heard from a leader within the election
// timeout (the Raft thesis, 3.10 and 6, p. 42). Here the TimeoutNow is
// handed to the local replica through the transport's receive path, as if
// the dead leader had sent it. Raft's safety does not depend on who starts
// an election or when: a vote is still only granted to a candidate whose
// log is at least as up to date, so a wrong campaign costs an election,
// never a record. Two things keep it from costing even that:
//   - only a peer whose process is gone triggers it: its /livez and then
//     its Raft port refuse connections (ECONNREFUSED), twice in a row in
//     the prober, then once more just before campaigning; a peer that is
//     slow, paused or cut off (timeouts) never does, so a loaded machine
//     cannot start an election storm;
//   - per partition one broker campaigns at a time: the first replica in
//     the replica order (the preferred leader order) other than the dead
//     one and any broker this one sees down, so two followers do not
//     split the vote. If its log is behind, the other voter refuses it;
//     then, campaignFallbackAfter later, the next replica in that order
//     campaigns if the partition still has no leader (it is the more up
//     to date one), and so on, each well before an election timeout.

//go:linkname newTCPTransport github.com/lni/dragonboat/v4/internal/transport.NewTCPTransport
func newTCPTransport(dbconfig.NodeHostConfig, raftio.MessageHandler, raftio.ChunkHandler) raftio.ITransport

// localDelivery is dragonboat's TCP transport, made through
// Expert.TransportFactory so that the handler it delivers received
// message batches to is also available here.
type localDelivery struct {
	handler atomic.Pointer[raftio.MessageHandler]
	intake  *raftIntake // what arrives over the network passes it; nil: all

	valid  sync.Map // addresses Validate accepted, as keys
	nvalid atomic.Int32
}

// maxValidAddrs bounds the addresses Validate remembers: a cluster's
// peers, with room for ones that moved.
const maxValidAddrs = 256

// Create makes dragonboat's default TCP transport (TLS and all, from the
// config), its connections redialled after a silence (redialTransport),
// and keeps its receive handler.
func (d *localDelivery) Create(c dbconfig.NodeHostConfig, h raftio.MessageHandler, ch raftio.ChunkHandler) raftio.ITransport {
	d.handler.Store(&h)
	if d.intake != nil {
		h, ch = d.intake.messages(h), d.intake.chunks(ch)
	}
	return redialTransport{ITransport: newTCPTransport(c, h, ch), now: time.Now}
}

// Validate is dragonboat's check of a Raft address for its TCP transport.
// dragonboat checks the sender's address of every Raft message received,
// and the check's regular expression showed in busy brokers' profiles, so
// an accepted address is remembered.
func (d *localDelivery) Validate(addr string) bool {
	if _, ok := d.valid.Load(addr); ok {
		return true
	}
	if !stringutil.IsValidAddress(addr) {
		return false
	}
	if d.nvalid.Load() < maxValidAddrs {
		if _, loaded := d.valid.LoadOrStore(addr, struct{}{}); !loaded {
			d.nvalid.Add(1)
		}
	}
	return true
}

// deliver hands msgs to this NodeHost's replicas as if received from the
// network (the deployment id and binary version are checked there too).
func (d *localDelivery) deliver(deploymentID uint64, msgs ...pb.Message) error {
	h := d.handler.Load()
	if h == nil {
		return errors.New("raft transport not started")
	}
	(*h)(pb.MessageBatch{DeploymentId: deploymentID, BinVer: raftio.TransportBinVersion, Requests: msgs})
	return nil
}

// campaignFallbackAfter is how long each next replica in order waits for
// the one before it to win an election before it campaigns itself: a
// campaign takes one round trip and a log write, tens of milliseconds on
// a loaded machine, so a partition without a leader this long after one
// started has most likely seen it refused. Campaigning too early costs at
// most one more election of the same length (the later candidate's
// higher term wins if its log is as up to date); too late, it is added
// to every kill whose first campaign was refused (docs/CHAOS.md).
const campaignFallbackAfter = 300 * time.Millisecond

// fallback is a campaign due if the replicas before this one in order
// have not elected a leader by then.
type fallback struct {
	shard, dead uint64
	due         time.Time
}

// campaigner starts elections for the partitions a dead broker led.
type campaigner struct {
	self         uint64
	deploymentID uint64
	delivery     *localDelivery
	nh           leaderIDs
	replicas     hostedShards
	// metaVoters are __meta's voters in node id order (the initial
	// members), or nil when this broker is not one.
	metaVoters []uint64
	waker      shardWaker // nil when partition shards do not quiesce
	// refused tells whether a TCP connection to addr is refused now.
	refused func(ctx context.Context, addr string) bool
	// pending are the fallback campaigns not yet due (peerWatch's
	// goroutine only).
	pending []fallback
}

// hostedShards tells whether a partition or group shard runs here.
type hostedShards interface {
	hosts(shardID uint64) bool
}

// processGone tells whether a failed probe says nothing listens at the
// peer's address any more (not that it was slow or unreachable).
func processGone(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

// raftPortRefused dials a Raft address; true when the connection is refused.
func raftPortRefused(ctx context.Context, addr string) bool {
	d := net.Dialer{Timeout: peerProbeTimeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return processGone(err)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // as in raftReachable: no TIME_WAIT per check
	}
	_ = conn.Close()
	return false
}

// metaCampaignOrder is __meta's voters (the initial members) in node id
// order when this broker is one of several, else nil: a broker that
// joined later is a non-voting member of __meta and never campaigns.
func metaCampaignOrder(cfg *config.Config) []uint64 {
	if len(cfg.InitialMembers) < 2 || cfg.InitialMembers[cfg.NodeID] == "" {
		return nil
	}
	return slices.Sorted(maps.Keys(cfg.InitialMembers))
}

// campaignFor is who should campaign for p after dead stopped: the first
// replica in order that is neither dead nor down here.
func campaignFor(p meta.Partition, dead uint64, down func(uint64) bool) uint64 {
	if order := campaignOrder(p, dead, down); len(order) > 0 {
		return order[0]
	}
	return 0
}

// campaignOrder is the order in which p's replicas campaign after dead
// stopped: replica order without dead and those down here.
func campaignOrder(p meta.Partition, dead uint64, down func(uint64) bool) []uint64 {
	var out []uint64
	for _, r := range p.Replicas {
		if r != dead && !down(r) {
			out = append(out, r)
		}
	}
	return out
}

// campaignShards are the shards this broker hosts a voter of, each with
// its replica order: __meta in node id order of its voters (the initial
// members), topic partitions and group shards in their replica order.
// The dead broker may lead any of them, and each waits out the election
// timeout just the same: an idempotent producer's first InitProducerID on
// a broker takes a block of producer ids through __meta, and a group's
// coordinator is a group shard's leader, so a client stalls on those as
// long as on its partitions.
func (c *campaigner) campaignShards(st *meta.State) []meta.Partition {
	var out []meta.Partition
	if slices.Contains(c.metaVoters, c.self) {
		out = append(out, meta.Partition{ShardID: meta.ShardID, Replicas: c.metaVoters})
	}
	for _, ref := range st.PartitionsOf(c.self) {
		out = append(out, ref.Partition)
	}
	return append(out, st.GroupShardsOf(c.self)...)
}

// campaign makes this broker's replicas campaign now in the shards the
// dead peer leads (as this replica last knew) where this broker is the
// one to; it returns how many it started.
func (c *campaigner) campaign(ctx context.Context, st *meta.State, dead uint64, down func(uint64) bool) int {
	b := st.Brokers[dead]
	if b == nil || !c.refused(ctx, b.RaftAddr) {
		return 0
	}
	started := 0
	now := time.Now()
	for _, p := range c.campaignShards(st) {
		rank := slices.Index(campaignOrder(p, dead, down), c.self)
		if rank < 0 || (p.ShardID != meta.ShardID && !c.replicas.hosts(p.ShardID)) {
			continue
		}
		leader, term, valid, err := c.nh.GetLeaderID(p.ShardID)
		if err != nil {
			continue
		}
		if rank > 0 {
			// No leader here may already be the first replica's campaign,
			// which it can lose (its log behind this one's): the fallback
			// is due then as much as when the dead broker still leads.
			if !valid || leader == dead {
				c.pending = append(c.pending, fallback{shard: p.ShardID, dead: dead, due: now.Add(time.Duration(rank) * campaignFallbackAfter)})
			}
			continue
		}
		if !valid || leader != dead {
			continue
		}
		// Term is the term the dead broker led in: a replica that has
		// moved on since drops it (lower term) and nothing happens.
		if c.start(p.ShardID, dead, term) {
			started++
		}
	}
	return started
}

// nextDue is when the earliest pending fallback is due (ok false: none).
func (c *campaigner) nextDue() (due time.Time, ok bool) {
	for _, f := range c.pending {
		if !ok || f.due.Before(due) {
			due, ok = f.due, true
		}
	}
	return due, ok
}

// followUp starts the fallback campaigns that are due, for partitions
// that still have no leader or name the dead one; it drops those whose
// dead broker answers again.
func (c *campaigner) followUp(now time.Time, down func(uint64) bool) int {
	started := 0
	c.pending = slices.DeleteFunc(c.pending, func(f fallback) bool {
		if !down(f.dead) {
			return true
		}
		if now.Before(f.due) {
			return false
		}
		leader, term, valid, err := c.nh.GetLeaderID(f.shard)
		if err == nil && (!valid || leader == 0 || leader == f.dead) && c.start(f.shard, f.dead, term) {
			started++
		}
		return true
	})
	return started
}

// start hands this broker's replica of shard a TimeoutNow in term, as
// from the dead broker: the replica campaigns at once.
func (c *campaigner) start(shard, dead, term uint64) bool {
	if c.waker != nil && shard != meta.ShardID {
		// A quiesced replica is woken first, so that it ticks again and
		// the election it starts is not left to a sleeping shard.
		c.waker.wake(shard, fmt.Sprintf("broker %d's process is gone: campaigning", dead))
	}
	msg := pb.Message{Type: pb.TimeoutNow, ShardID: shard, From: dead, To: c.self, Term: term}
	return c.delivery.deliver(c.deploymentID, msg) == nil
}

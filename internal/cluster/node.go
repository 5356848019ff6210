// Package cluster owns a broker's dragonboat NodeHost: the __meta replica,
// starting and stopping partition replicas from committed metadata, leader
// tracking and leader balancing.
package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lni/dragonboat/v4"
	dbconfig "github.com/lni/dragonboat/v4/config"
	"github.com/lni/dragonboat/v4/raftio"
	sm "github.com/lni/dragonboat/v4/statemachine"
	"github.com/rs/zerolog"

	"github.com/longboat/longboat/internal/config"
	"github.com/longboat/longboat/internal/meta"
	"github.com/longboat/longboat/internal/metrics"
	"github.com/longboat/longboat/internal/partition"
	"github.com/longboat/longboat/internal/storage"
	"github.com/longboat/longboat/internal/trash"
)

// Node is one broker's Raft side: it starts the parts below on one
// NodeHost and answers for them.
type Node struct {
	cfg      *config.Config
	identity identity // the data directory's, as the identity check found it
	nh       *dragonboat.NodeHost
	meta     *meta.StateMachine

	replicas  *registry
	leaders   leaderView
	metaProp  *metaProposer
	placed    proposeMetaFunc // metaProp's, with placements stamped on
	shards    *shardProposer
	pids      *producerIDs
	balancer  *balancer
	readiness readinessCheck
	peers     prober
	isr       *isrTracker
	disk      *diskFloor
	trash     *trash.Bin // deleted Raft log files and partition segments

	// ctx is cancelled by Close; every loop and every wait they start
	// derives from it, so Close does not sit out their timeouts.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// Events counts Raft events this broker observed.
	Events *Events
}

// Start opens the NodeHost, starts (or restarts) the __meta replica and the
// loops that keep partition replicas in line with __meta.
// web is the TLS of --http-tls (zero without it).
func Start(cfg *config.Config, web HTTPTLS, m *metrics.Metrics, log zerolog.Logger) (*Node, error) {
	log = log.With().Str("component", "cluster").Logger()
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	// Before anything is written and any Raft replica starts: a wiped
	// directory must not vote.
	peerWeb := newPeerHTTP(web.Client)
	check := identityCheck{cfg: cfg, client: peerWeb.timeout(identityAskTimeout), server: web.Server, window: emptyIdentityWindow, log: log}
	self, err := check.run(context.Background())
	if err != nil {
		return nil, fmt.Errorf("identity check: %w", err)
	}
	logDB, err := resolveLogDB(cfg.DataDir, cfg.RaftLogDB)
	if err != nil {
		return nil, err
	}
	if err := removeReleasedTanLogs(cfg.DataDir, log); err != nil {
		return nil, fmt.Errorf("remove deleted partitions' Raft logs: %w", err)
	}
	if logDB == config.LogDBTan || logDB == config.LogDBTanShared {
		if err := cutTornTanLogs(cfg.DataDir, logDB, log); err != nil {
			return nil, fmt.Errorf("check the Raft logs for a torn tail: %w", err)
		}
	}
	log.Info().Str("raft_logdb", logDB).Msg("Raft log store")
	warnOnlineDiscard(cfg.DataDir, log)
	disk, err := newDiskFloor(cfg, log)
	if err != nil {
		return nil, err
	}

	n := &Node{cfg: cfg, identity: self, meta: meta.New(), replicas: newRegistry(), peers: prober{client: peerWeb.timeout(peerAskTimeout)}, disk: disk, Events: &Events{}}
	if n.trash, err = trash.Open(filepath.Join(cfg.DataDir, trashDir), log); err != nil {
		return nil, err
	}
	leaderCh := make(chan raftio.LeaderInfo, 4096)
	trail := newElectionTrail(cfg.ElectionTimeout(), func(shard uint64) uint64 { return preferredReplica(n.meta.State(), shard) }, log)
	nhc := dbconfig.NodeHostConfig{
		NodeHostDir:         filepath.Join(cfg.DataDir, "raft"),
		RTTMillisecond:      cfg.RTTMillisecond,
		RaftAddress:         cfg.RaftAddr,
		RaftEventListener:   raftListener{events: n.Events, trail: trail, leaders: leaderCh},
		SystemEventListener: systemListener{events: n.Events, replicas: n.replicas, log: log},
		Expert:              expertConfig(cfg, logDB, m.RaftLogFsync, n.trash),
	}
	raftTransport(&nhc, cfg, self.DeploymentID)
	delivery := &localDelivery{intake: &raftIntake{disk: disk, partition: n.replicas.isStarted, dropped: &n.Events.RaftRefusedForDisk}}
	nhc.Expert.TransportFactory = delivery
	log.Info().Uint64("deployment_id", self.DeploymentID).Bool("raft_tls", cfg.RaftTLS).Msg("Raft transport")
	if self.DeploymentID == legacyDeploymentID {
		log.Warn().Msg("this cluster's Raft deployment id is dragonboat's default, shared by every cluster created before per-cluster ids (or without --initial-members-http), so Raft messages of such another cluster reaching this address are not refused by it: use --raft-tls with a CA of this cluster's own")
	}
	nh, err := dragonboat.NewNodeHost(nhc)
	if err != nil {
		n.closeTrash()
		return nil, fmt.Errorf("start Raft node host on %s: %w", cfg.RaftAddr, err)
	}
	n.nh = nh
	members := map[uint64]dragonboat.Target{}
	for id, addr := range cfg.InitialMembers {
		members[id] = addr
	}
	// A broker that joined follows __meta without a vote (join.go) until
	// promoted (metavoters.go), and restarts non-voting until a snapshot of
	// its own records the promotion, as a partition replica a reassignment
	// brought in does (reassign.go).
	joined := cfg.Join != ""
	markers := newJoinMarkers(cfg.DataDir)
	metaCfg := shardConfig(cfg, meta.ShardID, false)
	metaCfg.IsNonVoting = markers.metaNonVoting(joined)
	if joined {
		members = nil
	}
	if err := nh.StartReplica(members, joined, func(uint64, uint64) sm.IStateMachine { return n.meta }, metaCfg); err != nil {
		nh.Close()
		n.closeTrash()
		return nil, fmt.Errorf("start __meta replica: %w", err)
	}

	n.leaders = leaderView{self: cfg.NodeID, nh: nh, hosts: n.replicas.hosts, meta: n.meta}
	n.metaProp = &metaProposer{nh: nh, leaders: nh, attempt: 2 * cfg.ElectionTimeout(), metrics: m}
	n.placed = placementStamp{self: cfg.NodeID, meta: n.meta, peers: n.peers}.stamped(n.metaProp.propose)
	w := &waker{enabled: cfg.RaftQuiesce, quietAfter: quietAfter(cfg), nh: nh, trail: trail, log: log, lastProposal: map[uint64]*atomic.Int64{}}
	n.shards = &shardProposer{nh: nh, touch: w.touch, metrics: m}
	n.pids = &producerIDs{propose: n.metaProp.propose}
	n.isr = newISRTracker(cfg.NodeID, cfg.ReplicaLagTimeMax, n.meta, n.leaders, n.replicas, peerWeb.timeout(peerAskTimeout), log)
	n.balancer = &balancer{
		self: cfg.NodeID, interval: cfg.LeaderBalanceInterval, meta: n.meta, leaders: n.leaders, nh: recordedTransfers{nh: nh, trail: trail},
		propose: n.metaProp.propose, replicas: n.replicas, peers: n.peers, inSync: n.isr, changes: leaderCh, log: log,
		retryFresh: 2 * cfg.ElectionTimeout(),
		metaVoters: func(ctx context.Context) []uint64 {
			vctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			return metaVoters(vctx, nh)
		},
	}
	n.readiness = readinessCheck{self: cfg.NodeID, meta: n.meta, sync: n.metaProp.sync, leaders: n.leaders, nh: nh, replicas: n.replicas, isr: n.isr}
	releaseLog := func(uint64) error { return nil }
	if logDB == config.LogDBTan {
		releaseLog = func(shard uint64) error { return releaseTanLog(cfg.DataDir, cfg.NodeID, shard) }
	}
	rec := &reconciler{
		cfg: cfg, nh: nh, meta: n.meta, propose: n.placed, replicas: n.replicas, clock: w,
		releaseLog: releaseLog, peers: peerWeb.timeout(peerAskTimeout), belowFloor: disk.belowFloor, room: disk.room, markers: markers, storageErrors: m.StorageErrors,
		throttle:  moveThrottle{meta: n.meta, limit: storage.NewThrottle(float64(cfg.ReassignmentThrottleBytes))},
		applyTime: m.Stage(metrics.StageApply), trash: n.trash, log: log,
	}
	if logDB == config.LogDBTanShared {
		rec.growth = &logGrowth{}
	}
	reg := registration{self: registeredBroker(cfg, self.Incarnation), bootstrapScram: bootstrapScram(cfg), identity: self, dataDir: cfg.DataDir,
		meta: n.meta, leaders: n.leaders, propose: n.metaProp.propose, log: log}
	life := &lifecycle{
		self: cfg.NodeID, interval: cfg.RetentionCheckInterval, defaults: cfg.LogDefaults(), meta: n.meta,
		replicas: n.replicas, leaders: n.leaders, advance: n.shards.advanceLogStart, log: log,
	}
	clean := &cleaner{
		self: cfg.NodeID, threads: cfg.CleanerThreads, buffer: cfg.CleanerDedupeBufferSize, backoff: cfg.CleanerBackoff,
		throttle: storage.NewThrottle(cfg.CleanerIOMaxBytesPerSec), defaults: cfg.LogDefaults(), meta: n.meta,
		replicas: n.replicas, metrics: m.RegisterCleaner(), log: log.With().Str("component", "log-cleaner").Logger(),
	}
	moves := &reassigner{self: cfg.NodeID, nh: nh, meta: n.meta, propose: n.metaProp.propose, leaders: n.leaders, inSync: n.isr, touch: w.touch, snap: nh, markers: markers,
		trimBeforeJoin: cfg.ReassignmentThrottleBytes > 0, log: log}
	voters := &metaVoterKeeper{
		self: cfg.NodeID, want: cfg.MetaVoters, replaceAfter: cfg.MetaVoterReplaceAfter, nh: nh, meta: n.meta, leaders: n.leaders, inSync: n.isr,
		down: func(ctx context.Context) map[uint64]bool { return n.peers.downPeers(ctx, cfg.NodeID, n.meta.State()) },
		now:  time.Now, log: log, downSince: map[uint64]time.Time{},
	}
	loops := []func(context.Context){reg.run, rec.run, n.balancer.run, life.run, n.isr.run, disk.run, clean.run, moves.run, voters.run}
	if cfg.RaftQuiesce || cfg.RaftCampaignOnPeerExit {
		watch := &peerWatch{
			self: cfg.NodeID, leaderlessWakeAfter: leaderlessWakeAfter(cfg), meta: n.meta, live: newPeerLiveness(cfg.NodeID, prober{client: peerWeb.timeout(peerProbeTimeout)}),
			quiesce: cfg.RaftQuiesce, waker: w, nh: nh, replicas: n.replicas, log: log,
		}
		if cfg.RaftCampaignOnPeerExit {
			watch.campaign = &campaigner{self: cfg.NodeID, deploymentID: self.DeploymentID, delivery: delivery, nh: nh,
				replicas: n.replicas, metaVoters: metaCampaignOrder(cfg), refused: raftPortRefused}
			if cfg.RaftQuiesce {
				watch.campaign.waker = w
			}
		}
		loops = append(loops, watch.run)
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	for _, loop := range loops {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			loop(n.ctx)
		}()
	}
	return n, nil
}

// shardConfig is the Raft configuration of one shard. Only partition shards
// quiesce (see quiesce.go): __meta carries leader reports and broker
// registrations and is one shard, and the few group shards serve consumer
// heartbeats, so keeping them awake costs little and spares coordinators
// the wake-up.
func shardConfig(cfg *config.Config, shardID uint64, quiesce bool) dbconfig.Config {
	// dragonboat's in-memory log rate limiter has every follower report its
	// log size to the leader once per election timeout, and such a report
	// counts as traffic: it takes a quiesced leader out of quiesce. Idle
	// shards then cycled in and out of quiesce every ~11 election timeouts,
	// and a follower still awake when its leader quiesced again started an
	// election: with 1,000 idle partitions, ~10 leadership changes per
	// broker in 30 s and twice the idle CPU. Quiescing shards go without the
	// limiter; a follower applies by appending to its segment file, faster
	// than Raft delivers, and saturating RF=3 produce measured the same
	// throughput and broker memory without it.
	var maxInMemLog uint64 = 64 << 20
	if quiesce {
		maxInMemLog = 0
	}
	return dbconfig.Config{
		Quiesce:            quiesce,
		ShardID:            shardID,
		ReplicaID:          cfg.NodeID,
		ElectionRTT:        cfg.ElectionRTT,
		HeartbeatRTT:       cfg.HeartbeatRTT,
		CheckQuorum:        true,
		PreVote:            true,
		SnapshotEntries:    cfg.SnapshotEntries,
		CompactionOverhead: cfg.CompactionOverheadEntries,
		MaxInMemLogSize:    maxInMemLog,
		// dragonboat follows every log trim (each snapshot) with a manual
		// LogDB compaction of the trimmed range, which flushes the memtable
		// holding the newest entries and rewrites them: with 3 replicas on a
		// disk that made pebble flushes and compactions ~40% of a broker's
		// CPU. Without it the trimmed entries are dropped while still in the
		// memtable (see logDBConfig) and pebble's own compactions reclaim
		// the rest.
		DisableAutoCompactions: true,
	}
}

// Close cancels the loops and whatever they wait on, waits for them to
// return, and only then closes the NodeHost (which closes every replica),
// so no loop calls into a closed NodeHost.
func (n *Node) Close() {
	n.cancel()
	n.wg.Wait()
	n.nh.Close()
	n.closeTrash()
}

// trashDir holds deleted Raft log files and partition segments until they
// are freed; it sits beside the NodeHost and partition directories, on the
// same file system.
const trashDir = "trash"

func (n *Node) closeTrash() { n.trash.Close() }

// ID is this broker's node id (its replica id in every shard).
func (n *Node) ID() uint64 { return n.cfg.NodeID }

// Meta returns this replica's applied view of __meta.
func (n *Node) Meta() *meta.State { return n.meta.State() }

// MetaChanged returns a channel closed at the next __meta change.
func (n *Node) MetaChanged() <-chan struct{} { return n.meta.Changed() }

// SyncMeta waits until this replica has applied everything __meta had
// committed when it was called (a ReadIndex), so reads after it are
// linearizable.
func (n *Node) SyncMeta(ctx context.Context) error { return n.metaProp.sync(ctx) }

// ProposeMeta commits a __meta command and returns its result data, or
// *ErrMetaRejected when the state machine refused it. A command creating
// shards is placed over the brokers that answer now.
func (n *Node) ProposeMeta(ctx context.Context, c meta.Command) ([]byte, error) {
	return n.placed(ctx, c)
}

// Partition returns the local replica of a shard, if this broker hosts it.
func (n *Node) Partition(shardID uint64) (*partition.StateMachine, bool) {
	return n.replicas.partition(shardID)
}

// PartitionByName returns the local replica of a topic-partition, if hosted.
func (n *Node) PartitionByName(topic string, index int32) (*partition.StateMachine, bool) {
	t, ok := n.Meta().Topics[topic]
	if !ok || index < 0 || int(index) >= len(t.Partitions) {
		return nil, false
	}
	return n.Partition(t.Partitions[index].ShardID)
}

// HostedShards returns the partition shards this node has started.
func (n *Node) HostedShards() []uint64 { return n.replicas.partitionShards() }

// Leader returns the live leader of a shard and its term (the Kafka leader
// epoch). For shards hosted here it asks the NodeHost; otherwise it uses the
// leader last reported through __meta.
func (n *Node) Leader(shardID uint64) (leader uint64, term uint64, ok bool) {
	return n.leaders.leader(shardID)
}

// IsLeader tells whether this broker leads the shard now, with the term.
func (n *Node) IsLeader(shardID uint64) (uint64, bool) { return n.leaders.isLeader(shardID) }

// Propose starts a proposal on a partition shard this broker leads.
func (n *Node) Propose(shardID uint64, cmd []byte, timeout time.Duration) (*dragonboat.RequestState, error) {
	return n.shards.propose(shardID, cmd, timeout)
}

// ReadIndex waits until the local replica has applied everything the shard
// had committed when it was called.
func (n *Node) ReadIndex(ctx context.Context, shardID uint64) error {
	return n.shards.readIndex(ctx, shardID)
}

// AdvanceLogStart commits a move of a partition's log start offset up to
// offset through the shard's Raft log, so that every replica applies the
// same one, and returns the log start offset after it or a Kafka error
// code from the state machine (OFFSET_OUT_OF_RANGE past the high
// watermark). The caller must lead the shard.
func (n *Node) AdvanceLogStart(ctx context.Context, shardID uint64, offset int64) (int64, int16, error) {
	return n.shards.advanceLogStart(ctx, shardID, offset)
}

// NextProducerID hands out a producer id unique in the cluster forever.
func (n *Node) NextProducerID(ctx context.Context) (int64, error) { return n.pids.next(ctx) }

// CheckReadiness evaluates readiness now; it waits up to timeout for a
// ReadIndex on __meta to prove this replica has caught up.
func (n *Node) CheckReadiness(timeout time.Duration) Readiness {
	ctx, cancel := context.WithTimeout(n.ctx, timeout)
	defer cancel()
	return n.readiness.check(ctx)
}

// HandOffLeadership moves every leadership this broker holds to another
// replica before a graceful stop, so producers see a quick hand-over rather
// than an election timeout. It waits at most timeout.
func (n *Node) HandOffLeadership(timeout time.Duration) {
	ctx, cancel := context.WithTimeout(n.ctx, timeout)
	defer cancel()
	n.balancer.handOff(ctx)
}

// Package cluster owns a broker's dragonboat NodeHost: the __meta replica,
// starting and stopping partition replicas from committed metadata, leader
// tracking and leader balancing.
package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lni/dragonboat/v4"
	dbconfig "github.com/lni/dragonboat/v4/config"
	"github.com/lni/dragonboat/v4/raftio"
	sm "github.com/lni/dragonboat/v4/statemachine"
	"github.com/rs/zerolog"

	"github.com/longboat/longboat/internal/config"
	"github.com/longboat/longboat/internal/group"
	"github.com/longboat/longboat/internal/meta"
	"github.com/longboat/longboat/internal/metrics"
	"github.com/longboat/longboat/internal/partition"
	"github.com/longboat/longboat/internal/storage"
	"github.com/longboat/longboat/internal/topicconfig"
)

// Node is one broker's Raft side.
type Node struct {
	cfg     *config.Config
	logDB   string // config.LogDBTan or config.LogDBPebble
	log     zerolog.Logger
	nh      *dragonboat.NodeHost
	meta    *meta.StateMachine
	metrics *metrics.Metrics

	mu       sync.RWMutex
	parts    map[uint64]*partition.StateMachine // opened replicas by shard id
	started  map[uint64]bool                    // shards this node has started
	ready    map[uint64]bool                    // shards whose replica reported ready
	groupSMs map[uint64]*group.StateMachine     // started group shards
	startAt  map[uint64]time.Time               // when each shard was started here
	// lastProposal is when this broker last proposed to each partition
	// shard (Unix nanoseconds), to know when a proposal must wake it.
	lastProposal map[uint64]*atomic.Int64
	leaderCh     chan raftio.LeaderInfo

	pidMu           sync.Mutex
	pidNext, pidEnd int64 // this broker's unused producer ids [next, end)

	stop chan struct{}
	wg   sync.WaitGroup
	// LeaderChanges counts leadership changes observed per group kind.
	Events *Events
}

// Start opens the NodeHost, starts (or restarts) the __meta replica and the
// loops that keep partition replicas in line with __meta.
func Start(cfg *config.Config, m *metrics.Metrics, log zerolog.Logger) (*Node, error) {
	n := &Node{
		cfg:          cfg,
		metrics:      m,
		log:          log.With().Str("component", "cluster").Logger(),
		parts:        map[uint64]*partition.StateMachine{},
		started:      map[uint64]bool{},
		ready:        map[uint64]bool{},
		groupSMs:     map[uint64]*group.StateMachine{},
		startAt:      map[uint64]time.Time{},
		lastProposal: map[uint64]*atomic.Int64{},
		leaderCh:     make(chan raftio.LeaderInfo, 4096),
		stop:         make(chan struct{}),
		Events:       newEvents(),
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	logDB, err := resolveLogDB(cfg.DataDir, cfg.RaftLogDB)
	if err != nil {
		return nil, err
	}
	n.logDB = logDB
	if err := removeReleasedTanLogs(cfg.DataDir); err != nil {
		return nil, fmt.Errorf("remove deleted partitions' Raft logs: %w", err)
	}
	n.log.Info().Str("raft_logdb", logDB).Msg("Raft log store")
	nhc := dbconfig.NodeHostConfig{
		NodeHostDir:         filepath.Join(cfg.DataDir, "raft"),
		RTTMillisecond:      cfg.RTTMillisecond,
		RaftAddress:         cfg.RaftAddr,
		RaftEventListener:   (*raftListener)(n),
		SystemEventListener: (*systemListener)(n),
		Expert:              expertConfig(cfg, logDB),
	}
	nh, err := dragonboat.NewNodeHost(nhc)
	if err != nil {
		return nil, fmt.Errorf("start Raft node host on %s: %w", cfg.RaftAddr, err)
	}
	n.nh = nh
	members := map[uint64]dragonboat.Target{}
	for id, addr := range cfg.InitialMembers {
		members[id] = addr
	}
	n.meta = meta.New()
	if err := nh.StartReplica(members, false, func(uint64, uint64) sm.IStateMachine { return n.meta }, n.shardConfig(meta.ShardID, false)); err != nil {
		nh.Close()
		return nil, fmt.Errorf("start __meta replica: %w", err)
	}
	n.wg.Add(4)
	go n.register()
	go n.reconcileLoop()
	go n.leaderLoop()
	go n.lifecycleLoop()
	if cfg.RaftQuiesce {
		n.wg.Add(1)
		go n.watchPeers()
	}
	return n, nil
}

// shardConfig is the Raft configuration of one shard. Only partition shards
// quiesce (see quiesce.go): __meta carries leader reports and broker
// registrations and is one shard, and the few group shards serve consumer
// heartbeats, so keeping them awake costs little and spares coordinators
// the wake-up.
func (n *Node) shardConfig(shardID uint64, quiesce bool) dbconfig.Config {
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
		ReplicaID:          n.cfg.NodeID,
		ElectionRTT:        n.cfg.ElectionRTT,
		HeartbeatRTT:       n.cfg.HeartbeatRTT,
		CheckQuorum:        true,
		PreVote:            true,
		SnapshotEntries:    n.cfg.SnapshotEntries,
		CompactionOverhead: n.cfg.CompactionOverheadEntries,
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

// ID is this broker's node id (its replica id in every shard).
func (n *Node) ID() uint64 { return n.cfg.NodeID }

// Meta returns this replica's applied view of __meta.
func (n *Node) Meta() *meta.State { return n.meta.State() }

// MetaChanged returns a channel closed at the next __meta change.
func (n *Node) MetaChanged() <-chan struct{} { return n.meta.Changed() }

// SyncMeta waits until this replica has applied everything __meta had
// committed when it was called (a ReadIndex), so reads after it are
// linearizable.
func (n *Node) SyncMeta(ctx context.Context) error {
	_, err := n.nh.SyncRead(ctx, meta.ShardID, nil)
	return err
}

// ErrMetaRejected wraps a Kafka error code returned by the __meta state machine.
type ErrMetaRejected struct {
	Code    int16
	Message string
}

func (e *ErrMetaRejected) Error() string {
	return fmt.Sprintf("metadata: %s (code %d)", e.Message, e.Code)
}

// ProposeMeta commits a __meta command and returns its result data, or
// *ErrMetaRejected when the state machine refused it.
//
// A proposal made on a follower goes to the leader it knows of; when that
// leader has just died, dragonboat drops it without a word and it waits
// out its whole deadline (a client's InitProducerID sat 10 s behind a
// killed __meta leader). So a command that may be applied twice is
// proposed in attempts of one longest election timeout, by which time a
// dead leader has a successor; the others keep the caller's deadline.
func (n *Node) ProposeMeta(ctx context.Context, c meta.Command) ([]byte, error) {
	attempt := 2 * n.cfg.ElectionTimeout()
	for {
		start := time.Now()
		actx, cancel := ctx, context.CancelFunc(func() {})
		if c.RetrySafe() {
			actx, cancel = context.WithTimeout(ctx, attempt)
		}
		res, err := n.nh.SyncPropose(actx, n.nh.GetNoOPSession(meta.ShardID), c.Encode())
		cancel()
		if err == nil {
			n.metrics.ProposalDuration.WithLabelValues(metrics.GroupMeta).Observe(time.Since(start).Seconds())
			if res.Value != meta.ErrNone {
				return nil, &ErrMetaRejected{Code: int16(res.Value), Message: string(res.Data)}
			}
			return res.Data, nil
		}
		if !dragonboat.IsTempError(err) || ctx.Err() != nil {
			return nil, fmt.Errorf("propose to __meta: %w", err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("propose to __meta: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// register records this broker's addresses in __meta until it succeeds.
func (n *Node) register() {
	defer n.wg.Done()
	eps := make([]meta.Endpoint, 0, len(n.cfg.AdvertisedListeners))
	for _, l := range n.cfg.AdvertisedListeners {
		eps = append(eps, meta.Endpoint{Name: l.Name, Host: l.Host, Port: int32(l.Port)})
	}
	var id [16]byte
	_, _ = rand.Read(id[:])
	cmd := meta.Command{
		RegisterBroker: &meta.Broker{ID: n.cfg.NodeID, RaftAddr: n.cfg.RaftAddr, HTTPAddr: n.cfg.HTTPAddr, Endpoints: eps},
		ClusterID:      hex.EncodeToString(id[:]),
	}
	for {
		if cur, ok := n.Meta().Brokers[n.cfg.NodeID]; ok && sameBroker(cur, cmd.RegisterBroker) {
			return
		}
		// Proposals before the first election are only dropped (and logged).
		if _, _, ok := n.Leader(meta.ShardID); !ok {
			select {
			case <-n.stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		_, err := n.ProposeMeta(ctx, cmd)
		cancel()
		if err == nil {
			n.log.Info().Uint64("node_id", n.cfg.NodeID).Msg("broker registered in __meta")
			return
		}
		n.log.Debug().Err(err).Msg("register broker: retrying")
		select {
		case <-n.stop:
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func sameBroker(a, b *meta.Broker) bool {
	if a.RaftAddr != b.RaftAddr || a.HTTPAddr != b.HTTPAddr || len(a.Endpoints) != len(b.Endpoints) {
		return false
	}
	for i := range a.Endpoints {
		if a.Endpoints[i] != b.Endpoints[i] {
			return false
		}
	}
	return true
}

// reconcileLoop starts the replicas __meta assigns to this broker and stops
// (and deletes) those of deleted topics.
func (n *Node) reconcileLoop() {
	defer n.wg.Done()
	for {
		changed := n.meta.Changed()
		n.reconcile()
		select {
		case <-n.stop:
			return
		case <-changed:
		case <-time.After(time.Second):
		}
	}
}

func (n *Node) reconcile() {
	st := n.Meta()
	want := map[uint64]meta.PartitionRef{}
	for _, ref := range st.PartitionsOf(n.cfg.NodeID) {
		want[ref.Partition.ShardID] = ref
	}
	n.mu.RLock()
	var toStart []meta.PartitionRef
	var toStop []uint64
	for id, ref := range want {
		if !n.started[id] {
			toStart = append(toStart, ref)
		}
	}
	for id := range n.started {
		if _, ok := want[id]; !ok {
			toStop = append(toStop, id)
		}
	}
	n.mu.RUnlock()
	for _, ref := range toStart {
		if err := n.startPartition(st, ref); err != nil {
			n.log.Error().Err(err).Str("topic", ref.Topic).Int32("partition", ref.Partition.Index).Msg("start partition replica")
		}
	}
	n.reconcileGroupShards(st)
	for _, id := range toStop {
		n.stopPartition(id)
	}
}

func (n *Node) partitionDir(shardID uint64) string {
	return filepath.Join(n.cfg.DataDir, "partitions", strconv.FormatUint(shardID, 10))
}

func (n *Node) startPartition(st *meta.State, ref meta.PartitionRef) error {
	members := map[uint64]dragonboat.Target{}
	for _, r := range ref.Partition.Replicas {
		b, ok := st.Brokers[r]
		if !ok {
			return fmt.Errorf("replica broker %d is not registered", r)
		}
		members[r] = b.RaftAddr
	}
	shardID := ref.Partition.ShardID
	opts := storage.Options{SegmentBytes: topicconfig.ForLog(st.Topics[ref.Topic].Configs, n.cfg.LogDefaults()).SegmentBytes}
	factory := func(shard, _ uint64) sm.IOnDiskStateMachine {
		p := partition.New(shard, n.partitionDir(shard), opts)
		n.mu.Lock()
		n.parts[shard] = p
		n.mu.Unlock()
		return p
	}
	if err := n.nh.StartOnDiskReplica(members, false, factory, n.shardConfig(shardID, n.cfg.RaftQuiesce)); err != nil && !errors.Is(err, dragonboat.ErrShardAlreadyExist) {
		return fmt.Errorf("start shard %d: %w", shardID, err)
	}
	n.mu.Lock()
	n.started[shardID] = true
	n.startAt[shardID] = time.Now()
	if n.lastProposal[shardID] == nil {
		// Zero: the first proposal wakes the shard, which may have
		// quiesced before this broker ever proposed to it.
		n.lastProposal[shardID] = new(atomic.Int64)
	}
	n.mu.Unlock()
	n.log.Debug().Str("topic", ref.Topic).Int32("partition", ref.Partition.Index).Uint64("shard", shardID).Msg("partition replica started")
	return nil
}

func (n *Node) stopPartition(shardID uint64) {
	if err := n.nh.StopShard(shardID); err != nil && !errors.Is(err, dragonboat.ErrShardNotFound) {
		n.log.Warn().Err(err).Uint64("shard", shardID).Msg("stop deleted partition's shard")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.nh.SyncRemoveData(ctx, shardID, n.cfg.NodeID); err != nil {
		n.log.Warn().Err(err).Uint64("shard", shardID).Msg("remove deleted partition's Raft data")
	} else if err := n.releaseTanLog(shardID); err != nil {
		n.log.Warn().Err(err).Uint64("shard", shardID).Msg("release deleted partition's Raft log file")
	}
	n.mu.Lock()
	delete(n.started, shardID)
	delete(n.parts, shardID)
	delete(n.ready, shardID)
	delete(n.startAt, shardID)
	delete(n.lastProposal, shardID)
	n.mu.Unlock()
	if err := os.RemoveAll(n.partitionDir(shardID)); err != nil {
		n.log.Warn().Err(err).Uint64("shard", shardID).Msg("remove deleted partition's log")
	}
	n.log.Info().Uint64("shard", shardID).Msg("partition replica of a deleted topic removed")
}

// Partition returns the local replica of a shard, if this broker hosts it.
func (n *Node) Partition(shardID uint64) (*partition.StateMachine, bool) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	p, ok := n.parts[shardID]
	return p, ok && n.started[shardID]
}

// PartitionByName returns the local replica of a topic-partition, if hosted.
func (n *Node) PartitionByName(topic string, index int32) (*partition.StateMachine, bool) {
	t, ok := n.Meta().Topics[topic]
	if !ok || index < 0 || int(index) >= len(t.Partitions) {
		return nil, false
	}
	return n.Partition(t.Partitions[index].ShardID)
}

// Leader returns the live leader of a shard and its term (the Kafka leader
// epoch). For shards hosted here it asks the NodeHost; otherwise it uses the
// leader last reported through __meta.
func (n *Node) Leader(shardID uint64) (leader uint64, term uint64, ok bool) {
	n.mu.RLock()
	hosted := n.started[shardID] || n.groupSMs[shardID] != nil
	n.mu.RUnlock()
	if hosted || shardID == meta.ShardID {
		id, t, valid, err := n.nh.GetLeaderID(shardID)
		if err == nil && valid && id != 0 {
			return id, t, true
		}
		if hosted {
			return 0, t, false
		}
	}
	l, ok := n.Meta().Leaders[shardID]
	return l.Replica, l.Term, ok && l.Replica != 0
}

// IsLeader tells whether this broker leads the shard now, with the term.
func (n *Node) IsLeader(shardID uint64) (uint64, bool) {
	id, t, valid, err := n.nh.GetLeaderID(shardID)
	return t, err == nil && valid && id == n.cfg.NodeID
}

// Propose starts a proposal on a partition shard this broker leads.
func (n *Node) Propose(shardID uint64, cmd []byte, timeout time.Duration) (*dragonboat.RequestState, error) {
	n.touch(shardID)
	return n.nh.Propose(n.nh.GetNoOPSession(shardID), cmd, timeout)
}

// ReadIndex waits until the local replica has applied everything the shard
// had committed when it was called.
func (n *Node) ReadIndex(ctx context.Context, shardID uint64) error {
	_, err := n.nh.SyncRead(ctx, shardID, nil)
	return err
}

// HostedShards returns the partition shards this node has started.
func (n *Node) HostedShards() []uint64 {
	n.mu.RLock()
	defer n.mu.RUnlock()
	out := make([]uint64, 0, len(n.started))
	for id := range n.started {
		out = append(out, id)
	}
	return out
}

// Close stops the loops and the NodeHost (which closes every replica).
func (n *Node) Close() {
	close(n.stop)
	n.wg.Wait()
	n.nh.Close()
}

// producerIDBlock is how many producer ids a broker takes from __meta at once.
const producerIDBlock = 1000

// NextProducerID hands out a producer id from this broker's current block,
// taking a new block through __meta when it runs out. Blocks are never
// reused, so an id is unique in the cluster forever.
func (n *Node) NextProducerID(ctx context.Context) (int64, error) {
	n.pidMu.Lock()
	defer n.pidMu.Unlock()
	if n.pidNext == n.pidEnd {
		size := int64(producerIDBlock)
		data, err := n.ProposeMeta(ctx, meta.Command{AllocProducerIDs: &size})
		if err != nil {
			return 0, fmt.Errorf("allocate producer ids: %w", err)
		}
		start, err := strconv.ParseInt(string(data), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("allocate producer ids: bad block start %q", data)
		}
		n.pidNext, n.pidEnd = start, start+size
	}
	id := n.pidNext
	n.pidNext++
	return id, nil
}

// firstLeadership tells, once per shard, whether this leadership is the
// shard's first election after it was started here (within 30 s): only
// then is it handed to the preferred replica at once.
func (n *Node) firstLeadership(shard uint64) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	at, ok := n.startAt[shard]
	if !ok {
		return false
	}
	delete(n.startAt, shard)
	return time.Since(at) < 30*time.Second
}

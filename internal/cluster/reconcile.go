package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/lni/dragonboat/v4"
	dbconfig "github.com/lni/dragonboat/v4/config"
	sm "github.com/lni/dragonboat/v4/statemachine"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/longboat/longboat/internal/config"
	"github.com/longboat/longboat/internal/group"
	"github.com/longboat/longboat/internal/meta"
	"github.com/longboat/longboat/internal/partition"
	"github.com/longboat/longboat/internal/storage"
	"github.com/longboat/longboat/internal/topicconfig"
)

// replicaHost starts, stops and deletes replicas (a dragonboat NodeHost).
type replicaHost interface {
	StartReplica(members map[uint64]dragonboat.Target, join bool, create sm.CreateStateMachineFunc, cfg dbconfig.Config) error
	StartConcurrentReplica(members map[uint64]dragonboat.Target, join bool, create sm.CreateConcurrentStateMachineFunc, cfg dbconfig.Config) error
	StartOnDiskReplica(members map[uint64]dragonboat.Target, join bool, create sm.CreateOnDiskStateMachineFunc, cfg dbconfig.Config) error
	StopShard(shardID uint64) error
	HasNodeInfo(shardID uint64, replicaID uint64) bool
	SyncRemoveData(ctx context.Context, shardID uint64, replicaID uint64) error
	RequestSnapshot(shardID uint64, opt dragonboat.SnapshotOption, timeout time.Duration) (*dragonboat.RequestState, error)
}

// metaWatch is the applied view of __meta and its change signal.
type metaWatch interface {
	State() *meta.State
	Changed() <-chan struct{}
}

// proposeMetaFunc commits a __meta command.
type proposeMetaFunc func(ctx context.Context, c meta.Command) ([]byte, error)

// replicaBook is where the reconciler records the replicas it runs.
type replicaBook interface {
	opened(shardID uint64, p *partition.StateMachine)
	partitionStarted(shardID uint64)
	groupStarted(shardID uint64, smr *group.StateMachine)
	removed(shardID uint64)
	isStarted(shardID uint64) bool
	markOffline(shardID uint64, p *partition.StateMachine, dir string, err error, now time.Time) *offlineReplica
	offlineDue(now time.Time) []uint64
	forgetForRetry(shardID uint64)
	groupStateMachine(shardID uint64) (*group.StateMachine, bool)
	partitionShards() []uint64
	groupShards() []uint64
}

// proposalClock is told which partition shards run here, to time the
// wake-up of a quiesced shard before a proposal.
type proposalClock interface {
	track(shardID uint64)
	forget(shardID uint64)
}

// reconciler starts the replicas __meta assigns to this broker and stops
// (and deletes) those of deleted topics.
type reconciler struct {
	cfg        *config.Config
	nh         replicaHost
	meta       metaWatch
	propose    proposeMetaFunc
	replicas   replicaBook
	clock      proposalClock
	releaseLog func(shardID uint64) error // frees a deleted replica's Raft log file
	peers      peerHTTP                   // asks followers where their logs end
	// belowFloor tells whether the data dir is under --min-free-disk-bytes
	// (nil: never): leaders then defer the snapshots they would stream here.
	belowFloor func() bool
	// room is how many bytes the data dir can take before that floor (-1:
	// no floor): leaders stream no snapshot here that would not fit.
	room     func() int64
	trash    storage.Trash // frees removed segment files; nil unlinks them
	markers  *joinMarkers
	throttle moveThrottle
	// storageErrors counts the storage faults of partition replicas by
	// topic and partition.
	storageErrors *prometheus.CounterVec
	// applyTime times each batch of entries a partition replica applies.
	applyTime prometheus.Observer
	// growth follows the shared Raft log's growth (tan-shared; nil with a
	// log per replica): group replicas take snapshots by it.
	growth *logGrowth
	log    zerolog.Logger
}

func (r *reconciler) run(ctx context.Context) {
	for {
		changed := r.meta.Changed()
		r.reconcile(ctx)
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-time.After(time.Second):
		}
	}
}

func (r *reconciler) reconcile(ctx context.Context) {
	r.retryOffline(time.Now())
	st := r.meta.State()
	want := map[uint64]meta.PartitionRef{}
	for _, ref := range st.PartitionsOf(r.cfg.NodeID) {
		want[ref.Partition.ShardID] = ref
	}
	var toStart []meta.PartitionRef
	var toStop []uint64
	for id, ref := range want {
		if !r.replicas.isStarted(id) {
			toStart = append(toStart, ref)
		}
	}
	for _, id := range r.replicas.partitionShards() {
		if _, ok := want[id]; !ok {
			toStop = append(toStop, id)
		}
	}
	for _, ref := range toStart {
		if err := r.startPartition(st, ref); err != nil {
			r.log.Error().Err(err).Str("topic", ref.Topic).Int32("partition", ref.Partition.Index).Msg("start partition replica")
		}
	}
	r.reconcileGroupShards(ctx, st)
	for _, id := range toStop {
		r.stopPartition(ctx, id)
	}
}

func (r *reconciler) partitionDir(shardID uint64) string { return partitionDir(r.cfg.DataDir, shardID) }

// partitionDir is where the replica of a partition shard keeps its log.
func partitionDir(dataDir string, shardID uint64) string {
	return filepath.Join(dataDir, "partitions", strconv.FormatUint(shardID, 10))
}

// members maps a shard's replicas to their Raft addresses.
func members(st *meta.State, replicas []uint64) (map[uint64]dragonboat.Target, error) {
	out := map[uint64]dragonboat.Target{}
	for _, r := range replicas {
		b, ok := st.Brokers[r]
		if !ok {
			return nil, fmt.Errorf("replica broker %d is not registered", r)
		}
		out[r] = b.RaftAddr
	}
	return out, nil
}

// bootstrap is how a replica of a shard starts here: with the shard's
// initial members, or (join) as a non-voting member a reassignment brings
// in, which must not count as one of the shard's founders. A replica with
// Raft state restarts from dragonboat's bootstrap record (no members
// given), since its replica set may have changed since; non-voting while
// it has joined and not been confirmed a voter (joinMarkers).
func (r *reconciler) bootstrap(st *meta.State, shardID uint64, replicas []uint64) (initial map[uint64]dragonboat.Target, join, nonVoting bool, err error) {
	if r.nh.HasNodeInfo(shardID, r.cfg.NodeID) {
		return nil, false, r.markers.startNonVoting(shardID), nil
	}
	if move, moving := st.Reassignment(shardID); moving && move.JoinsNonVoting(r.cfg.NodeID) {
		return nil, true, true, r.markers.joining(shardID)
	}
	initial, err = members(st, replicas)
	return initial, false, false, err
}

func (r *reconciler) startPartition(st *meta.State, ref meta.PartitionRef) error {
	shardID := ref.Partition.ShardID
	initial, join, nonVoting, err := r.bootstrap(st, shardID, ref.Partition.Replicas)
	if err != nil {
		return err
	}
	opts := storage.Options{SegmentBytes: topicconfig.ForLog(st.Topics[ref.Topic].Configs, r.cfg.LogDefaults().WithDynamic(st.BrokerConfigs)).SegmentBytes, Trash: r.trash}
	factory := func(shard, _ uint64) sm.IOnDiskStateMachine {
		p := partition.New(shard, r.partitionDir(shard), opts)
		p.SetFollowerLogs(followerLogs{self: r.cfg.NodeID, meta: r.meta, client: r.peers})
		p.SetDiskFloor(r.belowFloor, r.room)
		p.SetStreamThrottle(r.throttle.forShard(shard))
		p.SetStreamObserver(r.logStream(ref))
		p.SetFaultHandler(r.faultHandler(ref, p))
		r.replicas.opened(shard, p)
		t := observedReplica{IOnDiskStateMachine: p, apply: r.applyTime, growth: r.growth}
		if r.cfg.SnapshotBytes > 0 {
			t.snap = &snapshotTrigger{every: int64(r.cfg.SnapshotBytes), request: snapshotRequests(r.nh, shard, r.log)}
		}
		return t
	}
	rc := shardConfig(r.cfg, shardID, r.cfg.RaftQuiesce)
	rc.IsNonVoting = nonVoting
	if err := r.nh.StartOnDiskReplica(initial, join, factory, rc); err != nil && !errors.Is(err, dragonboat.ErrShardAlreadyExist) {
		return fmt.Errorf("start shard %d: %w", shardID, err)
	}
	r.replicas.partitionStarted(shardID)
	r.clock.track(shardID)
	r.log.Debug().Str("topic", ref.Topic).Int32("partition", ref.Partition.Index).Uint64("shard", shardID).Msg("partition replica started")
	return nil
}

func (r *reconciler) stopPartition(ctx context.Context, shardID uint64) {
	if err := r.nh.StopShard(shardID); err != nil && !errors.Is(err, dragonboat.ErrShardNotFound) {
		r.log.Warn().Err(err).Uint64("shard", shardID).Msg("stop a partition shard no longer assigned here")
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := r.nh.SyncRemoveData(rctx, shardID, r.cfg.NodeID); err != nil {
		r.log.Warn().Err(err).Uint64("shard", shardID).Msg("remove deleted partition's Raft data")
	} else if err := r.releaseLog(shardID); err != nil {
		r.log.Warn().Err(err).Uint64("shard", shardID).Msg("release deleted partition's Raft log file")
	}
	r.replicas.removed(shardID)
	r.clock.forget(shardID)
	r.markers.forget(shardID)
	if err := os.RemoveAll(r.partitionDir(shardID)); err != nil {
		r.log.Warn().Err(err).Uint64("shard", shardID).Msg("remove deleted partition's log")
	}
	r.log.Info().Uint64("shard", shardID).Msg("partition replica removed (topic deleted or replica reassigned away)")
}

// reconcileGroupShards asks for the consumer-group shards once every
// initial member has registered, and starts the replicas placed here.
func (r *reconciler) reconcileGroupShards(ctx context.Context, st *meta.State) {
	if len(st.GroupShards) == 0 {
		if len(st.Brokers) < len(r.cfg.InitialMembers) {
			return
		}
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		_, err := r.propose(pctx, meta.Command{EnsureGroupShards: &meta.EnsureGroupShards{
			Count: r.cfg.GroupShards, ReplicationFactor: min(3, len(st.Brokers))}})
		cancel()
		if err != nil {
			r.log.Debug().Err(err).Msg("create group shards; retrying")
		}
		return
	}
	want := map[uint64]bool{}
	for _, p := range st.GroupShardsOf(r.cfg.NodeID) {
		want[p.ShardID] = true
		if _, started := r.replicas.groupStateMachine(p.ShardID); started {
			continue
		}
		if err := r.startGroupShard(st, p); err != nil {
			r.log.Error().Err(err).Uint64("shard", p.ShardID).Msg("start group shard replica")
		}
	}
	// A group shard reassigned away: its groups and transactions are
	// served by the replicas it moved to.
	for _, id := range r.replicas.groupShards() {
		if !want[id] {
			r.stopGroupShard(ctx, id)
		}
	}
}

// startGroupShard starts a group shard's replica here, as a partition's:
// a member from the start, a replica with Raft state from its bootstrap
// record, or one a reassignment brings in as a non-voting joiner.
func (r *reconciler) startGroupShard(st *meta.State, p meta.Partition) error {
	initial, join, nonVoting, err := r.bootstrap(st, p.ShardID, p.Replicas)
	if err != nil {
		return err
	}
	smr := group.NewStateMachine()
	factory := func(uint64, uint64) sm.IConcurrentStateMachine {
		if r.growth == nil {
			return smr
		}
		return observedGroup{IConcurrentStateMachine: smr,
			snap: &growthTrigger{log: r.growth, every: groupSnapshotGrowth, request: snapshotRequests(r.nh, p.ShardID, r.log)}}
	}
	rc := shardConfig(r.cfg, p.ShardID, false)
	rc.IsNonVoting = nonVoting
	if err := r.nh.StartConcurrentReplica(initial, join, factory, rc); err != nil && !errors.Is(err, dragonboat.ErrShardAlreadyExist) {
		return fmt.Errorf("start group shard %d: %w", p.ShardID, err)
	}
	r.replicas.groupStarted(p.ShardID, smr)
	return nil
}

// stopGroupShard stops a group shard's replica and deletes its Raft data.
func (r *reconciler) stopGroupShard(ctx context.Context, shardID uint64) {
	if err := r.nh.StopShard(shardID); err != nil && !errors.Is(err, dragonboat.ErrShardNotFound) {
		r.log.Warn().Err(err).Uint64("shard", shardID).Msg("stop a group shard no longer assigned here")
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := r.nh.SyncRemoveData(rctx, shardID, r.cfg.NodeID); err != nil {
		r.log.Warn().Err(err).Uint64("shard", shardID).Msg("remove reassigned group shard's Raft data")
	} else if err := r.releaseLog(shardID); err != nil {
		r.log.Warn().Err(err).Uint64("shard", shardID).Msg("release reassigned group shard's Raft log file")
	}
	r.replicas.removed(shardID)
	r.markers.forget(shardID)
	r.log.Info().Uint64("shard", shardID).Msg("group shard replica removed (reassigned away)")
}

package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/lni/dragonboat/v4"
	"github.com/rs/zerolog"

	"github.com/longboat/longboat/internal/durable"
	"github.com/longboat/longboat/internal/meta"
	"github.com/longboat/longboat/internal/storage"
)

// reassignInterval is how often the leader of a moving partition looks at
// its move again when nothing in __meta changed (a replica catching up).
const (
	reassignInterval = 500 * time.Millisecond
	// reassignStepTimeout bounds one membership change or __meta record.
	reassignStepTimeout = 10 * time.Second
	// reassignParallel moves are driven at once by one broker.
	reassignParallel = 8
)

// membershipHost changes a shard's Raft membership (a dragonboat NodeHost).
type membershipHost interface {
	SyncGetShardMembership(ctx context.Context, shardID uint64) (*dragonboat.Membership, error)
	SyncRequestAddNonVoting(ctx context.Context, shardID, replicaID uint64, target string, configChangeIndex uint64) error
	SyncRequestAddReplica(ctx context.Context, shardID, replicaID uint64, target string, configChangeIndex uint64) error
	SyncRequestDeleteReplica(ctx context.Context, shardID, replicaID uint64, configChangeIndex uint64) error
	RequestLeaderTransfer(shardID, target uint64) error
}

// caughtUp tells whether a replica of a partition led here was seen in
// sync during this leadership (the ISR tracker).
type caughtUp interface {
	canTakeOver(shardID, replica uint64, proven bool) bool
}

// reassigner drives the moves of the partitions this broker leads, one
// Raft membership change at a time per shard (docs/ARCHITECTURE.md,
// "Reassignment"). Every decision is taken from the shard's membership read
// afresh and __meta's record, so a new leader or a restarted broker
// carries on from wherever the previous one stopped.
type reassigner struct {
	self    uint64
	nh      membershipHost
	meta    metaWatch
	propose proposeMetaFunc
	leaders interface {
		isLeader(shardID uint64) (uint64, bool)
	}
	inSync  caughtUp
	touch   func(shardID uint64) // wakes a quiesced shard before a change
	snap    snapshotHost
	markers *joinMarkers
	// trimBeforeJoin: moves are throttled, so a partition's Raft log is
	// trimmed (a snapshot) before a replica joins it.
	trimBeforeJoin bool
	log            zerolog.Logger
}

func (r *reassigner) run(ctx context.Context) {
	for {
		changed := r.meta.Changed()
		r.round(ctx)
		r.confirmVoters(ctx)
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-time.After(reassignInterval):
		}
	}
}

// round takes one step of every move this broker leads.
func (r *reassigner) round(ctx context.Context) {
	st := r.meta.State()
	var shards []uint64
	for id := range st.Reassignments {
		if _, led := r.leaders.isLeader(id); led {
			shards = append(shards, id)
		}
	}
	sort.Slice(shards, func(i, j int) bool { return shards[i] < shards[j] })
	sem := make(chan struct{}, reassignParallel)
	var wg sync.WaitGroup
	for _, id := range shards {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			sctx, cancel := context.WithTimeout(ctx, reassignStepTimeout)
			defer cancel()
			if did, err := r.step(sctx, st, id); err != nil && ctx.Err() == nil {
				lvl := zerolog.InfoLevel
				if dragonboat.IsTempError(err) {
					lvl = zerolog.DebugLevel // a shard still starting, a leader change: the next round retries
				}
				r.log.WithLevel(lvl).Err(err).Uint64("shard", id).Msg("reassignment step; retrying")
			} else if did != "" {
				r.log.Info().Uint64("shard", id).Str("step", did).Msg("reassignment")
			}
		}()
	}
	wg.Wait()
}

// step makes the next change of one move, or records in __meta one the
// shard has made and __meta does not show yet, and says which.
func (r *reassigner) step(ctx context.Context, st *meta.State, shardID uint64) (string, error) {
	move, ok := st.Reassignment(shardID)
	if !ok {
		return "", nil
	}
	ref, ok := st.ReplicaSet(shardID)
	if !ok {
		return "", nil
	}
	replicas := ref.Partition.Replicas
	r.touch(shardID)
	m, err := r.nh.SyncGetShardMembership(ctx, shardID)
	if err != nil {
		return "", fmt.Errorf("read membership: %w", err)
	}
	isVoter := func(id uint64) bool { _, ok := m.Nodes[id]; return ok }
	isNonVoting := func(id uint64) bool { _, ok := m.NonVotings[id]; return ok }
	record := func(c meta.ReassignStep, what string) (string, error) {
		c.ShardID = shardID
		if _, err := r.propose(ctx, meta.Command{ReassignStep: &c}); err != nil {
			return "", fmt.Errorf("record %s: %w", what, err)
		}
		return what, nil
	}
	// What the shard did and __meta does not show yet (a leader that
	// stopped between the change and its record).
	for _, id := range replicas {
		if _, gone := m.Removed[id]; gone && !slices.Contains(move.Target, id) {
			return record(meta.ReassignStep{Removed: id}, fmt.Sprintf("recorded removal of %d", id))
		}
	}
	for _, id := range move.Target {
		if isVoter(id) && move.JoinsNonVoting(id) {
			return record(meta.ReassignStep{Promoted: id}, fmt.Sprintf("recorded promotion of %d", id))
		}
	}
	// Bring in each missing replica as non-voting, then promote it once
	// it has caught up.
	for _, id := range move.Target {
		if isVoter(id) {
			continue
		}
		addr, err := raftAddr(st, id)
		if err != nil {
			return "", err
		}
		if !isNonVoting(id) {
			if r.trimBeforeJoin && ref.Topic != meta.GroupShardsTopic {
				// A throttled move copies the log through the snapshot
				// stream (moveThrottle); a Raft log not trimmed yet would
				// reach the joiner as entries, unthrottled. A partition's
				// snapshot is a checkpoint; ErrRejected: one is current.
				if _, err := r.snap.SyncRequestSnapshot(ctx, shardID, dragonboat.SnapshotOption{}); err != nil && !errors.Is(err, dragonboat.ErrRejected) {
					return "", fmt.Errorf("trim the Raft log before adding %d: %w", id, err)
				}
			}
			if err := r.nh.SyncRequestAddNonVoting(ctx, shardID, id, addr, m.ConfigChangeID); err != nil {
				return "", fmt.Errorf("add %d as non-voting: %w", id, err)
			}
			return fmt.Sprintf("added %d as non-voting", id), nil
		}
		if !r.inSync.canTakeOver(shardID, id, true) {
			return "", nil // catching up
		}
		if err := r.nh.SyncRequestAddReplica(ctx, shardID, id, addr, m.ConfigChangeID); err != nil {
			return "", fmt.Errorf("promote %d: %w", id, err)
		}
		return record(meta.ReassignStep{Promoted: id}, fmt.Sprintf("promoted %d", id))
	}
	// Every target replica votes: take out the others, this broker last,
	// after handing its leadership to a caught-up target replica.
	var out []uint64
	for id := range m.NonVotings {
		if !slices.Contains(move.Target, id) {
			out = append(out, id)
		}
	}
	for id := range m.Nodes {
		if !slices.Contains(move.Target, id) && id != r.self {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	if len(out) > 0 {
		id := out[0]
		if err := r.nh.SyncRequestDeleteReplica(ctx, shardID, id, m.ConfigChangeID); err != nil {
			return "", fmt.Errorf("remove %d: %w", id, err)
		}
		return record(meta.ReassignStep{Removed: id}, fmt.Sprintf("removed %d", id))
	}
	if !slices.Contains(move.Target, r.self) {
		for _, id := range move.Target {
			if r.inSync.canTakeOver(shardID, id, true) {
				if err := r.nh.RequestLeaderTransfer(shardID, id); err != nil {
					return "", fmt.Errorf("hand leadership to %d: %w", id, err)
				}
				return fmt.Sprintf("handing leadership to %d before leaving", id), nil
			}
		}
		return "", nil // no target replica seen in sync yet
	}
	// The membership is the target; a replica __meta still lists was never
	// admitted (a cancel came first).
	for _, id := range replicas {
		if !slices.Contains(move.Target, id) {
			return record(meta.ReassignStep{Dropped: id}, fmt.Sprintf("dropped %d", id))
		}
	}
	return "", nil
}

// moveThrottle is --reassignment-throttle-bytes: one limit per broker,
// shared by the snapshot streams this broker sends for shards whose move
// still brings in a replica that is not a voter yet. A replica that joins
// a shard whose Raft log was trimmed (every --raft-snapshot-entries) is
// sent a snapshot stream of the whole partition log, which is the bulk of
// a move (the leader trims the log before the join: trimBeforeJoin); the
// entries after the snapshot (at most the trimmed log's overhead plus new
// writes) follow by Raft replication, unthrottled. While
// such a move runs, the shard's streams to its other followers share the
// limit too: a stream does not know its receiver.
type moveThrottle struct {
	meta  interface{ State() *meta.State }
	limit *storage.Throttle // nil: no limit
}

// forShard is a partition replica's stream throttle (SetStreamThrottle).
func (t moveThrottle) forShard(shardID uint64) func() *storage.Throttle {
	if t.limit == nil {
		return nil
	}
	return func() *storage.Throttle {
		move, ok := t.meta.State().Reassignment(shardID)
		if !ok {
			return nil
		}
		for _, id := range move.Adding() {
			if move.JoinsNonVoting(id) {
				return t.limit
			}
		}
		return nil
	}
}

// raftAddr is a registered broker's Raft address.
func raftAddr(st *meta.State, id uint64) (string, error) {
	b, ok := st.Brokers[id]
	if !ok {
		return "", fmt.Errorf("broker %d is not registered", id)
	}
	return b.RaftAddr, nil
}

// A replica a reassignment brings in joins its shard as non-voting, and
// dragonboat panics when a replica replays its own admission as
// non-voting while configured as a voter (and starts as a voter only if
// told so). A restart must therefore start it non-voting until a snapshot
// of its own records it as a voter: replaying the promotion then makes it
// a voter again. Two marker files per shard keep that across restarts,
// outside the partition directory, which a catch-up snapshot replaces.
const (
	joinedMarker = "joined"
	voterMarker  = "voter"
)

// joinMarkers are the marker files of the replicas here that joined their
// shard through a reassignment.
type joinMarkers struct {
	dir string // <data dir>/reassign
	mu  sync.Mutex
	// pending are the joined shards not yet snapshotted as voters here.
	pending map[uint64]bool
}

func newJoinMarkers(dataDir string) *joinMarkers {
	return &joinMarkers{dir: filepath.Join(dataDir, "reassign"), pending: map[uint64]bool{}}
}

func (j *joinMarkers) path(shardID uint64, kind string) string {
	return filepath.Join(j.dir, fmt.Sprintf("%d-%s", shardID, kind))
}

func (j *joinMarkers) has(shardID uint64, kind string) bool {
	_, err := os.Stat(j.path(shardID, kind))
	return err == nil
}

// mark records kind for a shard durably.
func (j *joinMarkers) mark(shardID uint64, kind string) error {
	if err := os.MkdirAll(j.dir, 0o755); err != nil {
		return err
	}
	if err := durable.SyncDir(filepath.Dir(j.dir)); err != nil {
		return err
	}
	return durable.WriteFile(j.path(shardID, kind), nil, 0o644)
}

// startNonVoting tells whether a replica with Raft state here must
// restart non-voting, and if so remembers it for confirmVoters.
func (j *joinMarkers) startNonVoting(shardID uint64) bool {
	nv := j.has(shardID, joinedMarker) && !j.has(shardID, voterMarker)
	if nv {
		j.mu.Lock()
		j.pending[shardID] = true
		j.mu.Unlock()
	}
	return nv
}

// metaNonVoting tells whether this broker's __meta replica starts
// non-voting: one that joined the cluster does until its own snapshot
// records its promotion (the voter marker), and is remembered for
// confirmVoters. No joined marker is needed: --join says it.
func (j *joinMarkers) metaNonVoting(joined bool) bool {
	if !joined || j.has(meta.ShardID, voterMarker) {
		return false
	}
	j.mu.Lock()
	j.pending[meta.ShardID] = true
	j.mu.Unlock()
	return true
}

// joining records that a replica is about to join its shard as non-voting.
func (j *joinMarkers) joining(shardID uint64) error {
	if err := j.mark(shardID, joinedMarker); err != nil {
		return fmt.Errorf("record the join of shard %d: %w", shardID, err)
	}
	j.mu.Lock()
	j.pending[shardID] = true
	j.mu.Unlock()
	return nil
}

// confirmed records that a joined replica's own snapshot holds it as a
// voter.
func (j *joinMarkers) confirmed(shardID uint64) error {
	if err := j.mark(shardID, voterMarker); err != nil {
		return err
	}
	j.mu.Lock()
	delete(j.pending, shardID)
	j.mu.Unlock()
	return nil
}

// forget removes a shard's markers with its replica.
func (j *joinMarkers) forget(shardID uint64) {
	j.mu.Lock()
	delete(j.pending, shardID)
	j.mu.Unlock()
	os.Remove(j.path(shardID, joinedMarker))
	os.Remove(j.path(shardID, voterMarker))
}

func (j *joinMarkers) pendingShards() []uint64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	out := make([]uint64, 0, len(j.pending))
	for id := range j.pending {
		out = append(out, id)
	}
	return out
}

// snapshotHost takes a replica's own snapshot (a dragonboat NodeHost).
type snapshotHost interface {
	SyncRequestSnapshot(ctx context.Context, shardID uint64, opt dragonboat.SnapshotOption) (uint64, error)
}

// confirmVoters takes, for each joined replica here that its shard now
// counts as a voter, a snapshot (which records the membership) and then
// the voter marker, after which it restarts as a voter.
func (r *reassigner) confirmVoters(ctx context.Context) {
	for _, id := range r.markers.pendingShards() {
		sctx, cancel := context.WithTimeout(ctx, reassignStepTimeout)
		m, err := r.nh.SyncGetShardMembership(sctx, id)
		if err == nil {
			if _, voter := m.Nodes[r.self]; voter {
				// ErrRejected: a snapshot already covers every applied
				// entry, the promotion among them (read above).
				if _, err = r.snap.SyncRequestSnapshot(sctx, id, dragonboat.SnapshotOption{}); err == nil || errors.Is(err, dragonboat.ErrRejected) {
					if err = r.markers.confirmed(id); err == nil {
						r.log.Info().Uint64("shard", id).Msg("replica brought in by a reassignment is a voter; it restarts as one")
					}
				}
			}
		}
		cancel()
		if err != nil && ctx.Err() == nil {
			r.log.Debug().Err(err).Uint64("shard", id).Msg("confirm a joined replica as voter; retrying")
		}
	}
}

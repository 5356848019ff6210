package cluster

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/lni/dragonboat/v4"
	"github.com/rs/zerolog"

	"github.com/longboat/longboat/internal/meta"
)

// metaVoterInterval is how often __meta's leader looks at its voters.
const metaVoterInterval = 2 * time.Second

// metaMembershipHost reads and changes __meta's membership (a dragonboat
// NodeHost).
type metaMembershipHost interface {
	SyncGetShardMembership(ctx context.Context, shardID uint64) (*dragonboat.Membership, error)
	SyncRequestAddReplica(ctx context.Context, shardID, replicaID uint64, target string, configChangeIndex uint64) error
	SyncRequestDeleteReplica(ctx context.Context, shardID, replicaID uint64, configChangeIndex uint64) error
	RequestLeaderTransfer(shardID, targetID uint64) error
}

// metaVoterKeeper keeps --meta-voters voters in __meta among the live brokers,
// run by __meta's leader, one membership change per round at the
// membership's config change id (a concurrent change fails it):
//
//   - fewer voters than wanted (a cluster formed by fewer initial members,
//     a voter removed): a non-voting member is promoted;
//   - a voter down for --meta-voter-replace-after: a non-voting member is
//     promoted first, so the voters never drop below the wanted number,
//     and once there are more voters than wanted the dead one is removed;
//   - a draining voter (remove-broker is taking it out of the cluster) is
//     replaced the same way, without waiting: a non-voting member is
//     promoted at once, and the draining voter is removed once there are
//     more voters than wanted and it holds no replica any more (until then
//     its __meta replica must follow: the moves off it read it);
//   - a draining leader hands __meta's leadership to a caught-up,
//     non-draining voter first and changes nothing itself: a leader taking
//     itself out of the group would leave __meta without a leader (no
//     writes, no keeper) until an election timeout.
//
// Only a registered, non-draining non-voting member that answers and that
// the leader has seen holding everything __meta had applied (the ISR
// tracker, by applied index) is promoted, the lowest id first. Live
// voters that are not draining are never removed, so a voter that came
// back before its removal stays one. The voters never drop below the
// wanted number: with no member to promote, a dead or draining voter
// stays (remove-broker refuses such a voter up front).
type metaVoterKeeper struct {
	self         uint64
	want         int
	replaceAfter time.Duration
	nh           metaMembershipHost
	meta         metaState
	leaders      interface {
		isLeader(shardID uint64) (uint64, bool)
	}
	inSync caughtUp
	down   func(ctx context.Context) map[uint64]bool
	now    func() time.Time
	log    zerolog.Logger

	downSince map[uint64]time.Time // voters seen down, since when
}

func (v *metaVoterKeeper) run(ctx context.Context) {
	tick := time.NewTicker(metaVoterInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if _, leader := v.leaders.isLeader(meta.ShardID); !leader {
			clear(v.downSince) // a later leadership starts counting afresh
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, reassignStepTimeout)
		did, err := v.round(sctx)
		cancel()
		switch {
		case err != nil && ctx.Err() == nil:
			lvl := zerolog.InfoLevel
			if dragonboat.IsTempError(err) {
				lvl = zerolog.DebugLevel
			}
			v.log.WithLevel(lvl).Err(err).Msg("__meta voters; retrying")
		case did != "":
			v.log.Info().Str("change", did).Msg("__meta voters")
		}
	}
}

// round makes at most one change to __meta's voters and says which.
func (v *metaVoterKeeper) round(ctx context.Context) (string, error) {
	m, err := v.nh.SyncGetShardMembership(ctx, meta.ShardID)
	if err != nil {
		return "", fmt.Errorf("read __meta membership: %w", err)
	}
	st := v.meta.State()
	down := v.down(ctx)
	now := v.now()
	voters := sortedIDs(m.Nodes)
	var dead []uint64
	for id := range v.downSince {
		if _, ok := m.Nodes[id]; !ok || !down[id] {
			delete(v.downSince, id)
		}
	}
	for _, id := range voters {
		if id == v.self || !down[id] {
			continue
		}
		since, ok := v.downSince[id]
		if !ok {
			v.downSince[id] = now
			continue
		}
		if now.Sub(since) >= v.replaceAfter {
			dead = append(dead, id)
		}
	}
	if _, voter := m.Nodes[v.self]; voter && st.IsDraining(v.self) {
		return v.handOver(st, voters, down)
	}
	// draining are the voters remove-broker is taking out, emptied those
	// that hold no replica any more.
	var draining, emptied []uint64
	for _, id := range voters {
		if id != v.self && st.IsDraining(id) && !slices.Contains(dead, id) {
			draining = append(draining, id)
			if len(st.HeldBy(id)) == 0 {
				emptied = append(emptied, id)
			}
		}
	}
	if len(voters) > v.want && len(dead) > 0 {
		id := dead[0]
		if err := v.nh.SyncRequestDeleteReplica(ctx, meta.ShardID, id, m.ConfigChangeID); err != nil {
			return "", fmt.Errorf("remove voter %d, down for %v: %w", id, now.Sub(v.downSince[id]).Round(time.Second), err)
		}
		delete(v.downSince, id)
		return fmt.Sprintf("removed voter %d, down for more than %v (it cannot rejoin under this id: wipe it and join it with a new one)", id, v.replaceAfter), nil
	}
	if len(voters) > v.want && len(emptied) > 0 {
		id := emptied[0]
		if err := v.nh.SyncRequestDeleteReplica(ctx, meta.ShardID, id, m.ConfigChangeID); err != nil {
			return "", fmt.Errorf("remove draining voter %d: %w", id, err)
		}
		return fmt.Sprintf("removed draining voter %d (remove-broker takes it out of the cluster)", id), nil
	}
	if len(voters)-len(dead)-len(draining) >= v.want {
		return "", nil
	}
	for _, id := range sortedIDs(m.NonVotings) {
		b, registered := st.Brokers[id]
		if !registered || down[id] || st.IsDraining(id) || !v.inSync.canTakeOver(meta.ShardID, id, true) {
			continue
		}
		if err := v.nh.SyncRequestAddReplica(ctx, meta.ShardID, id, b.RaftAddr, m.ConfigChangeID); err != nil {
			return "", fmt.Errorf("promote %d to a voter of __meta: %w", id, err)
		}
		why := fmt.Sprintf("%d voters, %d wanted", len(voters), v.want)
		switch {
		case len(dead) > 0:
			why = fmt.Sprintf("voter %d down for more than %v", dead[0], v.replaceAfter)
		case len(draining) > 0:
			why = fmt.Sprintf("voter %d draining", draining[0])
		}
		return fmt.Sprintf("promoted %d to a voter (%s)", id, why), nil
	}
	if len(dead)+len(draining) > 0 {
		v.log.Debug().Uints64("dead_voters", dead).Uints64("draining_voters", draining).Msg("__meta voter to replace, but no caught-up, live, non-draining non-voting member to take its place")
	}
	return "", nil
}

// handOver gives __meta's leadership, held by this draining voter, to a
// live, non-draining voter seen caught up, whose keeper then replaces
// this one.
func (v *metaVoterKeeper) handOver(st *meta.State, voters []uint64, down map[uint64]bool) (string, error) {
	for _, id := range voters {
		if id == v.self || down[id] || st.IsDraining(id) || !v.inSync.canTakeOver(meta.ShardID, id, true) {
			continue
		}
		if err := v.nh.RequestLeaderTransfer(meta.ShardID, id); err != nil {
			return "", fmt.Errorf("hand __meta leadership to %d: %w", id, err)
		}
		return fmt.Sprintf("handing __meta leadership to %d (this broker is draining: its vote is replaced from there)", id), nil
	}
	v.log.Debug().Uints64("voters", voters).Msg("this broker is draining but no live, caught-up, non-draining voter can take __meta's leadership")
	return "", nil
}

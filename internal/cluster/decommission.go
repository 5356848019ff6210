package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/longboat/longboat/internal/meta"
)

// ErrBrokerRefused is a drain or removal the cluster will not make as
// asked; asking again does not help until the operator changes something.
type ErrBrokerRefused struct{ Reason string }

func (e *ErrBrokerRefused) Error() string { return e.Reason }

// refusedByMeta turns __meta's refusal into ErrBrokerRefused.
func refusedByMeta(err error) error {
	var rej *ErrMetaRejected
	if errors.As(err, &rej) {
		return &ErrBrokerRefused{rej.Message}
	}
	return err
}

// SetDraining marks broker id draining in __meta (no placement puts a new
// replica on it) or takes the mark back.
func (n *Node) SetDraining(ctx context.Context, id uint64, draining bool) error {
	if _, err := n.ProposeMeta(ctx, meta.Command{SetDraining: &meta.SetDraining{Broker: id, Draining: draining}}); err != nil {
		return refusedByMeta(err)
	}
	return nil
}

// RemoveBroker takes broker id, which must hold no replica any more, out
// of __meta's brokers and then out of __meta's Raft group, where it is a
// non-voting member. A voter is refused: its vote is taken away by
// __meta's voter keeper (metaVoterKeeper), which promotes a non-voting
// member in its place once the voter is draining and then removes it once
// it holds no replica; remove-broker marks it draining and waits for that
// before asking here. Asked again after a failure between the two steps,
// it finishes the second.
func (n *Node) RemoveBroker(ctx context.Context, id uint64) error {
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := n.SyncMeta(sctx); err != nil {
		return fmt.Errorf("__meta not readable here: %w", err)
	}
	if id == n.cfg.NodeID {
		return &ErrBrokerRefused{fmt.Sprintf("broker %d cannot remove itself: ask another broker", id)}
	}
	m, err := n.nh.SyncGetShardMembership(sctx, meta.ShardID)
	if err != nil {
		return fmt.Errorf("__meta membership: %w", err)
	}
	if _, voter := m.Nodes[id]; voter {
		if !n.meta.State().IsDraining(id) {
			return &ErrBrokerRefused{fmt.Sprintf("broker %d is a voter of __meta (voters %v): mark it draining first (longboat cluster remove-broker %d does), "+
				"so that __meta's leader promotes a broker that joined in its place and then takes its vote away", id, sortedIDs(m.Nodes), id)}
		}
		return &ErrBrokerRefused{fmt.Sprintf("broker %d is still a voter of __meta (voters %v, non-voting %v): __meta's leader takes its vote away once it holds no replica "+
			"and a live, caught-up broker that joined has been promoted in its place (%d voters kept); wait for that (longboat cluster status), "+
			"or join another broker first if none can be promoted", id, sortedIDs(m.Nodes), sortedIDs(m.NonVotings), n.cfg.MetaVoters)}
	}
	if _, err := n.ProposeMeta(ctx, meta.Command{RemoveBroker: &id}); err != nil {
		return refusedByMeta(err)
	}
	if _, member := m.NonVotings[id]; member {
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := n.nh.SyncRequestDeleteReplica(dctx, meta.ShardID, id, m.ConfigChangeID); err != nil {
			return fmt.Errorf("broker %d is out of __meta's brokers but still a non-voting member of its Raft group (ask again): %w", id, err)
		}
	}
	return nil
}

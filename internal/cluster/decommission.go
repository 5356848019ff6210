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
// non-voting member. A voter is refused: removing one changes __meta's
// quorum, which this version does not do. Asked again after a failure
// between the two steps, it finishes the second.
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
		return &ErrBrokerRefused{fmt.Sprintf("broker %d is a voter of __meta (voters %v): removing it would change __meta's quorum, which this version does not do; "+
			"move its replicas away (longboat cluster rebalance moves them off a dead broker) and keep it in __meta, see docs/OPERATIONS.md \"Replace a broker\"", id, sortedIDs(m.Nodes))}
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

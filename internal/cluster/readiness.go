package cluster

import (
	"context"

	"github.com/longboat/longboat/internal/meta"
)

// Readiness reports the checks /readyz is made of.
type Readiness struct {
	MetaLeader     bool
	MetaCaughtUp   bool
	Registered     bool
	ReplicasTotal  int
	ReplicasReady  int
	ReplicasLeader int
	// UnderReplicated counts the partitions led here with an ISR smaller
	// than the replica set; it is informational and does not fail
	// readiness (a broker's peer being down does not make it unready).
	UnderReplicated int
}

// Ready tells whether every check passes.
func (r Readiness) Ready() bool {
	return r.MetaLeader && r.MetaCaughtUp && r.Registered && r.ReplicasReady == r.ReplicasTotal && r.ReplicasLeader == r.ReplicasTotal
}

// readyReplicas tells whether a shard's replica was started here and
// reported ready.
type readyReplicas interface {
	readyHere(shardID uint64) bool
}

// underReplication tells whether a partition led here has replicas out
// of sync.
type underReplication interface {
	underReplicated(shardID uint64, replicas []uint64) bool
}

// readinessCheck evaluates the checks of Readiness.
type readinessCheck struct {
	self     uint64
	meta     metaState
	sync     func(ctx context.Context) error // a ReadIndex on __meta
	leaders  leaderFinder
	nh       leaderIDs
	replicas readyReplicas
	isr      underReplication
}

// check evaluates readiness now; ctx bounds the ReadIndex on __meta that
// proves this replica has caught up.
func (c readinessCheck) check(ctx context.Context) Readiness {
	var r Readiness
	_, _, r.MetaLeader = c.leaders.leader(meta.ShardID)
	r.MetaCaughtUp = c.sync(ctx) == nil
	st := c.meta.State()
	_, r.Registered = st.Brokers[c.self]
	sets := st.ReplicaSetsOf(c.self)
	r.ReplicasTotal = len(sets)
	for _, p := range sets {
		if c.replicas.readyHere(p.ShardID) {
			r.ReplicasReady++
		}
		lid, _, ok, err := c.nh.GetLeaderID(p.ShardID)
		if err != nil || !ok || lid == 0 {
			continue
		}
		r.ReplicasLeader++
		if lid == c.self && c.isr.underReplicated(p.ShardID, p.Replicas) {
			r.UnderReplicated++
		}
	}
	return r
}

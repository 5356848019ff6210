package cluster

import (
	"github.com/longboat/longboat/internal/meta"
)

// leaderIDs is the NodeHost's view of the leaders of the replicas it runs.
type leaderIDs interface {
	GetLeaderID(shardID uint64) (leader uint64, term uint64, valid bool, err error)
}

// metaState is the applied view of __meta.
type metaState interface {
	State() *meta.State
}

// leaderView tells who leads a shard: the local replica's knowledge for
// shards hosted here (and __meta), the leader reported through __meta for
// the others.
type leaderView struct {
	self  uint64
	nh    leaderIDs
	hosts func(shardID uint64) bool
	meta  metaState
}

func (v leaderView) leader(shardID uint64) (leader uint64, term uint64, ok bool) {
	hosted := v.hosts(shardID)
	if hosted || shardID == meta.ShardID {
		id, t, valid, err := v.nh.GetLeaderID(shardID)
		if err == nil && valid && id != 0 {
			return id, t, true
		}
		if hosted {
			return 0, t, false
		}
	}
	l, ok := v.meta.State().Leaders[shardID]
	return l.Replica, l.Term, ok && l.Replica != 0
}

func (v leaderView) isLeader(shardID uint64) (uint64, bool) {
	id, t, valid, err := v.nh.GetLeaderID(shardID)
	return t, err == nil && valid && id == v.self
}

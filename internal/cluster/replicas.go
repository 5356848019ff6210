package cluster

import (
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/longboat/longboat/internal/group"
	"github.com/longboat/longboat/internal/partition"
)

// registry records the replicas this broker runs: their state machines,
// which have started, which reported ready, and when each was started.
type registry struct {
	mu       sync.RWMutex
	parts    map[uint64]*partition.StateMachine // opened replicas by shard id
	started  map[uint64]bool                    // partition shards this node has started
	ready    map[uint64]bool                    // shards whose replica reported ready
	groupSMs map[uint64]*group.StateMachine     // started group shards
	startAt  map[uint64]time.Time               // when each shard was started here
	offline  map[uint64]*offlineReplica         // partition replicas stopped by a storage fault
	faults   map[uint64]int                     // storage faults per shard, for the retry backoff
}

func newRegistry() *registry {
	return &registry{
		parts:    map[uint64]*partition.StateMachine{},
		started:  map[uint64]bool{},
		ready:    map[uint64]bool{},
		groupSMs: map[uint64]*group.StateMachine{},
		startAt:  map[uint64]time.Time{},
		offline:  map[uint64]*offlineReplica{},
		faults:   map[uint64]int{},
	}
}

// opened records a partition replica dragonboat has just created.
func (r *registry) opened(shardID uint64, p *partition.StateMachine) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.parts[shardID] = p
}

// partitionStarted records that a partition shard runs here from now.
func (r *registry) partitionStarted(shardID uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.started[shardID] = true
	r.startAt[shardID] = time.Now()
}

// groupStarted records that a group shard runs here from now.
func (r *registry) groupStarted(shardID uint64, smr *group.StateMachine) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.groupSMs[shardID] = smr
	r.startAt[shardID] = time.Now()
}

// removed forgets a partition or group shard whose replica was stopped
// and deleted.
func (r *registry) removed(shardID uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.groupSMs, shardID)
	delete(r.started, shardID)
	delete(r.parts, shardID)
	delete(r.ready, shardID)
	delete(r.startAt, shardID)
	delete(r.offline, shardID)
	delete(r.faults, shardID)
}

func (r *registry) setReady(shardID uint64, ready bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ready {
		r.ready[shardID] = true
	} else {
		delete(r.ready, shardID)
	}
}

// partition returns the started local replica of a partition shard,
// unless a storage fault took it offline.
func (r *registry) partition(shardID uint64) (*partition.StateMachine, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	p, ok := r.parts[shardID]
	return p, ok && r.started[shardID] && r.offline[shardID] == nil
}

// groupStateMachine returns the local replica of a group shard.
func (r *registry) groupStateMachine(shardID uint64) (*group.StateMachine, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	smr, ok := r.groupSMs[shardID]
	return smr, ok
}

// isStarted tells whether a partition shard has been started here.
func (r *registry) isStarted(shardID uint64) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.started[shardID]
}

// hosts tells whether a partition or group shard runs here: started, and
// not stopped by a storage fault (whose partition's leader is then the one
// __meta reports, not "none").
func (r *registry) hosts(shardID uint64) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return (r.started[shardID] && r.offline[shardID] == nil) || r.groupSMs[shardID] != nil
}

// readyHere tells whether a shard has been started here and its replica
// reported ready.
func (r *registry) readyHere(shardID uint64) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return (r.started[shardID] || r.groupSMs[shardID] != nil) && r.ready[shardID]
}

// partitionShards returns the partition shards started here.
func (r *registry) partitionShards() []uint64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return slices.Collect(maps.Keys(r.started))
}

// groupShards returns the group shards started here.
func (r *registry) groupShards() []uint64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return slices.Collect(maps.Keys(r.groupSMs))
}

// firstLeadership tells, once per shard, whether this leadership is the
// shard's first election after it was started here (within 30 s): only
// then is it handed to the preferred replica at once.
func (r *registry) firstLeadership(shardID uint64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	at, ok := r.startAt[shardID]
	if !ok {
		return false
	}
	delete(r.startAt, shardID)
	return time.Since(at) < 30*time.Second
}

package cluster

import (
	"strconv"
	"time"

	"github.com/longboat/longboat/internal/meta"
	"github.com/longboat/longboat/internal/partition"
)

// A storage fault in one partition replica (see partition/fault.go) stops
// that replica's shard: it leaves the Raft group's quorum to the other
// replicas, which elect a leader among themselves, and clients asking
// this broker get NOT_LEADER_OR_FOLLOWER and move on. The broker and its
// other replicas keep serving. The shard is started again after a backoff
// (2 s doubling to a minute); a replica that opens catches up from its
// own Raft log and its peers like any restarted one, and one that still
// cannot open goes offline again. The Raft log (dragonboat's LogDB) is
// never discarded, so the replica votes only with the log it holds.

// offlineReplica is a partition replica stopped by a storage fault.
type offlineReplica struct {
	sm      *partition.StateMachine
	err     error
	dir     string
	since   time.Time
	retryAt time.Time
}

const (
	firstFaultRetry = 2 * time.Second
	maxFaultRetry   = time.Minute
	// closeWait bounds how long a retry waits for dragonboat to close the
	// faulted replica's files before opening them again: the faulted
	// replica writes nothing any more, so a late close is harmless.
	closeWait = 30 * time.Second
)

// faultBackoff is the wait before the n-th restart (from 0) of a replica.
func faultBackoff(n int) time.Duration {
	d := firstFaultRetry
	for range min(n, 6) {
		d *= 2
	}
	return min(d, maxFaultRetry)
}

// markOffline records that p, the replica of shardID, met a storage fault.
func (r *registry) markOffline(shardID uint64, p *partition.StateMachine, dir string, err error, now time.Time) *offlineReplica {
	r.mu.Lock()
	defer r.mu.Unlock()
	o := &offlineReplica{sm: p, err: err, dir: dir, since: now, retryAt: now.Add(faultBackoff(r.faults[shardID]))}
	r.offline[shardID] = o
	r.faults[shardID]++
	return o
}

// offlineDue returns the offline shards whose retry is due: the backoff
// has passed and dragonboat has closed the faulted replica (or took
// longer than closeWait to).
func (r *registry) offlineDue(now time.Time) []uint64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var due []uint64
	for id, o := range r.offline {
		if now.Before(o.retryAt) {
			continue
		}
		select {
		case <-o.sm.Closed():
		default:
			if now.Sub(o.since) < closeWait {
				continue
			}
		}
		due = append(due, id)
	}
	return due
}

// forgetForRetry clears an offline shard's started state, so that the
// reconciler starts it again; its fault count stays for the backoff.
func (r *registry) forgetForRetry(shardID uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.started, shardID)
	delete(r.parts, shardID)
	delete(r.ready, shardID)
	delete(r.startAt, shardID)
	delete(r.offline, shardID)
}

// offlineErrors returns the storage fault of each offline replica.
func (r *registry) offlineErrors() map[uint64]error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make(map[uint64]error, len(r.offline))
	for id, o := range r.offline {
		out[id] = o.err
	}
	return out
}

// faultHandler is told of p's storage fault on a dragonboat worker, which
// waits until the shard stops: so it only records and logs, and stops the
// shard from another goroutine.
func (r *reconciler) faultHandler(ref meta.PartitionRef, p *partition.StateMachine) func(error) {
	shard := ref.Partition.ShardID
	return func(err error) {
		o := r.replicas.markOffline(shard, p, r.partitionDir(shard), err, time.Now())
		r.storageErrors.WithLabelValues(ref.Topic, strconv.Itoa(int(ref.Partition.Index))).Inc()
		r.log.Error().Err(err).Str("topic", ref.Topic).Int32("partition", ref.Partition.Index).Uint64("shard", shard).
			Str("path", o.dir).Time("retry_at", o.retryAt).
			Msg("storage fault: partition replica offline, its shard stopped; the other replicas serve it, and it is restarted after the backoff")
		go func() {
			if err := r.nh.StopShard(shard); err != nil {
				r.log.Warn().Err(err).Uint64("shard", shard).Msg("stop the shard of a faulted replica")
			}
		}()
	}
}

// retryOffline lets the reconciler start again the faulted replicas whose
// retry is due.
func (r *reconciler) retryOffline(now time.Time) {
	for _, shard := range r.replicas.offlineDue(now) {
		r.replicas.forgetForRetry(shard)
		r.clock.forget(shard)
		r.log.Info().Uint64("shard", shard).Msg("restarting a partition replica a storage fault took offline")
	}
}

package cluster

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/lni/dragonboat/v4"
	"github.com/rs/zerolog"
)

// snapshotTrigger asks for a partition replica's Raft snapshot once the
// entries it applied since its last one hold a number of bytes.
// dragonboat snapshots every --raft-snapshot-entries entries, and a
// partition snapshot costs the same fsyncs (the segment, the checkpoint,
// dragonboat's snapshot files and directories) whatever it covers, so an
// entry count made small produce requests (no linger) pay them far more
// often per byte than large ones (docs/BENCHMARKS.md). Counted in bytes
// the cost follows the log written, and the entry count stays the bound
// for shards of small entries.
type snapshotTrigger struct {
	every int64
	// request asks for a snapshot without waiting and calls done once the
	// request ended, saying whether a snapshot was taken.
	request func(done func(taken bool))
	since   atomic.Int64 // entry bytes applied since the last Sync
	pending atomic.Bool  // a request is out
}

// applied counts the bytes of a batch of applied entries and asks for a
// snapshot once they reach the threshold.
func (s *snapshotTrigger) applied(n int64) {
	s.since.Add(n)
	s.ask()
}

func (s *snapshotTrigger) ask() {
	if s.since.Load() < s.every || !s.pending.CompareAndSwap(false, true) {
		return
	}
	s.request(s.done)
}

// done ends a request. After a snapshot, entries applied while it was
// taken may already call for the next one. A request dragonboat turned
// down (another snapshot or a recovery in progress) leaves the count over
// the threshold, and the next Update would ask again at once: the next
// request waits snapshotRetry.
func (s *snapshotTrigger) done(taken bool) {
	if !taken {
		time.AfterFunc(snapshotRetry, func() { s.pending.Store(false) })
		return
	}
	s.pending.Store(false)
	s.ask()
}

// synced starts the count again: Sync runs when dragonboat takes a
// snapshot (and, rarely, on its own), with no Update in between.
func (s *snapshotTrigger) synced() { s.since.Store(0) }

// snapshotRetry is how long a replica waits to ask for a snapshot again
// after a request that took none.
const snapshotRetry = time.Second

// snapshotRequests is the request of a snapshotTrigger for one shard.
func snapshotRequests(nh replicaHost, shardID uint64, log zerolog.Logger) func(done func(bool)) {
	return func(done func(bool)) {
		go func() {
			rs, err := nh.RequestSnapshot(shardID, dragonboat.SnapshotOption{}, 30*time.Second)
			if err != nil {
				if !errors.Is(err, dragonboat.ErrClosed) && !errors.Is(err, dragonboat.ErrShardNotFound) {
					log.Debug().Err(err).Uint64("shard", shardID).Msg("snapshot by bytes not requested")
				}
				done(false)
				return
			}
			r := <-rs.ResultC()
			rs.Release()
			if r.Timeout() {
				log.Debug().Uint64("shard", shardID).Msg("snapshot by bytes timed out")
			}
			done(r.Completed())
		}()
	}
}

// logGrowth follows how much a shared Raft log (tan-shared) has grown: the
// entry bytes every partition replica of the broker applied, near enough
// the bytes appended to the log they share.
type logGrowth struct{ bytes atomic.Int64 }

// groupSnapshotGrowth is how far the shared log grows before a group
// replica that keeps applying entries takes a snapshot: a quarter of the
// log files tan keeps before it moves the live records out of older ones.
// A group replica's live entries reach back to its last snapshot (every
// --raft-snapshot-entries entries otherwise); a busy transaction
// coordinator writing a few dozen entries a second spread them over more
// than those files, and every file rotation then reread them all,
// scattered over the log (docs/BENCHMARKS.md).
const groupSnapshotGrowth = 4 * 64 << 20

// growthTrigger asks for a group replica's snapshot once the shared log
// grew groupSnapshotGrowth bytes since its last one.
type growthTrigger struct {
	log     *logGrowth
	every   int64
	request func(done func(taken bool))
	from    atomic.Int64 // the log's growth at the last snapshot
	asked   atomic.Int64 // the log's growth when the pending request was made
	pending atomic.Bool
}

// updated is called after each batch the replica applies.
func (g *growthTrigger) updated() {
	now := g.log.bytes.Load()
	if now-g.from.Load() < g.every || !g.pending.CompareAndSwap(false, true) {
		return
	}
	g.asked.Store(now)
	g.request(g.done)
}

func (g *growthTrigger) done(taken bool) {
	if !taken {
		time.AfterFunc(snapshotRetry, func() { g.pending.Store(false) })
		return
	}
	g.from.Store(g.asked.Load())
	g.pending.Store(false)
}

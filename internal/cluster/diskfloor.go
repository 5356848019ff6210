package cluster

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/lni/dragonboat/v4/raftio"
	pb "github.com/lni/dragonboat/v4/raftpb"
	"github.com/rs/zerolog"

	"github.com/longboat/longboat/internal/config"
)

// The free-space floor. Below it, Produce to the partitions this broker
// leads is refused before the disk fills, and no leader streams a
// snapshot here (nor one that would take this broker below it), so that
// dragonboat's Raft log store, its received snapshot chunks and __meta
// (whose writes are small: registrations, leader reports) never meet
// ENOSPC, which dragonboat answers with a panic. Below half the floor (the
// reserve) this broker's partition replicas also stop taking Raft entries
// from their leaders on other brokers (raftIntake): they fall behind, the
// other replicas keep the partitions available, and they catch up once
// space returns. What still arrives under the reserve is small: __meta and
// consumer-group entries, heartbeats, checkpoints, the entries already in
// the Raft log being applied. A replica whose own writes fail anyway goes
// offline alone (faults.go).

// autoFloor is the default floor for a file system of total bytes: 5% of
// it, at most 1 GiB. 5% alone would hold back 50 GiB of a 1 TiB disk; 1 GiB
// alone would be a third of a 3 GiB test volume. 1 GiB is several seconds
// of produce at the rates one broker sustains (tens of MB/s), which the
// sampling interval below is a small fraction of.
func autoFloor(total int64) int64 { return min(1<<30, total/20) }

// diskFloorInterval is how often free space is sampled (statfs is a
// cheap system call).
const diskFloorInterval = 200 * time.Millisecond

// freshWithin is how old a sample admit and belowFloor may act on. Between
// the periodic samples another process can take the volume's free space,
// and a follower can receive more entries than is left, faster than a
// 200 ms sample shows: both met ENOSPC in the Raft log store with a
// small floor. Asking statfs again once this much time has passed bounds the
// blind spot at a few hundred system calls a second under load.
const freshWithin = 5 * time.Millisecond

// diskFloor samples the data dir's free space against the floor.
type diskFloor struct {
	dir   string
	floor int64 // 0: none
	free  atomic.Int64
	below atomic.Bool
	// refusing: the partition replicas here take no Raft entries and
	// answer no heartbeats (raftIntake); from the first entries that
	// would take free space under half the floor (the reserve), or a
	// sample under it, until a sample at or above the floor.
	refusing atomic.Bool
	// admitted is what the Raft entries let in since the last periodic
	// sample will take (admit). A fresh sample (refresh) leaves it: the
	// entries admitted may not be written yet, and counting the written
	// ones twice until the next periodic sample errs on the safe side.
	admitted atomic.Int64
	// sampledAt is when free was last measured (unix nanoseconds).
	sampledAt atomic.Int64
	// statfs measures the volume's free bytes; nil: only record sets free.
	statfs func() (int64, error)
	log    zerolog.Logger
}

// newDiskFloor resolves --min-free-disk-bytes against the data dir's file
// system and takes the first sample.
func newDiskFloor(cfg *config.Config, log zerolog.Logger) (*diskFloor, error) {
	d := &diskFloor{dir: cfg.DataDir, floor: cfg.MinFreeDiskBytes, log: log}
	d.statfs = func() (int64, error) {
		_, free, err := volumeBytes(d.dir)
		return free, err
	}
	total, free, err := volumeBytes(cfg.DataDir)
	if err != nil {
		// Not measurable here (off Linux): no floor.
		log.Warn().Err(err).Msg("free-space floor disabled")
		d.floor = 0
		return d, nil
	}
	switch {
	case d.floor == config.MinFreeDiskAuto:
		d.floor = autoFloor(total)
	case total > 0 && d.floor >= total:
		return nil, fmt.Errorf("--min-free-disk-bytes %d is not below the size of the file system of --data-dir %s (%d bytes): lower it, or -1 for the smaller of 1 GiB and 5%%", d.floor, cfg.DataDir, total)
	}
	d.record(free)
	log.Info().Int64("min_free_disk_bytes", d.floor).Int64("volume_bytes", total).Int64("free_bytes", free).Msg("free-space floor")
	return d, nil
}

// room is how many bytes the data dir can take before the floor; -1 when
// there is no floor.
func (d *diskFloor) room() int64 {
	if d.floor == 0 {
		return -1
	}
	return max(0, d.free.Load()-d.floor)
}

// admit tells whether Raft entries of n bytes for a partition replica
// here may be written: not while refusing, nor when they would leave less
// than the reserve, counting them until the next sample. They are written
// twice (the Raft log store, then the partition log), and a follower
// catching up receives them in bursts of many MB, which a 200 ms sample
// alone would see only once they were written.
func (d *diskFloor) admit(n int64) bool {
	if d.floor == 0 {
		return true
	}
	if d.refusing.Load() {
		return false
	}
	d.refresh()
	if d.refusing.Load() {
		return false
	}
	if d.free.Load()-d.admitted.Add(2*n) < d.floor/2 {
		d.admitted.Add(-2 * n)
		d.refuse(true, d.free.Load())
		return false
	}
	return true
}

// refuse sets refusing and logs a change.
func (d *diskFloor) refuse(on bool, free int64) {
	if d.refusing.Swap(on) == on {
		return
	}
	if on {
		d.log.Error().Str("path", d.dir).Int64("free_bytes", free).Int64("min_free_disk_bytes", d.floor).
			Msg("free space would go under half of --min-free-disk-bytes: this broker's partition replicas take no Raft entries until it is back above the floor")
	} else {
		d.log.Info().Str("path", d.dir).Int64("free_bytes", free).Int64("min_free_disk_bytes", d.floor).
			Msg("free space back above --min-free-disk-bytes: partition replicas take Raft entries again")
	}
}

// belowFloor tells whether free space is under the floor, from a sample
// at most freshWithin old.
func (d *diskFloor) belowFloor() bool {
	d.refresh()
	return d.below.Load()
}

// refresh measures free space again when the last sample is older than
// freshWithin; one caller measures, the others go on with the sample
// before it.
func (d *diskFloor) refresh() {
	if d.floor == 0 || d.statfs == nil {
		return
	}
	now := time.Now().UnixNano()
	last := d.sampledAt.Load()
	if now-last < int64(freshWithin) || !d.sampledAt.CompareAndSwap(last, now) {
		return
	}
	free, err := d.statfs()
	if err != nil {
		return // the periodic sample logs it
	}
	d.observe(free)
}

// record takes a periodic sample: what was admitted before it is written
// or on its way, and counted afresh from here.
func (d *diskFloor) record(free int64) {
	d.sampledAt.Store(time.Now().UnixNano())
	d.admitted.Store(0)
	d.observe(free)
}

// observe sets free space and the states that follow from it.
func (d *diskFloor) observe(free int64) {
	d.free.Store(free)
	switch {
	case d.floor == 0:
	case free < d.floor/2:
		d.refuse(true, free)
	case free >= d.floor:
		d.refuse(false, free)
	}
	below := d.floor > 0 && free < d.floor
	if d.below.Swap(below) == below {
		return
	}
	if below {
		d.log.Error().Str("path", d.dir).Int64("free_bytes", free).Int64("min_free_disk_bytes", d.floor).
			Msg("free space below --min-free-disk-bytes: Produce to the partitions led here is refused until space returns")
	} else {
		d.log.Info().Str("path", d.dir).Int64("free_bytes", free).Int64("min_free_disk_bytes", d.floor).
			Msg("free space back above --min-free-disk-bytes: Produce accepted again")
	}
}

func (d *diskFloor) run(ctx context.Context) {
	t := time.NewTicker(diskFloorInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if free, err := d.statfs(); err != nil {
				d.log.Warn().Err(err).Msg("sample free space")
			} else {
				d.record(free)
			}
		}
	}
}

// raftIntake sits between dragonboat's transport and its replicas and
// keeps received Raft traffic that a partition replica would write from
// reaching it while the disk is short: entries (Replicate, and proposals a
// follower forwards) that would take it under the reserve, and all of them
// after that, snapshots and their chunks under the floor. dragonboat panics when its log store or a chunk write fails;
// a dropped message is one the network lost, which Raft recovers from: the
// leader sends the entries again once the follower answers a heartbeat
// with its log end, or a snapshot if it has compacted them, and that
// snapshot waits until this broker reports room for it (catchUpPoint).
// From the first entries refused until free space is back above the floor
// (refusing) every partition's entries and heartbeats are dropped (see
// refused); its replica here then pre-votes in vain now and then, which
// changes no term. Votes and the __meta and consumer-group shards pass.
type raftIntake struct {
	disk      *diskFloor
	partition func(shardID uint64) bool // a partition shard started here
	dropped   *atomic.Int64             // messages and chunks dropped
}

// messages wraps the handler dragonboat's transport hands received
// message batches to.
func (in *raftIntake) messages(h raftio.MessageHandler) raftio.MessageHandler {
	if in.disk.floor == 0 {
		return h
	}
	return func(b pb.MessageBatch) {
		n := len(b.Requests)
		b.Requests = slices.DeleteFunc(b.Requests, in.refused)
		if dropped := n - len(b.Requests); dropped > 0 {
			in.dropped.Add(int64(dropped))
			if len(b.Requests) == 0 {
				return
			}
		}
		h(b)
	}
}

func (in *raftIntake) refused(m pb.Message) bool {
	switch m.Type {
	case pb.Replicate, pb.Propose:
		if !in.partition(m.ShardID) {
			return false
		}
		var n int64
		for _, e := range m.Entries {
			n += int64(e.SizeUpperLimit())
		}
		return !in.disk.admit(n)
	case pb.Heartbeat:
		// A leader answers each heartbeat response of a follower behind it
		// with up to 64 MB of entries (dragonboat's batch limit), which
		// would be dropped here: while refusing, a partition replica does
		// not answer heartbeats either, so its leader sends it nothing but
		// heartbeats. Resending on every answer starved a loaded leader's
		// Raft worker into elections.
		return in.disk.refusing.Load() && in.partition(m.ShardID)
	case pb.InstallSnapshot:
		return in.disk.below.Load() && in.partition(m.ShardID)
	}
	return false
}

// chunks wraps the handler of received snapshot chunks: a refused chunk
// ends its stream, which the leader retries.
func (in *raftIntake) chunks(h raftio.ChunkHandler) raftio.ChunkHandler {
	return func(c pb.Chunk) bool {
		if in.disk.below.Load() && in.partition(c.ShardID) {
			in.dropped.Add(1)
			return false
		}
		return h(c)
	}
}

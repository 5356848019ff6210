package cluster

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/longboat/longboat/internal/config"
)

// The free-space floor. Below it, Produce to the partitions this broker
// leads is refused before the disk fills, so that dragonboat's Raft log
// store and __meta (whose writes are small: registrations, leader reports)
// never meet ENOSPC, which dragonboat answers with a panic. The floor is
// also the margin for what still arrives while it holds: Raft entries the
// leaders on other brokers replicate here (at most their produce rate
// times the time until their own floor or an operator acts), checkpoints
// and snapshots. A replica whose own writes fail anyway goes offline
// alone (faults.go).

// autoFloor is the default floor for a file system of total bytes: 5% of
// it, at most 1 GiB. 5% alone would hold back 50 GiB of a 1 TiB disk; 1 GiB
// alone would be a third of a 3 GiB test volume. 1 GiB is several seconds
// of produce at the rates one broker sustains (tens of MB/s), which the
// sampling interval below is a small fraction of.
func autoFloor(total int64) int64 { return min(1<<30, total/20) }

// diskFloorInterval is how often free space is sampled (statfs is a
// cheap system call).
const diskFloorInterval = 200 * time.Millisecond

// diskFloor samples the data dir's free space against the floor.
type diskFloor struct {
	dir   string
	floor int64 // 0: none
	free  atomic.Int64
	below atomic.Bool
	log   zerolog.Logger
}

// newDiskFloor resolves --min-free-disk-bytes against the data dir's file
// system and takes the first sample.
func newDiskFloor(cfg *config.Config, log zerolog.Logger) (*diskFloor, error) {
	d := &diskFloor{dir: cfg.DataDir, floor: cfg.MinFreeDiskBytes, log: log}
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

func (d *diskFloor) record(free int64) {
	d.free.Store(free)
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
			if _, free, err := volumeBytes(d.dir); err != nil {
				d.log.Warn().Err(err).Msg("sample free space")
			} else {
				d.record(free)
			}
		}
	}
}

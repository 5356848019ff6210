package cluster

import (
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	pb "github.com/lni/dragonboat/v4/raftpb"
	"github.com/rs/zerolog"

	"github.com/longboat/longboat/internal/config"
)

func TestAutoFloorIsTheSmallerOf1GiBAnd5Percent(t *testing.T) {
	for _, tc := range []struct{ total, want int64 }{
		{300 << 20, 15 << 20},
		{20 << 30, 1 << 30},
		{1 << 40, 1 << 30},
	} {
		if got := autoFloor(tc.total); got != tc.want {
			t.Errorf("autoFloor(%d) = %d, want %d", tc.total, got, tc.want)
		}
	}
}

// A floor as large as the data dir's file system could never be met:
// the broker refuses to start and says what to change.
func TestDiskFloorRefusesAFloorAboveTheVolume(t *testing.T) {
	dir := t.TempDir()
	total, free, err := volumeBytes(dir)
	if err != nil {
		t.Skip(err)
	}
	_, err = newDiskFloor(&config.Config{DataDir: dir, MinFreeDiskBytes: total}, zerolog.Nop())
	if err == nil || !strings.Contains(err.Error(), "--min-free-disk-bytes") {
		t.Fatalf("floor of the whole volume: %v", err)
	}
	d, err := newDiskFloor(&config.Config{DataDir: dir, MinFreeDiskBytes: free + 1<<30}, zerolog.Nop())
	if err != nil && free+1<<30 < total {
		t.Fatal(err)
	}
	if err == nil && !d.below.Load() {
		t.Error("a floor above the free space is not reported as below")
	}
	d, err = newDiskFloor(&config.Config{DataDir: dir, MinFreeDiskBytes: 0}, zerolog.Nop())
	if err != nil || d.below.Load() {
		t.Errorf("no floor: %v, below %t", err, d.below.Load())
	}
}

// The Raft intake lets a partition's entries through while they leave
// free space (counting them twice: Raft log store and partition log) above
// half the floor; from the first it refuses, it refuses every partition's
// entries and heartbeats until a sample shows free space back above the
// floor. __meta and group shards always pass; snapshots and chunks are
// refused under the floor.
func TestRaftIntakeKeepsTheReserve(t *testing.T) {
	const floor = 100 << 20
	d := &diskFloor{floor: floor, log: zerolog.Nop()}
	d.record(floor - 10<<20) // under the floor, 40 MiB above the reserve
	var dropped atomic.Int64
	in := &raftIntake{disk: d, partition: func(shard uint64) bool { return shard >= 1000 }, dropped: &dropped}
	var got []pb.Message
	var chunks int
	deliver := in.messages(func(b pb.MessageBatch) { got = append(got, b.Requests...) })
	chunk := in.chunks(func(pb.Chunk) bool { chunks++; return true })
	entries := func(n int) []pb.Entry { return []pb.Entry{{Cmd: make([]byte, n)}} }
	kinds := func() []string {
		var out []string
		for _, m := range got {
			out = append(out, fmt.Sprintf("%v/%d", m.Type, m.ShardID))
		}
		got = nil
		return out
	}

	deliver(pb.MessageBatch{Requests: []pb.Message{
		{Type: pb.Heartbeat, ShardID: 1001},
		{Type: pb.Replicate, ShardID: 1000, Entries: entries(15 << 20)}, // 30 MiB of the 40
		{Type: pb.Replicate, ShardID: 1001, Entries: entries(15 << 20)}, // would leave 10 MiB less than the reserve
		{Type: pb.Heartbeat, ShardID: 1001},                             // refusing from here on
		{Type: pb.Replicate, ShardID: 1, Entries: entries(15 << 20)},    // not a partition
		{Type: pb.InstallSnapshot, ShardID: 1002},
	}})
	want := []string{fmt.Sprintf("%v/1001", pb.Heartbeat), fmt.Sprintf("%v/1000", pb.Replicate), fmt.Sprintf("%v/1", pb.Replicate)}
	if k := kinds(); !slices.Equal(k, want) || dropped.Load() != 3 {
		t.Fatalf("delivered %v (%d dropped), want %v (3 dropped)", k, dropped.Load(), want)
	}
	if chunk(pb.Chunk{ShardID: 1002}) || chunks != 0 {
		t.Error("a snapshot chunk was taken under the floor")
	}
	if !chunk(pb.Chunk{ShardID: 1}) {
		t.Error("a __meta or group snapshot chunk was refused")
	}

	// Samples under the reserve, then between it and the floor: still
	// refusing, even entries that would fit.
	for _, free := range []int64{floor/2 - 1, floor - 1} {
		d.record(free)
		deliver(pb.MessageBatch{Requests: []pb.Message{{Type: pb.Heartbeat, ShardID: 1001}, {Type: pb.Replicate, ShardID: 1001, Entries: entries(1)}, {Type: pb.Heartbeat, ShardID: 1}}})
		if k := kinds(); !slices.Equal(k, []string{fmt.Sprintf("%v/1", pb.Heartbeat)}) {
			t.Fatalf("%d bytes free after refusing: delivered %v, want the non-partition heartbeat alone", free, k)
		}
	}

	d.record(floor + 50<<20) // space is back above the floor
	deliver(pb.MessageBatch{Requests: []pb.Message{{Type: pb.Replicate, ShardID: 1001, Entries: entries(15 << 20)}, {Type: pb.InstallSnapshot, ShardID: 1002}, {Type: pb.Heartbeat, ShardID: 1001}}})
	if k := kinds(); len(k) != 3 || !chunk(pb.Chunk{ShardID: 1002}) {
		t.Fatalf("space back: delivered %v, want all 3 messages", k)
	}
}

// Another process takes the volume's free space between two periodic
// samples: the next entries measure it again instead of trusting a sample
// that still shows the space, and so does the produce check.
func TestRaftIntakeSeesSpaceTakenBetweenSamples(t *testing.T) {
	const floor = 8 << 20
	var volume atomic.Int64
	volume.Store(100 << 20)
	d := &diskFloor{floor: floor, log: zerolog.Nop(), statfs: func() (int64, error) { return volume.Load(), nil }}
	d.record(volume.Load())
	var dropped atomic.Int64
	in := &raftIntake{disk: d, partition: func(uint64) bool { return true }, dropped: &dropped}
	var delivered int
	deliver := in.messages(func(b pb.MessageBatch) { delivered += len(b.Requests) })
	replicate := func(n int) pb.MessageBatch {
		return pb.MessageBatch{Requests: []pb.Message{{Type: pb.Replicate, ShardID: 1000, Entries: []pb.Entry{{Cmd: make([]byte, n)}}}}}
	}

	volume.Store(floor * 3 / 4) // a file of 94 MiB appears
	time.Sleep(2 * freshWithin)
	if !d.belowFloor() {
		t.Fatal("the produce check did not see free space under the floor")
	}
	deliver(replicate(512 << 10)) // 1 MiB counted: 5 MiB left, above the 4 MiB reserve
	deliver(replicate(512 << 10)) // would leave 4 MiB minus a little
	if delivered != 1 || dropped.Load() != 1 {
		t.Fatalf("%d messages delivered, %d dropped; want 1 and 1", delivered, dropped.Load())
	}
}

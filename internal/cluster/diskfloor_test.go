package cluster

import (
	"strings"
	"testing"

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

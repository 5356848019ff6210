package storage

import (
	"bytes"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/longboat/longboat/internal/trash"
)

// countingTrash counts the files handed to a real trash.Bin.
type countingTrash struct {
	bin   *trash.Bin
	taken atomic.Int32
}

func (c *countingTrash) Take(path string, busy func() bool) error {
	c.taken.Add(1)
	return c.bin.Take(path, busy)
}

func openBin(t *testing.T) (*countingTrash, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "trash")
	bin, err := trash.Open(dir, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bin.Close)
	return &countingTrash{bin: bin}, dir
}

func waitBinEmpty(t *testing.T, dir string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		left, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d files still in %s", len(left), dir)
		}
	}
}

// Segments that retention, a cut or a reset remove go to the trash, and a
// Snapshot holding some of them still streams them whole: the trash does
// not truncate a file a snapshot has pinned.
func TestRemovedSegmentsGoToTrash(t *testing.T) {
	bin, binDir := openBin(t)
	l := openLog(t, t.TempDir(), Options{SegmentBytes: 1000, Trash: bin})
	batches := fill(t, l, 9, 2, 300) // 361-byte batches: two per segment
	snap, err := l.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	if _, err := l.DeleteBefore(l.Segments()[2].BaseOffset); err != nil {
		t.Fatal(err)
	}
	if n := bin.taken.Load(); n != 2 {
		t.Fatalf("%d segment files went to the trash, want the 2 retention removed", n)
	}
	if err := l.Reset(l.NextOffset()); err != nil {
		t.Fatal(err)
	}
	waitBinEmpty(t, binDir)
	var buf bytes.Buffer
	if _, err := snap.WriteTo(&buf); err != nil || !bytes.Equal(buf.Bytes(), concat(batches)) {
		t.Fatalf("the snapshot streamed %d bytes (%v), want the %d it pinned", buf.Len(), err, len(concat(batches)))
	}

	// Unpinned, a removed segment is truncated before it is removed.
	fill(t, l, 4, 2, 300)
	f, err := os.Open(newSegment(l.dir, l.Segments()[0].BaseOffset).logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := l.DeleteBefore(l.Segments()[1].BaseOffset); err != nil {
		t.Fatal(err)
	}
	waitBinEmpty(t, binDir)
	if st, err := f.Stat(); err != nil || st.Size() != 0 {
		t.Fatalf("a removed, unpinned segment was not truncated: %v, %v", st.Size(), err)
	}
}

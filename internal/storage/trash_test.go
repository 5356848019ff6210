package storage

import (
	"bytes"
	"os"
	"testing"

	"github.com/longboat/longboat/internal/trash/trashtest"
)

// Segments that retention, a cut or a reset remove go to the trash, and a
// Snapshot holding some of them still streams them whole: the trash does
// not truncate a file a snapshot has pinned.
func TestRemovedSegmentsGoToTrash(t *testing.T) {
	bin := trashtest.Open(t)
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
	if n := bin.Taken(); n != 2 {
		t.Fatalf("%d segment files went to the trash, want the 2 retention removed", n)
	}
	if err := l.Reset(l.NextOffset()); err != nil {
		t.Fatal(err)
	}
	trashtest.WaitEmpty(t, bin.Dir)
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
	trashtest.WaitEmpty(t, bin.Dir)
	if st, err := f.Stat(); err != nil || st.Size() != 0 {
		t.Fatalf("a removed, unpinned segment was not truncated: %v, %v", st.Size(), err)
	}
}

package storage

import (
	"bytes"
	"errors"
	"math"
	"path/filepath"
	"testing"
)

func segmentFiles(t *testing.T, dir string) int {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	return len(m)
}

func TestDeleteBeforeRemovesWholeSegmentsOnly(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Options{SegmentBytes: 1000})
	batches := fill(t, l, 20, 2, 300) // 361-byte batches: two per segment
	segs := l.Segments()
	if len(segs) != 10 {
		t.Fatalf("%d segments, want 10", len(segs))
	}
	sizeBefore := l.Size()
	// An offset inside segment 3 (offsets 12..15) deletes segments 0-2 only.
	freed, err := l.DeleteBefore(segs[3].BaseOffset + 1)
	if err != nil {
		t.Fatal(err)
	}
	if want := segs[0].Size + segs[1].Size + segs[2].Size; freed != want || l.Size() != sizeBefore-want {
		t.Fatalf("freed %d (size %d), want %d", freed, l.Size(), want)
	}
	if l.StartOffset() != segs[3].BaseOffset || segmentFiles(t, dir) != 7 {
		t.Fatalf("start %d with %d files, want %d with 7", l.StartOffset(), segmentFiles(t, dir), segs[3].BaseOffset)
	}
	if _, err := l.Read(segs[2].BaseOffset, 1000); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below the start: %v", err)
	}
	if got := readAll(t, l, segs[3].BaseOffset, 700); !bytes.Equal(got, concat(batches[6:])) {
		t.Fatalf("remaining batches differ")
	}
	// Past the end is refused; the end itself empties the log but keeps
	// its offsets, and appends continue there.
	if _, err := l.DeleteBefore(l.NextOffset() + 1); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("delete past the end: %v", err)
	}
	end := l.NextOffset()
	if _, err := l.DeleteBefore(end); err != nil {
		t.Fatal(err)
	}
	if l.StartOffset() != end || l.NextOffset() != end || l.Size() != 0 || segmentFiles(t, dir) != 1 {
		t.Fatalf("after deleting everything: start %d next %d size %d files %d", l.StartOffset(), l.NextOffset(), l.Size(), segmentFiles(t, dir))
	}
	more := fill(t, l, 3, 2, 10)
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	l.Close()
	re := openLog(t, dir, Options{SegmentBytes: 1000})
	if re.StartOffset() != end || !bytes.Equal(readAll(t, re, end, 1000), concat(more)) {
		t.Fatalf("reopened: start %d, want %d with the new batches", re.StartOffset(), end)
	}
}

func TestRollIfOlderAndSegmentStats(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{})
	if rolled, err := l.RollIfOlder(1_000_000, 10); err != nil || rolled {
		t.Fatalf("empty segment rolled: %v %v", rolled, err)
	}
	fill(t, l, 3, 1, 10) // timestamps 1000, 1001, 1002
	if rolled, _ := l.RollIfOlder(1005, 10); rolled {
		t.Fatal("rolled a segment younger than the limit")
	}
	if rolled, err := l.RollIfOlder(1010, 10); err != nil || !rolled {
		t.Fatalf("did not roll an old segment: %v %v", rolled, err)
	}
	fill(t, l, 2, 1, 10)
	stats, err := l.SegmentStats()
	if err != nil {
		t.Fatal(err)
	}
	if len(stats) != 2 || stats[0].EndOffset != 3 || stats[0].MaxTimestamp != 1002 || stats[1].MaxTimestamp != 1004 {
		t.Fatalf("stats %+v", stats)
	}
	// Reopened, the timestamps come from the files.
	dir := l.dir
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	l.Close()
	re := openLog(t, dir, Options{})
	stats, err = re.SegmentStats()
	if err != nil || stats[0].MaxTimestamp != 1002 || stats[1].MaxTimestamp != 1004 {
		t.Fatalf("reopened stats %+v %v", stats, err)
	}
	if rolled, err := re.RollIfOlder(1013, 10); err != nil || !rolled {
		t.Fatalf("reopened active segment (first batch 1003) did not roll at 1013: %v %v", rolled, err)
	}
	stats, _ = re.SegmentStats()
	if len(stats) != 3 || stats[2].MaxTimestamp != math.MinInt64 {
		t.Fatalf("after roll: %+v", stats)
	}
}

func TestSetSegmentBytes(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{})
	fill(t, l, 4, 1, 300)
	if err := l.SetSegmentBytes(400); err != nil {
		t.Fatal(err)
	}
	fill(t, l, 2, 1, 300)
	if n := len(l.Segments()); n != 3 {
		t.Fatalf("%d segments after shrinking segment bytes, want 3", n)
	}
	if err := l.SetSegmentBytes(0); err == nil {
		t.Fatal("segment bytes 0 accepted")
	}
}

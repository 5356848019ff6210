package storage

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/longboat/longboat/internal/recordbatch"
)

// A snapshot streams the batches held when it was taken, across segments,
// whatever happens to the log afterwards.
func TestSnapshotIsFixedWhenTaken(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{SegmentBytes: 1000})
	fill(t, l, 3, 1, 50) // dropped below the start before the snapshot
	if _, err := l.DeleteBefore(l.NextOffset()); err != nil {
		t.Fatal(err)
	}
	start := l.StartOffset()
	batches := fill(t, l, 9, 2, 300) // 361-byte batches: two per segment
	snap, err := l.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	if snap.StartOffset != start || snap.NextOffset != l.NextOffset() {
		t.Fatalf("snapshot covers %d..%d, log %d..%d", snap.StartOffset, snap.NextOffset, start, l.NextOffset())
	}
	// Appends, retention and even a reset after the snapshot was taken
	// change nothing in what it streams.
	fill(t, l, 4, 2, 300)
	if _, err := l.DeleteBefore(l.Segments()[2].BaseOffset); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	n, err := snap.WriteTo(&buf)
	if err != nil || n != int64(buf.Len()) {
		t.Fatalf("WriteTo = %d, %v with %d bytes written", n, err, buf.Len())
	}
	if !bytes.Equal(buf.Bytes(), concat(batches)) {
		t.Fatalf("snapshot streamed %d bytes, want the %d held when it was taken", buf.Len(), len(concat(batches)))
	}
	if err := l.Reset(0); err != nil {
		t.Fatal(err)
	}
	buf.Reset()
	if _, err := snap.WriteTo(&buf); err != nil || !bytes.Equal(buf.Bytes(), concat(batches)) {
		t.Fatalf("after Reset the snapshot streamed %d bytes, %v", buf.Len(), err)
	}
}

func TestRestore(t *testing.T) {
	src := openLog(t, t.TempDir(), Options{SegmentBytes: 1000})
	fill(t, src, 2, 1, 10)
	if _, err := src.DeleteBefore(src.NextOffset()); err != nil {
		t.Fatal(err)
	}
	batches := fill(t, src, 7, 3, 300)
	snap, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	var stream bytes.Buffer
	if _, err := snap.WriteTo(&stream); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	dst := openLog(t, dir, Options{SegmentBytes: 1000})
	fill(t, dst, 5, 4, 100) // divergent data the restore replaces
	// Bytes after the last batch the snapshot covers are left unread.
	r := io.MultiReader(bytes.NewReader(stream.Bytes()), bytes.NewReader([]byte("more")))
	if err := dst.Restore(r, snap.StartOffset, snap.NextOffset); err != nil {
		t.Fatal(err)
	}
	if dst.StartOffset() != snap.StartOffset || dst.NextOffset() != snap.NextOffset {
		t.Fatalf("restored %d..%d, want %d..%d", dst.StartOffset(), dst.NextOffset(), snap.StartOffset, snap.NextOffset)
	}
	if got := readAll(t, dst, snap.StartOffset, 1<<20); !bytes.Equal(got, concat(batches)) {
		t.Fatalf("restored %d bytes, want %d", len(got), len(concat(batches)))
	}
	if err := dst.Sync(); err != nil {
		t.Fatal(err)
	}
	dst.Close()
	re := openLog(t, dir, Options{SegmentBytes: 1000})
	if got := readAll(t, re, snap.StartOffset, 1<<20); !bytes.Equal(got, concat(batches)) {
		t.Fatalf("reopened after restore: %d bytes, want %d", len(got), len(concat(batches)))
	}

	for _, cut := range []int{0, 7, len(batches[0]) + 30, stream.Len() - 1} {
		l := openLog(t, t.TempDir(), Options{})
		err := l.Restore(bytes.NewReader(stream.Bytes()[:cut]), snap.StartOffset, snap.NextOffset)
		if err == nil {
			t.Errorf("stream cut at %d of %d bytes restored", cut, stream.Len())
		}
	}
	short := bytes.Clone(stream.Bytes())
	short[8], short[9], short[10], short[11] = 0, 0, 0, 10
	if err := openLog(t, t.TempDir(), Options{}).Restore(bytes.NewReader(short), snap.StartOffset, snap.NextOffset); !errors.Is(err, recordbatch.ErrCorrupt) {
		t.Errorf("batch length below the header: %v, want ErrCorrupt", err)
	}
}

// From narrows a pinned snapshot to the batches from a boundary on, in any
// segment, and Extend appends them to a log that ends there.
func TestSnapshotFromAndExtend(t *testing.T) {
	src := openLog(t, t.TempDir(), Options{SegmentBytes: 1000})
	batches := fill(t, src, 9, 2, 300) // 361-byte batches: two per segment
	for _, k := range []int{0, 1, 3, 4, 8, 9} {
		snap, err := src.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		from := int64(2 * k)
		if k > 0 {
			head, err := snap.BatchHeaderBefore(from)
			if err != nil || !bytes.Equal(head, batches[k-1][:recordbatch.HeaderSize]) {
				t.Fatalf("BatchHeaderBefore(%d) = %x, %v; want batch %d's header", from, head, err, k-1)
			}
			live, err := src.BatchHeaderBefore(from)
			if err != nil || !bytes.Equal(live, head) {
				t.Fatalf("Log.BatchHeaderBefore(%d) = %x, %v; want %x", from, live, err, head)
			}
		}
		size, err := snap.SizeFrom(from)
		if err != nil || size != int64(len(concat(batches[k:]))) {
			t.Fatalf("SizeFrom(%d) = %d, %v; want %d", from, size, err, len(concat(batches[k:])))
		}
		if err := snap.From(from); err != nil {
			t.Fatalf("From(%d): %v", from, err)
		}
		var buf bytes.Buffer
		if _, err := snap.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		snap.Close()
		if !bytes.Equal(buf.Bytes(), concat(batches[k:])) {
			t.Fatalf("From(%d) streamed %d bytes, want the %d of batches %d..", from, buf.Len(), len(concat(batches[k:])), k)
		}
		dst := openLog(t, t.TempDir(), Options{SegmentBytes: 1000})
		for _, b := range batches[:k] {
			if err := dst.Append(b); err != nil {
				t.Fatal(err)
			}
		}
		if err := dst.Extend(&buf, src.NextOffset()); err != nil {
			t.Fatalf("Extend from %d: %v", from, err)
		}
		if got := readAll(t, dst, 0, 1<<20); !bytes.Equal(got, concat(batches)) {
			t.Fatalf("extended from %d: %d bytes, want %d", from, len(got), len(concat(batches)))
		}
	}
	snap, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	if err := snap.From(3); err == nil {
		t.Error("From inside a batch accepted")
	}
	if _, err := snap.SizeFrom(3); err == nil {
		t.Error("SizeFrom inside a batch accepted")
	}
	if _, err := snap.BatchHeaderBefore(3); err == nil {
		t.Error("BatchHeaderBefore inside a batch accepted")
	}
	if err := snap.From(src.NextOffset() + 2); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Errorf("From past the end: %v, want ErrOffsetOutOfRange", err)
	}
	if _, err := src.BatchHeaderBefore(0); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Errorf("Log.BatchHeaderBefore(start): %v, want ErrOffsetOutOfRange", err)
	}
}

// A segment cut in place under a pinned snapshot (TruncateTo, as a
// snapshot install on the same replica does) must fail the stream, not end
// it early: a receiver would hold a snapshot ending short of NextOffset.
func TestSnapshotOfSegmentCutUnderIt(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{SegmentBytes: 1000})
	fill(t, l, 5, 2, 300) // two batches per segment: the last segment holds one
	snap, err := l.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	segs := l.Segments()
	// Inside the second segment: its first batch stays, the rest is cut.
	if err := l.TruncateTo(segs[1].BaseOffset + 2); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := snap.WriteTo(&buf); !errors.Is(err, ErrSnapshotShrunk) {
		t.Fatalf("WriteTo over a cut segment = %v after %d bytes, want ErrSnapshotShrunk", err, buf.Len())
	}
}

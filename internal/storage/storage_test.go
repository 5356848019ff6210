package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/recordbatch"
)

// makeBatch builds a valid v2 batch of n records at base, with the given max
// timestamp and payload bytes standing in for the records.
func makeBatch(base int64, n int, maxTs int64, payload int) []byte {
	records := make([]byte, payload)
	for i := range records {
		records[i] = byte(int64(recordbatch.HeaderSize+i) * (base + 7))
	}
	rb := kmsg.RecordBatch{
		FirstOffset:          base,
		Length:               int32(recordbatch.HeaderSize - recordbatch.LengthPrefix + payload),
		PartitionLeaderEpoch: 3,
		Magic:                recordbatch.Magic,
		LastOffsetDelta:      int32(n - 1),
		FirstTimestamp:       maxTs - 1,
		MaxTimestamp:         maxTs,
		ProducerID:           -1,
		ProducerEpoch:        -1,
		FirstSequence:        -1,
		NumRecords:           int32(n),
		Records:              records,
	}
	b := rb.AppendTo(nil)
	recordbatch.SetCRC(b)
	return b
}

func openLog(t testing.TB, dir string, opts Options) *Log {
	t.Helper()
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// fill appends count batches of records records each, with timestamps equal
// to 1000 plus their base offset, and returns them.
func fill(t testing.TB, l *Log, count, records, payload int) [][]byte {
	t.Helper()
	var out [][]byte
	for range count {
		off := l.NextOffset()
		b := makeBatch(off, records, 1000+off, payload)
		if err := l.Append(b); err != nil {
			t.Fatalf("Append at %d: %v", off, err)
		}
		out = append(out, b)
	}
	return out
}

// readAll reads from offset to the end of the log, checking that every Read
// returns whole batches starting where asked.
func readAll(t testing.TB, l *Log, offset int64, maxBytes int) []byte {
	t.Helper()
	var all []byte
	for {
		got, err := l.Read(offset, maxBytes)
		if err != nil {
			t.Fatalf("Read(%d): %v", offset, err)
		}
		if got == nil {
			return all
		}
		if whole := recordbatch.WholeLen(got); whole != len(got) {
			t.Fatalf("Read(%d) returned %d bytes, of which %d are whole batches", offset, len(got), whole)
		}
		for h, batch := range recordbatch.All(got) {
			if h.LastOffset() < offset {
				t.Fatalf("Read(%d) returned batch %d..%d", offset, h.BaseOffset, h.LastOffset())
			}
			all = append(all, batch...)
			offset = h.LastOffset() + 1
		}
	}
}

func concat(batches [][]byte) []byte { return bytes.Join(batches, nil) }

func TestEmptyLog(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{})
	if l.StartOffset() != 0 || l.NextOffset() != 0 || l.Size() != 0 {
		t.Fatalf("start %d next %d size %d, want zeros", l.StartOffset(), l.NextOffset(), l.Size())
	}
	got, err := l.Read(0, 100)
	if got != nil || err != nil {
		t.Fatalf("Read(0) = %v, %v; want nil, nil", got, err)
	}
}

func TestAppendReadRoundTrip(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{})
	batches := fill(t, l, 20, 5, 300)
	if l.NextOffset() != 100 {
		t.Fatalf("NextOffset = %d, want 100", l.NextOffset())
	}
	if got, want := l.Size(), int64(len(concat(batches))); got != want {
		t.Fatalf("Size = %d, want %d", got, want)
	}
	got, err := l.Read(0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, concat(batches)) {
		t.Fatal("Read(0) differs from what was appended")
	}
}

func TestAppendParts(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{})
	b := makeBatch(0, 3, 1, 100)
	if err := l.AppendParts(b[:16], b[16:]); err != nil {
		t.Fatal(err)
	}
	// Split inside the header too: validation must see it whole.
	c := makeBatch(3, 1, 2, 10)
	if err := l.AppendParts(c[:30], c[30:]); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, l, 0, 1<<20); !bytes.Equal(got, append(b, c...)) {
		t.Fatal("AppendParts stored different bytes")
	}
}

func TestAppendRejectsBadBatches(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{})
	fill(t, l, 1, 4, 10)
	good := func() []byte { return makeBatch(4, 2, 5, 20) }
	tests := map[string][]byte{
		"wrong base offset": makeBatch(5, 2, 5, 20),
		"short":             good()[:40],
		"length too big":    good()[:len(good())-1],
		"length too small":  append(good(), 0),
		"magic 1":           func() []byte { b := good(); b[16] = 1; return b }(),
		"negative delta":    func() []byte { b := good(); binary.BigEndian.PutUint32(b[23:], 0xffffffff); return b }(),
	}
	for name, b := range tests {
		if err := l.Append(b); err == nil {
			t.Errorf("%s: Append succeeded", name)
		}
	}
	if l.NextOffset() != 4 || l.Size() != int64(len(makeBatch(0, 4, 0, 10))) {
		t.Fatalf("rejected appends changed the log: next %d size %d", l.NextOffset(), l.Size())
	}
}

func TestReadFromMidBatch(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{})
	batches := fill(t, l, 3, 10, 50) // offsets 0-9, 10-19, 20-29
	got, err := l.Read(15, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, concat(batches[1:])) {
		t.Fatal("Read(15) should start with the batch holding 10..19")
	}
}

func TestReadMaxBytes(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{})
	batches := fill(t, l, 5, 1, 200) // 261 bytes each
	got, err := l.Read(0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, batches[0]) {
		t.Fatalf("maxBytes below one batch: got %d bytes, want the first batch whole", len(got))
	}
	got, err = l.Read(1, 261*3-1)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, concat(batches[1:3])) {
		t.Fatalf("got %d bytes, want batches 1 and 2 only", len(got))
	}
}

func TestOutOfRange(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{})
	fill(t, l, 2, 5, 10)
	if _, err := l.Read(11, 100); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("Read past end: %v", err)
	}
	if _, err := l.Read(-1, 100); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("Read before start: %v", err)
	}
	if got, err := l.Read(10, 100); got != nil || err != nil {
		t.Fatalf("Read at end = %v, %v", got, err)
	}
	if err := l.Reset(50); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Read(49, 100); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("Read before start after Reset: %v", err)
	}
	if err := l.TruncateTo(40); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("TruncateTo before start: %v", err)
	}
	if err := l.TruncateTo(51); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("TruncateTo past end: %v", err)
	}
}

func TestSegmentsRollAndReadAcross(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Options{SegmentBytes: 4096, IndexIntervalBytes: 512})
	batches := fill(t, l, 100, 3, 200) // 261-byte batches, 15 per segment
	segs := l.Segments()
	if len(segs) != 7 {
		t.Fatalf("%d segments, want 7", len(segs))
	}
	var total int64
	for i, s := range segs {
		if s.Size > 4096 {
			t.Errorf("segment %d holds %d bytes", i, s.Size)
		}
		if i > 0 && s.BaseOffset != segs[i-1].EndOffset {
			t.Errorf("segment %d starts at %d, previous ends at %d", i, s.BaseOffset, segs[i-1].EndOffset)
		}
		if fi, err := os.Stat(segmentPath(l, s)); err != nil || fi.Size() != s.Size {
			t.Errorf("segment file %s: %v, size mismatch", segmentPath(l, s), err)
		}
		total += s.Size
	}
	if total != l.Size() || segs[len(segs)-1].EndOffset != l.NextOffset() {
		t.Fatal("Segments disagree with Size or NextOffset")
	}
	if got := readAll(t, l, 0, 1<<20); !bytes.Equal(got, concat(batches)) {
		t.Fatal("reading across segments differs")
	}
	// A read at a segment's last batch stops at the boundary.
	got, err := l.Read(segs[1].EndOffset-1, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, batches[29]) {
		t.Fatalf("read at end of segment returned %d bytes, want only its last batch", len(got))
	}
	// Every offset finds its batch via the index.
	for off := int64(0); off < l.NextOffset(); off++ {
		got, err := l.Read(off, 1)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, batches[off/3]) {
			t.Fatalf("Read(%d, 1) returned the wrong batch", off)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "00000000000000000000.index")); err != nil {
		t.Fatalf("sealed segment has no index file: %v", err)
	}
}

func TestOversizedBatchGetsOwnSegment(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{SegmentBytes: 1024})
	small := fill(t, l, 1, 1, 100)
	big := makeBatch(1, 1, 0, 5000)
	if err := l.Append(big); err != nil {
		t.Fatal(err)
	}
	after := fill(t, l, 1, 1, 100)
	if n := len(l.Segments()); n != 3 {
		t.Fatalf("%d segments, want 3", n)
	}
	want := concat([][]byte{small[0], big, after[0]})
	if got := readAll(t, l, 0, 100); !bytes.Equal(got, want) {
		t.Fatal("read differs")
	}
}

func TestReopen(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentBytes: 4096, IndexIntervalBytes: 512}
	l := openLog(t, dir, opts)
	batches := fill(t, l, 60, 2, 150)
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Append(makeBatch(120, 1, 0, 0)); err == nil {
		t.Fatal("Append after Close succeeded")
	}
	l = openLog(t, dir, opts)
	if l.RecoveryInfo() != 0 || l.NextOffset() != 120 || l.StartOffset() != 0 {
		t.Fatalf("reopened: truncated %d next %d start %d", l.RecoveryInfo(), l.NextOffset(), l.StartOffset())
	}
	batches = append(batches, fill(t, l, 10, 2, 150)...)
	if got := readAll(t, l, 0, 1000); !bytes.Equal(got, concat(batches)) {
		t.Fatal("read after reopen differs")
	}
}

func TestOffsetForTimestamp(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentBytes: 1024}
	l := openLog(t, dir, opts)
	// Timestamps need not rise monotonically.
	stamps := []int64{100, 50, 200, 150, 300, 300, 250, 400, 120, 500}
	for i, ts := range stamps {
		if err := l.Append(makeBatch(int64(i*2), 2, ts, 300)); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		ts    int64
		off   int64
		found bool
	}{
		{0, 0, true}, {100, 0, true}, {101, 4, true}, {201, 8, true},
		{300, 8, true}, {301, 14, true}, {450, 18, true}, {500, 18, true}, {501, 0, false},
	}
	check := func(l *Log) {
		t.Helper()
		for _, c := range cases {
			off, found, err := l.OffsetForTimestamp(c.ts)
			if err != nil || off != c.off || found != c.found {
				t.Errorf("OffsetForTimestamp(%d) = %d, %v, %v; want %d, %v", c.ts, off, found, err, c.off, c.found)
			}
		}
	}
	check(l)
	l.Close()
	l = openLog(t, dir, opts)
	check(l) // bounds now learnt lazily
	check(l)
	if err := l.TruncateTo(8); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := l.OffsetForTimestamp(201); found {
		t.Error("found a timestamp from a truncated batch")
	}
}

func TestTruncateTo(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentBytes: 4096, IndexIntervalBytes: 512}
	l := openLog(t, dir, opts)
	batches := fill(t, l, 100, 3, 200) // 15 batches (45 offsets) per segment
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := l.TruncateTo(100); err == nil {
		t.Fatal("TruncateTo inside a batch succeeded")
	}
	if err := l.TruncateTo(l.NextOffset()); err != nil {
		t.Fatalf("TruncateTo(NextOffset): %v", err)
	}

	// 23 batches: into the second segment, past its first index entry.
	if err := l.TruncateTo(69); err != nil {
		t.Fatal(err)
	}
	segs := l.Segments()
	if len(segs) != 2 || l.NextOffset() != 69 {
		t.Fatalf("after truncate: %d segments, next %d", len(segs), l.NextOffset())
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(files) != 4 {
		t.Fatalf("files left: %v", files)
	}
	kept := batches[:23]
	if got := readAll(t, l, 0, 1<<20); !bytes.Equal(got, concat(kept)) {
		t.Fatal("read after truncate differs")
	}
	kept = append(kept, fill(t, l, 30, 3, 200)...)
	l.Close()

	l = openLog(t, dir, opts)
	if l.RecoveryInfo() != 0 || l.NextOffset() != 69+90 {
		t.Fatalf("reopened: truncated %d next %d", l.RecoveryInfo(), l.NextOffset())
	}
	if got := readAll(t, l, 0, 1<<20); !bytes.Equal(got, concat(kept)) {
		t.Fatal("read after reopen differs")
	}
	// Truncating to a segment's base leaves that segment empty and active.
	base := l.Segments()[1].BaseOffset
	if err := l.TruncateTo(base); err != nil {
		t.Fatal(err)
	}
	if segs := l.Segments(); len(segs) != 2 || segs[1].Size != 0 || l.NextOffset() != base {
		t.Fatalf("after truncate to segment base: %+v", segs)
	}
	if err := l.TruncateTo(0); err != nil {
		t.Fatal(err)
	}
	if l.Size() != 0 || l.NextOffset() != 0 || len(l.Segments()) != 1 {
		t.Fatal("TruncateTo(0) should leave one empty segment")
	}
	fill(t, l, 3, 1, 10)
}

func TestReset(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentBytes: 2048}
	l := openLog(t, dir, opts)
	fill(t, l, 30, 2, 200)
	if err := l.Reset(500); err != nil {
		t.Fatal(err)
	}
	if l.StartOffset() != 500 || l.NextOffset() != 500 || l.Size() != 0 {
		t.Fatalf("after Reset: start %d next %d size %d", l.StartOffset(), l.NextOffset(), l.Size())
	}
	if got, err := l.Read(500, 100); got != nil || err != nil {
		t.Fatalf("Read(500) = %v, %v", got, err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(files) != 1 || filepath.Base(files[0]) != "00000000000000000500.log" {
		t.Fatalf("files after Reset: %v", files)
	}
	batches := fill(t, l, 10, 2, 200)
	l.Close()
	l = openLog(t, dir, opts)
	if l.StartOffset() != 500 || l.NextOffset() != 520 {
		t.Fatalf("reopened: start %d next %d", l.StartOffset(), l.NextOffset())
	}
	if got := readAll(t, l, 500, 1<<20); !bytes.Equal(got, concat(batches)) {
		t.Fatal("read after Reset and reopen differs")
	}
	// Resetting to an offset a segment already has must still work.
	if err := l.Reset(500); err != nil {
		t.Fatal(err)
	}
}

func TestOptionsValidation(t *testing.T) {
	for _, o := range []Options{{SegmentBytes: -1}, {SegmentBytes: 1 << 33}, {IndexIntervalBytes: -1}} {
		if _, err := Open(t.TempDir(), o); err == nil {
			t.Errorf("Open with %+v succeeded", o)
		}
	}
}

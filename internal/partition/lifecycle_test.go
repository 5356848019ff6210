package partition

import (
	"bytes"
	"errors"
	"testing"

	sm "github.com/lni/dragonboat/v4/statemachine"

	"github.com/longboat/longboat/internal/recordbatch"
	"github.com/longboat/longboat/internal/recordbatch/batchtest"
	"github.com/longboat/longboat/internal/storage"
)

// advance applies a cmdAdvanceStart entry and returns its decoded result.
func advance(t *testing.T, s *StateMachine, index uint64, offset int64) (int64, int16) {
	t.Helper()
	out, err := s.Update([]sm.Entry{{Index: index, Cmd: EncodeAdvanceStart(offset)}})
	if err != nil {
		t.Fatalf("advance to %d: %v", offset, err)
	}
	return AdvanceResult(out[0].Result)
}

func TestAdvanceStartDeletesWholeSegments(t *testing.T) {
	dir := t.TempDir()
	s, _ := openSM(t, dir)
	ps := workload(40, 3, 0)
	apply(t, s, 1, ps...)
	segs := s.log.Segments()
	if len(segs) < 4 {
		t.Fatalf("only %d segments; the test needs several", len(segs))
	}
	hw := s.HighWatermark()
	if _, code := advance(t, s, 41, hw+1); code != errOffsetOutOfRange {
		t.Fatalf("advance past the high watermark: code %d", code)
	}
	// Inside the third segment: the first two go, the third stays whole.
	mid := segs[2].BaseOffset + 1
	lso, code := advance(t, s, 42, mid)
	if code != 0 || lso != mid || s.LogStartOffset() != mid {
		t.Fatalf("advance to %d: start %d code %d (LogStartOffset %d)", mid, lso, code, s.LogStartOffset())
	}
	if got := s.log.Segments()[0].BaseOffset; got != segs[2].BaseOffset {
		t.Fatalf("first segment now starts at %d, want %d", got, segs[2].BaseOffset)
	}
	if _, err := s.Read(mid-1, 1000); !errors.Is(err, storage.ErrOffsetOutOfRange) {
		t.Fatalf("read below the log start: %v", err)
	}
	if data, err := s.Read(mid, 1000); err != nil || len(data) == 0 {
		t.Fatalf("read at the log start: %d bytes, %v", len(data), err)
	}
	// Lower offsets change nothing.
	if lso, code := advance(t, s, 43, 1); code != 0 || lso != mid {
		t.Fatalf("advance backwards: start %d code %d", lso, code)
	}

	// Durable: after Sync and reopen the start holds; replaying the entry
	// after a checkpoint taken before it gives the same result.
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	re, applied := openSM(t, dir)
	if applied != 43 || re.LogStartOffset() != mid || re.HighWatermark() != hw {
		t.Fatalf("reopened: applied %d start %d hw %d, want 43 %d %d", applied, re.LogStartOffset(), re.HighWatermark(), mid, hw)
	}
}

// Appends after the last checkpoint are cut on Open and replayed by Raft:
// that must still work when segments below the log start are gone, so the
// advance itself checkpoints before deleting.
func TestAdvanceStartThenCrashAndReplay(t *testing.T) {
	dir := t.TempDir()
	s, _ := openSM(t, dir)
	apply(t, s, 1, workload(40, 3, 0)...)
	target := s.log.Segments()[3].BaseOffset
	advance(t, s, 41, target)
	hw := s.HighWatermark()
	more := workload(6, 3, 7)
	first := apply(t, s, 42, more...)
	crash(s) // no Sync since the advance
	re, applied := openSM(t, dir)
	if applied != 41 || re.LogStartOffset() != target || re.HighWatermark() != hw {
		t.Fatalf("reopened: applied %d start %d hw %d, want 41 %d %d", applied, re.LogStartOffset(), re.HighWatermark(), target, hw)
	}
	again := apply(t, re, 42, more...)
	for i := range first {
		if first[i] != again[i] {
			t.Fatalf("replayed entry %d at offset %d, first applied at %d", 42+i, again[i], first[i])
		}
	}
}

func TestAdvanceStartToEndEmptiesLog(t *testing.T) {
	s, _ := openSM(t, t.TempDir())
	ps := workload(10, 3, 0)
	apply(t, s, 1, ps...)
	hw := s.HighWatermark()
	if lso, code := advance(t, s, 11, hw); code != 0 || lso != hw || s.LogSize() != 0 {
		t.Fatalf("advance to the end: start %d code %d size %d", lso, code, s.LogSize())
	}
	more := workload(2, 4, 9)
	vals := apply(t, s, 12, more...)
	if int64(vals[0]) != hw {
		t.Fatalf("next append at %d, want %d", vals[0], hw)
	}
}

func TestSnapshotCarriesLogStartAndEpochs(t *testing.T) {
	src, _ := openSM(t, t.TempDir())
	apply(t, src, 1, workload(20, 2, 0)...)
	apply(t, src, 21, workload(20, 5, 1)...)
	mid := src.log.Segments()[2].BaseOffset + 2
	advance(t, src, 41, mid)
	atStart, err := src.Read(mid, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	ctx, err := src.PrepareSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	// Retention deleting segments after PrepareSnapshot does not break the
	// stream: the files were opened when it was prepared.
	apply(t, src, 42, workload(3, 5, 2)...)
	advance(t, src, 45, src.log.Segments()[1].EndOffset)
	var buf bytes.Buffer
	if err := src.SaveSnapshot(ctx, &buf, make(chan struct{})); err != nil {
		t.Fatalf("SaveSnapshot after segments were deleted: %v", err)
	}
	dst, _ := openSM(t, t.TempDir())
	if err := dst.RecoverFromSnapshot(bytes.NewReader(buf.Bytes()), make(chan struct{})); err != nil {
		t.Fatal(err)
	}
	if dst.LogStartOffset() != mid {
		t.Fatalf("restored log start %d, want %d", dst.LogStartOffset(), mid)
	}
	want := []EpochStart{{Epoch: 2, StartOffset: mid}, {Epoch: 5, StartOffset: 0}}
	got := dst.EpochHistory()
	if len(got) != 2 || got[0] != want[0] || got[1].Epoch != 5 || got[1].StartOffset <= mid {
		t.Fatalf("restored epochs %+v", got)
	}
	if got, _ := dst.Read(mid, 1<<20); len(got) == 0 || !bytes.Equal(got, atStart) {
		t.Fatalf("restored data at the log start differs")
	}
}

func TestEpochHistoryAndEndOffsets(t *testing.T) {
	s, _ := openSM(t, t.TempDir())
	a := workload(5, 2, 0)
	b := workload(5, 5, 1)
	c := workload(5, 9, 2)
	var off5, off9 int64
	apply(t, s, 1, a...)
	off5 = s.HighWatermark()
	apply(t, s, 6, b...)
	off9 = s.HighWatermark()
	apply(t, s, 11, c...)
	// A proposal that carried a stale term leaves the history alone.
	apply(t, s, 16, workload(1, 4, 3)...)
	hw := s.HighWatermark()
	want := []EpochStart{{2, 0}, {5, off5}, {9, off9}}
	if got := s.EpochHistory(); len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("history %+v, want %+v", got, want)
	}
	cases := []struct {
		req, current int32
		epoch        int32
		end          int64
	}{
		{2, 9, 2, off5},
		{3, 9, 2, off5}, // no data in epochs 3-4: epoch 2 ended where 5 began
		{5, 9, 5, off9},
		{9, 9, 9, hw},
		{10, 9, -1, -1}, // newer than any epoch
		{1, 9, 1, 0},    // older than the first: Kafka answers the first start
		{9, 12, 9, hw},  // current epoch 12 wrote nothing yet: 9 runs to the end
		{11, 12, 9, hw},
		{12, 12, 12, hw},
		{-1, 9, -1, -1},
	}
	for _, c := range cases {
		e, o := s.OffsetForLeaderEpoch(c.req, c.current)
		if e != c.epoch || o != c.end {
			t.Errorf("OffsetForLeaderEpoch(%d, current %d) = (%d, %d), want (%d, %d)", c.req, c.current, e, o, c.epoch, c.end)
		}
	}
	// Truncating the start drops epoch 2 and moves 5 to the new start.
	advance(t, s, 17, off5+1)
	if got := s.EpochHistory(); len(got) != 2 || got[0] != (EpochStart{5, off5 + 1}) {
		t.Fatalf("history after advancing the start: %+v", got)
	}
}

func TestRetentionOffset(t *testing.T) {
	s, _ := openSM(t, t.TempDir())
	apply(t, s, 1, workload(40, 3, 0)...)
	segs := s.log.Segments()
	stats, err := s.log.SegmentStats()
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, seg := range segs {
		total += seg.Size
	}
	if off, due, err := s.RetentionOffset(1_000_000, -1, -1); err != nil || due {
		t.Fatalf("unlimited retention: %d %v %v", off, due, err)
	}
	// By size: keep at least total - first two segments.
	keep := total - segs[0].Size - segs[1].Size
	if off, due, _ := s.RetentionOffset(0, -1, keep); !due || off != segs[1].EndOffset {
		t.Fatalf("size retention: %d %v, want %d", off, due, segs[1].EndOffset)
	}
	if off, due, _ := s.RetentionOffset(0, -1, keep+1); !due || off != segs[0].EndOffset {
		t.Fatalf("size retention one byte more: %d %v, want %d", off, due, segs[0].EndOffset)
	}
	// By time: segments whose newest record is older than now - retention.
	now := stats[2].MaxTimestamp + 100
	if off, due, _ := s.RetentionOffset(now, 100, -1); !due || off != segs[1].EndOffset {
		t.Fatalf("time retention: %d %v, want %d", off, due, segs[1].EndOffset)
	}
	// Never the active segment, however old.
	if off, _, _ := s.RetentionOffset(1<<50, 0, 0); off != segs[len(segs)-1].BaseOffset {
		t.Fatalf("retention of everything: %d, want the active segment's base %d", off, segs[len(segs)-1].BaseOffset)
	}
}

func TestLogAppendTimeStampsBatch(t *testing.T) {
	s, _ := openSM(t, t.TempDir())
	sent := batchtest.Simple(3, 1000, 7)
	const now = 1_700_000_123_456
	out, err := s.Update([]sm.Entry{{Index: 1, Cmd: EncodeAppend(4, now, true, sent)}})
	if err != nil {
		t.Fatal(err)
	}
	if base, code := AppendResult(out[0].Result); base != 0 || code != 0 {
		t.Fatalf("append: %d %d", base, code)
	}
	stored, err := s.Read(0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := recordbatch.Validate(stored); err != nil {
		t.Fatalf("stamped batch fails CRC: %v", err)
	}
	h, sentHeader := recordbatch.ParseHeader(stored), recordbatch.ParseHeader(sent)
	if !h.LogAppendTime() {
		t.Errorf("timestamp type bit not set: attributes %#x", h.Attributes)
	}
	if h.MaxTimestamp != now {
		t.Errorf("maxTimestamp %d, want %d", h.MaxTimestamp, now)
	}
	if !bytes.Equal(stored[recordbatch.HeaderSize:], sent[recordbatch.HeaderSize:]) || h.BaseTimestamp != sentHeader.BaseTimestamp {
		t.Errorf("records or base timestamp changed")
	}
}

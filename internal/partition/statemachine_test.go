package partition

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sm "github.com/lni/dragonboat/v4/statemachine"

	"github.com/longboat/longboat/internal/recordbatch"
	"github.com/longboat/longboat/internal/recordbatch/batchtest"
	"github.com/longboat/longboat/internal/storage"
)

const testShard = 1001

var smallSegments = storage.Options{SegmentBytes: 4096}

// openSM opens a partition state machine in dir and closes it at cleanup.
func openSM(t *testing.T, dir string) (*StateMachine, uint64) {
	t.Helper()
	s := New(testShard, dir, smallSegments)
	applied, err := s.Open(nil)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() { s.Close() })
	return s, applied
}

// crash closes s as a killed process leaves it: what it wrote stays on
// disk, but no checkpoint is taken at close (Close takes one).
func crash(s *StateMachine) {
	s.opened.Store(false)
	s.Close()
}

// proposal is one Raft entry's content: a term and the batches of one
// produce request for this partition.
type proposal struct {
	term    uint64
	batches [][]byte
}

func concat(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

func (p proposal) cmd() []byte {
	return EncodeAppend(p.term, 1700000000000, false, concat(p.batches...))
}

func (p proposal) records() int64 {
	var n int64
	for _, b := range p.batches {
		n += int64(recordbatch.ParseHeader(b).Records)
	}
	return n
}

// apply hands the proposals to Update as entries firstIndex, firstIndex+1, ...
// and returns Result.Value of each.
func apply(t *testing.T, s *StateMachine, firstIndex uint64, ps ...proposal) []uint64 {
	t.Helper()
	ents := make([]sm.Entry, len(ps))
	for i, p := range ps {
		ents[i] = sm.Entry{Index: firstIndex + uint64(i), Cmd: p.cmd()}
	}
	out, err := s.Update(ents)
	if err != nil {
		t.Fatalf("Update(index %d..): %v", firstIndex, err)
	}
	if len(out) != len(ps) {
		t.Fatalf("Update returned %d entries for %d", len(out), len(ps))
	}
	vals := make([]uint64, len(out))
	for i, e := range out {
		vals[i] = e.Result.Value
	}
	return vals
}

// workload returns n proposals of varying shape: 1-3 batches of 1-6
// records, some with large values so that 4 KiB segments roll often.
func workload(n int, term uint64, seed byte) []proposal {
	var ps []proposal
	for i := 0; i < n; i++ {
		var bs [][]byte
		for j := 0; j <= i%3; j++ {
			recs := 1 + (i*7+j*3)%6
			d := make([]int64, recs)
			for k := range d {
				d[k] = int64(k * 10)
			}
			size := 0
			if (i+j)%2 == 0 {
				size = 150
			}
			bs = append(bs, batchtest.Batch{
				FirstTimestamp: 1_000_000 + int64(i*1000+j*100),
				TsDeltas:       d,
				ValueSize:      size,
				Seed:           seed + byte(i*3+j),
			}.Build())
		}
		ps = append(ps, proposal{term: term, batches: bs})
	}
	return ps
}

// readAll returns every batch from offset from up to the high watermark,
// reading as a fetch would (Read never crosses a segment).
func readAll(t *testing.T, s *StateMachine, from int64) [][]byte {
	t.Helper()
	var out [][]byte
	hw := s.HighWatermark()
	for off := from; off < hw; {
		data, err := s.Read(off, 3000)
		if err != nil {
			t.Fatalf("Read(%d): %v", off, err)
		}
		if len(data) == 0 {
			t.Fatalf("Read(%d) returned nothing below HW %d", off, hw)
		}
		if whole := recordbatch.WholeLen(data); whole != len(data) {
			t.Fatalf("Read(%d) returned %d bytes, of which %d are whole batches", off, len(data), whole)
		}
		for h, batch := range recordbatch.All(data) {
			out = append(out, batch)
			off = h.LastOffset() + 1
		}
	}
	return out
}

// checkStored checks that stored is sent with base offset and leader epoch
// rewritten and every other byte unchanged, and that its CRC still holds.
func checkStored(t *testing.T, stored, sent []byte, base int64, epoch int32) {
	t.Helper()
	if len(stored) != len(sent) {
		t.Fatalf("stored batch at %d is %d bytes, sent %d", base, len(stored), len(sent))
	}
	if got := int64(binary.BigEndian.Uint64(stored[0:])); got != base {
		t.Errorf("stored base offset %d, want %d", got, base)
	}
	if got := int32(binary.BigEndian.Uint32(stored[12:])); got != epoch {
		t.Errorf("batch %d: partition leader epoch %d, want %d (the term)", base, got, epoch)
	}
	if !bytes.Equal(stored[8:12], sent[8:12]) || !bytes.Equal(stored[16:], sent[16:]) {
		t.Errorf("batch %d: bytes other than base offset and leader epoch changed", base)
	}
	if _, err := recordbatch.Validate(stored); err != nil {
		t.Errorf("stored batch %d no longer validates: %v", base, err)
	}
}

// expectLog checks the whole log against the proposals applied from offset 0.
func expectLog(t *testing.T, s *StateMachine, ps []proposal) {
	t.Helper()
	stored := readAll(t, s, 0)
	i := 0
	var off int64
	for _, p := range ps {
		for _, b := range p.batches {
			if i >= len(stored) {
				t.Fatalf("log has %d batches, want more", len(stored))
			}
			checkStored(t, stored[i], b, off, int32(p.term))
			off += int64(recordbatch.ParseHeader(b).Records)
			i++
		}
	}
	if i != len(stored) {
		t.Fatalf("log has %d batches, want %d", len(stored), i)
	}
	if s.HighWatermark() != off {
		t.Fatalf("HighWatermark = %d, want %d", s.HighWatermark(), off)
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestUpdateAssignsOffsetsAndRewritesHeaders(t *testing.T) {
	s, applied := openSM(t, t.TempDir())
	if applied != 0 || s.HighWatermark() != 0 || s.LogStartOffset() != 0 {
		t.Fatalf("fresh replica: applied %d, HW %d, start %d", applied, s.HighWatermark(), s.LogStartOffset())
	}
	b1 := batchtest.Simple(3, 1000, 1)
	b2 := batchtest.Batch{FirstTimestamp: 2000, TsDeltas: []int64{0, 1}, ValueSize: 500, Seed: 2}.Build()
	b3 := batchtest.Batch{FirstTimestamp: 3000, TsDeltas: []int64{0, 1, 2, 3}, Gzip: true, Seed: 3}.Build()
	b4 := batchtest.Simple(1, 4000, 4)
	ps := []proposal{
		{term: 3, batches: [][]byte{b1}},
		{term: 3, batches: [][]byte{b2, b3}},
		{term: 7, batches: [][]byte{b4}},
	}
	sent := concat(b1, b2, b3, b4)
	ch := s.Appended()
	vals := apply(t, s, 1, ps...)
	if want := []uint64{0, 3, 9}; vals[0] != want[0] || vals[1] != want[1] || vals[2] != want[2] {
		t.Fatalf("Result values %v, want base offsets %v", vals, want)
	}
	if !isClosed(ch) {
		t.Errorf("Appended() channel not closed after an append")
	}
	if isClosed(s.Appended()) {
		t.Errorf("fresh Appended() channel already closed")
	}
	if s.HighWatermark() != 10 {
		t.Errorf("HighWatermark = %d, want 10", s.HighWatermark())
	}
	if v, _ := s.Lookup(nil); v != int64(10) {
		t.Errorf("Lookup = %v, want HW 10", v)
	}
	expectLog(t, s, ps)
	if !bytes.Equal(sent, concat(b1, b2, b3, b4)) {
		t.Errorf("Update modified the proposer's batch bytes")
	}

	// A read from inside a batch starts with the whole batch.
	// Offsets: b1 0-2, b2 3-4, b3 5-8, b4 9.
	data, err := s.Read(4, 1)
	if err != nil {
		t.Fatal(err)
	}
	if base := recordbatch.ParseHeader(data).BaseOffset; len(data) != len(b2) || base != 3 {
		t.Errorf("Read(4) = %d bytes at base %d, want batch 3..4", len(data), base)
	}
	// maxBytes large enough for b3 and b4 returns both whole.
	if data, err := s.Read(5, len(b3)+len(b4)); err != nil || len(data) != len(b3)+len(b4) {
		t.Errorf("Read(5) = %d bytes, %v; want b3+b4 (%d bytes)", len(data), err, len(b3)+len(b4))
	}
	if data, err := s.Read(10, 1<<20); err != nil || data != nil {
		t.Errorf("Read(HW) = %d bytes, %v; want nothing", len(data), err)
	}
	if _, err := s.Read(11, 1<<20); !errors.Is(err, storage.ErrOffsetOutOfRange) {
		t.Errorf("Read(HW+1) err = %v, want ErrOffsetOutOfRange", err)
	}
	if s.LogSize() != int64(len(sent)) {
		t.Errorf("LogSize = %d, want %d", s.LogSize(), len(sent))
	}

	// An entry that is not an append (e.g. a no-op or a future command) is
	// rejected with INVALID_RECORD and does not signal.
	ch = s.Appended()
	out, err := s.Update([]sm.Entry{{Index: 4, Cmd: nil}, {Index: 5, Cmd: []byte{99, 1, 2}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range out {
		if _, code := AppendResult(e.Result); code != errInvalidRecord {
			t.Errorf("non-append entry %d: result code %d, want %d", e.Index, code, errInvalidRecord)
		}
	}
	if s.HighWatermark() != 10 || isClosed(ch) {
		t.Errorf("non-append moved HW to %d or signalled an append", s.HighWatermark())
	}
	// Offsets carry on after the skipped entries.
	if v := apply(t, s, 6, proposal{term: 7, batches: [][]byte{b1}}); v[0] != 10 {
		t.Errorf("next append at %d, want 10", v[0])
	}
}

func TestOffsetsConsecutiveAcrossSegments(t *testing.T) {
	dir := t.TempDir()
	s, _ := openSM(t, dir)
	ps := workload(40, 2, 0)
	var want uint64
	for i, p := range ps {
		v := apply(t, s, uint64(i+1), p)
		if v[0] != want {
			t.Fatalf("proposal %d at offset %d, want %d", i, v[0], want)
		}
		want += uint64(p.records())
	}
	expectLog(t, s, ps)
	segs, _ := filepath.Glob(filepath.Join(dir, "log", "*.log"))
	if len(segs) < 3 {
		t.Errorf("only %d segments; the test wants several 4 KiB segments", len(segs))
	}
}

func TestSyncCloseReopen(t *testing.T) {
	dir := t.TempDir()
	s, _ := openSM(t, dir)
	first := workload(10, 1, 0)
	apply(t, s, 1, first...)
	if err := s.Sync(); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	hw := s.HighWatermark()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s2, applied := openSM(t, dir)
	if applied != 10 {
		t.Fatalf("Open returned applied index %d, want 10 (last synced)", applied)
	}
	if s2.HighWatermark() != hw {
		t.Fatalf("reopened HW %d, want %d", s2.HighWatermark(), hw)
	}
	expectLog(t, s2, first)

	// Append more without Sync; they are written but not checkpointed.
	more := workload(6, 2, 100)
	vals := apply(t, s2, 11, more...)
	before := readAll(t, s2, 0)
	crash(s2)

	s3, applied := openSM(t, dir)
	if applied != 10 {
		t.Fatalf("Open after unsynced appends returned %d, want 10 (the checkpoint)", applied)
	}
	if s3.HighWatermark() != hw {
		t.Fatalf("log not cut back to the checkpoint: HW %d, want %d", s3.HighWatermark(), hw)
	}
	expectLog(t, s3, first)
	// Raft replays 11..16: the same offsets and bytes come out.
	again := apply(t, s3, 11, more...)
	for i := range vals {
		if again[i] != vals[i] {
			t.Errorf("replayed entry %d at offset %d, first time %d", 11+i, again[i], vals[i])
		}
	}
	after := readAll(t, s3, 0)
	if len(after) != len(before) {
		t.Fatalf("%d batches after replay, %d before", len(after), len(before))
	}
	for i := range before {
		if !bytes.Equal(before[i], after[i]) {
			t.Errorf("batch %d differs after replay", i)
		}
	}
	expectLog(t, s3, append(append([]proposal(nil), first...), more...))
}

func TestReopenWithoutAnySync(t *testing.T) {
	dir := t.TempDir()
	s, _ := openSM(t, dir)
	apply(t, s, 1, workload(5, 1, 0)...)
	crash(s)
	s2, applied := openSM(t, dir)
	if applied != 0 || s2.HighWatermark() != 0 {
		t.Errorf("never synced: Open = %d, HW %d; want 0, 0 (Raft replays everything)", applied, s2.HighWatermark())
	}
	ps := workload(5, 1, 0)
	if v := apply(t, s2, 1, ps...); v[0] != 0 {
		t.Errorf("replay starts at %d", v[0])
	}
	expectLog(t, s2, ps)
}

// A replica stopped cleanly reopens where it stopped: a leader that must
// send it a snapshot then continues its log instead of sending all of it.
func TestCloseCheckpoints(t *testing.T) {
	dir := t.TempDir()
	s, _ := openSM(t, dir)
	ps := workload(8, 1, 0)
	apply(t, s, 1, ps...) // never synced
	hw := s.HighWatermark()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	re, applied := openSM(t, dir)
	if applied != 8 || re.HighWatermark() != hw {
		t.Fatalf("reopened after Close: applied %d, HW %d; want 8, %d", applied, re.HighWatermark(), hw)
	}
	pos, err := re.Position()
	if err != nil || pos.NextOffset != hw {
		t.Fatalf("Position after reopen: %+v, %v; want the log end %d", pos, err, hw)
	}
	expectLog(t, re, ps)
}

// A replica closed after a snapshot install was stopped half-way keeps the
// install's own checkpoint: it reopens empty at the snapshot's start, to
// install again.
func TestCloseDuringInstallKeepsItsCheckpoint(t *testing.T) {
	ps := workload(30, 2, 0)
	src, _ := openSM(t, t.TempDir())
	apply(t, src, 1, ps...)
	dir := t.TempDir()
	dst, _ := openSM(t, dir)
	apply(t, dst, 1, ps[:10]...)
	stream, h := streamFrom(t, src, replicas{dst})
	stop := make(chan struct{})
	r := &stopAfter{r: bytes.NewReader(stream), n: len(stream) / 2, stop: stop}
	if err := dst.RecoverFromSnapshot(r, stop); err == nil {
		t.Fatal("stopped install succeeded")
	}
	if dst.Fault() != nil {
		t.Fatalf("a stopped install is not a fault: %v", dst.Fault())
	}
	if err := dst.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	re, applied := openSM(t, dir)
	if applied != 0 || re.HighWatermark() != h.StartOffset {
		t.Fatalf("reopened at applied %d, log end %d; want 0 and the snapshot's start %d", applied, re.HighWatermark(), h.StartOffset)
	}
}

// stopAfter reads r 512 bytes at a time and closes stop once n bytes were
// read: dragonboat stopping the replica half-way through a snapshot install.
type stopAfter struct {
	r    io.Reader
	n    int
	stop chan struct{}
}

func (s *stopAfter) Read(p []byte) (int, error) {
	n, err := s.r.Read(p[:min(len(p), 512)])
	if s.n -= n; s.n <= 0 && s.stop != nil {
		close(s.stop)
		s.stop = nil
	}
	return n, err
}

func TestOpenRefusesLogShorterThanCheckpoint(t *testing.T) {
	dir := t.TempDir()
	s, _ := openSM(t, dir)
	apply(t, s, 1, proposal{term: 1, batches: [][]byte{batchtest.Simple(3, 1, 1)}}, proposal{term: 1, batches: [][]byte{batchtest.Simple(2, 2, 2)}})
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	segs, _ := filepath.Glob(filepath.Join(dir, "log", "*.log"))
	if len(segs) != 1 {
		t.Fatalf("segments %v", segs)
	}
	fi, _ := os.Stat(segs[0])
	if err := os.Truncate(segs[0], fi.Size()-5); err != nil { // tear the last batch
		t.Fatal(err)
	}
	s2 := New(testShard, dir, smallSegments)
	if _, err := s2.Open(nil); err == nil {
		s2.Close()
		t.Fatalf("Open accepted a log that ends before its checkpoint")
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	src, _ := openSM(t, t.TempDir())
	ps := workload(30, 4, 0)
	apply(t, src, 1, ps...)
	stream, _ := streamFrom(t, src, nil)

	dst, _ := openSM(t, t.TempDir())
	ch := dst.Appended()
	if err := dst.RecoverFromSnapshot(bytes.NewReader(stream), make(chan struct{})); err != nil {
		t.Fatalf("RecoverFromSnapshot: %v", err)
	}
	if !isClosed(ch) {
		t.Errorf("RecoverFromSnapshot did not wake long polls")
	}
	if dst.HighWatermark() != src.HighWatermark() || dst.LogStartOffset() != src.LogStartOffset() {
		t.Fatalf("HW/start %d/%d, want %d/%d", dst.HighWatermark(), dst.LogStartOffset(), src.HighWatermark(), src.LogStartOffset())
	}
	for _, off := range []int64{0, 1, 7, 33, src.HighWatermark() - 1} {
		a, errA := src.Read(off, 2500)
		b, errB := dst.Read(off, 2500)
		if errA != nil || errB != nil || !bytes.Equal(a, b) {
			t.Errorf("Read(%d) differs: %d bytes %v vs %d bytes %v", off, len(a), errA, len(b), errB)
		}
	}
	expectLog(t, dst, ps)

	// Both continue identically.
	more := workload(4, 5, 50)
	v1 := apply(t, src, 31, more...)
	v2 := apply(t, dst, 31, more...)
	for i := range v1 {
		if v1[i] != v2[i] {
			t.Errorf("entry %d: source offset %d, restored %d", 31+i, v1[i], v2[i])
		}
	}
	all := append(append([]proposal(nil), ps...), more...)
	expectLog(t, dst, all)

	// The recovered replica checkpointed the snapshot's index.
	crash(dst)
	dir := dst.dir
	re, applied := openSM(t, dir)
	if applied != 30 {
		t.Errorf("reopened restored replica: Open = %d, want the snapshot's 30", applied)
	}
	expectLog(t, re, ps)
}

func TestSnapshotReplacesDivergentLog(t *testing.T) {
	src, _ := openSM(t, t.TempDir())
	ps := workload(8, 6, 10)
	apply(t, src, 1, ps...)
	ctx, _ := src.PrepareSnapshot()
	var buf bytes.Buffer
	if err := src.SaveSnapshot(ctx, &buf, make(chan struct{})); err != nil {
		t.Fatal(err)
	}

	dst, _ := openSM(t, t.TempDir())
	apply(t, dst, 1, workload(20, 1, 77)...) // a longer, different history
	if err := dst.RecoverFromSnapshot(&buf, make(chan struct{})); err != nil {
		t.Fatal(err)
	}
	expectLog(t, dst, ps)
}

func TestSnapshotOfEmptyLog(t *testing.T) {
	src, _ := openSM(t, t.TempDir())
	ctx, _ := src.PrepareSnapshot()
	var buf bytes.Buffer
	if err := src.SaveSnapshot(ctx, &buf, make(chan struct{})); err != nil {
		t.Fatal(err)
	}
	dst, _ := openSM(t, t.TempDir())
	if err := dst.RecoverFromSnapshot(&buf, make(chan struct{})); err != nil {
		t.Fatal(err)
	}
	if dst.HighWatermark() != 0 {
		t.Errorf("HW %d", dst.HighWatermark())
	}
	if v := apply(t, dst, 1, proposal{term: 1, batches: [][]byte{batchtest.Simple(2, 1, 1)}}); v[0] != 0 {
		t.Errorf("first append at %d", v[0])
	}
}

// Dragonboat runs SaveSnapshot concurrently with Update once
// PrepareSnapshot has returned: the snapshot holds exactly the prepared range.
func TestSnapshotWhileAppending(t *testing.T) {
	src, _ := openSM(t, t.TempDir())
	ps := workload(20, 2, 0)
	apply(t, src, 1, ps...)
	preparedHW := src.HighWatermark()
	ctx, err := src.PrepareSnapshot()
	if err != nil {
		t.Fatal(err)
	}

	var buf bytes.Buffer
	var saveErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		saveErr = src.SaveSnapshot(ctx, &slowWriter{w: &buf}, make(chan struct{}))
	}()
	more := workload(30, 3, 40)
	for i, p := range more { // rolls several segments while the save runs
		apply(t, src, uint64(21+i), p)
	}
	wg.Wait()
	if saveErr != nil {
		t.Fatalf("SaveSnapshot: %v", saveErr)
	}

	dst, _ := openSM(t, t.TempDir())
	if err := dst.RecoverFromSnapshot(&buf, make(chan struct{})); err != nil {
		t.Fatalf("RecoverFromSnapshot: %v", err)
	}
	if dst.HighWatermark() != preparedHW {
		t.Fatalf("restored HW %d, want the prepared %d (source is now at %d)", dst.HighWatermark(), preparedHW, src.HighWatermark())
	}
	expectLog(t, dst, ps)
	// Raft then replays 21.. on the restored replica.
	for i, p := range more {
		apply(t, dst, uint64(21+i), p)
	}
	a, b := readAll(t, src, 0), readAll(t, dst, 0)
	if len(a) != len(b) {
		t.Fatalf("%d batches vs %d", len(a), len(b))
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			t.Errorf("batch %d differs", i)
		}
	}
	// The restored replica checkpointed the prepared index (20); the replayed
	// entries were not synced, so a restart goes back to it.
	crash(dst)
	re, applied := openSM(t, dst.dir)
	if applied != 20 || re.HighWatermark() != preparedHW {
		t.Errorf("reopened: Open = %d, HW %d; want 20, %d", applied, re.HighWatermark(), preparedHW)
	}
}

// slowWriter yields between writes so that Updates interleave with a save.
type slowWriter struct{ w *bytes.Buffer }

func (s *slowWriter) Write(p []byte) (int, error) {
	time.Sleep(200 * time.Microsecond)
	return s.w.Write(p)
}

func TestSaveSnapshotStopped(t *testing.T) {
	src, _ := openSM(t, t.TempDir())
	apply(t, src, 1, workload(5, 1, 0)...)
	ctx, _ := src.PrepareSnapshot()
	done := make(chan struct{})
	close(done)
	if err := src.SaveSnapshot(ctx, &bytes.Buffer{}, done); !errors.Is(err, sm.ErrSnapshotStopped) {
		t.Errorf("SaveSnapshot with done closed: %v, want ErrSnapshotStopped", err)
	}
	if err := src.SaveSnapshot("not a context", &bytes.Buffer{}, make(chan struct{})); err == nil {
		t.Errorf("SaveSnapshot accepted a foreign context")
	}
}

func TestRecoverFromTruncatedSnapshot(t *testing.T) {
	src, _ := openSM(t, t.TempDir())
	apply(t, src, 1, workload(6, 1, 0)...)
	ctx, _ := src.PrepareSnapshot()
	var buf bytes.Buffer
	if err := src.SaveSnapshot(ctx, &buf, make(chan struct{})); err != nil {
		t.Fatal(err)
	}
	for _, cut := range []int{2, 10, buf.Len() - 7} {
		dst, _ := openSM(t, t.TempDir())
		if err := dst.RecoverFromSnapshot(bytes.NewReader(buf.Bytes()[:cut]), make(chan struct{})); err == nil {
			t.Errorf("RecoverFromSnapshot accepted a snapshot cut at %d of %d bytes", cut, buf.Len())
		}
	}
}

// Readers on other goroutines (fetch long polls) see whole, committed
// batches while Update appends.
func TestConcurrentReaders(t *testing.T) {
	s, _ := openSM(t, t.TempDir())
	ps := workload(60, 1, 0)
	var total int64
	for _, p := range ps {
		total += p.records()
	}
	errc := make(chan error, 2)
	for r := 0; r < 2; r++ {
		go func() {
			var off int64
			deadline := time.After(20 * time.Second)
			for off < total {
				ch := s.Appended()
				for off < s.HighWatermark() {
					data, err := s.Read(off, 1500)
					if err != nil {
						errc <- err
						return
					}
					if _, err := recordbatch.Validate(data); err != nil {
						errc <- err
						return
					}
					for h := range recordbatch.All(data) {
						if h.BaseOffset > off {
							errc <- errors.New("gap in offsets")
							return
						}
						off = h.LastOffset() + 1
					}
				}
				if off >= total {
					break
				}
				select {
				case <-ch:
				case <-deadline:
					errc <- errors.New("reader timed out")
					return
				}
			}
			errc <- nil
		}()
	}
	for i, p := range ps {
		apply(t, s, uint64(i+1), p)
	}
	for r := 0; r < 2; r++ {
		if err := <-errc; err != nil {
			t.Errorf("reader: %v", err)
		}
	}
}

// Read's contract: whole batches "never past the high watermark". A fetch
// takes HighWatermark() after Read, so data beyond that value reaches a
// consumer with a response HW below its records' offsets.
func TestReadNeverPastHighWatermark(t *testing.T) {
	s, _ := openSM(t, t.TempDir())
	var stop atomic.Bool
	var worst atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for !stop.Load() {
			data, err := s.Read(0, 1<<30)
			if err != nil || len(data) == 0 {
				continue
			}
			hw := s.HighWatermark() // taken after the read, as fetch.go does
			var end int64
			for h := range recordbatch.All(data) {
				end = h.LastOffset() + 1
			}
			if end-hw > worst.Load() {
				worst.Store(end - hw)
			}
		}
	}()
	b := batchtest.Simple(1, 1, 1)
	idx := uint64(1)
	for round := 0; round < 20; round++ { // dragonboat hands Update many entries at once
		ents := make([]sm.Entry, 200)
		for i := range ents {
			ents[i] = sm.Entry{Index: idx, Cmd: EncodeAppend(1, 0, false, b)}
			idx++
		}
		if _, err := s.Update(ents); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	<-done
	if w := worst.Load(); w > 0 {
		t.Errorf("Read returned records up to %d offsets past the HighWatermark() read after it", w)
	}
}

// A snapshot recovery that stops part-way (a broken stream, or done closed
// at shutdown) must leave a replica that can Open again, so that dragonboat
// can retry the snapshot.
func TestOpenAfterInterruptedSnapshotRecovery(t *testing.T) {
	src, _ := openSM(t, t.TempDir())
	apply(t, src, 1, workload(30, 2, 0)...)
	ctx, _ := src.PrepareSnapshot()
	var buf bytes.Buffer
	if err := src.SaveSnapshot(ctx, &buf, make(chan struct{})); err != nil {
		t.Fatal(err)
	}

	headerEnd := 4 + int(binary.BigEndian.Uint32(buf.Bytes()))
	for _, tc := range []struct {
		name    string
		cut     int
		stopped bool // done closed: the NodeHost is shutting down
	}{
		{"done closed (shutdown during install)", buf.Len(), true},
		{"stream cut inside the header", headerEnd - 3, false},
		{"stream cut after the header", headerEnd, false},
		{"stream cut inside the first batch", headerEnd + 100, false},
		{"stream cut mid-way", buf.Len() / 2, false},
		{"stream cut before the end", buf.Len() - 10, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			dst, _ := openSM(t, dir)
			apply(t, dst, 1, workload(25, 2, 0)...) // a lagging replica, checkpointed
			if err := dst.Sync(); err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			if tc.stopped {
				close(done)
			}
			if err := dst.RecoverFromSnapshot(bytes.NewReader(buf.Bytes()[:tc.cut]), done); err == nil {
				t.Fatalf("truncated snapshot accepted")
			}
			dst.Close()

			re := New(testShard, dir, smallSegments)
			applied, err := re.Open(nil)
			if err != nil {
				t.Fatalf("replica cannot start after an interrupted snapshot recovery: %v", err)
			}
			defer re.Close()
			// Whatever Open reports must match the log it holds: replaying
			// entries applied+1.. (or recovering the snapshot again) must
			// reproduce the source.
			ps := workload(30, 2, 0)
			if applied > 30 {
				t.Fatalf("Open = %d, beyond anything applied", applied)
			}
			apply(t, re, applied+1, ps[applied:]...)
			expectLog(t, re, ps)
		})
	}
}

package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/recordbatch"
)

// kv is one record of a keyed test batch; a nil value is a tombstone.
type kv struct {
	key   string
	value []byte
}

// keyedBatch builds an uncompressed batch at base with the given records.
func keyedBatch(base, ts, producerID int64, recs ...kv) []byte {
	var body []byte
	for i, r := range recs {
		rec := kmsg.Record{OffsetDelta: int32(i), Key: []byte(r.key), Value: r.value}
		if r.key == "" {
			rec.Key = nil
		}
		rec.Length = int32(len(rec.AppendTo(nil)) - 1)
		body = rec.AppendTo(body)
	}
	h := recordbatch.Header{BaseOffset: base, LeaderEpoch: 1, LastOffsetDelta: int32(len(recs) - 1),
		BaseTimestamp: ts, MaxTimestamp: ts, ProducerID: producerID, ProducerEpoch: -1, BaseSequence: -1}
	if producerID >= 0 {
		h.ProducerEpoch, h.BaseSequence = 0, int32(base)
	}
	return recordbatch.FinishBatch(append(make([]byte, recordbatch.HeaderSize), body...), h, int32(len(recs)))
}

// seen is one record as a reader from the start gets it.
type seen struct {
	offset int64
	key    string
	value  string
	null   bool
}

// readAll reads the log from its start and returns every record, checking
// that offsets only go up and that every batch's CRC holds.
func readRecords(t *testing.T, l *Log) (recs []seen, batches int) {
	t.Helper()
	last := int64(-1)
	for off := l.StartOffset(); off < l.NextOffset(); {
		data, err := l.Read(off, 1<<20)
		if err != nil {
			t.Fatalf("Read(%d): %v", off, err)
		}
		for h, b := range recordbatch.All(data) {
			if !recordbatch.ValidCRC(b) {
				t.Fatalf("batch %d: bad CRC", h.BaseOffset)
			}
			batches++
			body, err := recordbatch.Decompress(h.Codec(), b[recordbatch.HeaderSize:])
			if err != nil {
				t.Fatalf("batch %d: %v", h.BaseOffset, err)
			}
			err = recordbatch.Records(body, h.Records, func(r recordbatch.Record) bool {
				o := h.BaseOffset + r.OffsetDelta
				if o <= last || o > h.LastOffset() {
					t.Fatalf("record offset %d after %d in batch %d..%d", o, last, h.BaseOffset, h.LastOffset())
				}
				last = o
				s := seen{offset: o, key: string(r.Key), null: r.NullValue}
				if !r.NullValue {
					s.value = valueOf(b, r)
				}
				recs = append(recs, s)
				return true
			})
			if err != nil {
				t.Fatal(err)
			}
			off = h.LastOffset() + 1
		}
	}
	return recs, batches
}

// valueOf decodes a record's value through kmsg.
func valueOf(_ []byte, r recordbatch.Record) string {
	var rec kmsg.Record
	if err := rec.ReadFrom(r.Raw); err != nil {
		return "?" + err.Error()
	}
	return string(rec.Value)
}

// fillVersions appends versions rounds of one record per key (keys
// k0..k<keys-1>, value "k<i>=v<round>"), one batch per round, then a last
// batch that stays in the active segment.
func fillVersions(t *testing.T, l *Log, keys, versions int, ts int64) {
	t.Helper()
	for v := 0; v < versions; v++ {
		var recs []kv
		for k := 0; k < keys; k++ {
			recs = append(recs, kv{fmt.Sprintf("k%d", k), fmt.Appendf(nil, "k%d=v%d", k, v)})
		}
		if err := l.Append(keyedBatch(l.NextOffset(), ts, -1, recs...)); err != nil {
			t.Fatal(err)
		}
	}
}

func cleanCfg(l *Log) CleanConfig {
	return CleanConfig{NowMs: 1_000_000, Limit: l.NextOffset(), MinCleanableRatio: 0.5, MaxCompactionLagMs: math.MaxInt64,
		DeleteRetentionMs: 86_400_000, SegmentBytes: 1 << 20}
}

func TestCleanKeepsLastVersionOfEachKey(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Options{SegmentBytes: 2048})
	fillVersions(t, l, 10, 30, 1000)
	activeBase := l.Segments()[len(l.Segments())-1].BaseOffset
	before, _ := readRecords(t, l)
	sizeBefore, segsBefore := l.Size(), len(l.Segments())

	res, err := l.Clean(context.Background(), cleanCfg(l), NewOffsetMap(1<<20), nil)
	if err != nil || !res.Cleaned {
		t.Fatalf("Clean = %+v, %v", res, err)
	}
	if res.DirtyRatio != 1 || res.CleanedTo != activeBase {
		t.Errorf("dirty ratio %v, cleaned to %d; want 1 and %d", res.DirtyRatio, res.CleanedTo, activeBase)
	}
	after, _ := readRecords(t, l)
	want := expectCompacted(before, activeBase)
	if got := fmt.Sprint(after); got != fmt.Sprint(want) {
		t.Fatalf("after cleaning:\n got %v\nwant %v", after, want)
	}
	if l.Size() >= sizeBefore || len(l.Segments()) >= segsBefore {
		t.Errorf("size %d -> %d, segments %d -> %d: want both smaller", sizeBefore, l.Size(), segsBefore, len(l.Segments()))
	}
	if res.RecordsRemoved != int64(len(before)-len(after)) {
		t.Errorf("RecordsRemoved %d, want %d", res.RecordsRemoved, len(before)-len(after))
	}

	// The cleaned files are what a restart reads, gaps and all.
	l.Close()
	l2 := openLog(t, dir, Options{SegmentBytes: 2048})
	again, _ := readRecords(t, l2)
	if fmt.Sprint(again) != fmt.Sprint(after) {
		t.Fatalf("after reopening:\n got %v\nwant %v", again, after)
	}
	// A second pass with nothing new to clean changes nothing.
	res, err = l2.Clean(context.Background(), cleanCfg(l2), NewOffsetMap(1<<20), nil)
	if err != nil || res.Cleaned {
		t.Fatalf("second Clean = %+v, %v; want nothing to do", res, err)
	}
}

// expectCompacted is what cleaning below end leaves of recs: the last
// record of each key, and everything from end on.
func expectCompacted(recs []seen, end int64) []seen {
	last := map[string]int64{}
	for _, r := range recs {
		if r.offset < end {
			last[r.key] = r.offset
		}
	}
	var out []seen
	for _, r := range recs {
		if r.offset >= end || last[r.key] == r.offset {
			out = append(out, r)
		}
	}
	return out
}

func TestCleanTombstones(t *testing.T) {
	for _, tc := range []struct {
		name      string
		retention int64
		wantK1    int // records of k1 left
	}{
		{"kept within delete.retention.ms", 10_000_000, 1},
		{"removed after delete.retention.ms", 1000, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := openLog(t, t.TempDir(), Options{SegmentBytes: 1024})
			fillVersions(t, l, 4, 10, 1000)
			if err := l.Append(keyedBatch(l.NextOffset(), 2000, -1, kv{"k1", nil}, kv{"k2", []byte("k2=last")})); err != nil {
				t.Fatal(err)
			}
			fillVersions(t, l, 1, 20, 3000) // only k0: pushes the tombstone below the active segment
			cfg := cleanCfg(l)
			cfg.DeleteRetentionMs = tc.retention
			if _, err := l.Clean(context.Background(), cfg, NewOffsetMap(1<<20), nil); err != nil {
				t.Fatal(err)
			}
			recs, _ := readRecords(t, l)
			var k1 []seen
			for _, r := range recs {
				if r.key == "k1" {
					k1 = append(k1, r)
				}
			}
			if len(k1) != tc.wantK1 || (len(k1) == 1 && !k1[0].null) {
				t.Fatalf("k1 records %v, want %d tombstone(s)", k1, tc.wantK1)
			}
		})
	}
}

func TestCleanTombstoneRemovedByLaterPass(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{SegmentBytes: 1024})
	fillVersions(t, l, 4, 10, 1000)
	if err := l.Append(keyedBatch(l.NextOffset(), 2000, -1, kv{"k1", nil})); err != nil {
		t.Fatal(err)
	}
	fillVersions(t, l, 1, 20, 3000)
	cfg := cleanCfg(l)
	if _, err := l.Clean(context.Background(), cfg, NewOffsetMap(1<<20), nil); err != nil {
		t.Fatal(err)
	}
	// Later: the tombstone's retention has passed, and new dirty data
	// (k0 only) does not hold k1, so the map of the second pass does not
	// either; the tombstone lies below the first pass's end and goes.
	fillVersions(t, l, 1, 40, 4000)
	cfg = cleanCfg(l)
	cfg.NowMs = 2000 + cfg.DeleteRetentionMs + 1
	res, err := l.Clean(context.Background(), cfg, NewOffsetMap(1<<20), nil)
	if err != nil || !res.Cleaned {
		t.Fatalf("second Clean = %+v, %v", res, err)
	}
	recs, _ := readRecords(t, l)
	for _, r := range recs {
		if r.key == "k1" {
			t.Fatalf("k1 still has %v", r)
		}
	}
}

func TestCleanHonoursLagAndRatio(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{SegmentBytes: 1024})
	fillVersions(t, l, 4, 10, 1000)
	fillVersions(t, l, 4, 10, 900_000)
	before, _ := readRecords(t, l)
	cfg := cleanCfg(l)
	cfg.MinCompactionLagMs = 500_000 // the second half is too recent
	res, err := l.Clean(context.Background(), cfg, NewOffsetMap(1<<20), nil)
	if err != nil || !res.Cleaned {
		t.Fatalf("Clean = %+v, %v", res, err)
	}
	recs, _ := readRecords(t, l)
	if res.CleanedTo > 40 {
		t.Fatalf("cleaned to %d, past the old records' end 40", res.CleanedTo)
	}
	if fmt.Sprint(recs) != fmt.Sprint(expectCompacted(before, res.CleanedTo)) {
		t.Fatalf("got %v\nwant %v", recs, expectCompacted(before, res.CleanedTo))
	}
	// Now little is dirty: the ratio holds the next pass back, unless
	// max.compaction.lag.ms says the dirty data waited too long.
	fillVersions(t, l, 4, 3, 950_000)
	cfg = cleanCfg(l)
	cfg.MinCleanableRatio = 0.99
	if res, err := l.Clean(context.Background(), cfg, NewOffsetMap(1<<20), nil); err != nil || res.Cleaned || res.DirtyRatio <= 0 {
		t.Fatalf("Clean at ratio 0.99 = %+v, %v; want a dirty ratio and no pass", res, err)
	}
	cfg.MaxCompactionLagMs = 50_000
	if res, err := l.Clean(context.Background(), cfg, NewOffsetMap(1<<20), nil); err != nil || !res.Cleaned {
		t.Fatalf("Clean past max.compaction.lag.ms = %+v, %v; want a pass", res, err)
	}
}

func TestCleanSmallDedupeBufferConverges(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{SegmentBytes: 1024})
	// Each batch holds 3 new keys: a map of a few keys fills part-way.
	for v := 0; v < 40; v++ {
		if err := l.Append(keyedBatch(l.NextOffset(), 1000, -1,
			kv{fmt.Sprintf("a%d", v%7), []byte("x")}, kv{fmt.Sprintf("b%d", v%5), []byte("y")}, kv{"c", fmt.Appendf(nil, "c%d", v)})); err != nil {
			t.Fatal(err)
		}
	}
	fillVersions(t, l, 1, 1, 1000)
	before, _ := readRecords(t, l)
	end := l.Segments()[len(l.Segments())-1].BaseOffset
	m := NewOffsetMap(10 * offsetMapEntrySize) // 9 keys
	for pass := 0; pass < 20; pass++ {
		cfg := cleanCfg(l)
		cfg.Force = true
		res, err := l.Clean(context.Background(), cfg, m, nil)
		if err != nil {
			t.Fatalf("pass %d: %v", pass, err)
		}
		if res.CleanedTo == end {
			break
		}
	}
	after, _ := readRecords(t, l)
	// Every pass removes only superseded records; over the passes every
	// key but the last version is gone.
	if fmt.Sprint(after) != fmt.Sprint(expectCompacted(before, end)) {
		t.Fatalf("after passes with a small map:\n got %v\nwant %v", after, expectCompacted(before, end))
	}
}

func TestCleanKeepsLastBatchOfProducer(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{SegmentBytes: 1 << 20})
	mustAppend := func(b []byte) {
		if err := l.Append(b); err != nil {
			t.Fatal(err)
		}
	}
	mustAppend(keyedBatch(0, 1000, 7, kv{"a", []byte("1")}))
	mustAppend(keyedBatch(1, 1000, 7, kv{"a", []byte("2")})) // producer 7's last batch
	mustAppend(keyedBatch(2, 1000, -1, kv{"a", []byte("3")}, kv{"", []byte("keyless")}))
	mustAppend(keyedBatch(4, 1000, -1, kv{"a", []byte("4")}))
	mustAppend(keyedBatch(5, 1000, -1, kv{"b", []byte("5")}))
	if err := l.SetSegmentBytes(1); err != nil {
		t.Fatal(err)
	}
	mustAppend(keyedBatch(6, 1000, -1, kv{"z", []byte("active")}))
	cfg := cleanCfg(l)
	cfg.Force = true
	if _, err := l.Clean(context.Background(), cfg, NewOffsetMap(1<<20), nil); err != nil {
		t.Fatal(err)
	}
	data, err := l.Read(0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for h := range recordbatch.All(data) {
		got = append(got, fmt.Sprintf("%d..%d:%d", h.BaseOffset, h.LastOffset(), h.Records))
	}
	// Batch 0 goes; batch 1 stays empty (producer 7's last); batch 2..3
	// goes (a superseded value and a keyless record); 4 and 5 stay.
	if want := "[1..1:0 4..4:1 5..5:1]"; fmt.Sprint(got) != want {
		t.Fatalf("batches %v, want %s", got, want)
	}
}

func TestCleanCrashAtEveryStep(t *testing.T) {
	for _, step := range []string{"cleaned", "swap", "removed", "renamed"} {
		t.Run(step, func(t *testing.T) {
			dir := t.TempDir()
			l, err := Open(dir, Options{SegmentBytes: 1024})
			if err != nil {
				t.Fatal(err)
			}
			fillVersions(t, l, 5, 40, 1000)
			before, _ := readRecords(t, l)
			end := l.Segments()[len(l.Segments())-1].BaseOffset
			want := expectCompacted(before, end)
			crash := errors.New("crash")
			cleanFault = func(s string) error {
				if s == step {
					return crash
				}
				return nil
			}
			t.Cleanup(func() { cleanFault = nil })
			cfg := cleanCfg(l)
			if _, err := l.Clean(context.Background(), cfg, NewOffsetMap(1<<20), nil); !errors.Is(err, crash) {
				t.Fatalf("Clean = %v, want the crash", err)
			}
			cleanFault = nil
			l.Close() // the process dies: only the files remain

			l = openLog(t, dir, Options{SegmentBytes: 1024})
			got, _ := readRecords(t, l)
			// Before the swap file exists the old segments stand; after, the
			// cleaned one does.
			expect := want
			if step == "cleaned" {
				expect = before
			}
			if fmt.Sprint(got) != fmt.Sprint(expect) {
				t.Fatalf("after the crash at %s:\n got %v\nwant %v", step, got, expect)
			}
			assertNoTempFiles(t, dir)
			// The next run finishes the job.
			cfg = cleanCfg(l)
			cfg.Force = true
			if _, err := l.Clean(context.Background(), cfg, NewOffsetMap(1<<20), nil); err != nil {
				t.Fatal(err)
			}
			got, _ = readRecords(t, l)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("after the next run:\n got %v\nwant %v", got, want)
			}
		})
	}
}

func assertNoTempFiles(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), cleanedExt) || strings.HasSuffix(e.Name(), swapExt) {
			t.Errorf("%s left in %s", e.Name(), filepath.Base(dir))
		}
	}
}

func TestCleanedLogSnapshotRestores(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{SegmentBytes: 1024})
	fillVersions(t, l, 5, 40, 1000)
	if _, err := l.Clean(context.Background(), cleanCfg(l), NewOffsetMap(1<<20), nil); err != nil {
		t.Fatal(err)
	}
	want, _ := readRecords(t, l)
	snap, err := l.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	pr, pw := io.Pipe()
	go func() { _, err := snap.WriteTo(pw); pw.CloseWithError(err) }()
	dir := t.TempDir()
	f := openLog(t, dir, Options{SegmentBytes: 1024})
	if err := f.Restore(pr, snap.StartOffset, snap.NextOffset); err != nil {
		t.Fatal(err)
	}
	got, _ := readRecords(t, f)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("restored:\n got %v\nwant %v", got, want)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	f = openLog(t, dir, Options{SegmentBytes: 1024})
	if got, _ := readRecords(t, f); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("restored and reopened:\n got %v\nwant %v", got, want)
	}
}

// TestTruncateIntoCleanedGap cuts a cleaned log at offsets whose records
// the cleaner removed (a snapshot install or a restart can ask for that):
// the log then ends exactly there, keeps what lies below, reopens, and
// takes appends from there.
func TestTruncateIntoCleanedGap(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, Options{SegmentBytes: 1024})
	if err != nil {
		t.Fatal(err)
	}
	// A key written once stays at offset 0; the versions after it go.
	if err := l.Append(keyedBatch(0, 1000, -1, kv{"once", []byte("kept")})); err != nil {
		t.Fatal(err)
	}
	fillVersions(t, l, 5, 40, 1000)
	if _, err := l.Clean(context.Background(), cleanCfg(l), NewOffsetMap(1<<20), nil); err != nil {
		t.Fatal(err)
	}
	recs, _ := readRecords(t, l)
	// The last batch base (1, 6, 11, ...) that no batch holds any more,
	// above the kept offset 0: a gap inside a cleaned segment.
	held := map[int64]bool{}
	for off := l.StartOffset(); off < l.NextOffset(); {
		data, err := l.Read(off, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		for h := range recordbatch.All(data) {
			for o := h.BaseOffset; o <= h.LastOffset(); o++ {
				held[o] = true
			}
			off = h.LastOffset() + 1
		}
	}
	var cut int64 = -1
	for o := l.NextOffset() - 4; o > l.StartOffset(); o -= 5 {
		if !held[o] && held[0] {
			cut = o
			break
		}
	}
	if cut < 0 {
		t.Fatal("no gap after a kept batch in the cleaned log")
	}
	if err := l.TruncateTo(cut); err != nil {
		t.Fatalf("TruncateTo(%d) in a gap: %v", cut, err)
	}
	if l.NextOffset() != cut {
		t.Fatalf("NextOffset %d after the cut, want %d", l.NextOffset(), cut)
	}
	if err := l.Append(keyedBatch(cut, 2000, -1, kv{"new", []byte("after-cut")})); err != nil {
		t.Fatalf("append at the cut: %v", err)
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	l.Close()
	l = openLog(t, dir, Options{SegmentBytes: 1024})
	got, _ := readRecords(t, l)
	var want []seen
	for _, r := range recs {
		if r.offset < cut {
			want = append(want, r)
		}
	}
	want = append(want, seen{offset: cut, key: "new", value: "after-cut"})
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after cut and reopen:\n got %v\nwant %v", got, want)
	}
}

// TestSnapshotFromCleanedGap streams a cleaned log from an offset whose
// batch the cleaner removed, as an incremental catch-up may, into another
// log, which then holds the same records from there.
func TestSnapshotFromCleanedGap(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{SegmentBytes: 1024})
	if err := l.Append(keyedBatch(0, 1000, -1, kv{"once", []byte("kept")})); err != nil {
		t.Fatal(err)
	}
	fillVersions(t, l, 5, 40, 1000)
	if _, err := l.Clean(context.Background(), cleanCfg(l), NewOffsetMap(1<<20), nil); err != nil {
		t.Fatal(err)
	}
	all, _ := readRecords(t, l)
	const from = 6 // the base of a removed batch
	if data, err := l.Read(from, 1<<20); err != nil || len(data) == 0 || recordbatch.ParseHeader(data).BaseOffset <= from {
		t.Fatalf("Read(%d) = %d bytes, %v: want the next batch after the gap", from, len(data), err)
	}
	snap, err := l.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	if err := snap.From(from); err != nil {
		t.Fatalf("From(%d): %v", from, err)
	}
	pr, pw := io.Pipe()
	go func() { _, err := snap.WriteTo(pw); pw.CloseWithError(err) }()
	f := openLog(t, t.TempDir(), Options{SegmentBytes: 1024})
	if err := f.Restore(pr, from, snap.NextOffset); err != nil {
		t.Fatal(err)
	}
	got, _ := readRecords(t, f)
	var want []seen
	for _, r := range all {
		if r.offset >= from {
			want = append(want, r)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("streamed from %d:\n got %v\nwant %v", from, got, want)
	}
}

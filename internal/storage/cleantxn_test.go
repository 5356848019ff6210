package storage

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/longboat/longboat/internal/recordbatch"
)

// txnLog appends batches to a log the way a partition does with
// transactions: data batches with a producer id, markers as control
// batches, and an aborted-transaction index kept alongside.
type txnLog struct {
	t       *testing.T
	l       *Log
	aborted []AbortedTxn
	first   map[int64]int64 // producer -> first offset of its open transaction
}

func (x *txnLog) append(b []byte) {
	x.t.Helper()
	if err := x.l.Append(b); err != nil {
		x.t.Fatal(err)
	}
}

// plain appends a non-transactional batch.
func (x *txnLog) plain(recs ...kv) { x.append(keyedBatch(x.l.NextOffset(), 1000, -1, recs...)) }

// txn appends a transactional batch of pid.
func (x *txnLog) txn(pid int64, recs ...kv) {
	base := x.l.NextOffset()
	b := keyedBatch(base, 1000, pid, recs...)
	h := recordbatch.ParseHeader(b)
	h.Attributes |= recordbatch.AttrTransactional
	x.append(recordbatch.FinishBatch(b, h, h.Records))
	if _, open := x.first[pid]; !open {
		x.first[pid] = base
	}
}

// end appends pid's marker and returns its offset.
func (x *txnLog) end(pid int64, commit bool) int64 {
	base := x.l.NextOffset()
	b := recordbatch.MarkerBatch(recordbatch.Marker{ProducerID: pid, Commit: commit, TimestampMs: 1000})
	h := recordbatch.ParseHeader(b)
	h.BaseOffset, h.LeaderEpoch = base, 1
	x.append(recordbatch.FinishBatch(b, h, h.Records))
	if !commit {
		x.aborted = append(x.aborted, AbortedTxn{ProducerID: pid, FirstOffset: x.first[pid], LastOffset: base})
	}
	delete(x.first, pid)
	return base
}

// cleanOnce runs one cleaning pass with cfg as it is now.
func cleanOnce(t *testing.T, l *Log, cfg *CleanConfig) {
	t.Helper()
	if _, err := l.Clean(context.Background(), *cfg, NewOffsetMap(1<<20), nil); err != nil {
		t.Fatal(err)
	}
}

// batchView lists a log's batches as "base:kind", kind being the control
// type of a marker (with "empty" for an emptied one) or the batch's
// records as key=value.
func batchView(t *testing.T, l *Log) []string {
	t.Helper()
	var out []string
	for off := l.StartOffset(); off < l.NextOffset(); {
		data, err := l.Read(off, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		for h, b := range recordbatch.All(data) {
			off = h.LastOffset() + 1
			if h.Control() {
				kind := "empty-marker"
				if ctype, _, err := recordbatch.ParseMarker(b); err == nil {
					kind = map[int16]string{recordbatch.ControlAbort: "ABORT", recordbatch.ControlCommit: "COMMIT"}[ctype]
				}
				out = append(out, fmt.Sprintf("%d:%s", h.BaseOffset, kind))
				continue
			}
			var recs []string
			err := recordbatch.Records(b[recordbatch.HeaderSize:], h.Records, func(r recordbatch.Record) bool {
				recs = append(recs, string(r.Key)+"="+valueOf(b, r))
				return true
			})
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprintf("%d:%v", h.BaseOffset, recs))
		}
	}
	return out
}

// TestCleanTransactions runs Kafka's cleaner rules for transactions over
// a log of committed and aborted transactions of two producers mixed with
// plain batches: the first pass removes the aborted records (without
// letting them hide the committed ones they follow) and compacts the
// committed ones by key, keeping every marker; a pass after
// delete.retention.ms removes the markers whose transactions have no
// record left, after handing their ABORT markers' offsets to DropAborted,
// and keeps a COMMIT whose transaction still has a live record and an
// emptied marker that is its producer's last batch.
func TestCleanTransactions(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{SegmentBytes: 1 << 20})
	x := &txnLog{t: t, l: l, first: map[int64]int64{}}
	x.plain(kv{"a", []byte("a0")}, kv{"e", []byte("e0")})              // 0-1
	x.txn(9, kv{"a", []byte("aborted9")}, kv{"b", []byte("aborted9")}) // 2-3
	abort9 := x.end(9, false)                                          // 4
	x.txn(7, kv{"a", []byte("a7")}, kv{"c", []byte("c7")})             // 5-6
	commit7 := x.end(7, true)                                          // 7
	x.txn(9, kv{"c", []byte("c9")})                                    // 8: pid 9 again, committed
	commit9 := x.end(9, true)                                          // 9
	x.txn(7, kv{"d", []byte("aborted7")}, kv{"e", []byte("aborted7")}) // 10-11
	abort7 := x.end(7, false)                                          // 12
	x.plain(kv{"a", []byte("a-final")}, kv{"b", []byte("b-final")})    // 13-14
	if err := l.SetSegmentBytes(1); err != nil {
		t.Fatal(err)
	}
	x.plain(kv{"z", []byte("active")})

	var dropped []int64
	cfg := cleanCfg(l)
	cfg.Force = true
	cfg.Aborted = x.aborted
	cfg.DropAborted = func(markers []int64) error {
		dropped = append(dropped, markers...)
		return nil
	}
	cleanOnce(t, l, &cfg)
	// Aborted records go, never hiding e0 or b's absence; c7 is superseded
	// by the committed c9, a7 by a-final; every marker stays (its
	// transaction had records in this pass, and none is old enough).
	want := []string{"0:[e=e0]", fmt.Sprintf("%d:ABORT", abort9), fmt.Sprintf("%d:COMMIT", commit7), "8:[c=c9]",
		fmt.Sprintf("%d:COMMIT", commit9), fmt.Sprintf("%d:ABORT", abort7), "13:[a=a-final b=b-final]", "15:[z=active]"}
	if got := batchView(t, l); !slices.Equal(got, want) {
		t.Fatalf("after the first pass:\n got %v\nwant %v", got, want)
	}
	if len(dropped) != 0 {
		t.Fatalf("index entries dropped while their records were there: %v", dropped)
	}

	// Markers within delete.retention.ms stay even once their records are
	// gone; their index entries go.
	cleanOnce(t, l, &cfg)
	if got := batchView(t, l); !slices.Equal(got, want) {
		t.Fatalf("second pass within delete.retention.ms:\n got %v\nwant %v", got, want)
	}
	if !slices.Equal(dropped, []int64{abort9, abort7}) {
		t.Fatalf("dropped index entries %v, want [%d %d]", dropped, abort9, abort7)
	}

	dropped = nil
	cfg.NowMs = 1000 + cfg.DeleteRetentionMs + 1
	cfg.Aborted = nil // the caller dropped them
	cleanOnce(t, l, &cfg)
	// The ABORT of pid 9 and the COMMIT of pid 7 go; pid 9's COMMIT stays
	// while c9 lives; pid 7's ABORT is its last batch: emptied, kept.
	want = []string{"0:[e=e0]", "8:[c=c9]", fmt.Sprintf("%d:COMMIT", commit9), fmt.Sprintf("%d:empty-marker", abort7),
		"13:[a=a-final b=b-final]", "15:[z=active]"}
	if got := batchView(t, l); !slices.Equal(got, want) {
		t.Fatalf("after delete.retention.ms:\n got %v\nwant %v", got, want)
	}
}

// TestCleanDropsAbortedBeforeMarker checks the order that keeps fetches
// right: when one pass both finds an aborted transaction without records
// and may remove its marker, the index entry is dropped before the
// rewrite is swapped in, and a refusal to drop it keeps the log as it was.
func TestCleanDropsAbortedBeforeMarker(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{SegmentBytes: 1 << 20})
	x := &txnLog{t: t, l: l, first: map[int64]int64{}}
	x.txn(3, kv{"k", []byte("aborted")})
	abort := x.end(3, false)
	x.txn(4, kv{"k", []byte("committed")})
	x.end(4, true)
	if err := l.SetSegmentBytes(1); err != nil {
		t.Fatal(err)
	}
	x.plain(kv{"z", []byte("active")})
	cfg := cleanCfg(l)
	cfg.Force = true
	cfg.Aborted = x.aborted
	if _, err := l.Clean(context.Background(), cfg, NewOffsetMap(1<<20), nil); err != nil {
		t.Fatal(err)
	}
	before := batchView(t, l)
	if want := fmt.Sprintf("%d:ABORT", abort); !slices.Contains(before, want) {
		t.Fatalf("first pass: %v lacks %s", before, want)
	}
	cfg.NowMs = 1000 + cfg.DeleteRetentionMs + 1
	cfg.DropAborted = func(markers []int64) error {
		if got := batchView(t, l); !slices.Equal(got, before) {
			t.Fatalf("log changed before the index entry was dropped: %v", got)
		}
		return fmt.Errorf("index not writable")
	}
	if _, err := l.Clean(context.Background(), cfg, NewOffsetMap(1<<20), nil); err == nil {
		t.Fatal("pass went on after DropAborted failed")
	}
	if got := batchView(t, l); !slices.Equal(got, before) {
		t.Fatalf("log after a refused drop: %v, want %v", got, before)
	}
	cfg.DropAborted = func([]int64) error { return nil }
	if _, err := l.Clean(context.Background(), cfg, NewOffsetMap(1<<20), nil); err != nil {
		t.Fatal(err)
	}
	if got := batchView(t, l); slices.Contains(got, fmt.Sprintf("%d:ABORT", abort)) {
		t.Fatalf("ABORT marker still there after delete.retention.ms: %v", got)
	}
}

// TestCleanMapsCommittedAfterEarlierAbort: a pass whose dirty part starts
// after an aborted transaction's marker still maps the later committed
// transactions of the same producer, so their keys hide older values.
func TestCleanMapsCommittedAfterEarlierAbort(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{SegmentBytes: 1 << 20})
	x := &txnLog{t: t, l: l, first: map[int64]int64{}}
	x.txn(5, kv{"k", []byte("v1")})
	x.end(5, true)
	x.txn(5, kv{"k", []byte("aborted")})
	x.end(5, false)
	if err := l.SetSegmentBytes(1); err != nil {
		t.Fatal(err)
	}
	x.plain(kv{"z", []byte("seals")})
	cfg := cleanCfg(l)
	cfg.Force = true
	cfg.Aborted = x.aborted
	if _, err := l.Clean(context.Background(), cfg, NewOffsetMap(1<<20), nil); err != nil {
		t.Fatal(err)
	}
	// The first pass cleaned past the ABORT; now pid 5 commits k again.
	x.txn(5, kv{"k", []byte("v2")})
	x.end(5, true)
	x.plain(kv{"z", []byte("seals again")})
	cfg.Limit = l.NextOffset()
	if _, err := l.Clean(context.Background(), cfg, NewOffsetMap(1<<20), nil); err != nil {
		t.Fatal(err)
	}
	recs, _ := readRecords(t, l)
	var ks []string
	for _, r := range recs {
		if r.key == "k" {
			ks = append(ks, r.value)
		}
	}
	if !slices.Equal(ks, []string{"v2"}) {
		t.Fatalf("values of k after the second pass: %v, want [v2]", ks)
	}
}

// TestCleanRemovesMarkersAfterSegmentEnd: a transaction's batch whose
// records all go but that ends a segment the cleaner does not merge (its
// marker went to the next one) stays as an empty batch to keep the
// segment's end. That placeholder holds no record of the transaction, so
// it must keep neither the ABORT nor the COMMIT marker once
// delete.retention.ms has passed, and must not name the producer's
// transaction for readers to find open.
func TestCleanRemovesMarkersAfterSegmentEnd(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{SegmentBytes: 1 << 20})
	x := &txnLog{t: t, l: l, first: map[int64]int64{}}
	x.plain(kv{"k", []byte("v0")})               // 0
	x.txn(3, kv{"k", []byte("aborted")})         // 1
	if err := l.SetSegmentBytes(1); err != nil { // every append rolls from here
		t.Fatal(err)
	}
	abort := x.end(3, false)                // 2
	x.txn(4, kv{"c", []byte("superseded")}) // 3
	commit := x.end(4, true)                // 4
	x.plain(kv{"c", []byte("plain")})       // 5
	x.plain(kv{"z", []byte("seals")})       // 6
	x.plain(kv{"z", []byte("active")})      // 7
	cfg := cleanCfg(l)
	cfg.Force = true
	cfg.SegmentBytes = 1 // no two segments merge
	cfg.Aborted = x.aborted
	cfg.DropAborted = func(markers []int64) error {
		cfg.Aborted = slices.DeleteFunc(cfg.Aborted, func(a AbortedTxn) bool { return slices.Contains(markers, a.LastOffset) })
		return nil
	}
	cleanOnce(t, l, &cfg)
	want := []string{"0:[k=v0]", "1:[]", fmt.Sprintf("%d:ABORT", abort), "3:[]", fmt.Sprintf("%d:COMMIT", commit), "5:[c=plain]", "6:[z=seals]", "7:[z=active]"}
	if got := batchView(t, l); !slices.Equal(got, want) {
		t.Fatalf("first pass:\n got %v\nwant %v", got, want)
	}
	cfg.NowMs = 1000 + cfg.DeleteRetentionMs + 1
	for pass := 0; pass < 3; pass++ {
		cleanOnce(t, l, &cfg)
	}
	want[2], want[4] = fmt.Sprintf("%d:empty-marker", abort), fmt.Sprintf("%d:empty-marker", commit)
	if got := batchView(t, l); !slices.Equal(got, want) {
		t.Fatalf("after delete.retention.ms:\n got %v\nwant %v", got, want)
	}
	if len(cfg.Aborted) != 0 {
		t.Fatalf("aborted-transaction index still holds %+v", cfg.Aborted)
	}
	data, err := l.Read(0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	for h := range recordbatch.All(data) {
		if h.Records == 0 && !h.Control() && (h.Transactional() || h.ProducerID >= 0) {
			t.Fatalf("placeholder at %d names producer %d (transactional %v)", h.BaseOffset, h.ProducerID, h.Transactional())
		}
	}
}

// TestCleanOldPlaceholderKeepsNoMarker: logs cleaned by earlier versions
// hold empty batches that still name an aborted transaction's producer;
// such a batch has no record of it and must not keep its ABORT marker.
func TestCleanOldPlaceholderKeepsNoMarker(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{SegmentBytes: 1 << 20})
	x := &txnLog{t: t, l: l, first: map[int64]int64{}}
	b := keyedBatch(0, 1000, 3, kv{"k", []byte("aborted")})
	h := recordbatch.ParseHeader(b)
	h.Attributes |= recordbatch.AttrTransactional
	x.append(recordbatch.EmptyBatch(h))
	x.first[3] = 0
	abort := x.end(3, false)
	if err := l.SetSegmentBytes(1); err != nil {
		t.Fatal(err)
	}
	x.plain(kv{"z", []byte("seals")})
	x.plain(kv{"z", []byte("active")})
	cfg := cleanCfg(l)
	cfg.Force = true
	cfg.NowMs = 1000 + cfg.DeleteRetentionMs + 1
	cfg.Aborted = x.aborted
	var dropped []int64
	cfg.DropAborted = func(markers []int64) error {
		dropped = append(dropped, markers...)
		cfg.Aborted = nil
		return nil
	}
	for pass := 0; pass < 2; pass++ {
		cleanOnce(t, l, &cfg)
	}
	if got := batchView(t, l); slices.Contains(got, fmt.Sprintf("%d:ABORT", abort)) || !slices.Equal(dropped, []int64{abort}) {
		t.Fatalf("log %v, index entries dropped %v: want the ABORT at %d gone with its entry", got, dropped, abort)
	}
}

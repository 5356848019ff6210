package partition

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/recordbatch"
	"github.com/longboat/longboat/internal/recordbatch/batchtest"
	"github.com/longboat/longboat/internal/storage"
)

// markerMs is the clock markAt stamps markers with.
const markerMs = 1700000000000

// cleanPass runs one forced pass with delete.retention.ms of 1 s at nowMs.
func cleanPass(t *testing.T, s *StateMachine, nowMs int64) storage.CleanResult {
	t.Helper()
	res, err := s.Clean(context.Background(), storage.CleanConfig{NowMs: nowMs, Force: true, DeleteRetentionMs: 1000,
		SegmentBytes: 1 << 20}, storage.NewOffsetMap(1<<20), nil)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// replicaView lists what a replica holds below limit as "offset:key=value"
// for records and "offset:ABORT"/"offset:COMMIT" for markers.
func replicaView(t *testing.T, s *StateMachine, limit int64) []string {
	t.Helper()
	var out []string
	for off := s.LogStartOffset(); off < limit; {
		data, err := s.ReadBelow(off, 1<<20, limit)
		if err != nil {
			t.Fatal(err)
		}
		if len(data) == 0 {
			break
		}
		for h, b := range recordbatch.All(data) {
			off = h.LastOffset() + 1
			if h.Control() {
				if ctype, _, err := recordbatch.ParseMarker(b); err == nil {
					out = append(out, fmt.Sprintf("%d:%s", h.BaseOffset, map[int16]string{0: "ABORT", 1: "COMMIT"}[ctype]))
				}
				continue
			}
			err := recordbatch.Records(b[recordbatch.HeaderSize:], h.Records, func(r recordbatch.Record) bool {
				var rec kmsg.Record
				if err := rec.ReadFrom(r.Raw); err != nil {
					t.Fatal(err)
				}
				out = append(out, fmt.Sprintf("%d:%s=%.9s", h.BaseOffset+r.OffsetDelta, rec.Key, rec.Value))
				return true
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	return out
}

// filler appends n plain records with key, each big enough that a few
// fill a 4 KiB segment, and returns the next Raft index.
func filler(t *testing.T, s *StateMachine, index uint64, key string, n int) uint64 {
	t.Helper()
	for i := 0; i < n; i++ {
		want := s.HighWatermark()
		mustAppend(t, s, index, batchtest.OneRecord([]byte(key), bytes.Repeat([]byte{'f'}, 1500), markerMs), want)
		index++
	}
	return index
}

// txnWorkload applies, from Raft index 1: pid 1 commits key-0..2 (0-2,
// COMMIT 3), pid 2 aborts key-0..1 (4-5, ABORT 6), two plain records of
// key f (7-8) fill the first segment, then a third (9) and pid 3's
// transaction on key-0..2 (10-12), left open, start the next, and four
// more f records (13-16) roll it. It returns the next Raft index.
func txnWorkload(t *testing.T, s *StateMachine) uint64 {
	t.Helper()
	mustAppend(t, s, 1, batchtest.Transactional(1, 0, 0, 3), 0)
	mustMark(t, s, 2, 1, 0, true, 3)
	mustAppend(t, s, 3, batchtest.Transactional(2, 0, 0, 2), 4)
	mustMark(t, s, 4, 2, 0, false, 6)
	index := filler(t, s, 5, "f", 3)
	mustAppend(t, s, index, batchtest.Transactional(3, 0, 0, 3), 10)
	index = filler(t, s, index+1, "f", 4)
	if segs := s.log.Segments(); len(segs) < 3 || segs[0].EndOffset != 9 || segs[1].BaseOffset != 9 {
		t.Fatalf("segments %+v, want the first to end at 9 and at least three", segs)
	}
	return index
}

// from keeps the entries of a replica view at offsets from off on.
func from(view []string, off int64) []string {
	var out []string
	for _, v := range view {
		var o int64
		if _, err := fmt.Sscanf(v, "%d:", &o); err == nil && o >= off {
			out = append(out, v)
		}
	}
	return out
}

// TestCleanReplicaTransactions runs the cleaner on a replica through a
// transaction's life: aborted records go at once (the index entry stays
// while they were there, and the aborted key-0/key-1 hide nothing), an
// open transaction and everything from the segment holding the last
// stable offset on are never touched, a committed transaction's records
// are compacted by key once it ends, and a pass after delete.retention.ms
// drops the markers of transactions without records, the ABORT with its
// index entry, durably.
func TestCleanReplicaTransactions(t *testing.T) {
	dir := t.TempDir()
	s, _ := openSM(t, dir)
	index := txnWorkload(t, s)
	expectLSO(t, s, 10)
	before := replicaView(t, s, s.HighWatermark())

	cleanPass(t, s, markerMs)
	got := replicaView(t, s, s.HighWatermark())
	want := []string{"0:key-0=value-0-0", "1:key-1=value-0-1", "2:key-2=value-0-2", "3:COMMIT", "6:ABORT", "8:f=fffffffff"}
	if !slices.Equal(from(got, 0)[:len(want)], want) || !slices.Equal(from(got, 9), from(before, 9)) {
		t.Fatalf("after the first pass:\n got %v\nwant %v then, unchanged, %v", got, want, from(before, 9))
	}
	if ab := s.AbortedTransactions(0, s.HighWatermark()); len(ab) != 1 || ab[0].ProducerID != 2 {
		t.Fatalf("aborted index after the first pass: %+v, want pid 2's", ab)
	}

	// pid 3 commits; more plain records seal the segment holding it.
	commit3 := s.HighWatermark()
	mustMark(t, s, index, 3, 0, true, commit3)
	filler(t, s, index+1, "f", 4)
	cleanPass(t, s, markerMs)
	got = replicaView(t, s, s.HighWatermark())
	// pid 3's key-0..2 hide pid 1's; pid 1's COMMIT and pid 2's ABORT stay
	// within delete.retention.ms; the index entry goes (no record left).
	for _, w := range []string{"3:COMMIT", "6:ABORT", "10:key-0=value-0-0", "12:key-2=value-0-2", fmt.Sprintf("%d:COMMIT", commit3)} {
		if !slices.Contains(got, w) {
			t.Fatalf("after pid 3 committed: %v lacks %s", got, w)
		}
	}
	if slices.Contains(got, "0:key-0=value-0-0") || slices.Contains(got, "8:f=fffffffff") {
		t.Fatalf("pid 1's key-0 or an old f not compacted away: %v", got)
	}
	if ab := s.AbortedTransactions(0, s.HighWatermark()); len(ab) != 0 {
		t.Fatalf("aborted index with no aborted record left: %+v", ab)
	}

	cleanPass(t, s, markerMs+2000)
	got = replicaView(t, s, s.HighWatermark())
	for _, gone := range []string{"3:COMMIT", "6:ABORT"} {
		if slices.Contains(got, gone) {
			t.Fatalf("marker %s outlived delete.retention.ms with no record of its transaction: %v", gone, got)
		}
	}
	if !slices.Contains(got, fmt.Sprintf("%d:COMMIT", commit3)) {
		t.Fatalf("pid 3's COMMIT went while its records live: %v", got)
	}
	s.Close()
	re, _ := openSM(t, dir)
	if ab := re.AbortedTransactions(0, re.HighWatermark()); len(ab) != 0 {
		t.Fatalf("reopened: aborted index %+v brought back", ab)
	}
	if again := replicaView(t, re, re.HighWatermark()); !slices.Equal(again, got) {
		t.Fatalf("reopened replica holds %v, want %v", again, got)
	}
}

// TestContinuedSnapshotKeepsOwnAbortedEntries: a follower that keeps its
// own, uncleaned batches below a continuing snapshot keeps its own index
// entries for them, even when the leader's cleaner has removed those
// aborted records and dropped its entry: else the follower would show
// the aborted records to read_committed consumers.
func TestContinuedSnapshotKeepsOwnAbortedEntries(t *testing.T) {
	src, _ := openSM(t, t.TempDir())
	dst, _ := openSM(t, t.TempDir())
	var index uint64
	for _, s := range []*StateMachine{src, dst} {
		index = txnWorkload(t, s)
		mustMark(t, s, index, 3, 0, true, s.HighWatermark())
		index++
	}
	// The follower's log ends here (Position makes it durable); the leader
	// goes on and cleans past delete.retention.ms.
	filler(t, src, index, "g", 6)
	for _, now := range []int64{markerMs, markerMs, markerMs + 2000} {
		cleanPass(t, src, now)
	}
	if ab := src.AbortedTransactions(0, src.HighWatermark()); len(ab) != 0 {
		t.Fatalf("leader's index after cleaning: %+v, want empty", ab)
	}
	stream, h := streamFrom(t, src, replicas{dst})
	if !h.Continues {
		t.Fatal("snapshot does not continue the follower's log")
	}
	if err := dst.RecoverFromSnapshot(bytes.NewReader(stream), make(chan struct{})); err != nil {
		t.Fatal(err)
	}
	if got := replicaView(t, dst, h.StartOffset); !slices.Contains(got, "4:key-0=value-0-0") {
		t.Fatalf("follower's own batches below %d: %v, want its aborted records still there", h.StartOffset, got)
	}
	ab := dst.AbortedTransactions(0, dst.HighWatermark())
	if len(ab) != 1 || ab[0].ProducerID != 2 || ab[0].FirstOffset != 4 || ab[0].LastOffset != 6 {
		t.Fatalf("follower's index after the install: %+v, want pid 2's abort of 4..6", ab)
	}
	// Its own cleaner then catches up, and both expose the same records.
	for _, now := range []int64{markerMs, markerMs, markerMs + 2000} {
		cleanPass(t, dst, now)
	}
	if a, b := replicaView(t, dst, dst.HighWatermark()), replicaView(t, src, src.HighWatermark()); !slices.Equal(a, b) {
		t.Fatalf("follower %v\n  leader %v", a, b)
	}
	if ab := dst.AbortedTransactions(0, dst.HighWatermark()); len(ab) != 0 {
		t.Fatalf("follower's index after its cleaning: %+v", ab)
	}
}

package partition

import (
	"testing"

	sm "github.com/lni/dragonboat/v4/statemachine"

	"github.com/longboat/longboat/internal/recordbatch/batchtest"
	"github.com/longboat/longboat/internal/storage"
)

// A producer sending timestamps older than segment.ms fills one segment:
// the roll compares each batch's timestamp with the segment's first, not
// with the clock (which would roll a segment, and hold a file, per append).
func TestOldTimestampsDoNotRollPerAppend(t *testing.T) {
	s := New(testShard, t.TempDir(), storage.Options{})
	if _, err := s.Open(nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	const now = 1700000000000
	const segmentMs = 60 * 60 * 1000
	if err := s.SetSegmentLimits(1<<30, segmentMs); err != nil {
		t.Fatal(err)
	}
	old := int64(now - 10*segmentMs)
	for i := range 50 {
		cmd := EncodeAppend(1, now+int64(i), false, batchtest.Simple(2, old+int64(i), byte(i)))
		if _, err := s.Update([]sm.Entry{{Index: uint64(i + 1), Cmd: cmd}}); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(s.log.Segments()); n != 1 {
		t.Fatalf("%d segments after 50 appends of old timestamps, want 1", n)
	}
	// A batch segment.ms newer than the segment's first still rolls.
	cmd := EncodeAppend(1, now+100, false, batchtest.Simple(1, old+1+segmentMs, 99))
	if _, err := s.Update([]sm.Entry{{Index: 51, Cmd: cmd}}); err != nil {
		t.Fatal(err)
	}
	if n := len(s.log.Segments()); n != 2 {
		t.Fatalf("%d segments after a batch segment.ms newer, want 2", n)
	}
}

// A proposal stamped with an older term than the log's latest leader epoch
// is refused (NOT_LEADER_OR_FOLLOWER) on every replica alike.
func TestStaleTermProposalRefused(t *testing.T) {
	s, _ := openSM(t, t.TempDir())
	v := apply(t, s, 1, proposal{term: 5, batches: [][]byte{batchtest.Simple(2, 1, 1)}})
	if v[0] != 0 {
		t.Fatalf("first append at %d", v[0])
	}
	out, err := s.Update([]sm.Entry{{Index: 2, Cmd: EncodeAppend(3, 1700000000000, false, batchtest.Simple(1, 2, 2))}})
	if err != nil {
		t.Fatal(err)
	}
	if off, code := AppendResult(out[0].Result); off != -1 || code != errNotLeader {
		t.Fatalf("stale term: offset %d code %d, want -1 and %d", off, code, errNotLeader)
	}
	if hw := s.HighWatermark(); hw != 2 {
		t.Fatalf("high watermark %d after a refused proposal, want 2", hw)
	}
	apply(t, s, 3, proposal{term: 5, batches: [][]byte{batchtest.Simple(1, 3, 3)}}, proposal{term: 7, batches: [][]byte{batchtest.Simple(1, 4, 4)}})
	if got := s.EpochHistory(); len(got) != 2 || got[0] != (EpochStart{5, 0}) || got[1] != (EpochStart{7, 3}) {
		t.Fatalf("epoch history %+v, want epoch 5 from 0 and 7 from 3", got)
	}
}

// The producer state of a partition holds at most maxProducers ids; a new
// one evicts the id that appended longest ago.
func TestProducerStateBounded(t *testing.T) {
	ps := newProducers()
	for pid := int64(0); pid < maxProducers; pid++ {
		ps.record(pid, 0, 0, 0, pid, 1000+pid)
	}
	ps.record(0, 0, 1, 1, 1, 5000000) // producer 0 appends again: most recent now
	ps.record(maxProducers, 0, 0, 0, 2, 5000001)
	if len(ps.ByID) != maxProducers {
		t.Fatalf("%d producers held, want %d", len(ps.ByID), maxProducers)
	}
	if _, ok := ps.ByID[1]; ok {
		t.Fatal("producer 1, the least recent, was kept")
	}
	for _, pid := range []int64{0, 2, maxProducers} {
		if _, ok := ps.ByID[pid]; !ok {
			t.Fatalf("producer %d was evicted", pid)
		}
	}
	// An evicted producer is unknown again: any sequence is accepted.
	if _, dup, code := ps.check(1, 0, 7, 7); dup || code != 0 {
		t.Fatalf("evicted producer: dup %v code %d", dup, code)
	}
}

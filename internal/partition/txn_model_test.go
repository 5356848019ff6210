package partition

import (
	"math/rand"
	"slices"
	"testing"

	"github.com/longboat/longboat/internal/recordbatch"
	"github.com/longboat/longboat/internal/recordbatch/batchtest"
)

// txnModel drives random transactional workloads and knows which data
// batches a read_committed reader may see.
type txnModel struct {
	seq     map[int64]int32
	open    map[int64][]int64 // producer -> base offsets of its open transaction's batches
	visible map[int64]bool    // data batch base offset -> committed (or plain)
}

// readCommitted reads [start, LSO) as Kafka's consumer does with
// read_committed: aborted transactions from the index, skipping a
// producer's transactional batches from the aborted transaction's first
// offset until its ABORT marker. It returns the data batches kept.
func readCommitted(t *testing.T, s *StateMachine) []int64 {
	t.Helper()
	lso := s.LastStableOffset()
	if hw := s.HighWatermark(); lso > hw || lso < s.LogStartOffset() {
		t.Fatalf("LSO %d outside [log start %d, HW %d]", lso, s.LogStartOffset(), hw)
	}
	var kept []int64
	aborting := map[int64]bool{}
	var pending []AbortedTxn
	for off := s.LogStartOffset(); off < lso; {
		data, err := s.ReadBelow(off, 2000, lso)
		if err != nil || len(data) == 0 {
			t.Fatalf("ReadBelow(%d, LSO %d): %d bytes, %v", off, lso, len(data), err)
		}
		var upper int64
		for h := range recordbatch.All(data) {
			upper = h.LastOffset() + 1
		}
		for _, a := range s.AbortedTransactions(off, upper) {
			if !slices.Contains(pending, a) {
				pending = append(pending, a)
			}
		}
		for h, b := range recordbatch.All(data) {
			for i := 0; i < len(pending); {
				if pending[i].FirstOffset <= h.LastOffset() {
					aborting[pending[i].ProducerID] = true
					pending = slices.Delete(pending, i, i+1)
					continue
				}
				i++
			}
			switch {
			case h.Control():
				ctype, _, err := recordbatch.ParseMarker(b)
				if err != nil {
					t.Fatal(err)
				}
				if ctype == recordbatch.ControlAbort {
					delete(aborting, h.ProducerID)
				}
			case h.Transactional() && aborting[h.ProducerID]:
			default:
				if h.BaseOffset >= s.LogStartOffset() {
					kept = append(kept, h.BaseOffset)
				}
			}
			off = h.LastOffset() + 1
		}
	}
	return kept
}

// TestTxnRandomWorkloadReadCommitted applies random interleavings of
// transactional and plain appends, commits, aborts and log-start moves to
// a replica, reopens it and copies it by snapshot half-way, and checks after
// every step that a read_committed reader sees exactly the committed and
// plain batches below the LSO, and that all copies agree.
func TestTxnRandomWorkloadReadCommitted(t *testing.T) {
	for seed := int64(1); seed <= 4; seed++ {
		rng := rand.New(rand.NewSource(seed))
		dir := t.TempDir()
		s, _ := openSM(t, dir)
		m := &txnModel{seq: map[int64]int32{}, open: map[int64][]int64{}, visible: map[int64]bool{}}
		index := uint64(0)
		var copies []*StateMachine
		step := func(f func(r *StateMachine) (int64, int16)) (int64, int16) {
			index++
			off, code := f(s)
			for _, c := range copies {
				if o, k := f(c); o != off || k != code {
					t.Fatalf("seed %d index %d: copy answered offset %d code %d, original %d %d", seed, index, o, k, off, code)
				}
			}
			return off, code
		}
		for i := range 120 {
			pid := int64(1 + rng.Intn(4))
			switch r := rng.Intn(10); {
			case r < 5:
				n := 1 + rng.Intn(3)
				b := batchtest.Transactional(pid, 0, m.seq[pid], n)
				off, code := step(func(r *StateMachine) (int64, int16) { return applyAt(t, r, index, 1700000000000, b) })
				if code != 0 {
					t.Fatalf("seed %d: transactional append: code %d", seed, code)
				}
				m.seq[pid] += int32(n)
				m.open[pid] = append(m.open[pid], off)
			case r < 6:
				off, _ := step(func(r *StateMachine) (int64, int16) {
					return applyAt(t, r, index, 1700000000000, batchtest.Simple(1, 0, byte(i)))
				})
				m.visible[off] = true
			case r < 9:
				commit := rng.Intn(2) == 0
				if _, code := step(func(r *StateMachine) (int64, int16) { return markAt(t, r, index, pid, 0, 0, commit) }); code != 0 {
					t.Fatalf("seed %d: marker: code %d", seed, code)
				}
				for _, off := range m.open[pid] {
					m.visible[off] = commit
				}
				delete(m.open, pid)
			default:
				to := s.LogStartOffset() + rng.Int63n(s.HighWatermark()-s.LogStartOffset()+1)
				step(func(r *StateMachine) (int64, int16) { return advance(t, r, index, to) })
			}
			if i == 60 {
				// Reopen from a checkpoint, and start a copy from a snapshot.
				var c *StateMachine
				s, c = reopenAndCopy(t, s, dir)
				copies = append(copies, c)
			}
			var want []int64
			lso := s.LastStableOffset()
			for off, ok := range m.visible {
				if ok && off >= s.LogStartOffset() && off < lso {
					want = append(want, off)
				}
			}
			slices.Sort(want)
			if got := readCommitted(t, s); !slices.Equal(got, want) {
				t.Fatalf("seed %d step %d: read_committed below LSO %d sees %v, want %v", seed, i, lso, got, want)
			}
			first := int64(-1)
			for _, offs := range m.open {
				if len(offs) > 0 && (first < 0 || offs[0] < first) {
					first = offs[0]
				}
			}
			if wantLSO := s.HighWatermark(); first >= 0 {
				if wantLSO = max(first, s.LogStartOffset()); lso != wantLSO {
					t.Fatalf("seed %d step %d: LSO %d, want %d", seed, i, lso, wantLSO)
				}
			} else if lso != wantLSO {
				t.Fatalf("seed %d step %d: LSO %d, want the high watermark %d", seed, i, lso, wantLSO)
			}
			for _, c := range copies {
				sameTxnState(t, "copy", c, s)
			}
		}
	}
}

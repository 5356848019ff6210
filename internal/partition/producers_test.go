package partition

import (
	"bytes"
	"runtime"
	"testing"

	sm "github.com/lni/dragonboat/v4/statemachine"

	"github.com/longboat/longboat/internal/recordbatch/batchtest"
)

// applyAt applies one append entry with a given command clock, in the
// log's latest leader epoch (term 1 for an empty log), and returns the
// decoded result.
func applyAt(t *testing.T, s *StateMachine, index uint64, nowMs int64, batch []byte) (int64, int16) {
	t.Helper()
	term := uint64(max(1, s.epochs.latest()))
	out, err := s.Update([]sm.Entry{{Index: index, Cmd: EncodeAppend(term, nowMs, false, batch)}})
	if err != nil {
		t.Fatal(err)
	}
	return AppendResult(out[0].Result)
}

func TestProducerDedupeRules(t *testing.T) {
	s, _ := openSM(t, t.TempDir())
	const now = 1700000000000
	steps := []struct {
		name   string
		batch  []byte
		offset int64
		code   int16
	}{
		{"first batch", batchtest.Producer(7, 0, 0, 3), 0, 0},
		{"exact retry: original offset", batchtest.Producer(7, 0, 0, 3), 0, 0},
		{"next batch", batchtest.Producer(7, 0, 3, 2), 3, 0},
		{"retry of an older cached batch", batchtest.Producer(7, 0, 0, 3), 0, 0},
		{"gap", batchtest.Producer(7, 0, 9, 1), -1, errOutOfOrderSequence},
		{"overlapping, not identical", batchtest.Producer(7, 0, 4, 2), -1, errOutOfOrderSequence},
		{"new epoch must start at 0", batchtest.Producer(7, 1, 5, 1), -1, errOutOfOrderSequence},
		{"new epoch from 0", batchtest.Producer(7, 1, 0, 1), 5, 0},
		{"fenced old epoch", batchtest.Producer(7, 0, 5, 1), -1, errInvalidProducerEpoc},
		{"unknown producer, any sequence", batchtest.Producer(8, 0, 42, 1), 6, 0},
		{"plain (non-idempotent) batch", batchtest.Simple(2, 0, 1), 7, 0},
	}
	for i, st := range steps {
		off, code := applyAt(t, s, uint64(i+1), now, st.batch)
		if off != st.offset || code != st.code {
			t.Fatalf("%s: offset %d code %d, want offset %d code %d", st.name, off, code, st.offset, st.code)
		}
	}
	if hw := s.HighWatermark(); hw != 9 {
		t.Fatalf("high watermark %d, want 9", hw)
	}
}

func TestProducerWindowIsFiveBatches(t *testing.T) {
	s, _ := openSM(t, t.TempDir())
	for i := 0; i < 7; i++ {
		applyAt(t, s, uint64(i+1), 1, batchtest.Producer(1, 0, int32(i), 1))
	}
	// Batches 2..6 are remembered; batch 0 and 1 have left the window, so a
	// retry of them is out of order rather than a duplicate.
	if off, code := applyAt(t, s, 8, 1, batchtest.Producer(1, 0, 2, 1)); off != 2 || code != 0 {
		t.Fatalf("retry of batch 2: offset %d code %d, want 2", off, code)
	}
	if _, code := applyAt(t, s, 9, 1, batchtest.Producer(1, 0, 1, 1)); code != errOutOfOrderSequence {
		t.Fatalf("retry of batch 1: code %d, want %d", code, errOutOfOrderSequence)
	}
}

func TestProducerStateSurvivesReopenAndSnapshot(t *testing.T) {
	dir := t.TempDir()
	s := New(testShard, dir, smallSegments)
	if _, err := s.Open(nil); err != nil {
		t.Fatal(err)
	}
	applyAt(t, s, 1, 1, batchtest.Producer(3, 0, 0, 2))
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	applyAt(t, s, 2, 1, batchtest.Producer(3, 0, 2, 2)) // after the checkpoint: replayed on reopen
	crash(s)

	s2, applied := openSM(t, dir)
	if applied != 1 {
		t.Fatalf("reopened at %d, want 1", applied)
	}
	if off, code := applyAt(t, s2, 2, 1, batchtest.Producer(3, 0, 2, 2)); off != 2 || code != 0 {
		t.Fatalf("replayed entry: offset %d code %d, want 2", off, code)
	}
	if off, code := applyAt(t, s2, 3, 1, batchtest.Producer(3, 0, 0, 2)); off != 0 || code != 0 {
		t.Fatalf("retry after reopen: offset %d code %d, want the original 0", off, code)
	}

	var buf bytes.Buffer
	ctx, err := s2.PrepareSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.SaveSnapshot(ctx, &buf, nil); err != nil {
		t.Fatal(err)
	}
	s3, _ := openSM(t, t.TempDir())
	if err := s3.RecoverFromSnapshot(&buf, nil); err != nil {
		t.Fatal(err)
	}
	if off, code := applyAt(t, s3, 4, 1, batchtest.Producer(3, 0, 2, 2)); off != 2 || code != 0 {
		t.Fatalf("retry on a replica restored from a snapshot: offset %d code %d, want 2", off, code)
	}
}

func TestProducerExpiry(t *testing.T) {
	s, _ := openSM(t, t.TempDir())
	const start = 1700000000000
	applyAt(t, s, 1, start, batchtest.Producer(5, 0, 0, 1))
	applyAt(t, s, 2, start+ProducerExpiryMs/2, batchtest.Producer(6, 0, 0, 1))
	applyAt(t, s, 3, start+ProducerExpiryMs+2*expirySweepMs, batchtest.Producer(6, 0, 1, 1))
	if _, ok := s.producers.ByID[5]; ok {
		t.Fatal("producer 5 was silent past the expiry and is still held")
	}
	if _, ok := s.producers.ByID[6]; !ok {
		t.Fatal("producer 6 was active and is gone")
	}
}

// BenchmarkProducerStateMemory reports the heap held by the state of
// 10,000 producers with a full window of five batches each:
// go test -run '^$' -bench ProducerStateMemory ./internal/partition/
func BenchmarkProducerStateMemory(b *testing.B) {
	const n = 10000
	for i := 0; i < b.N; i++ {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		ps := newProducers()
		for pid := int64(0); pid < n; pid++ {
			for seq := int32(0); seq < cachedBatches; seq++ {
				ps.record(pid, 0, seq*10, seq*10+9, int64(seq)*10, 1)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(ps)
		used := float64(after.HeapAlloc) - float64(before.HeapAlloc)
		b.ReportMetric(used/(1<<20), "MiB/10k-producers")
		b.ReportMetric(used/n, "B/producer")
	}
}

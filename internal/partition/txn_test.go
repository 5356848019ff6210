package partition

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"

	sm "github.com/lni/dragonboat/v4/statemachine"

	"github.com/longboat/longboat/internal/recordbatch"
	"github.com/longboat/longboat/internal/recordbatch/batchtest"
)

// markAt applies one marker entry in the log's latest leader epoch and
// returns the decoded result.
func markAt(t *testing.T, s *StateMachine, index uint64, pid int64, epoch int16, coordEpoch int32, commit bool) (int64, int16) {
	t.Helper()
	return markWith(t, s, index, MarkerCommand{ProducerID: pid, ProducerEpoch: epoch, CoordinatorEpoch: coordEpoch, Commit: commit})
}

// markWith applies m as one marker entry in the log's latest leader epoch.
func markWith(t *testing.T, s *StateMachine, index uint64, m MarkerCommand) (int64, int16) {
	t.Helper()
	m.Term, m.NowMs = uint64(max(1, s.epochs.latest())), 1700000000000
	out, err := s.Update([]sm.Entry{{Index: index, Cmd: EncodeMarker(m)}})
	if err != nil {
		t.Fatal(err)
	}
	return MarkerResult(out[0].Result)
}

func mustAppend(t *testing.T, s *StateMachine, index uint64, batch []byte, wantOffset int64) {
	t.Helper()
	if off, code := applyAt(t, s, index, 1700000000000, batch); off != wantOffset || code != 0 {
		t.Fatalf("append at index %d: offset %d code %d, want offset %d", index, off, code, wantOffset)
	}
}

func mustMark(t *testing.T, s *StateMachine, index uint64, pid int64, epoch int16, commit bool, wantOffset int64) {
	t.Helper()
	if off, code := markAt(t, s, index, pid, epoch, 0, commit); off != wantOffset || code != 0 {
		t.Fatalf("marker at index %d: offset %d code %d, want offset %d", index, off, code, wantOffset)
	}
}

func expectLSO(t *testing.T, s *StateMachine, want int64) {
	t.Helper()
	if got := s.LastStableOffset(); got != want {
		t.Fatalf("last stable offset %d, want %d (high watermark %d)", got, want, s.HighWatermark())
	}
}

// interleaved builds a log with three producers' transactions:
//
//	0-2 p1 txn, 3 plain, 4 COMMIT p1, 5-6 p2 txn, 7 p3 txn, 8 ABORT p2,
//	9 p3 txn, 10 COMMIT p3, 11 p4 txn (open)
func interleaved(t *testing.T, s *StateMachine) {
	t.Helper()
	mustAppend(t, s, 1, batchtest.Transactional(1, 0, 0, 3), 0)
	expectLSO(t, s, 0)
	mustAppend(t, s, 2, batchtest.Simple(1, 0, 1), 3)
	expectLSO(t, s, 0)
	mustMark(t, s, 3, 1, 0, true, 4)
	expectLSO(t, s, 5)
	mustAppend(t, s, 4, batchtest.Transactional(2, 0, 0, 2), 5)
	mustAppend(t, s, 5, batchtest.Transactional(3, 0, 0, 1), 7)
	expectLSO(t, s, 5)
	mustMark(t, s, 6, 2, 0, false, 8)
	expectLSO(t, s, 7)
	mustAppend(t, s, 7, batchtest.Transactional(3, 0, 1, 1), 9)
	mustMark(t, s, 8, 3, 0, true, 10)
	expectLSO(t, s, 11)
	mustAppend(t, s, 9, batchtest.Transactional(4, 0, 0, 2), 11)
	expectLSO(t, s, 11)
}

func TestTxnCommitAbortAndLastStableOffset(t *testing.T) {
	s, _ := openSM(t, t.TempDir())
	interleaved(t, s)
	if hw := s.HighWatermark(); hw != 13 {
		t.Fatalf("high watermark %d, want 13", hw)
	}
	want := []AbortedTxn{{ProducerID: 2, FirstOffset: 5, LastOffset: 8, Stable: 7}}
	if got := s.AbortedTransactions(0, 11); !reflect.DeepEqual(got, want) {
		t.Fatalf("aborted in [0,11): %+v, want %+v", got, want)
	}
	if got := s.AbortedTransactions(9, 11); len(got) != 0 {
		t.Fatalf("aborted from 9 (past the marker): %+v, want none", got)
	}
	if got := s.AbortedTransactions(0, 5); len(got) != 0 {
		t.Fatalf("aborted below 5 (before the transaction): %+v, want none", got)
	}

	// A read_committed read stops at the last stable offset, on a batch boundary.
	data, err := s.ReadBelow(0, 1<<20, s.LastStableOffset())
	if err != nil {
		t.Fatal(err)
	}
	var last int64 = -1
	var markers []string
	for h, b := range recordbatch.All(data) {
		last = h.LastOffset()
		if h.Control() {
			ctype, coordEpoch, err := recordbatch.ParseMarker(b)
			if err != nil || coordEpoch != 0 || !h.Transactional() || h.BaseSequence != -1 {
				t.Fatalf("marker at %d: %v, coordinator epoch %d, header %+v", h.BaseOffset, err, coordEpoch, h)
			}
			markers = append(markers, fmt.Sprintf("%s@%d", map[int16]string{recordbatch.ControlAbort: "abort", recordbatch.ControlCommit: "commit"}[ctype], h.BaseOffset))
			if !recordbatch.ValidCRC(b) {
				t.Fatalf("marker at %d has a bad CRC", h.BaseOffset)
			}
		}
	}
	if last != 10 {
		t.Fatalf("read_committed read ends at offset %d, want 10", last)
	}
	if want := []string{"commit@4", "abort@8", "commit@10"}; !reflect.DeepEqual(markers, want) {
		t.Fatalf("markers %v, want %v", markers, want)
	}
	if data, err := s.ReadBelow(11, 1<<20, s.LastStableOffset()); err != nil || len(data) != 0 {
		t.Fatalf("read_committed at the LSO: %d bytes, %v; want nothing", len(data), err)
	}
	if data, err := s.Read(11, 1<<20); err != nil || len(data) == 0 {
		t.Fatalf("read_uncommitted at 11: %d bytes, %v; want the open transaction's batch", len(data), err)
	}

	var open []ProducerState
	for _, p := range s.ActiveProducers() {
		if p.TxnStartOffset >= 0 {
			open = append(open, p)
		}
	}
	if len(open) != 1 || open[0].ID != 4 || open[0].TxnStartOffset != 11 {
		t.Fatalf("producers with an open transaction: %+v, want producer 4 from 11", open)
	}
}

func TestTxnFencingAndBadState(t *testing.T) {
	s, _ := openSM(t, t.TempDir())
	mustAppend(t, s, 1, batchtest.Transactional(1, 2, 0, 1), 0)
	if _, code := applyAt(t, s, 2, 1700000000000, batchtest.Producer(1, 2, 1, 1)); code != errInvalidTxnState {
		t.Fatalf("non-transactional batch inside a transaction: code %d, want INVALID_TXN_STATE", code)
	}
	if _, code := markAt(t, s, 3, 1, 1, 0, true); code != errInvalidProducerEpoc {
		t.Fatalf("marker with an older producer epoch: code %d, want INVALID_PRODUCER_EPOCH", code)
	}
	// The coordinator bumps the epoch and aborts (as after a timeout).
	if off, code := markAt(t, s, 4, 1, 3, 5, false); off != 1 || code != 0 {
		t.Fatalf("abort with a bumped epoch: offset %d code %d, want 1", off, code)
	}
	if _, code := markAt(t, s, 5, 1, 3, 4, false); code != errCoordinatorFenced {
		t.Fatalf("marker from an older coordinator: code %d, want TRANSACTION_COORDINATOR_FENCED", code)
	}
	if _, code := applyAt(t, s, 6, 1700000000000, batchtest.Transactional(1, 2, 1, 1)); code != errInvalidProducerEpoc {
		t.Fatalf("zombie produce at the old epoch: code %d, want INVALID_PRODUCER_EPOCH", code)
	}
	mustAppend(t, s, 7, batchtest.Transactional(1, 3, 0, 1), 2)
	expectLSO(t, s, 2)
	if got := s.AbortedTransactions(0, 3); len(got) != 1 || got[0].FirstOffset != 0 || got[0].LastOffset != 1 {
		t.Fatalf("aborted index %+v, want producer 1's transaction 0..1", got)
	}
	// A marker for a producer with nothing open here is written but
	// aborts nothing.
	mustMark(t, s, 8, 9, 0, false, 3)
	if got := s.AbortedTransactions(0, 4); len(got) != 1 {
		t.Fatalf("aborted index %+v after an empty marker, want one entry", got)
	}
	expectLSO(t, s, 2)
	if hw := s.HighWatermark(); hw != 4 {
		t.Fatalf("high watermark %d, want 4 (refused commands append nothing)", hw)
	}
}

// txnState is what every replica must agree on.
func txnState(s *StateMachine) (int64, []AbortedTxn, []ProducerState) {
	return s.LastStableOffset(), s.AbortedTransactions(0, s.HighWatermark()), s.ActiveProducers()
}

func sameTxnState(t *testing.T, what string, got, want *StateMachine) {
	t.Helper()
	l1, a1, p1 := txnState(got)
	l2, a2, p2 := txnState(want)
	if l1 != l2 || !reflect.DeepEqual(a1, a2) || !reflect.DeepEqual(p1, p2) {
		t.Fatalf("%s: LSO %d aborted %+v producers %+v; want LSO %d aborted %+v producers %+v", what, l1, a1, p1, l2, a2, p2)
	}
}

func TestTxnStateSurvivesReopenAndSnapshots(t *testing.T) {
	dir := t.TempDir()
	src := New(testShard, dir, smallSegments)
	if _, err := src.Open(nil); err != nil {
		t.Fatal(err)
	}
	interleaved(t, src)
	if err := src.Sync(); err != nil {
		t.Fatal(err)
	}
	src.Close()
	s, _ := openSM(t, dir)
	if s.LastStableOffset() != 11 || len(s.AbortedTransactions(0, 13)) != 1 {
		t.Fatalf("reopened: LSO %d aborted %+v", s.LastStableOffset(), s.AbortedTransactions(0, 13))
	}

	// A follower that has the first entries only gets a snapshot that
	// continues its log; a new replica a full one.
	follower, _ := openSM(t, t.TempDir())
	mustAppend(t, follower, 1, batchtest.Transactional(1, 0, 0, 3), 0)
	stream, h := streamFrom(t, s, replicas{follower})
	if !h.Continues {
		t.Fatalf("snapshot to a follower holding a prefix does not continue its log")
	}
	if err := follower.RecoverFromSnapshot(bytes.NewReader(stream), make(chan struct{})); err != nil {
		t.Fatal(err)
	}
	sameTxnState(t, "after a catch-up snapshot", follower, s)

	full, _ := streamFrom(t, s, nil)
	fresh, _ := openSM(t, t.TempDir())
	if err := fresh.RecoverFromSnapshot(bytes.NewReader(full), make(chan struct{})); err != nil {
		t.Fatal(err)
	}
	sameTxnState(t, "after a full snapshot", fresh, s)

	// All three go on identically: the open transaction commits.
	for _, r := range []*StateMachine{s, follower, fresh} {
		mustMark(t, r, 10, 4, 0, true, 13)
		expectLSO(t, r, 14)
	}
	sameTxnState(t, "after the same marker", follower, s)
	sameTxnState(t, "after the same marker", fresh, s)
}

func TestAbortedIndexPrunedWithLogStart(t *testing.T) {
	s, _ := openSM(t, t.TempDir())
	interleaved(t, s)
	// An open transaction below the log start: the LSO never lies below it.
	if start, code := advance(t, s, 10, 8); start != 8 || code != 0 {
		t.Fatalf("advance to 8: %d code %d", start, code)
	}
	if got := s.AbortedTransactions(8, 13); len(got) != 1 {
		t.Fatalf("the abort marker at 8 is still above the log start: index %+v", got)
	}
	if start, code := advance(t, s, 11, 12); start != 12 || code != 0 {
		t.Fatalf("advance to 12: %d code %d", start, code)
	}
	if got := s.txns.list(); len(got) != 0 {
		t.Fatalf("aborted index below the log start kept: %+v", got)
	}
	expectLSO(t, s, 12)
	// Pruning is in the checkpoint: a reopened replica agrees.
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	dir := s.dir
	s.Close()
	re, _ := openSM(t, dir)
	if got := re.txns.list(); len(got) != 0 {
		t.Fatalf("reopened: aborted index %+v, want empty", got)
	}
	expectLSO(t, re, 12)
}

func TestOpenTransactionsAreNeverEvicted(t *testing.T) {
	s, _ := openSM(t, t.TempDir())
	ps := s.producers
	for pid := int64(0); pid < maxProducers; pid++ {
		p := ps.record(pid, 0, 0, 0, pid, 1000+pid)
		p.Txn, p.TxnFirst = pid > 0, pid // all but producer 0 in a transaction
	}
	// A new producer evicts producer 0, the only one without a transaction.
	mustAppend(t, s, 1, batchtest.Transactional(maxProducers, 0, 0, 1), 0)
	if _, ok := ps.ByID[0]; ok || len(ps.ByID) != maxProducers {
		t.Fatalf("producer 0 kept (%v) or %d producers remembered", ok, len(ps.ByID))
	}
	// Now every producer has a transaction open: a new one is refused
	// (retriable) rather than one of them forgotten.
	if _, code := applyAt(t, s, 2, 1700000000000, batchtest.Producer(maxProducers+1, 0, 0, 1)); code != errConcurrentTxns {
		t.Fatalf("new producer with the table full of open transactions: code %d, want CONCURRENT_TRANSACTIONS", code)
	}
	// A marker for an unknown producer is still written, remembering nothing.
	mustMark(t, s, 3, maxProducers+2, 0, false, 1)
	if len(ps.ByID) != maxProducers || ps.ByID[1] == nil || !ps.ByID[1].Txn {
		t.Fatalf("a marker for an unknown producer changed the table")
	}
	// Ending a transaction makes room again.
	mustMark(t, s, 4, 1, 0, true, 2)
	mustAppend(t, s, 5, batchtest.Producer(maxProducers+1, 0, 0, 1), 3)
}

func TestMarkerOnLogAppendTimeTopic(t *testing.T) {
	s, _ := openSM(t, t.TempDir())
	mustAppend(t, s, 1, batchtest.Transactional(1, 0, 0, 1), 0)
	const now = 1700000012345
	cmd := EncodeMarker(MarkerCommand{Term: 1, NowMs: now, ProducerID: 1, CoordinatorEpoch: 7, Commit: true, LogAppendTime: true})
	out, err := s.Update([]sm.Entry{{Index: 2, Cmd: cmd}})
	if err != nil {
		t.Fatal(err)
	}
	if off, code := MarkerResult(out[0].Result); off != 1 || code != 0 {
		t.Fatalf("marker: offset %d code %d", off, code)
	}
	data, err := s.Read(1, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	h := recordbatch.ParseHeader(data)
	ctype, coordEpoch, err := recordbatch.ParseMarker(data)
	if err != nil || ctype != recordbatch.ControlCommit || coordEpoch != 7 {
		t.Fatalf("marker record: type %d coordinator epoch %d, %v", ctype, coordEpoch, err)
	}
	if !h.LogAppendTime() || h.MaxTimestamp != now || h.LeaderEpoch != 1 || !recordbatch.ValidCRC(data) {
		t.Fatalf("marker header %+v: want LogAppendTime %d, leader epoch 1 and a valid CRC", h, now)
	}
	if p := s.ActiveProducers(); len(p) != 1 || p[0].CoordinatorEpoch != 7 || p[0].TxnStartOffset != -1 {
		t.Fatalf("producer after the marker: %+v", p)
	}
}

// seqMarkAt applies a marker carrying the transaction's Seq.
func seqMarkAt(t *testing.T, s *StateMachine, index uint64, pid int64, epoch int16, seq int64, commit bool) (int64, int16) {
	t.Helper()
	return markWith(t, s, index, MarkerCommand{ProducerID: pid, ProducerEpoch: epoch, CoordinatorEpoch: 1, Commit: commit, Seq: seq})
}

// A marker resent after the producer's next transaction began must not end
// it: the coordinator may resend the previous transaction's markers after
// a failover, and a late copy may arrive from a deposed coordinator.
func TestMarkerCopyDoesNotEndTheNextTransaction(t *testing.T) {
	dir := t.TempDir()
	s, _ := openSM(t, dir)
	mustAppend(t, s, 1, batchtest.Transactional(1, 0, 0, 2), 0)
	if off, code := seqMarkAt(t, s, 2, 1, 0, 7, true); off != 2 || code != 0 {
		t.Fatalf("commit of transaction 7: offset %d code %d, want 2", off, code)
	}
	// The next transaction's records, then a copy of the first marker.
	mustAppend(t, s, 3, batchtest.Transactional(1, 0, 2, 2), 3)
	expectLSO(t, s, 3)
	for i, seq := range []int64{7, 5} {
		off, code := seqMarkAt(t, s, uint64(4+i), 1, 0, seq, false)
		if code != 0 || off != 5 {
			t.Fatalf("copy with seq %d: offset %d code %d, want success at the log end 5, nothing written", seq, off, code)
		}
	}
	if hw := s.HighWatermark(); hw != 5 {
		t.Fatalf("high watermark %d after the copies, want 5", hw)
	}
	expectLSO(t, s, 3)
	if got := s.AbortedTransactions(0, 5); len(got) != 0 {
		t.Fatalf("aborted index %+v: a copy aborted the next transaction", got)
	}

	// The Seq survives a reopen and a snapshot: a copy is still refused.
	s, fresh := reopenAndCopy(t, s, dir)
	for _, r := range []*StateMachine{s, fresh} {
		if off, code := seqMarkAt(t, r, 6, 1, 0, 7, true); off != 5 || code != 0 {
			t.Fatalf("copy after reopen or snapshot: offset %d code %d, want 5", off, code)
		}
		expectLSO(t, r, 3)
		// The next transaction's own marker ends it.
		if off, code := seqMarkAt(t, r, 7, 1, 0, 9, false); off != 5 || code != 0 {
			t.Fatalf("abort of transaction 9: offset %d code %d, want 5", off, code)
		}
		expectLSO(t, r, 6)
		if got := r.AbortedTransactions(0, 6); len(got) != 1 || got[0].FirstOffset != 3 || got[0].LastOffset != 5 {
			t.Fatalf("aborted index %+v, want 3..5", got)
		}
		// A marker without a Seq (an older coordinator's) is applied.
		mustAppend(t, r, 8, batchtest.Transactional(1, 0, 4, 1), 6)
		if off, code := markAt(t, r, 9, 1, 0, 1, true); off != 7 || code != 0 {
			t.Fatalf("marker without seq: offset %d code %d, want 7", off, code)
		}
		expectLSO(t, r, 8)
	}
}

// reopenAndCopy closes s after a checkpoint, opens it again from dir, and
// starts a new replica from its full snapshot.
func reopenAndCopy(t *testing.T, s *StateMachine, dir string) (reopened, copied *StateMachine) {
	t.Helper()
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	reopened, _ = openSM(t, dir)
	stream, _ := streamFrom(t, reopened, nil)
	copied, _ = openSM(t, t.TempDir())
	if err := copied.RecoverFromSnapshot(bytes.NewReader(stream), make(chan struct{})); err != nil {
		t.Fatal(err)
	}
	return reopened, copied
}

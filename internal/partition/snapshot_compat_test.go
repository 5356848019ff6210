package partition

import (
	"bytes"
	"os"
	"reflect"
	"testing"

	"github.com/longboat/longboat/internal/recordbatch/batchtest"
)

// goldenSnapshot is a snapshot stream that the code of commit 05a64f9
// (before storage took over the segment files) saved from the state
// goldenState builds. Replicas still running that code send such streams,
// and a replica of this code may install them.
const goldenSnapshot = "testdata/snapshot-05a64f9.bin"

// goldenReplica is the directory the same code left for that state, synced
// and closed.
const goldenReplica = "testdata/replica-05a64f9"

// goldenState applies workload(8, 1, 0), two batches of idempotent
// producer 9 in term 3, and an advance of the log start to offset 7
// (inside the first of two segments).
func goldenState(t *testing.T) *StateMachine {
	t.Helper()
	s, _ := openSM(t, t.TempDir())
	ps := append(workload(8, 1, 0),
		proposal{term: 3, batches: [][]byte{batchtest.Producer(9, 0, 0, 2)}},
		proposal{term: 3, batches: [][]byte{batchtest.Producer(9, 0, 2, 1)}})
	apply(t, s, 1, ps...)
	if start, code := advance(t, s, uint64(len(ps)+1), 7); start != 7 || code != 0 {
		t.Fatalf("advance: start %d, code %d", start, code)
	}
	return s
}

func TestSnapshotStreamUnchanged(t *testing.T) {
	golden, err := os.ReadFile(goldenSnapshot)
	if err != nil {
		t.Fatal(err)
	}
	src := goldenState(t)
	if n := len(src.log.Segments()); n != 2 {
		t.Fatalf("%d segments, want 2 (so that the stream spans segments)", n)
	}
	ctx, err := src.PrepareSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := src.SaveSnapshot(ctx, &buf, make(chan struct{})); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), golden) {
		t.Fatalf("the same state streams to %d bytes that differ from the %d the old code wrote", buf.Len(), len(golden))
	}
}

// sameLog checks that got holds the batches of want from the log start on.
func sameLog(t *testing.T, got, want *StateMachine) {
	t.Helper()
	if got.HighWatermark() != want.HighWatermark() || got.LogStartOffset() != want.LogStartOffset() {
		t.Fatalf("HW %d, log start %d; want %d, %d", got.HighWatermark(), got.LogStartOffset(), want.HighWatermark(), want.LogStartOffset())
	}
	if g, w := got.EpochHistory(), want.EpochHistory(); !reflect.DeepEqual(g, w) {
		t.Errorf("epochs %+v, want %+v", g, w)
	}
	g, w := readAll(t, got, want.LogStartOffset()), readAll(t, want, want.LogStartOffset())
	if len(g) != len(w) {
		t.Fatalf("%d batches, want %d", len(g), len(w))
	}
	for i := range w {
		if !bytes.Equal(g[i], w[i]) {
			t.Errorf("batch %d differs", i)
		}
	}
}

// A data directory written by the old code opens as it was.
func TestOpenOldReplicaDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(goldenReplica)); err != nil {
		t.Fatal(err)
	}
	s := New(testShard, dir, smallSegments)
	applied, err := s.Open(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if applied != 11 {
		t.Fatalf("Open = %d, want 11", applied)
	}
	sameLog(t, s, goldenState(t))
	if off, code := applyAt(t, s, 12, 1700000000000, batchtest.Producer(9, 0, 2, 1)); off != 56 || code != 0 || s.HighWatermark() != 57 {
		t.Errorf("retry after reopen: offset %d code %d HW %d; want 56, 0, 57", off, code, s.HighWatermark())
	}
}

func TestInstallOldSnapshot(t *testing.T) {
	golden, err := os.ReadFile(goldenSnapshot)
	if err != nil {
		t.Fatal(err)
	}
	src := goldenState(t)
	dst, _ := openSM(t, t.TempDir())
	apply(t, dst, 1, workload(3, 2, 50)...) // a divergent replica
	if err := dst.RecoverFromSnapshot(bytes.NewReader(golden), make(chan struct{})); err != nil {
		t.Fatal(err)
	}
	if dst.HighWatermark() != 57 || dst.LogStartOffset() != 7 {
		t.Fatalf("HW %d, log start %d; want 57, 7", dst.HighWatermark(), dst.LogStartOffset())
	}
	sameLog(t, dst, src)
	// The producer state came along: a retry of the last batch is
	// acknowledged at its original offset and not appended again.
	if off, code := applyAt(t, dst, 12, 1700000000000, batchtest.Producer(9, 0, 2, 1)); off != 56 || code != 0 || dst.HighWatermark() != 57 {
		t.Errorf("retry after install: offset %d code %d HW %d; want 56, 0, 57", off, code, dst.HighWatermark())
	}
}

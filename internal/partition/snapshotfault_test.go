package partition

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	sm "github.com/lni/dragonboat/v4/statemachine"
)

// openWithFaults opens a replica in dir whose storage faults stop it as
// the cluster's handler does; it is closed at cleanup.
func openWithFaults(t *testing.T, dir string) (*StateMachine, *faultStop) {
	t.Helper()
	f := newFaultStop()
	s := New(testShard, dir, smallSegments)
	s.SetFaultHandler(f.handle)
	if _, err := s.Open(f.stop); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, f
}

// A snapshot install that meets a storage fault takes the replica offline
// and reports the install as stopped (the one error dragonboat does not
// panic on) once the shard stops; reopened, the replica installs the same
// snapshot again and ends with the leader's log.
func TestInstallFaultStopsReplica(t *testing.T) {
	ps := workload(40, 2, 0)
	src, _ := openSM(t, t.TempDir())
	apply(t, src, 1, ps...)
	stream, _ := streamFrom(t, src, nil)

	dir := t.TempDir()
	dst, f := openWithFaults(t, dir)
	apply(t, dst, 1, ps[:5]...)
	if err := dst.Sync(); err != nil {
		t.Fatal(err)
	}
	dst.log.Close() // every write to the log fails from here

	done := make(chan error, 1)
	go func() { done <- dst.RecoverFromSnapshot(bytes.NewReader(stream), make(chan struct{})) }()
	var err error
	select {
	case err = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("RecoverFromSnapshot did not return after the shard stopped")
	}
	if err != sm.ErrSnapshotStopped {
		t.Fatalf("RecoverFromSnapshot: %v, want sm.ErrSnapshotStopped itself (anything else panics dragonboat)", err)
	}
	if herr := <-f.errs; herr == nil || dst.Fault() == nil {
		t.Fatalf("fault handler got %v, Fault() = %v", herr, dst.Fault())
	}
	if err := dst.RecoverFromSnapshot(bytes.NewReader(stream), make(chan struct{})); err != sm.ErrSnapshotStopped {
		t.Errorf("a second install on the faulted replica: %v, want sm.ErrSnapshotStopped", err)
	}
	dst.Close()

	re, applied := openSM(t, dir)
	if applied != 0 {
		t.Fatalf("reopened at applied %d, want 0: the interrupted install is done again", applied)
	}
	if err := re.RecoverFromSnapshot(bytes.NewReader(stream), make(chan struct{})); err != nil {
		t.Fatalf("install again: %v", err)
	}
	sameLog(t, re, src)
	expectLog(t, re, ps)
}

// A stream that cannot be read (an unreadable snapshot file) or whose
// header is garbage is a fault too, and a stop is only a stop.
func TestInstallUnreadableSnapshot(t *testing.T) {
	ps := workload(10, 1, 0)
	src, _ := openSM(t, t.TempDir())
	apply(t, src, 1, ps...)
	stream, _ := streamFrom(t, src, nil)
	garbage := append([]byte{0, 0, 0, 4}, "{not"...)
	for name, r := range map[string]io.Reader{
		"read error":     &failingReader{r: bytes.NewReader(stream), n: len(stream) / 2},
		"garbage header": bytes.NewReader(garbage),
	} {
		t.Run(name, func(t *testing.T) {
			dst, _ := openWithFaults(t, t.TempDir())
			if err := dst.RecoverFromSnapshot(r, make(chan struct{})); err != sm.ErrSnapshotStopped {
				t.Fatalf("RecoverFromSnapshot: %v, want sm.ErrSnapshotStopped", err)
			}
			if dst.Fault() == nil {
				t.Fatal("the replica is not offline")
			}
		})
	}
	t.Run("stopped", func(t *testing.T) {
		dst, _ := openWithFaults(t, t.TempDir())
		stop := make(chan struct{})
		close(stop)
		if err := dst.RecoverFromSnapshot(bytes.NewReader(stream), stop); err != sm.ErrSnapshotStopped {
			t.Fatalf("RecoverFromSnapshot: %v, want sm.ErrSnapshotStopped", err)
		}
		if dst.Fault() != nil {
			t.Fatalf("a stopped install took the replica offline: %v", dst.Fault())
		}
	})
}

// brokenSink fails like dragonboat's chunk writer when the follower or the
// connection goes away.
type brokenSink struct{ after int }

func (b *brokenSink) Write(p []byte) (int, error) {
	if b.after -= len(p); b.after < 0 {
		return 0, sm.ErrSnapshotStreaming
	}
	return len(p), nil
}

// Streaming a snapshot from a leader whose log cannot be read takes that
// replica offline and aborts the stream; a stream that fails on the
// follower's side only aborts the stream. Neither returns an error
// dragonboat would panic on.
func TestStreamFaults(t *testing.T) {
	ps := workload(40, 1, 0)

	src, _ := openSM(t, t.TempDir())
	apply(t, src, 1, ps...)
	ctx, err := src.PrepareSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	err = src.SaveSnapshot(ctx, &brokenSink{after: 1000}, make(chan struct{}))
	if !errors.Is(err, sm.ErrSnapshotAborted) && !errors.Is(err, sm.ErrSnapshotStreaming) {
		t.Fatalf("SaveSnapshot into a broken stream: %v, want an aborted stream", err)
	}
	if src.Fault() != nil {
		t.Fatalf("a broken stream took the leader's replica offline: %v", src.Fault())
	}

	bad, f := openWithFaults(t, t.TempDir())
	apply(t, bad, 1, ps...)
	bad.log.Close() // the segments can no longer be opened for the stream
	_, err = bad.PrepareSnapshot()
	if !errors.Is(err, sm.ErrSnapshotAborted) {
		t.Fatalf("PrepareSnapshot on a failing log: %v, want it wrapping sm.ErrSnapshotAborted", err)
	}
	if herr := <-f.errs; herr == nil || bad.Fault() == nil {
		t.Fatalf("fault handler got %v, Fault() = %v", herr, bad.Fault())
	}
	if _, err := bad.PrepareSnapshot(); !errors.Is(err, sm.ErrSnapshotAborted) {
		t.Errorf("PrepareSnapshot after the fault: %v", err)
	}
}

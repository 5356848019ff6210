package partition

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	sm "github.com/lni/dragonboat/v4/statemachine"
)

// faultStop is a dragonboat stop channel closed by the fault handler, as
// the cluster's handler stops the shard.
type faultStop struct {
	stop chan struct{}
	once sync.Once
	errs chan error
}

func newFaultStop() *faultStop {
	return &faultStop{stop: make(chan struct{}), errs: make(chan error, 1)}
}

func (f *faultStop) handle(err error) {
	f.errs <- err
	go f.once.Do(func() { close(f.stop) })
}

// An append that fails takes the replica offline without an error for
// dragonboat (which would panic), and nothing from the failed entry on is
// made durable: reopened, the replica stands at its last checkpoint and
// replays the rest.
func TestUpdateFaultStopsReplicaAndPersistsNothing(t *testing.T) {
	dir := t.TempDir()
	f := newFaultStop()
	s := New(testShard, dir, smallSegments)
	s.SetFaultHandler(f.handle)
	if _, err := s.Open(f.stop); err != nil {
		t.Fatal(err)
	}
	ps := workload(5, 1, 1)
	apply(t, s, 1, ps[:3]...)
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	synced := s.HighWatermark()
	apply(t, s, 4, ps[3])
	s.log.Close() // the log's files fail every write from here

	done := make(chan []sm.Entry)
	go func() {
		out, err := s.Update([]sm.Entry{{Index: 5, Cmd: ps[4].cmd()}})
		if err != nil {
			t.Errorf("Update returned %v: dragonboat would panic", err)
		}
		done <- out
	}()
	var out []sm.Entry
	select {
	case out = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Update did not return after the shard stopped")
	}
	if _, code := AppendResult(out[0].Result); code != errStorage {
		t.Errorf("result code %d, want KAFKA_STORAGE_ERROR", code)
	}
	if err := <-f.errs; err == nil || s.Fault() == nil {
		t.Fatalf("fault handler got %v, Fault() = %v", err, s.Fault())
	}
	if err := s.Sync(); err != nil {
		t.Errorf("periodic Sync after the fault: %v (dragonboat would panic)", err)
	}
	if _, err := s.Update([]sm.Entry{{Index: 6, Cmd: ps[4].cmd()}}); err != nil {
		t.Errorf("Update after the fault: %v", err)
	}
	s.Close()
	select {
	case <-s.Closed():
	default:
		t.Error("Closed() not closed after Close")
	}

	re, applied := openSM(t, dir)
	if applied != 3 || re.HighWatermark() != synced {
		t.Fatalf("reopened at index %d, high watermark %d; want the checkpoint: 3, %d", applied, re.HighWatermark(), synced)
	}
	want := apply(t, re, 4, ps[3:]...)
	if int64(want[1]) <= int64(want[0]) {
		t.Errorf("replayed entries got offsets %v", want)
	}
}

// A replica whose files cannot be opened aborts Open once its shard stops
// (dragonboat's ErrOpenStopped), instead of failing it, which panics.
func TestOpenFaultAbortsOpen(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, checkpointFile), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := newFaultStop()
	s := New(testShard, dir, smallSegments)
	s.SetFaultHandler(f.handle)
	_, err := s.Open(f.stop)
	if !errors.Is(err, sm.ErrOpenStopped) {
		t.Fatalf("Open: %v, want ErrOpenStopped", err)
	}
	if !strings.Contains(s.Fault().Error(), "checkpoint") {
		t.Errorf("fault %v does not name the checkpoint", s.Fault())
	}
}

// calledBySnapshotSave names a dragonboat function; this checks that the
// pinned dragonboat still has it and that it syncs the state machine.
func TestSnapshotSaveFuncExists(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/lni/dragonboat/v4").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	src, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "internal", "rsm", "statemachine.go"))
	if err != nil {
		t.Fatal(err)
	}
	_, body, ok := strings.Cut(string(src), "func (s *StateMachine) concurrentSave(")
	body, _, _ = strings.Cut(body, "\n}\n")
	if !ok || !strings.Contains(body, "s.sync()") {
		t.Fatalf("dragonboat's rsm.(*StateMachine).concurrentSave is gone or no longer syncs: fault.go's %q needs a new anchor", snapshotSaveFunc)
	}
}

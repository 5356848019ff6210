package partition

import (
	"errors"
	"fmt"
	"runtime"
	"strings"

	sm "github.com/lni/dragonboat/v4/statemachine"
)

// A storage fault (ENOSPC, EIO, EMFILE, a corrupt segment) must cost this
// replica, never the process: dragonboat panics on any error an on-disk
// state machine's Open, Update or Sync returns. So the first fault is
// handed to the fault handler, which stops the replica's shard, and the
// call that met it waits for that stop before returning. From the fault
// on nothing more is made durable: no checkpoint is written, and Sync
// refuses the snapshots dragonboat would otherwise record past the last
// checkpoint. dragonboat's in-memory applied index may move past the
// fault while the shard stops, but it is never persisted; the restarted
// replica opens at its last checkpoint and Raft replays the rest from its
// own log, which the fault did not touch.

// ErrFaulted is returned by the replica's methods after a storage fault.
var ErrFaulted = errors.New("replica is offline after a storage fault")

// SetFaultHandler sets the function told of this replica's first storage
// fault. It must not block: it runs on a dragonboat worker, which then
// waits until the handler's doing stops the shard. Call it before
// dragonboat opens the replica.
func (s *StateMachine) SetFaultHandler(f func(error)) { s.onFault = f }

// Fault is the storage fault that took this replica offline, or nil.
func (s *StateMachine) Fault() error {
	if e := s.fault.Load(); e != nil {
		return *e
	}
	return nil
}

// Closed is closed once dragonboat has closed this replica: its files are
// no longer in use and a new replica of the shard may open them.
func (s *StateMachine) Closed() <-chan struct{} { return s.closed }

// fail records err as this replica's fault (the first one only), tells the
// handler, and waits until dragonboat stops the shard: until then the
// worker that met the fault must not return and let it go on as applied.
// Without a stop channel (Open was not called by dragonboat) it does not
// wait.
func (s *StateMachine) fail(err error) {
	if s.fault.CompareAndSwap(nil, &err) && s.onFault != nil {
		s.onFault(err)
	}
	if s.stopc != nil {
		<-s.stopc
	}
}

// Sync makes the log durable, then records the checkpoint it reflects.
// After a fault it writes nothing: on a snapshot save it aborts the save,
// so that no snapshot records an applied index past the last checkpoint
// (a restart would find the state machine behind its own snapshot and
// dragonboat would panic); the periodic sync, which panics the process on
// any error, gets nil, and records nothing durable from it.
func (s *StateMachine) Sync() error {
	if s.Fault() == nil {
		err := s.sync()
		if err == nil {
			return nil
		}
		s.fail(err)
	}
	if calledBySnapshotSave() {
		return fmt.Errorf("partition %d: %v: %w", s.ShardID, s.Fault(), sm.ErrSnapshotAborted)
	}
	return nil
}

// calledBySnapshotSave tells whether dragonboat called Sync to take a
// snapshot (rsm's concurrentSave) rather than as its periodic sync: both
// call Sync with the same lock held and nothing else tells them apart.
// Only a faulted replica asks, so the stack walk costs nothing in
// service; dragonboat's version is pinned in go.mod, and a test of this
// package checks the name against the pinned module.
func calledBySnapshotSave() bool {
	pcs := make([]uintptr, 32)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(2, pcs)])
	for {
		f, more := frames.Next()
		if strings.HasSuffix(f.Function, snapshotSaveFunc) {
			return true
		}
		if !more {
			return false
		}
	}
}

// snapshotSaveFunc is the dragonboat function that syncs an on-disk state
// machine before recording a snapshot of it.
const snapshotSaveFunc = "dragonboat/v4/internal/rsm.(*StateMachine).concurrentSave"

package partition

import (
	"errors"
	"fmt"
	"io"

	sm "github.com/lni/dragonboat/v4/statemachine"
)

// stoppableWriter and stoppableReader fail with sm.ErrSnapshotStopped once
// done is closed (the node is stopping or the transfer was cancelled), so
// that the batches of a snapshot streaming through storage stop between
// two writes or reads.
type stoppableWriter struct {
	w    io.Writer
	done <-chan struct{}
}

func (s stoppableWriter) Write(p []byte) (int, error) {
	select {
	case <-s.done:
		return 0, sm.ErrSnapshotStopped
	default:
		return s.w.Write(p)
	}
}

type stoppableReader struct {
	r    io.Reader
	done <-chan struct{}
}

func (s stoppableReader) Read(p []byte) (int, error) {
	select {
	case <-s.done:
		return 0, sm.ErrSnapshotStopped
	default:
		return s.r.Read(p)
	}
}

// snapshotError wraps err with the shard and what failed, except that it
// returns sm.ErrSnapshotStopped bare when err is or wraps it: dragonboat
// compares the error with ==.
func (s *StateMachine) snapshotError(what string, err error) error {
	if errors.Is(err, sm.ErrSnapshotStopped) {
		return sm.ErrSnapshotStopped
	}
	return fmt.Errorf("partition %d: %s: %w", s.ShardID, what, err)
}

package partition

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	sm "github.com/lni/dragonboat/v4/statemachine"

	"github.com/longboat/longboat/internal/storage"
)

// snapshotHeader starts a snapshot stream; the log's batches follow it.
type snapshotHeader struct {
	Applied     uint64     `json:"applied"`
	StartOffset int64      `json:"start_offset"` // base offset of the first batch streamed
	NextOffset  int64      `json:"next_offset"`
	Producers   *producers `json:"producers"`
	// LogStartOffset may lie inside the first segment streamed.
	LogStartOffset int64        `json:"log_start_offset,omitempty"`
	Epochs         []EpochStart `json:"epochs,omitempty"`
}

type preparedSnapshot struct {
	header snapshotHeader
	log    *storage.Snapshot
}

// PrepareSnapshot fixes which bytes the snapshot holds; SaveSnapshot then
// streams them while Update keeps appending past that point (or deleting
// segments below the log start, which the pinned snapshot survives).
func (s *StateMachine) PrepareSnapshot() (interface{}, error) {
	snap, err := s.log.Snapshot()
	if err != nil {
		return nil, fmt.Errorf("partition %d: %w", s.ShardID, err)
	}
	return preparedSnapshot{log: snap, header: snapshotHeader{
		Applied: s.applied, StartOffset: snap.StartOffset, NextOffset: snap.NextOffset, Producers: s.producers.clone(),
		LogStartOffset: s.start.Load(), Epochs: s.epochs.list(),
	}}, nil
}

// SaveSnapshot writes a length-prefixed JSON header and then the raw batches.
func (s *StateMachine) SaveSnapshot(ctx interface{}, w io.Writer, done <-chan struct{}) error {
	p, ok := ctx.(preparedSnapshot)
	if !ok {
		return fmt.Errorf("partition %d: snapshot context is %T", s.ShardID, ctx)
	}
	defer p.log.Close()
	hb, _ := json.Marshal(p.header)
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(hb)))
	if _, err := w.Write(n[:]); err != nil {
		return s.snapshotError("snapshot header", err)
	}
	if _, err := w.Write(hb); err != nil {
		return s.snapshotError("snapshot header", err)
	}
	if _, err := p.log.WriteTo(stoppableWriter{w: w, done: done}); err != nil {
		return s.snapshotError("snapshot", err)
	}
	return nil
}

// RecoverFromSnapshot replaces the log with the snapshot's batches.
func (s *StateMachine) RecoverFromSnapshot(r io.Reader, done <-chan struct{}) error {
	br := bufio.NewReaderSize(r, 1<<20)
	var n [4]byte
	if _, err := io.ReadFull(br, n[:]); err != nil {
		return s.snapshotError("snapshot header", err)
	}
	hb := make([]byte, binary.BigEndian.Uint32(n[:]))
	if _, err := io.ReadFull(br, hb); err != nil {
		return s.snapshotError("snapshot header", err)
	}
	var h snapshotHeader
	if err := json.Unmarshal(hb, &h); err != nil {
		return fmt.Errorf("partition %d: snapshot header: %w", s.ShardID, err)
	}
	// Record an empty, never-applied state before wiping the log: if the
	// install is cut short, Open then finds a consistent (empty) replica and
	// dragonboat installs the snapshot again.
	if err := s.writeCheckpoint(checkpoint{NextOffset: h.StartOffset, StartOffset: h.StartOffset}); err != nil {
		return err
	}
	if err := s.log.Restore(stoppableReader{r: br, done: done}, h.StartOffset, h.NextOffset); err != nil {
		return s.snapshotError("install snapshot", err)
	}
	s.applied = h.Applied
	s.setProducers(h.Producers)
	s.hw.Store(s.log.NextOffset())
	s.start.Store(max(h.LogStartOffset, s.log.StartOffset()))
	s.epochs.reset(h.Epochs)
	if err := s.Sync(); err != nil {
		return err
	}
	s.notify()
	return nil
}

// stoppableWriter and stoppableReader fail with sm.ErrSnapshotStopped once
// done is closed (the node is stopping or the transfer was cancelled), so
// that the batches of a snapshot streaming through storage stop between
// two writes or reads.
type stoppableWriter struct {
	w    io.Writer
	done <-chan struct{}
}

func (s stoppableWriter) Write(p []byte) (int, error) {
	if err := stopped(s.done); err != nil {
		return 0, err
	}
	return s.w.Write(p)
}

type stoppableReader struct {
	r    io.Reader
	done <-chan struct{}
}

func (s stoppableReader) Read(p []byte) (int, error) {
	if err := stopped(s.done); err != nil {
		return 0, err
	}
	return s.r.Read(p)
}

func stopped(done <-chan struct{}) error {
	select {
	case <-done:
		return sm.ErrSnapshotStopped
	default:
		return nil
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

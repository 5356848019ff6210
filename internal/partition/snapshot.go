package partition

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

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
	// Continues marks a snapshot that holds only what a follower lacked:
	// its batches continue a log that ends at StartOffset with the batch
	// whose header is Prev. A replica whose log does not end that way
	// cannot keep it (see RecoverFromSnapshot).
	Continues bool   `json:"continues,omitempty"`
	Prev      []byte `json:"prev,omitempty"`
	// Aborted is the whole aborted-transaction index, also in a snapshot
	// that continues a log.
	Aborted []AbortedTxn `json:"aborted,omitempty"`
}

// LogPosition is where a replica's durable log ends. A leader streams a
// follower that fell out of the Raft log only the batches after it.
type LogPosition struct {
	StartOffset int64 `json:"start_offset"`
	NextOffset  int64 `json:"next_offset"`
	// LastBatch is the header of the batch ending at NextOffset (none for
	// an empty log): batches are identical on every replica, so a match
	// shows the log is a prefix of the leader's.
	LastBatch []byte `json:"last_batch,omitempty"`
	// SnapshotBytesInstalled counts the snapshot bytes this replica has
	// read while installing snapshots since it was opened.
	SnapshotBytesInstalled int64 `json:"snapshot_bytes_installed"`
	// DiskBelowFloor is set while this replica's broker is under its
	// free-space floor: dragonboat writes a received snapshot's chunks
	// before the state machine sees them and panics the process when a
	// write fails, so a leader streams no snapshot to such a broker.
	DiskBelowFloor bool `json:"disk_below_floor,omitempty"`
	// RoomBytes is how many bytes this replica's broker can still write
	// before it reaches its free-space floor; nil when it has no floor. A
	// leader streams no snapshot that would not fit (see catchUpPoint).
	RoomBytes *int64 `json:"room_bytes,omitempty"`
}

// ErrFollowerDown is FollowerLogs' error when no follower could be asked
// because every one's broker process is gone (nothing listens at its HTTP
// or its Raft address). A stream cannot reach such a follower either, so
// its silence does not count towards catchUpPatience.
var ErrFollowerDown = errors.New("every follower's broker is down")

// FollowerLogs tells a leader where the logs of a shard's other replicas
// end, leaving out those whose broker is down; an error when any other
// cannot say (ErrFollowerDown when all are down).
type FollowerLogs interface {
	Positions(ctx context.Context, shardID uint64) ([]LogPosition, error)
}

// followerQueryTimeout bounds asking the followers before a snapshot
// stream; past it the stream holds the whole log, as it always could.
const followerQueryTimeout = 2 * time.Second

// SetFollowerLogs lets snapshots streamed from this replica start where
// the followers' logs end. Call it before dragonboat opens the replica.
func (s *StateMachine) SetFollowerLogs(f FollowerLogs) { s.followers = f }

// StreamPlan is what a snapshot stream about to start holds: the
// leader's log from From to NextOffset, the whole of it (Whole, with the
// reason) or a continuation of the followers' logs, and the positions the
// followers answered.
type StreamPlan struct {
	ShardID     uint64
	From        int64
	StartOffset int64
	NextOffset  int64
	Whole       bool
	Reason      string
	Followers   []LogPosition
}

// SetStreamObserver sets the function told of each snapshot stream this
// replica starts, so that a stream of the whole log says why. Call it
// before dragonboat opens the replica.
func (s *StateMachine) SetStreamObserver(f func(StreamPlan)) { s.onStream = f }

// SetStreamThrottle gives the limit of the snapshot streams this replica
// sends, asked when each stream starts (nil, or a nil result: no limit): a
// reassignment throttles the catch-up of the replicas it brings in. Call
// it before dragonboat opens the replica.
func (s *StateMachine) SetStreamThrottle(limit func() *storage.Throttle) { s.throttle = limit }

// SetDiskFloor tells Position whether this broker's data dir is under its
// free-space floor (below; nil: never) and how many bytes it can take
// before it is (room; nil or a negative answer: no floor). Call it before
// dragonboat opens the replica.
func (s *StateMachine) SetDiskFloor(below func() bool, room func() int64) {
	s.belowFloor, s.room = below, room
}

// Position makes this replica's applied state durable (a checkpoint, as
// Sync writes, unless a snapshot install is under way) and reports where
// its log then ends: a restart never cuts the log below that point, so a
// snapshot that starts there always finds it.
func (s *StateMachine) Position() (LogPosition, error) {
	if !s.opened.Load() {
		return LogPosition{}, fmt.Errorf("partition %d: not open yet", s.ShardID)
	}
	// installMu keeps a snapshot install out and prodMu keeps Update out,
	// so the checkpoint is of a state between two entries.
	s.installMu.Lock()
	defer s.installMu.Unlock()
	s.prodMu.Lock()
	defer s.prodMu.Unlock()
	if !s.installing.Load() {
		if err := s.sync(); err != nil {
			return LogPosition{}, err
		}
	}
	pos := LogPosition{StartOffset: s.log.StartOffset(), NextOffset: s.synced.Load(), SnapshotBytesInstalled: s.installed.Load(),
		DiskBelowFloor: s.belowFloor != nil && s.belowFloor()}
	if s.room != nil {
		if room := s.room(); room >= 0 {
			pos.RoomBytes = &room
		}
	}
	if pos.NextOffset > pos.StartOffset {
		last, err := s.log.BatchHeaderBefore(pos.NextOffset)
		if err != nil {
			return LogPosition{}, fmt.Errorf("partition %d: %w", s.ShardID, err)
		}
		pos.LastBatch = last
	}
	return pos, nil
}

type preparedSnapshot struct {
	header snapshotHeader
	log    *storage.Snapshot
}

// PrepareSnapshot fixes which bytes the snapshot holds; SaveSnapshot then
// streams them while Update keeps appending past that point (or deleting
// segments below the log start, which the pinned snapshot survives).
func (s *StateMachine) PrepareSnapshot() (interface{}, error) {
	if err := s.Fault(); err != nil {
		return nil, streamAborted(err)
	}
	snap, err := s.log.Snapshot()
	if err != nil {
		return nil, s.streamFault(fmt.Errorf("partition %d: pin the log for a snapshot: %w", s.ShardID, err))
	}
	return preparedSnapshot{log: snap, header: snapshotHeader{
		Applied: s.applied, StartOffset: snap.StartOffset, NextOffset: snap.NextOffset, Producers: s.producers.clone(),
		LogStartOffset: s.start.Load(), Epochs: s.epochs.list(), Aborted: s.txns.list(),
	}}, nil
}

// SaveSnapshot writes a length-prefixed JSON header and then the raw batches.
// dragonboat calls it only to stream a snapshot to a follower. A failure to
// read this replica's log is a storage fault (fault.go); a failure of the
// stream itself (the follower or the connection) only aborts this stream.
// Either way dragonboat gets an error it takes as an aborted stream: any
// other error panics the process.
func (s *StateMachine) SaveSnapshot(ctx interface{}, w io.Writer, done <-chan struct{}) error {
	p, ok := ctx.(preparedSnapshot)
	if !ok {
		return streamAborted(fmt.Errorf("partition %d: snapshot context is %T", s.ShardID, ctx))
	}
	defer p.log.Close()
	h := p.header
	from, prev, ok, why, positions, err := s.catchUpPoint(p.log, done)
	if err != nil {
		return streamAborted(err)
	}
	if s.onStream != nil {
		s.onStream(StreamPlan{ShardID: s.ShardID, From: from, StartOffset: p.log.StartOffset, NextOffset: p.log.NextOffset,
			Whole: !ok, Reason: why, Followers: positions})
	}
	if ok {
		if err := p.log.From(from); err != nil {
			return s.streamFault(fmt.Errorf("partition %d: snapshot from offset %d: %w", s.ShardID, from, err))
		}
		h.StartOffset, h.Continues, h.Prev = from, true, prev
	}
	hb, _ := json.Marshal(h)
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(hb)))
	sw := &sinkWriter{w: w, done: done}
	if s.throttle != nil {
		sw.throttle = s.throttle()
	}
	if _, err := sw.Write(append(n[:], hb...)); err != nil {
		s.unanswered.Store(0)
		return streamAborted(s.snapshotError("snapshot header", err))
	}
	if _, err := p.log.WriteTo(sw); err != nil {
		if sw.err != nil {
			// The follower's Raft transport is not there either: a broker
			// that is down. dragonboat calls SaveSnapshot for it all along
			// an outage (the connection is made after), so without this a
			// long outage used up catchUpPatience and the restarted
			// follower, asked a moment before its HTTP listener was up, got
			// the whole log.
			s.unanswered.Store(0)
		}
		if sw.err != nil || errors.Is(err, storage.ErrSnapshotShrunk) {
			return streamAborted(s.snapshotError("snapshot", err))
		}
		return s.streamFault(fmt.Errorf("partition %d: read the log for a snapshot: %w", s.ShardID, err))
	}
	return nil
}

// streamFault takes this replica offline for a storage fault met while
// streaming a snapshot from it and aborts the stream.
func (s *StateMachine) streamFault(err error) error {
	if errors.Is(err, sm.ErrSnapshotStopped) {
		return sm.ErrSnapshotStopped
	}
	s.fail(err)
	return streamAborted(err)
}

// streamAborted is err as dragonboat takes an aborted snapshot stream:
// sm.ErrSnapshotStopped bare (it compares with ==), anything else wrapped
// once in sm.ErrSnapshotAborted (its errors.Is follows one wrap only).
func streamAborted(err error) error {
	if errors.Is(err, sm.ErrSnapshotStopped) {
		return sm.ErrSnapshotStopped
	}
	return fmt.Errorf("%v: %w", err, sm.ErrSnapshotAborted)
}

// catchUpPatience is how long a leader keeps aborting the snapshot streams
// of a shard whose followers cannot all say where their logs end, before
// it streams the whole log. A follower that restarts is sent a snapshot as
// soon as its Raft transport is up, which under load is seconds before its
// replica is open and its HTTP listener answers: streaming the whole log
// then cost a 300 KB outage 4 MB of snapshot. An aborted stream is asked
// again by dragonboat at the next heartbeat, and a follower that never
// answers (an unreachable HTTP address) still gets the whole log. The
// patience runs only while a follower's broker is up: dragonboat asks for
// streams all along an outage, and when the outage had used up the
// patience the follower got the whole log if it was asked a moment before
// its HTTP listener was up (1 test run in 4 under load).
const catchUpPatience = time.Minute

// snapshotRoomFactor is how many times a stream's size a follower's broker
// must be able to write before its free-space floor: dragonboat stores the
// received snapshot, and the replica then writes its batches into the log
// before dragonboat deletes its copy.
const snapshotRoomFactor = 2

// catchUpPoint picks where a stream of snap may start: the lowest durable
// log end among the followers that answered, when every follower whose
// broker is up answered and the one that ends lowest holds exactly snap's
// batch before that point. A follower further ahead keeps its own longer
// log too, since its log is also a prefix of the leader's (RecoverFromSnapshot
// checks); a follower that was down and comes back as the stream starts
// gets a suffix of the leader's log (RecoverFromSnapshot again). ok is
// false for the whole log. An error aborts the stream, and dragonboat asks
// again: when every follower is down; when a follower did not answer and
// the shard has not been waiting for an answer for catchUpPatience; when a
// follower's broker is below its free-space floor or could not write the
// stream without going below it.
func (s *StateMachine) catchUpPoint(snap *storage.Snapshot, done <-chan struct{}) (from int64, prev []byte, ok bool, why string, positions []LogPosition, err error) {
	if s.followers == nil {
		return 0, nil, false, "no way to ask the followers", nil, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), followerQueryTimeout)
	defer cancel()
	go func() {
		select {
		case <-done:
			cancel()
		case <-ctx.Done():
		}
	}()
	positions, err = s.followers.Positions(ctx, s.ShardID)
	if stopped(done) != nil {
		return 0, nil, false, "", nil, sm.ErrSnapshotStopped
	}
	if errors.Is(err, ErrFollowerDown) {
		s.unanswered.Store(0)
		return 0, nil, false, "", nil, fmt.Errorf("partition %d: snapshot stream deferred: %w", s.ShardID, err)
	}
	if err != nil {
		now := time.Now().UnixNano()
		s.unanswered.CompareAndSwap(0, now)
		waited := time.Duration(now - s.unanswered.Load())
		if waited < catchUpPatience {
			return 0, nil, false, "", nil, fmt.Errorf("partition %d: followers' log ends unknown for %v, snapshot stream deferred: %v", s.ShardID, waited.Round(time.Millisecond), err)
		}
		return 0, nil, false, fmt.Sprintf("followers' log ends unknown for %v: %v", waited.Round(time.Millisecond), err), nil, nil
	}
	s.unanswered.Store(0)
	if len(positions) == 0 {
		return 0, nil, false, "no follower to ask", nil, nil
	}
	for _, p := range positions {
		if p.DiskBelowFloor {
			return 0, nil, false, "", nil, fmt.Errorf("partition %d: a follower's broker is below its free-space floor, snapshot stream deferred", s.ShardID)
		}
	}
	low := positions[0]
	for _, p := range positions[1:] {
		if p.NextOffset < low.NextOffset {
			low = p
		}
	}
	from, prev, ok = snap.StartOffset, nil, false
	switch {
	case low.NextOffset <= snap.StartOffset:
		why = fmt.Sprintf("the lowest follower's log ends at %d, at or below this log's start %d", low.NextOffset, snap.StartOffset)
	case low.NextOffset > snap.NextOffset:
		why = fmt.Sprintf("the lowest follower's log ends at %d, past this snapshot's end %d", low.NextOffset, snap.NextOffset)
	default:
		last, err := snap.BatchHeaderBefore(low.NextOffset)
		if err == nil && bytes.Equal(last, low.LastBatch) {
			from, prev, ok = low.NextOffset, last, true
		} else {
			why = fmt.Sprintf("the lowest follower's batch before %d differs from this log's (%v)", low.NextOffset, err)
		}
	}
	size, err := snap.SizeFrom(from)
	if err != nil {
		return 0, nil, false, "", nil, fmt.Errorf("partition %d: size of a snapshot from offset %d: %w", s.ShardID, from, err)
	}
	for _, p := range positions {
		if p.RoomBytes != nil && *p.RoomBytes < snapshotRoomFactor*size {
			return 0, nil, false, "", nil, fmt.Errorf("partition %d: a follower's broker has %d bytes before its free-space floor, too few for a snapshot of %d bytes, snapshot stream deferred", s.ShardID, *p.RoomBytes, size)
		}
	}
	return from, prev, ok, why, positions, nil
}

// RecoverFromSnapshot installs a snapshot. A full one replaces the log. One
// that continues a log keeps this replica's batches below its start when
// they end with the batch the leader holds there; otherwise (a log that
// ends short of it or differs, which a durable position the leader asked
// for rules out) the log is replaced by the snapshot's batches alone, a
// suffix of the leader's log: never a diverging one.
//
// Any failure but a stop (reading dragonboat's copy of the snapshot,
// writing the log or the checkpoint, an unreadable header) is a storage
// fault: the replica goes offline and the install is reported to
// dragonboat as stopped, the one error it does not panic on. What the
// install left on disk is what a crash mid-install leaves (see install),
// so the restarted replica installs the snapshot again.
func (s *StateMachine) RecoverFromSnapshot(r io.Reader, done <-chan struct{}) error {
	if s.Fault() != nil {
		return sm.ErrSnapshotStopped
	}
	err := s.recoverFromSnapshot(r, done)
	if err == nil {
		return nil
	}
	if !errors.Is(err, sm.ErrSnapshotStopped) {
		s.fail(err)
	}
	return sm.ErrSnapshotStopped
}

func (s *StateMachine) recoverFromSnapshot(r io.Reader, done <-chan struct{}) error {
	cr := &countingReader{r: r, n: &s.installed}
	br := bufio.NewReaderSize(cr, 1<<20)
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
	aborted, err := s.install(h, stoppableReader{r: br, done: done})
	if err != nil {
		return err
	}
	s.setProducers(h.Producers, aborted)
	s.hw.Store(s.log.NextOffset())
	s.start.Store(max(h.LogStartOffset, s.log.StartOffset()))
	s.epochs.reset(h.Epochs)
	if h.Continues {
		// Segments the leader's retention removed while this replica was away.
		if _, err := s.log.DeleteBefore(min(h.LogStartOffset, s.log.NextOffset())); err != nil {
			return fmt.Errorf("partition %d: delete segments below log start %d: %w", s.ShardID, h.LogStartOffset, err)
		}
		s.txns.pruneBelow(s.start.Load())
	}
	if err := s.sync(); err != nil {
		return err
	}
	s.installing.Store(false)
	s.notify()
	return nil
}

// continuedIndex is the aborted-transaction index of a log that kept its
// own batches below start and took the leader's from start on: its own
// entries for the markers it kept, the leader's for the rest. Each
// replica's cleaner drops an entry when its own log has no record of the
// transaction left, so the leader's entries need not fit the batches
// below start: the leader may have dropped one whose aborted records this
// replica still holds.
func continuedIndex(own, leader []AbortedTxn, start int64) []AbortedTxn {
	var out []AbortedTxn
	for _, a := range own {
		if a.LastOffset < start {
			out = append(out, a)
		}
	}
	for _, a := range leader {
		if a.LastOffset >= start {
			out = append(out, a)
		}
	}
	return out
}

// install writes the snapshot's batches into the log, under installMu so
// that Position neither checkpoints nor reads a log half-way through (nor
// the cleaner drops index entries), and returns the aborted-transaction
// index that goes with the log it leaves.
func (s *StateMachine) install(h snapshotHeader, r io.Reader) ([]AbortedTxn, error) {
	s.installMu.Lock()
	defer s.installMu.Unlock()
	s.installing.Store(true)
	s.installGen.Add(1)
	keep := h.Continues && s.continues(h)
	aborted := h.Aborted
	if keep {
		aborted = continuedIndex(s.txns.list(), h.Aborted, h.StartOffset)
	}
	start := h.StartOffset
	if keep {
		start = s.log.StartOffset()
	}
	// Record a never-applied state ending where the snapshot's batches
	// start before touching the log: if the install is cut short, Open cuts
	// the log back to that point (or empties it there) and dragonboat
	// installs the snapshot again.
	if err := s.writeCheckpoint(checkpoint{NextOffset: h.StartOffset, StartOffset: start, Installing: true}); err != nil {
		return nil, err
	}
	s.hw.Store(min(s.hw.Load(), h.StartOffset))
	if keep {
		if err := s.log.TruncateTo(h.StartOffset); err != nil {
			return nil, s.snapshotError("install snapshot", err)
		}
		if err := s.log.Extend(r, h.NextOffset); err != nil {
			return nil, s.snapshotError("install snapshot", err)
		}
	} else if err := s.log.Restore(r, h.StartOffset, h.NextOffset); err != nil {
		return nil, s.snapshotError("install snapshot", err)
	}
	s.applied = h.Applied
	return aborted, nil
}

// continues tells whether this replica's log can take the batches of an
// incremental snapshot: it reaches the snapshot's start, and the batch
// ending there is the leader's (nothing of its own before the start is a
// log the snapshot extends as well).
func (s *StateMachine) continues(h snapshotHeader) bool {
	start, next := s.log.StartOffset(), s.log.NextOffset()
	if h.StartOffset < start || h.StartOffset > next {
		return false
	}
	if h.StartOffset == start {
		return true
	}
	last, err := s.log.BatchHeaderBefore(h.StartOffset)
	return err == nil && bytes.Equal(last, h.Prev)
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// sinkWriter and stoppableReader fail with sm.ErrSnapshotStopped once
// done is closed (the node is stopping or the transfer was cancelled), so
// that the batches of a snapshot streaming through storage stop between
// two writes or reads. sinkWriter keeps the error it returned, which tells
// a failed stream from a failed read of the log.
// A throttled sinkWriter waits for the throttle before each piece of at
// most throttleChunk bytes, so a stream never runs ahead of its rate by
// more than the throttle's burst and one piece.
type sinkWriter struct {
	w        io.Writer
	done     <-chan struct{}
	throttle *storage.Throttle
	err      error
}

// throttleChunk is the largest write a throttled stream makes at once.
const throttleChunk = 64 << 10

func (s *sinkWriter) Write(p []byte) (int, error) {
	if s.throttle == nil {
		return s.write(p)
	}
	written := 0
	for len(p) > 0 {
		piece := p[:min(len(p), throttleChunk)]
		if err := s.wait(len(piece)); err != nil {
			return written, err
		}
		n, err := s.write(piece)
		written += n
		if err != nil {
			return written, err
		}
		p = p[n:]
	}
	return written, nil
}

func (s *sinkWriter) write(p []byte) (int, error) {
	if s.err = stopped(s.done); s.err != nil {
		return 0, s.err
	}
	n, err := s.w.Write(p)
	s.err = err
	return n, err
}

// wait takes n bytes from the throttle, giving up when done closes.
func (s *sinkWriter) wait(n int) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-s.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	s.throttle.Wait(ctx, int64(n))
	s.err = stopped(s.done)
	return s.err
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

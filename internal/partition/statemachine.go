package partition

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	sm "github.com/lni/dragonboat/v4/statemachine"

	"github.com/longboat/longboat/internal/durable"
	"github.com/longboat/longboat/internal/recordbatch"
	"github.com/longboat/longboat/internal/storage"
)

// checkpoint is what Sync makes durable next to the log: the Raft index the
// log reflects. On Open the log is cut back to it and dragonboat replays
// the Raft entries after it.
type checkpoint struct {
	Applied     uint64 `json:"applied"`
	NextOffset  int64  `json:"next_offset"`
	StartOffset int64  `json:"start_offset"` // first batch on disk
	// Producers is the producer state as checkpoints before the journal
	// held it (read, no longer written); ProducerJournal names the journal
	// that holds it now (prodjournal.go).
	Producers       *producers  `json:"producers,omitempty"`
	ProducerJournal *journalRef `json:"producer_journal,omitempty"`
	// LogStartOffset is the replicated log start offset (Kafka's), which
	// can lie inside the first segment on disk.
	LogStartOffset int64        `json:"log_start_offset,omitempty"`
	Epochs         []EpochStart `json:"epochs,omitempty"`
	// Installing marks the checkpoint written before a snapshot install
	// touches the log: NextOffset is where the snapshot's batches start.
	Installing bool `json:"installing,omitempty"`
	// Aborted is the aborted-transaction index.
	Aborted []AbortedTxn `json:"aborted,omitempty"`
}

const checkpointFile = "checkpoint.json"

// StateMachine is one partition replica (a dragonboat IOnDiskStateMachine).
// Update, Sync, PrepareSnapshot and RecoverFromSnapshot run on dragonboat's
// apply goroutine; Read, HighWatermark and Wait are safe from any goroutine.
type StateMachine struct {
	ShardID uint64
	dir     string
	opts    storage.Options

	log     *storage.Log
	applied uint64
	// producers is changed only on the apply goroutine, under prodMu so
	// that ActiveProducers may read it from others.
	producers    *producers
	prodMu       sync.Mutex
	hw           atomic.Int64 // next offset: everything below is committed
	start        atomic.Int64 // log start offset, moved only by cmdAdvanceStart
	epochs       epochHistory
	txns         txnIndex
	opened       atomic.Bool                  // log is set: Open returned
	segmentBytes atomic.Int64                 // last segment.bytes applied to the log by SetSegmentLimits
	segmentMs    atomic.Int64                 // roll the active segment at this age; 0: never
	head         [recordbatch.HeaderSize]byte // reused header scratch for the rewritten fields

	mu       sync.Mutex
	appendCh chan struct{}

	followers  FollowerLogs             // nil: snapshots hold the whole log
	belowFloor func() bool              // this broker's data dir is under its free-space floor; nil: never
	room       func() int64             // bytes this broker's data dir can take before its floor; nil or negative: no floor
	throttle   func() *storage.Throttle // limits a snapshot stream that starts now; nil, or a nil result: unlimited
	unanswered atomic.Int64             // UnixNano of the first unanswered question about the followers' logs since one was answered; 0: none
	cpMu       sync.Mutex               // one checkpoint write at a time: Position writes one too
	journal    *prodJournal             // the producer state's journal, under cpMu
	installMu  sync.Mutex               // held by a snapshot install's log writes and by Position
	synced     atomic.Int64             // NextOffset of the last checkpoint written
	installing atomic.Bool              // a snapshot install started and has not completed
	installGen atomic.Int64             // snapshot installs started: a cleaning pass spanning one gives up
	installed  atomic.Int64             // snapshot bytes read by RecoverFromSnapshot

	stopc     <-chan struct{}       // dragonboat's stop signal, from Open
	onFault   func(error)           // told of the first storage fault
	onStream  func(StreamPlan)      // told of each snapshot stream started
	fault     atomic.Pointer[error] // the storage fault that took the replica offline
	closed    chan struct{}         // closed by Close
	closeOnce sync.Once
}

// New returns an unopened replica whose files live in dir.
func New(shardID uint64, dir string, opts storage.Options) *StateMachine {
	return &StateMachine{ShardID: shardID, dir: dir, opts: opts, appendCh: make(chan struct{}), closed: make(chan struct{})}
}

// Open recovers the log, cuts it back to the last checkpoint and returns
// the Raft index that checkpoint reflects. A replica that cannot open is a
// storage fault: it waits for the shard to stop and aborts the open.
func (s *StateMachine) Open(stopc <-chan struct{}) (uint64, error) {
	s.stopc = stopc
	applied, err := s.open()
	if err != nil {
		s.fail(err)
		// One %w: dragonboat tests the error with cockroachdb's errors.Is,
		// which does not follow a multiple wrap.
		return 0, fmt.Errorf("%v: %w", err, sm.ErrOpenStopped)
	}
	return applied, nil
}

func (s *StateMachine) open() (uint64, error) {
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return 0, fmt.Errorf("partition %d: %w", s.ShardID, err)
	}
	cp, err := readCheckpoint(s.dir)
	if err != nil {
		return 0, fmt.Errorf("partition %d: %w", s.ShardID, err)
	}
	journal, prods, err := openJournal(s.dir, cp.ProducerJournal)
	if err != nil {
		return 0, fmt.Errorf("partition %d: %w", s.ShardID, err)
	}
	if cp.ProducerJournal == nil {
		prods = cp.Producers
	}
	l, err := storage.Open(filepath.Join(s.dir, "log"), s.opts)
	if err != nil {
		journal.close()
		return 0, fmt.Errorf("partition %d: open log: %w", s.ShardID, err)
	}
	s.journal = journal
	if cp.Installing && (l.NextOffset() < cp.NextOffset || l.StartOffset() > cp.NextOffset) {
		// A snapshot install was cut short after emptying the log or before
		// it reached the snapshot's start: dragonboat installs it again
		// (Applied is 0), onto a log that is empty there.
		if err := l.Reset(cp.NextOffset); err != nil {
			l.Close()
			return 0, fmt.Errorf("partition %d: empty log at interrupted snapshot install offset %d: %w", s.ShardID, cp.NextOffset, err)
		}
	}
	switch end := l.NextOffset(); {
	case end > cp.NextOffset:
		// Appended after the last checkpoint: Raft replays those entries.
		if err := l.TruncateTo(cp.NextOffset); err != nil {
			l.Close()
			return 0, fmt.Errorf("partition %d: cut log back to checkpoint offset %d: %w", s.ShardID, cp.NextOffset, err)
		}
	case end < cp.NextOffset:
		l.Close()
		return 0, fmt.Errorf("partition %d: log ends at offset %d but the checkpoint says %d: data was lost below Raft", s.ShardID, end, cp.NextOffset)
	}
	// A crash between a Sync and the deletion that followed an advance of
	// the log start leaves segments below it; they are not needed.
	if _, err := l.DeleteBefore(min(cp.LogStartOffset, l.NextOffset())); err != nil {
		l.Close()
		return 0, fmt.Errorf("partition %d: delete segments below log start %d: %w", s.ShardID, cp.LogStartOffset, err)
	}
	s.log = l
	s.applied = cp.Applied
	s.setProducers(prods, cp.Aborted)
	s.hw.Store(l.NextOffset())
	s.start.Store(max(cp.LogStartOffset, l.StartOffset()))
	s.epochs.reset(cp.Epochs)
	s.synced.Store(l.NextOffset())
	s.opened.Store(true)
	return cp.Applied, nil
}

// closingSync checkpoints the applied state at Close unless nothing was
// appended since the last checkpoint, an install is under way (its own
// checkpoint must stand) or the replica is faulted.
func (s *StateMachine) closingSync() {
	s.installMu.Lock()
	defer s.installMu.Unlock()
	s.prodMu.Lock()
	defer s.prodMu.Unlock()
	if !s.opened.Load() || s.installing.Load() || s.Fault() != nil || s.synced.Load() == s.log.NextOffset() {
		return
	}
	_ = s.sync() // best effort; see Close
}

func readCheckpoint(dir string) (checkpoint, error) {
	var cp checkpoint
	b, err := os.ReadFile(filepath.Join(dir, checkpointFile))
	if errors.Is(err, os.ErrNotExist) {
		return cp, nil
	}
	if err != nil {
		return cp, fmt.Errorf("read checkpoint: %w", err)
	}
	if err := json.Unmarshal(b, &cp); err != nil {
		return cp, fmt.Errorf("checkpoint %s: %w", filepath.Join(dir, checkpointFile), err)
	}
	return cp, nil
}

// Update applies committed proposals. Offsets come only from the log's end
// and producer decisions only from replicated state, so every replica
// assigns the same offsets and accepts the same batches. An entry that
// cannot be applied is a storage fault (see fault.go): Update waits for
// the shard to stop, and the entries from that one on are never made
// durable; the restarted replica applies them again.
func (s *StateMachine) Update(ents []sm.Entry) ([]sm.Entry, error) {
	if s.Fault() != nil {
		return ents, nil
	}
	out, err := s.update(ents)
	if err != nil {
		s.fail(err)
		for i := range ents {
			ents[i].Result = rejected(errStorage)
		}
		return ents, nil
	}
	return out, nil
}

// errStorage is Kafka's KAFKA_STORAGE_ERROR.
const errStorage int16 = 56

func (s *StateMachine) update(ents []sm.Entry) ([]sm.Entry, error) {
	s.prodMu.Lock()
	defer s.prodMu.Unlock()
	appended := false
	for i := range ents {
		cmd := ents[i].Cmd
		s.applied = ents[i].Index
		if len(cmd) == advanceStartSize && cmd[0] == cmdAdvanceStart {
			res, err := s.advanceStart(int64(binary.BigEndian.Uint64(cmd[1:])))
			if err != nil {
				return nil, fmt.Errorf("partition %d: advance log start at index %d: %w", s.ShardID, ents[i].Index, err)
			}
			ents[i].Result = res
			continue
		}
		if isMarker(cmd) {
			res, ok, err := s.marker(decodeMarker(cmd))
			if err != nil {
				return nil, fmt.Errorf("partition %d: marker at index %d: %w", s.ShardID, ents[i].Index, err)
			}
			ents[i].Result = res
			if ok {
				s.hw.Store(s.log.NextOffset())
				appended = true
			}
			continue
		}
		if len(cmd) < appendHeaderSize || (cmd[0] != cmdAppend && cmd[0] != cmdAppendLogTime) {
			ents[i].Result = rejected(errInvalidRecord)
			continue
		}
		term := binary.BigEndian.Uint64(cmd[1:])
		nowMs := int64(binary.BigEndian.Uint64(cmd[9:]))
		logAppendTime := cmd[0] == cmdAppendLogTime
		if int64(term) < int64(s.epochs.latest()) {
			// Stamped by a leader of an older term that proposed after a
			// newer leader had appended: leader epochs in the log never go
			// backwards, so the producer is sent to the current leader.
			ents[i].Result = rejected(errNotLeader)
			continue
		}
		s.producers.expire(nowMs)
		if age := s.segmentMs.Load(); age > 0 {
			if _, err := s.log.RollIfOlder(largestTimestamp(cmd[appendHeaderSize:], nowMs, logAppendTime), age); err != nil {
				return nil, fmt.Errorf("partition %d: roll segment at index %d: %w", s.ShardID, ents[i].Index, err)
			}
		}
		res, n, err := s.appendBatches(cmd[appendHeaderSize:], int32(term), nowMs, logAppendTime)
		if err != nil {
			return nil, fmt.Errorf("partition %d: append at index %d: %w", s.ShardID, ents[i].Index, err)
		}
		ents[i].Result = res
		if n > 0 {
			s.hw.Store(s.log.NextOffset())
			appended = true
		}
	}
	if appended {
		s.notify()
	}
	return ents, nil
}

// largestTimestamp is the newest timestamp a command's batches will carry
// in the log: the append time on a LogAppendTime topic, else the largest
// batch maxTimestamp (math.MinInt64 when there is no whole batch).
func largestTimestamp(batches []byte, nowMs int64, logAppendTime bool) int64 {
	if logAppendTime {
		return nowMs
	}
	ts := int64(math.MinInt64)
	for h := range recordbatch.All(batches) {
		ts = max(ts, h.MaxTimestamp)
	}
	return ts
}

// rejected is the result of a proposal whose batch was refused.
func rejected(code int16) sm.Result {
	return sm.Result{Data: binary.BigEndian.AppendUint16(nil, uint16(code))}
}

// AppendResult decodes an append proposal's result: the base offset of its
// first batch (for a retried duplicate, the offset it was first written
// at), or a Kafka error code.
func AppendResult(r sm.Result) (baseOffset int64, code int16) {
	if len(r.Data) == 2 {
		return -1, int16(binary.BigEndian.Uint16(r.Data))
	}
	return int64(r.Value), 0
}

// appendBatches writes each batch stamped with its base offset and leader
// epoch, and on a LogAppendTime topic with nowMs as its maxTimestamp (see
// recordbatch.Stamp). The result describes the first batch; n counts the
// batches actually appended. Bytes after the last batch too few to hold a
// header are ignored, as they always have been: every replica must apply a
// logged proposal the same way.
func (s *StateMachine) appendBatches(b []byte, epoch int32, nowMs int64, logAppendTime bool) (res sm.Result, n int, err error) {
	first := true
	for len(b) >= recordbatch.HeaderSize {
		var batch []byte
		batch, b, err = recordbatch.Split(b)
		if err != nil {
			return res, n, err
		}
		base := s.log.NextOffset()
		h := recordbatch.ParseHeader(batch)
		pid, pEpoch, firstSeq, lastSeq, idem := idempotence(h)
		if idem {
			dupOffset, dup, code := s.producers.check(pid, pEpoch, firstSeq, lastSeq)
			if code == 0 && !dup {
				code = s.producers.checkTxn(pid, h.Transactional())
			}
			if code == 0 && !dup && !s.producers.admits(pid) {
				code = errConcurrentTxns
			}
			switch {
			case code != 0:
				if first {
					res = rejected(code)
				}
				first = false
				continue
			case dup:
				if first {
					res = sm.Result{Value: uint64(dupOffset)}
				}
				first = false
				continue
			}
		}
		stamp := recordbatch.Stamp{BaseOffset: base, LeaderEpoch: epoch, LogAppendTime: logAppendTime, AppendTimeMs: nowMs}
		if err := s.log.AppendParts(stamp.Apply(&s.head, batch)); err != nil {
			return res, n, err
		}
		s.epochs.record(epoch, base)
		if idem {
			p := s.producers.record(pid, pEpoch, firstSeq, lastSeq, base, nowMs)
			if h.Transactional() {
				s.beginTxn(p, base)
			}
		}
		if first {
			res = sm.Result{Value: uint64(base)}
		}
		first = false
		n++
	}
	return res, n, nil
}

func (s *StateMachine) notify() {
	s.mu.Lock()
	close(s.appendCh)
	s.appendCh = make(chan struct{})
	s.mu.Unlock()
}

// Appended returns a channel closed at the next append (for long polls).
func (s *StateMachine) Appended() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.appendCh
}

// HighWatermark is the next offset to be assigned; everything below it is
// committed, because the state machine only ever sees committed entries.
func (s *StateMachine) HighWatermark() int64 { return s.hw.Load() }

// LogStartOffset is the first offset still held.
func (s *StateMachine) LogStartOffset() int64 { return s.start.Load() }

// Read returns whole batches from the one containing offset, up to maxBytes
// (at least one batch), never below the log start offset nor past the high
// watermark: an entry's batches
// reach the log before the high watermark moves past them.
func (s *StateMachine) Read(offset int64, maxBytes int) ([]byte, error) {
	return s.ReadBelow(offset, maxBytes, s.hw.Load())
}

// ReadBelow is Read with the batches that start at or past limit left out
// (a read_committed fetch passes the last stable offset). A limit past the
// high watermark counts as the high watermark.
func (s *StateMachine) ReadBelow(offset int64, maxBytes int, limit int64) ([]byte, error) {
	if start := s.start.Load(); offset < start {
		return nil, fmt.Errorf("partition %d: offset %d is below the log start offset %d: %w", s.ShardID, offset, start, storage.ErrOffsetOutOfRange)
	}
	hw := s.hw.Load()
	if offset > hw {
		return nil, fmt.Errorf("partition %d: offset %d is past the high watermark %d: %w", s.ShardID, offset, hw, storage.ErrOffsetOutOfRange)
	}
	hw = min(hw, limit)
	if offset >= hw {
		return nil, nil
	}
	data, err := s.log.Read(offset, maxBytes)
	if err != nil {
		return nil, err
	}
	return data[:committedPrefix(data, hw)], nil
}

// committedPrefix is the length of the leading batches of data that start
// below hw.
func committedPrefix(data []byte, hw int64) int {
	n := 0
	for h, batch := range recordbatch.All(data) {
		if h.BaseOffset >= hw {
			break
		}
		n += len(batch)
	}
	return n
}

// LogSize is the partition's bytes on disk (0 until Open has run, which
// dragonboat does on its own goroutine after the replica is started).
func (s *StateMachine) LogSize() int64 {
	if !s.opened.Load() {
		return 0
	}
	return s.log.Size()
}

// Lookup answers a ReadIndex: the high watermark once the read is linearized.
func (s *StateMachine) Lookup(interface{}) (interface{}, error) { return s.HighWatermark(), nil }

// sync makes the log durable, then records the checkpoint it reflects.
func (s *StateMachine) sync() error {
	if err := s.log.Sync(); err != nil {
		return fmt.Errorf("partition %d: sync log: %w", s.ShardID, err)
	}
	s.cpMu.Lock()
	defer s.cpMu.Unlock()
	if err := s.Fault(); err != nil {
		return fmt.Errorf("partition %d: checkpoint: %w: %w", s.ShardID, ErrFaulted, err)
	}
	ref, err := s.journal.write(s.producers)
	if err != nil {
		return fmt.Errorf("partition %d: checkpoint: %w", s.ShardID, err)
	}
	if err := s.writeCheckpointLocked(checkpoint{Applied: s.applied, NextOffset: s.log.NextOffset(), StartOffset: s.log.StartOffset(), ProducerJournal: &ref,
		LogStartOffset: s.start.Load(), Epochs: s.epochs.list(), Aborted: s.txns.list()}); err != nil {
		return err
	}
	s.journal.committed()
	return nil
}

func (s *StateMachine) writeCheckpoint(cp checkpoint) error {
	s.cpMu.Lock()
	defer s.cpMu.Unlock()
	return s.writeCheckpointLocked(cp)
}

func (s *StateMachine) writeCheckpointLocked(cp checkpoint) error {
	if err := s.Fault(); err != nil {
		return fmt.Errorf("partition %d: checkpoint: %w: %w", s.ShardID, ErrFaulted, err)
	}
	b, _ := json.Marshal(cp)
	if err := durable.WriteFile(filepath.Join(s.dir, checkpointFile), b, 0o644); err != nil {
		return fmt.Errorf("partition %d: checkpoint: %w", s.ShardID, err)
	}
	s.synced.Store(cp.NextOffset)
	return nil
}

// Close checkpoints what was applied since the last Sync, then closes the
// log. Without the checkpoint a replica stopped cleanly reopens at its
// last Raft snapshot and cuts its log back there, and if its leader then
// sends it a snapshot (it missed more than the Raft log keeps) the stream
// must start at that point: with few, large entries since the replica
// started (no Raft snapshot yet) that was the whole log. The checkpoint
// is best effort: if it fails, the replica reopens at the previous one,
// as after a crash, and a storage fault shows when the log is reopened.
func (s *StateMachine) Close() error {
	defer s.closeOnce.Do(func() { close(s.closed) })
	if s.log == nil {
		return nil
	}
	s.closingSync()
	s.cpMu.Lock()
	s.journal.close()
	s.cpMu.Unlock()
	return s.log.Close()
}

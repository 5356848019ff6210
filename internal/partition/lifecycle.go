package partition

import (
	"fmt"
	"math"

	sm "github.com/lni/dragonboat/v4/statemachine"
)

// errOffsetOutOfRange is Kafka's OFFSET_OUT_OF_RANGE.
const errOffsetOutOfRange int16 = 1

// advanceStart applies cmdAdvanceStart: the log start offset moves up to
// offset, the state is checkpointed, and every segment wholly below it is
// deleted. Moving it past the
// high watermark is refused (as DeleteRecords does); a lower offset than
// the current start changes nothing. The result is the log start offset.
func (s *StateMachine) advanceStart(offset int64) (sm.Result, error) {
	if offset > s.hw.Load() || offset < 0 {
		return rejected(errOffsetOutOfRange), nil
	}
	if offset > s.start.Load() {
		s.start.Store(offset)
		s.epochs.truncateStart(offset)
		s.txns.pruneBelow(offset)
		// Checkpoint first: an older checkpoint would make Open cut the
		// log back to an offset whose segment is gone, and Raft replay
		// the appends after it onto nothing.
		if err := s.Sync(); err != nil {
			return sm.Result{}, err
		}
		if _, err := s.log.DeleteBefore(offset); err != nil {
			return sm.Result{}, err
		}
	}
	return sm.Result{Value: uint64(s.start.Load())}, nil
}

// AdvanceResult decodes a cmdAdvanceStart result: the log start offset
// after it, or a Kafka error code.
func AdvanceResult(r sm.Result) (start int64, code int16) { return AppendResult(r) }

// SetSegmentLimits applies a topic's segment.bytes and segment.ms to this
// replica's log. Segment boundaries are local layout: every replica agrees
// on offsets and on the log start offset whatever its segments look like.
// Before Open it only records segmentMs: the log opens with the
// segment.bytes it was created with.
func (s *StateMachine) SetSegmentLimits(segmentBytes, segmentMs int64) error {
	s.segmentMs.Store(segmentMs)
	segmentBytes = min(segmentBytes, math.MaxUint32)
	if !s.opened.Load() || s.segmentBytes.Load() == segmentBytes {
		return nil
	}
	if err := s.log.SetSegmentBytes(segmentBytes); err != nil {
		return err
	}
	s.segmentBytes.Store(segmentBytes)
	return nil
}

// RetentionOffset is the log start offset that retention.ms and
// retention.bytes call for now, on Kafka's rules: only closed segments go,
// oldest first; by time while a segment's newest timestamp is older than
// retentionMs; by size while the log would still hold at least
// retentionBytes without the segment. -1 disables either rule. ok is false
// when nothing is due. The leader evaluates this and proposes the result.
func (s *StateMachine) RetentionOffset(nowMs, retentionMs, retentionBytes int64) (offset int64, ok bool, err error) {
	if !s.opened.Load() {
		return 0, false, nil
	}
	segs, err := s.log.SegmentStats()
	if err != nil {
		return 0, false, fmt.Errorf("partition %d: retention: %w", s.ShardID, err)
	}
	start := s.start.Load()
	var total int64
	for _, seg := range segs {
		total += seg.Size
	}
	target := start
	excess := total - retentionBytes
	for _, seg := range segs[:len(segs)-1] {
		byTime := retentionMs >= 0 && seg.MaxTimestamp < nowMs-retentionMs
		bySize := retentionBytes >= 0 && excess-seg.Size >= 0
		if !byTime && !bySize {
			break
		}
		excess -= seg.Size
		target = max(target, seg.EndOffset)
	}
	return target, target > start, nil
}

// OffsetForLeaderEpoch answers Kafka's OffsetForLeaderEpoch for epoch
// given the current leader epoch: the largest epoch <= epoch that wrote
// data and the offset where the next epoch began (the log end for the
// current epoch), or (-1, -1) when epoch is newer than any known.
func (s *StateMachine) OffsetForLeaderEpoch(epoch, current int32) (int32, int64) {
	return s.epochs.endOffsetFor(epoch, current, s.hw.Load())
}

// EpochHistory lists the leader epochs with the offset each began at.
func (s *StateMachine) EpochHistory() []EpochStart { return s.epochs.list() }

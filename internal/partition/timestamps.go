package partition

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/longboat/longboat/internal/recordbatch"
)

// scanChunk is how much of the log MaxTimestamp reads at a time.
const scanChunk = 1 << 20

// OffsetForTimestamp returns the first record whose timestamp is >= ts and
// that timestamp: the batch is found by its maxTimestamp, then the record
// inside it, decompressing a compressed batch as Kafka does.
func (s *StateMachine) OffsetForTimestamp(ts int64) (offset, timestamp int64, found bool, err error) {
	base, ok, err := s.log.OffsetForTimestamp(ts)
	if err != nil || !ok {
		return -1, -1, false, err
	}
	data, err := s.log.Read(base, 1)
	if err != nil {
		return -1, -1, false, fmt.Errorf("partition %d: read batch at %d: %w", s.ShardID, base, err)
	}
	batch, _, err := recordbatch.Split(data)
	if err != nil {
		return -1, -1, false, nil
	}
	off, at := recordAtOrAfter(batch, ts)
	// DeleteRecords can leave the log start inside a batch: records below
	// it are gone, so the answer is the first one still held.
	return max(off, s.LogStartOffset()), at, true, nil
}

// MaxTimestamp returns the record with the largest timestamp (ListOffsets
// -3), scanning batch headers across the whole log.
func (s *StateMachine) MaxTimestamp() (offset, timestamp int64, found bool, err error) {
	bestTs := int64(math.MinInt64)
	var bestBatch []byte
	for off := s.LogStartOffset(); off < s.HighWatermark(); {
		data, err := s.log.Read(off, scanChunk)
		if err != nil {
			return -1, -1, false, fmt.Errorf("partition %d: scan at %d: %w", s.ShardID, off, err)
		}
		if len(data) == 0 {
			break
		}
		for h, batch := range recordbatch.All(data) {
			if h.MaxTimestamp > bestTs {
				bestTs = h.MaxTimestamp
				bestBatch = append(bestBatch[:0], batch...)
			}
			off = h.LastOffset() + 1
		}
	}
	if bestBatch == nil {
		return -1, -1, false, nil
	}
	off, at := recordAtOrAfter(bestBatch, bestTs)
	return off, at, true, nil
}

// recordAtOrAfter finds the first record of one whole batch with
// timestamp >= ts (with LogAppendTime every record carries the batch's
// maxTimestamp: the first one). A batch whose records cannot be read
// (a codec that does not inflate) answers with its base offset and
// maxTimestamp.
func recordAtOrAfter(batch []byte, ts int64) (offset, timestamp int64) {
	h := recordbatch.ParseHeader(batch)
	base, maxTs, baseTs := h.BaseOffset, h.MaxTimestamp, h.BaseTimestamp
	recs := batch[recordbatch.HeaderSize:]
	if h.Compressed() {
		var err error
		if recs, err = recordbatch.Decompress(h.Codec(), recs); err != nil {
			return base, maxTs
		}
	}
	for len(recs) > 0 {
		length, k := binary.Varint(recs)
		if k <= 0 || length < 0 || int(length) > len(recs)-k {
			break
		}
		rec := recs[k : k+int(length)]
		recs = recs[k+int(length):]
		if len(rec) < 1 {
			break
		}
		tsDelta, a := binary.Varint(rec[1:])
		if a <= 0 {
			break
		}
		offDelta, b := binary.Varint(rec[1+a:])
		if b <= 0 {
			break
		}
		if h.LogAppendTime() {
			return base + offDelta, maxTs
		}
		if baseTs+tsDelta >= ts {
			return base + offDelta, baseTs + tsDelta
		}
	}
	return base, maxTs
}

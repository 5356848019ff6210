// Package partition is the Raft state machine of one topic-partition: it
// assigns offsets to produced batches deterministically, appends them to the
// segmented log byte-for-byte, and snapshots the log so that a replica that
// was away (or is new) catches up.
package partition

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Command types (first byte of a proposal).
const (
	cmdAppend byte = 1
	// cmdAdvanceStart moves the log start offset (retention, DeleteRecords).
	cmdAdvanceStart byte = 2
	// cmdAppendLogTime is cmdAppend for a LogAppendTime topic: each batch's
	// maxTimestamp becomes the proposer's clock reading in the command.
	cmdAppendLogTime byte = 3
	advanceStartSize      = 1 + 8
)

// Record batch v2 header fields the broker reads or writes.
const (
	BatchHeaderSize    = 61
	offBaseOffset      = 0
	offBatchLength     = 8
	offLeaderEpoch     = 12
	offMagic           = 16
	offCRC             = 17
	offAttributes      = 21
	offLastOffsetDelta = 23
	offMaxTimestamp    = 35
	offRecordCount     = 57
	appendHeaderSize   = 1 + 8 + 8
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Batch errors, mapped by the Kafka layer to error codes.
var (
	ErrCorruptBatch       = errors.New("corrupt record batch")
	ErrUnsupportedMessage = errors.New("record batch magic is not 2")
)

// RecordSet summarises a validated produce record set.
type RecordSet struct {
	Records      int  // records in all batches
	Batches      int  // batches in the set
	LargestBatch int  // bytes of the largest batch
	Idempotent   bool // some batch carries a producer id
}

// ValidateBatches checks that b is a sequence of whole v2 record batches
// with correct CRC-32C (over attributes..end, as Kafka defines it).
func ValidateBatches(b []byte) (RecordSet, error) {
	var rs RecordSet
	if len(b) == 0 {
		return rs, fmt.Errorf("%w: empty record set", ErrCorruptBatch)
	}
	for len(b) > 0 {
		// Magic first: an old (v0/v1) message set can be shorter than a v2 header.
		if len(b) > offMagic && b[offMagic] != 2 {
			return rs, fmt.Errorf("%w: magic %d", ErrUnsupportedMessage, b[offMagic])
		}
		if len(b) < BatchHeaderSize {
			return rs, fmt.Errorf("%w: %d trailing bytes are shorter than a batch header", ErrCorruptBatch, len(b))
		}
		n := int64(int32(binary.BigEndian.Uint32(b[offBatchLength:]))) + 12
		if n < BatchHeaderSize || n > int64(len(b)) {
			return rs, fmt.Errorf("%w: batch length %d does not fit the %d bytes sent", ErrCorruptBatch, n, len(b))
		}
		batch := b[:n]
		if crc32.Checksum(batch[offAttributes:], castagnoli) != binary.BigEndian.Uint32(batch[offCRC:]) {
			return rs, fmt.Errorf("%w: CRC-32C mismatch", ErrCorruptBatch)
		}
		delta := int32(binary.BigEndian.Uint32(batch[offLastOffsetDelta:]))
		count := int32(binary.BigEndian.Uint32(batch[offRecordCount:]))
		if delta < 0 || count <= 0 || delta+1 != count {
			return rs, fmt.Errorf("%w: lastOffsetDelta %d with %d records", ErrCorruptBatch, delta, count)
		}
		rs.Records += int(count)
		rs.Batches++
		rs.LargestBatch = max(rs.LargestBatch, int(n))
		if _, _, _, _, ok := idempotence(batch); ok {
			rs.Idempotent = true
		}
		b = b[n:]
	}
	return rs, nil
}

// EncodeAppend builds an append proposal: the batches as the client sent
// them (already validated), the proposer's Raft term (stored as each batch's
// partition leader epoch) and its clock (the producer-expiry clock, and the
// append time stamped on batches when logAppendTime is set).
func EncodeAppend(term uint64, appendTimeMs int64, logAppendTime bool, batches []byte) []byte {
	cmd := make([]byte, appendHeaderSize+len(batches))
	cmd[0] = cmdAppend
	if logAppendTime {
		cmd[0] = cmdAppendLogTime
	}
	binary.BigEndian.PutUint64(cmd[1:], term)
	binary.BigEndian.PutUint64(cmd[9:], uint64(appendTimeMs))
	copy(cmd[appendHeaderSize:], batches)
	return cmd
}

// EncodeAdvanceStart builds a proposal that moves the log start offset up
// to offset (never down, never past the high watermark). The leader decides
// the offset, so every replica applies the same one.
func EncodeAdvanceStart(offset int64) []byte {
	cmd := make([]byte, advanceStartSize)
	cmd[0] = cmdAdvanceStart
	binary.BigEndian.PutUint64(cmd[1:], uint64(offset))
	return cmd
}

// CountRecords sums the record counts of the whole batches in b without
// validating them (for metrics on the fetch path).
func CountRecords(b []byte) int {
	n := 0
	for len(b) >= BatchHeaderSize {
		size := int(int32(binary.BigEndian.Uint32(b[offBatchLength:]))) + 12
		if size < BatchHeaderSize || size > len(b) {
			break
		}
		n += int(int32(binary.BigEndian.Uint32(b[offRecordCount:])))
		b = b[size:]
	}
	return n
}

// Package partition is the Raft state machine of one topic-partition: it
// assigns offsets to produced batches deterministically, appends them to the
// segmented log byte-for-byte, and snapshots the log so that a replica that
// was away (or is new) catches up.
package partition

import "encoding/binary"

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

// appendHeaderSize is the command type, term and clock before an append
// proposal's batches.
const appendHeaderSize = 1 + 8 + 8

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

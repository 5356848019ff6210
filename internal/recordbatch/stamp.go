package recordbatch

import (
	"encoding/binary"
	"hash/crc32"
)

// Stamp is what the broker writes into a batch's header as it appends it.
type Stamp struct {
	BaseOffset  int64
	LeaderEpoch int32 // the partition leader epoch: the Raft term that proposed it
	// LogAppendTime makes AppendTimeMs the batch's maxTimestamp and sets
	// the timestamp-type bit, for a topic with message.timestamp.type
	// LogAppendTime.
	LogAppendTime bool
	AppendTimeMs  int64
}

// Apply returns batch, stamped, as head followed by body, writing only
// into scratch: the batch's own bytes (a replicated proposal) stay as they
// are, and only the header bytes that change are copied. Base offset and
// leader epoch lie before the CRC's range; a LogAppendTime stamp changes
// bytes inside it, so the CRC is then recomputed over the new header and
// the untouched records.
func (st Stamp) Apply(scratch *[HeaderSize]byte, batch []byte) (head, body []byte) {
	head = scratch[:offMagic]
	if st.LogAppendTime {
		head = scratch[:]
	}
	copy(head, batch)
	be := binary.BigEndian
	be.PutUint64(head[offBaseOffset:], uint64(st.BaseOffset))
	be.PutUint32(head[offLeaderEpoch:], uint32(st.LeaderEpoch))
	body = batch[len(head):]
	if st.LogAppendTime {
		be.PutUint16(head[offAttributes:], be.Uint16(head[offAttributes:])|AttrLogAppendTime)
		be.PutUint64(head[offMaxTimestamp:], uint64(st.AppendTimeMs))
		crc := crc32.Update(crc32.Checksum(head[offAttributes:], castagnoli), castagnoli, body)
		be.PutUint32(head[offCRC:], crc)
	}
	return head, body
}

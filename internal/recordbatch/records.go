package recordbatch

import (
	"encoding/binary"
	"fmt"
)

// Record is one record of an uncompressed batch as the log cleaner sees
// it: where it sits, its key and whether its value is null (a tombstone).
type Record struct {
	OffsetDelta int64
	Key         []byte // nil for a null key
	NullValue   bool
	Raw         []byte // the whole record, length prefix included, to copy as is
}

// Records calls fn for each of the count records in recs, the bytes after
// an uncompressed batch's header, until fn returns false. Errors wrap
// ErrCorrupt.
func Records(recs []byte, count int32, fn func(Record) bool) error {
	for i := int32(0); i < count; i++ {
		length, n := binary.Varint(recs)
		if n <= 0 || length < 0 || length > int64(len(recs)-n) {
			return fmt.Errorf("%w: batch claims %d records but its bytes end at record %d", ErrCorrupt, count, i)
		}
		end := n + int(length)
		r, err := parseRecord(recs[n:end])
		if err != nil {
			return fmt.Errorf("%w: record %d: %v", ErrCorrupt, i, err)
		}
		r.Raw = recs[:end]
		if !fn(r) {
			return nil
		}
		recs = recs[end:]
	}
	return nil
}

// parseRecord reads a record body up to its value.
func parseRecord(b []byte) (Record, error) {
	p := recordParser{b: b}
	p.skip(1)  // attributes
	p.varint() // timestamp delta
	r := Record{OffsetDelta: p.varint()}
	if k := p.varint(); p.err == nil && k >= 0 {
		if k > int64(len(p.b)) {
			return r, fmt.Errorf("key length %d", k)
		}
		r.Key, p.b = p.b[:k:k], p.b[k:]
	}
	r.NullValue = p.varint() == -1
	return r, p.err
}

// EmptyBatch returns a batch with h's offsets, timestamps, producer fields
// and attributes but no records, as Kafka's cleaner keeps in place of a
// batch whose records it all removed when the batch must stay (the last of
// its producer, or of a segment so that the segment still ends where it did).
// It is uncompressed, as Kafka writes it: no records, nothing to inflate.
func EmptyBatch(h Header) []byte {
	h.Attributes &^= AttrCompression
	b := make([]byte, HeaderSize)
	return FinishBatch(b, h, 0)
}

// FinishBatch fills the header of b (HeaderSize bytes followed by records
// copied from a batch with header h) for records records, keeping h's base
// and last offsets, and sets its length and CRC.
func FinishBatch(b []byte, h Header, records int32) []byte {
	be := binary.BigEndian
	be.PutUint64(b[offBaseOffset:], uint64(h.BaseOffset))
	be.PutUint32(b[offBatchLength:], uint32(len(b)-LengthPrefix))
	be.PutUint32(b[offLeaderEpoch:], uint32(h.LeaderEpoch))
	b[offMagic] = Magic
	be.PutUint16(b[offAttributes:], uint16(h.Attributes))
	be.PutUint32(b[offLastOffsetDelta:], uint32(h.LastOffsetDelta))
	be.PutUint64(b[offBaseTimestamp:], uint64(h.BaseTimestamp))
	be.PutUint64(b[offMaxTimestamp:], uint64(h.MaxTimestamp))
	be.PutUint64(b[offProducerID:], uint64(h.ProducerID))
	be.PutUint16(b[offProducerEpoch:], uint16(h.ProducerEpoch))
	be.PutUint32(b[offBaseSequence:], uint32(h.BaseSequence))
	be.PutUint32(b[offRecordCount:], uint32(records))
	SetCRC(b)
	return b
}

package recordbatch

import (
	"encoding/binary"
	"fmt"
)

// Transaction markers (KIP-98): a control batch that ends a producer's
// transaction in one partition. Its one record's key is a version (0) and
// the control type; its value is a version (0) and the coordinator epoch.
const (
	ControlAbort  int16 = 0
	ControlCommit int16 = 1
)

// Transactional reports whether the batch belongs to a transaction.
func (h Header) Transactional() bool { return h.Attributes&AttrTransactional != 0 }

// Control reports whether the batch is a control batch (a marker).
func (h Header) Control() bool { return h.Attributes&AttrControl != 0 }

// Marker describes one transaction marker to write.
type Marker struct {
	ProducerID       int64
	ProducerEpoch    int16
	Commit           bool
	CoordinatorEpoch int32
	TimestampMs      int64
}

// markerRecord is the one record of a marker batch: length, attributes,
// timestamp delta 0, offset delta 0, a 4-byte key, a 6-byte value and no
// headers, each length a zigzag varint as Kafka's record format has it.
const markerRecordBody = 1 + 1 + 1 + 1 + 4 + 1 + 6 + 1

// MarkerBatch builds the control batch of m with base offset 0 and leader
// epoch 0 (the append stamps both) and its CRC set. Kafka writes markers
// with no sequence, so the batch is not idempotent.
func MarkerBatch(m Marker) []byte {
	b := make([]byte, HeaderSize+1+markerRecordBody)
	be := binary.BigEndian
	be.PutUint32(b[offBatchLength:], uint32(len(b)-LengthPrefix))
	b[offMagic] = Magic
	be.PutUint16(b[offAttributes:], AttrControl|AttrTransactional)
	be.PutUint64(b[offBaseTimestamp:], uint64(m.TimestampMs))
	be.PutUint64(b[offMaxTimestamp:], uint64(m.TimestampMs))
	be.PutUint64(b[offProducerID:], uint64(m.ProducerID))
	be.PutUint16(b[offProducerEpoch:], uint16(m.ProducerEpoch))
	be.PutUint32(b[offBaseSequence:], 0xffffffff) // -1: no sequence
	be.PutUint32(b[offRecordCount:], 1)
	r := b[HeaderSize:]
	r[0] = byte(markerRecordBody << 1) // zigzag varint of the record length
	// attributes, timestamp delta and offset delta are 0
	r[4] = 4 << 1 // key length
	ctype := ControlAbort
	if m.Commit {
		ctype = ControlCommit
	}
	be.PutUint16(r[5:], 0)
	be.PutUint16(r[7:], uint16(ctype))
	r[9] = 6 << 1 // value length
	be.PutUint16(r[10:], 0)
	be.PutUint32(r[12:], uint32(m.CoordinatorEpoch))
	r[16] = 0 // no headers
	SetCRC(b)
	return b
}

// ParseMarker reads the control type and coordinator epoch of a marker
// batch as MarkerBatch writes it (and as Kafka does).
func ParseMarker(batch []byte) (ctype int16, coordinatorEpoch int32, err error) {
	if len(batch) < HeaderSize+1+markerRecordBody {
		return 0, 0, fmt.Errorf("%w: control batch of %d bytes", ErrCorrupt, len(batch))
	}
	h := ParseHeader(batch)
	r := batch[HeaderSize:]
	if !h.Control() || h.Records != 1 || r[4] != 4<<1 || r[9] != 6<<1 {
		return 0, 0, fmt.Errorf("%w: not a transaction marker", ErrCorrupt)
	}
	be := binary.BigEndian
	return int16(be.Uint16(r[7:])), int32(be.Uint32(r[12:])), nil
}

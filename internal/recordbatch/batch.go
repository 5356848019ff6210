// Package recordbatch is the Kafka v2 record-batch format: where the header
// fields sit, how long a batch is, its CRC-32C, walking concatenated
// batches with bounds checks, validating what a client sends, and the
// header fields the broker rewrites when it appends a batch. Every other
// package reads and writes batch headers through it.
package recordbatch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
)

// HeaderSize is the fixed size of a v2 batch header; the records follow it.
const HeaderSize = 61

// LengthPrefix is how many bytes precede and include the batchLength
// field, which counts everything after them: a batch is batchLength plus
// LengthPrefix bytes long.
const LengthPrefix = 12

// Header field offsets (KIP-98 v2 layout).
const (
	offBaseOffset      = 0
	offBatchLength     = 8
	offLeaderEpoch     = 12
	offMagic           = 16
	offCRC             = 17
	offAttributes      = 21 // the CRC covers the batch from here to its end
	offLastOffsetDelta = 23
	offBaseTimestamp   = 27
	offMaxTimestamp    = 35
	offProducerID      = 43
	offProducerEpoch   = 51
	offBaseSequence    = 53
	offRecordCount     = 57
)

// Attribute bits.
const (
	AttrCompression   = 0x07 // codec: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd
	AttrLogAppendTime = 0x08 // timestamp type
	AttrTransactional = 0x10 // written inside a transaction (KIP-98)
	AttrControl       = 0x20 // a transaction marker, written only by brokers
)

// Magic is the only batch format the broker stores.
const Magic = 2

var (
	// ErrCorrupt marks bytes that are not a well-formed batch, as opposed
	// to a failure to read them.
	ErrCorrupt = errors.New("corrupt record batch")
	// ErrUnsupportedMagic marks a batch (or a legacy message set) whose
	// magic is not 2.
	ErrUnsupportedMagic = errors.New("record batch magic is not 2")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Header is a v2 batch header.
type Header struct {
	BaseOffset      int64
	Length          int64 // whole batch: batchLength plus LengthPrefix
	LeaderEpoch     int32
	Magic           int8
	CRC             uint32
	Attributes      int16
	LastOffsetDelta int32
	BaseTimestamp   int64
	MaxTimestamp    int64
	ProducerID      int64
	ProducerEpoch   int16
	BaseSequence    int32
	Records         int32
}

// ParseHeader decodes the header at the start of b, which must hold at
// least HeaderSize bytes. It checks nothing: see Check.
func ParseHeader(b []byte) Header {
	be := binary.BigEndian
	_ = b[HeaderSize-1]
	return Header{
		BaseOffset:      int64(be.Uint64(b[offBaseOffset:])),
		Length:          length(b),
		LeaderEpoch:     int32(be.Uint32(b[offLeaderEpoch:])),
		Magic:           int8(b[offMagic]),
		CRC:             be.Uint32(b[offCRC:]),
		Attributes:      int16(be.Uint16(b[offAttributes:])),
		LastOffsetDelta: int32(be.Uint32(b[offLastOffsetDelta:])),
		BaseTimestamp:   int64(be.Uint64(b[offBaseTimestamp:])),
		MaxTimestamp:    int64(be.Uint64(b[offMaxTimestamp:])),
		ProducerID:      int64(be.Uint64(b[offProducerID:])),
		ProducerEpoch:   int16(be.Uint16(b[offProducerEpoch:])),
		BaseSequence:    int32(be.Uint32(b[offBaseSequence:])),
		Records:         int32(be.Uint32(b[offRecordCount:])),
	}
}

// length returns the whole size of the batch starting at b, which needs
// only LengthPrefix bytes. A negative batchLength gives a result below
// HeaderSize, which every caller rejects.
func length(b []byte) int64 {
	return int64(int32(binary.BigEndian.Uint32(b[offBatchLength:]))) + LengthPrefix
}

// LastOffset is the offset of the batch's last record.
func (h Header) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// Compressed reports whether the records are compressed.
func (h Header) Compressed() bool { return h.Attributes&AttrCompression != 0 }

// LogAppendTime reports whether the timestamp type is LogAppendTime: every
// record's timestamp is then the batch's MaxTimestamp.
func (h Header) LogAppendTime() bool { return h.Attributes&AttrLogAppendTime != 0 }

// Idempotent reports whether the batch carries a producer id and sequence,
// which is what makes the broker deduplicate it.
func (h Header) Idempotent() bool { return h.ProducerID >= 0 && h.BaseSequence >= 0 }

// Check rejects headers whose length, magic or offsets would send position
// or offset arithmetic astray; errors wrap ErrCorrupt.
func (h Header) Check() error {
	switch {
	case h.Length < HeaderSize:
		return fmt.Errorf("%w: length %d is shorter than the %d-byte header", ErrCorrupt, h.Length, HeaderSize)
	case h.Magic != Magic:
		return fmt.Errorf("%w: magic %d, want %d", ErrCorrupt, h.Magic, Magic)
	case h.BaseOffset < 0:
		return fmt.Errorf("%w: negative base offset %d", ErrCorrupt, h.BaseOffset)
	case h.LastOffsetDelta < 0:
		return fmt.Errorf("%w: negative last offset delta %d", ErrCorrupt, h.LastOffsetDelta)
	case h.BaseOffset > math.MaxInt64-1-int64(h.LastOffsetDelta):
		return fmt.Errorf("%w: offsets overflow after base offset %d", ErrCorrupt, h.BaseOffset)
	}
	return nil
}

// ValidCRC reports whether a whole batch's CRC-32C (Castagnoli, over
// attributes to the end, as Kafka defines it) matches its contents.
func ValidCRC(batch []byte) bool {
	return len(batch) >= HeaderSize && crc32.Checksum(batch[offAttributes:], castagnoli) == binary.BigEndian.Uint32(batch[offCRC:])
}

// SetCRC computes a whole batch's CRC-32C and stores it in the header.
func SetCRC(batch []byte) {
	binary.BigEndian.PutUint32(batch[offCRC:], crc32.Checksum(batch[offAttributes:], castagnoli))
}

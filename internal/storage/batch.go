package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"os"
)

// headerSize is the fixed size of a Kafka v2 record batch header.
const headerSize = 61

// lengthPrefix is how many bytes precede and include batchLength; the
// batchLength field counts everything after them.
const lengthPrefix = 12

// errCorrupt marks data that is not a well-formed batch, as opposed to an I/O
// failure: recovery cuts the active segment at corrupt data but must not do
// so because a read failed.
var errCorrupt = errors.New("corrupt record batch")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// header holds the v2 batch header fields storage relies on.
type header struct {
	baseOffset      int64
	length          int64 // whole batch, batchLength plus lengthPrefix
	magic           int8
	lastOffsetDelta int32
	maxTimestamp    int64
}

func parseHeader(b []byte) header {
	return header{
		baseOffset:      int64(binary.BigEndian.Uint64(b[0:8])),
		length:          batchLength(b),
		magic:           int8(b[16]),
		lastOffsetDelta: int32(binary.BigEndian.Uint32(b[23:27])),
		maxTimestamp:    int64(binary.BigEndian.Uint64(b[35:43])),
	}
}

// batchLength returns the whole size of the batch starting at b, which needs
// only lengthPrefix bytes.
func batchLength(b []byte) int64 {
	return int64(int32(binary.BigEndian.Uint32(b[8:12]))) + lengthPrefix
}

func (h header) lastOffset() int64 { return h.baseOffset + int64(h.lastOffsetDelta) }

// check rejects headers whose lengths or offsets would send position or
// offset arithmetic astray.
func (h header) check() error {
	switch {
	case h.length < headerSize:
		return fmt.Errorf("%w: length %d is shorter than the %d-byte header", errCorrupt, h.length, headerSize)
	case h.magic != 2:
		return fmt.Errorf("%w: magic %d, want 2", errCorrupt, h.magic)
	case h.baseOffset < 0:
		return fmt.Errorf("%w: negative base offset %d", errCorrupt, h.baseOffset)
	case h.lastOffsetDelta < 0:
		return fmt.Errorf("%w: negative last offset delta %d", errCorrupt, h.lastOffsetDelta)
	case h.baseOffset > math.MaxInt64-1-int64(h.lastOffsetDelta):
		return fmt.Errorf("%w: offsets overflow after base offset %d", errCorrupt, h.baseOffset)
	}
	return nil
}

// readHeader reads and checks the header of the batch at pos, which together
// with its body must end at or before limit.
func readHeader(f *os.File, pos, limit int64) (header, error) {
	if limit-pos < headerSize {
		return header{}, fmt.Errorf("%w: %d bytes left at position %d, too few for a header", errCorrupt, limit-pos, pos)
	}
	var b [headerSize]byte
	if _, err := f.ReadAt(b[:], pos); err != nil {
		return header{}, fmt.Errorf("read batch header at position %d: %w", pos, err)
	}
	h := parseHeader(b[:])
	if err := h.check(); err != nil {
		return header{}, fmt.Errorf("batch at position %d: %w", pos, err)
	}
	if pos+h.length > limit {
		return header{}, fmt.Errorf("%w: batch at position %d runs %d bytes past the end", errCorrupt, pos, pos+h.length-limit)
	}
	return h, nil
}

// crcValid reports whether a whole batch's CRC-32C matches its contents.
func crcValid(batch []byte) bool {
	return crc32.Checksum(batch[21:], castagnoli) == binary.BigEndian.Uint32(batch[17:21])
}

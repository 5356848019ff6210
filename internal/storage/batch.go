package storage

import (
	"fmt"
	"os"

	"github.com/longboat/longboat/internal/recordbatch"
)

// readHeader reads and checks the header of the batch at pos, which together
// with its body must end at or before limit. Errors about the bytes read
// wrap recordbatch.ErrCorrupt; a failed read does not, so that recovery
// cuts the active segment only at corrupt data.
func readHeader(f *os.File, pos, limit int64) (recordbatch.Header, error) {
	if limit-pos < recordbatch.HeaderSize {
		return recordbatch.Header{}, fmt.Errorf("%w: %d bytes left at position %d, too few for a header", recordbatch.ErrCorrupt, limit-pos, pos)
	}
	var b [recordbatch.HeaderSize]byte
	if _, err := f.ReadAt(b[:], pos); err != nil {
		return recordbatch.Header{}, fmt.Errorf("read batch header at position %d: %w", pos, err)
	}
	h := recordbatch.ParseHeader(b[:])
	if err := h.Check(); err != nil {
		return recordbatch.Header{}, fmt.Errorf("batch at position %d: %w", pos, err)
	}
	if pos+h.Length > limit {
		return recordbatch.Header{}, fmt.Errorf("%w: batch at position %d runs %d bytes past the end", recordbatch.ErrCorrupt, pos, pos+h.Length-limit)
	}
	return h, nil
}

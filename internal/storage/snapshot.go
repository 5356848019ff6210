package storage

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/longboat/longboat/internal/recordbatch"
)

// Snapshot is the log's batches as they stood when Log.Snapshot was
// called. It holds its own handles on the segment files, so appends,
// retention unlinking a segment, or a Reset of the log do not change what
// WriteTo streams. Close it when done.
type Snapshot struct {
	StartOffset int64 // base offset of the first batch
	NextOffset  int64 // offset after the last batch
	files       []*os.File
	segs        []*segment // pinned: their files are not truncated while streamed
	sizes       []int64
	bases       []int64
	indexes     [][]indexEntry
	skip        int64 // bytes of files[0] before StartOffset
}

// Snapshot pins the log's current batches for streaming with WriteTo.
func (l *Log) Snapshot() (*Snapshot, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return nil, errClosed
	}
	if len(l.segs) == 0 {
		return nil, errors.New("snapshot: the log has no segments")
	}
	snap := &Snapshot{StartOffset: l.startOffset(), NextOffset: l.nextOffset()}
	for _, s := range l.segs {
		f, err := os.Open(s.logPath)
		if err != nil {
			snap.Close()
			return nil, fmt.Errorf("snapshot: %w", err)
		}
		snap.files = append(snap.files, f)
		snap.segs = append(snap.segs, s)
		s.pins.Add(1)
		snap.sizes = append(snap.sizes, s.size)
		snap.bases = append(snap.bases, s.base)
		// A copy: TruncateTo may rewrite the live index in place.
		snap.indexes = append(snap.indexes, append([]indexEntry(nil), s.index...))
	}
	return snap, nil
}

// locate returns the file and position of the batch containing offset,
// which must lie in [StartOffset, NextOffset), with its header.
func (s *Snapshot) locate(offset int64) (int, int64, recordbatch.Header, error) {
	if offset < s.StartOffset || offset >= s.NextOffset {
		return 0, 0, recordbatch.Header{}, fmt.Errorf("%w: %d is outside the snapshot's [%d, %d)", ErrOffsetOutOfRange, offset, s.StartOffset, s.NextOffset)
	}
	k := sort.Search(len(s.bases), func(i int) bool { return s.bases[i] > offset }) - 1
	idx := s.indexes[k]
	i := sort.Search(len(idx), func(i int) bool { return s.bases[k]+int64(idx[i].rel) > offset })
	var pos int64
	if i > 0 {
		pos = int64(idx[i-1].pos)
	}
	if k == 0 {
		pos = max(pos, s.skip)
	}
	for pos < s.sizes[k] {
		h, err := readHeader(s.files[k], pos, s.sizes[k])
		if err != nil {
			return 0, 0, recordbatch.Header{}, fmt.Errorf("snapshot %s: %w", s.files[k].Name(), err)
		}
		if h.LastOffset() >= offset {
			return k, pos, h, nil
		}
		pos += h.Length
	}
	return 0, 0, recordbatch.Header{}, fmt.Errorf("snapshot %s: offset %d: %w", s.files[k].Name(), offset, errPastLastBatch)
}

// BatchHeaderBefore returns the header bytes of the batch that ends just
// before offset, which must be a batch boundary above StartOffset.
func (s *Snapshot) BatchHeaderBefore(offset int64) ([]byte, error) {
	k, pos, h, err := s.locate(offset - 1)
	if err != nil {
		return nil, err
	}
	if h.LastOffset()+1 != offset {
		return nil, fmt.Errorf("snapshot: offset %d is inside batch %d..%d", offset, h.BaseOffset, h.LastOffset())
	}
	b := make([]byte, recordbatch.HeaderSize)
	if _, err := s.files[k].ReadAt(b, pos); err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", s.files[k].Name(), err)
	}
	return b, nil
}

// From narrows the snapshot to the batches from offset on, which must be a
// batch boundary in [StartOffset, NextOffset].
func (s *Snapshot) From(offset int64) error {
	if offset == s.StartOffset {
		return nil
	}
	k, pos, err := s.position(offset)
	if err != nil {
		return err
	}
	for i, f := range s.files[:k] {
		_ = f.Close() // opened read-only: nothing to lose
		s.segs[i].pins.Add(-1)
	}
	s.files, s.segs, s.sizes, s.bases, s.indexes = s.files[k:], s.segs[k:], s.sizes[k:], s.bases[k:], s.indexes[k:]
	s.skip, s.StartOffset = pos, offset
	return nil
}

// SizeFrom is how many bytes WriteTo writes after From(offset).
func (s *Snapshot) SizeFrom(offset int64) (int64, error) {
	k, pos, err := s.position(offset)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, size := range s.sizes[k:] {
		n += size
	}
	return n - pos, nil
}

// position is the file and the position in it where a stream from offset,
// a batch boundary in [StartOffset, NextOffset], starts.
func (s *Snapshot) position(offset int64) (int, int64, error) {
	switch offset {
	case s.StartOffset:
		return 0, s.skip, nil
	case s.NextOffset:
		return len(s.files) - 1, s.sizes[len(s.files)-1], nil
	}
	k, pos, h, err := s.locate(offset)
	switch {
	case errors.Is(err, errPastLastBatch):
		// In the gap at the end of a cleaned segment: from the next.
		return sort.Search(len(s.bases), func(i int) bool { return s.bases[i] > offset }), 0, nil
	case err != nil:
		return 0, 0, err
	case h.BaseOffset < offset:
		return 0, 0, fmt.Errorf("snapshot: offset %d is inside batch %d..%d", offset, h.BaseOffset, h.LastOffset())
	}
	// A batch starting past offset follows a gap cleaning left; the
	// stream starts there and the receiver appends across the gap.
	return k, pos, nil
}

// ErrSnapshotShrunk is WriteTo's error when a pinned segment file became
// shorter than when it was pinned: TruncateTo cut it in place (a snapshot
// install on this replica). The stream would end short of NextOffset; the
// log itself is intact.
var ErrSnapshotShrunk = errors.New("storage: a pinned segment shrank while it was streamed")

// WriteTo writes the pinned batches to w, oldest first, exactly as they
// are stored: concatenated, with nothing between them. It fails with
// ErrSnapshotShrunk rather than end early when a segment was cut under it.
func (s *Snapshot) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for i, f := range s.files {
		var from int64
		if i == 0 {
			from = s.skip
		}
		n, err := io.Copy(w, io.NewSectionReader(f, from, s.sizes[i]-from))
		total += n
		if err != nil {
			return total, fmt.Errorf("snapshot segment %s: %w", f.Name(), err)
		}
		if n != s.sizes[i]-from {
			return total, fmt.Errorf("snapshot segment %s: %d of %d bytes from position %d: %w", f.Name(), n, s.sizes[i]-from, from, ErrSnapshotShrunk)
		}
	}
	return total, nil
}

// Close releases the segment files.
func (s *Snapshot) Close() {
	for i, f := range s.files {
		_ = f.Close() // opened read-only: nothing to lose
		s.segs[i].pins.Add(-1)
	}
	s.files, s.segs = nil, nil
}

// Restore replaces the whole log with the batches read from r, as a
// Snapshot's WriteTo wrote them, starting at startOffset and up to
// nextOffset; r may go on past them. Like Append it checks each batch's
// header but not its CRC. Nothing is fsynced: call Sync.
func (l *Log) Restore(r io.Reader, startOffset, nextOffset int64) error {
	if err := l.Reset(startOffset); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	return l.Extend(r, nextOffset)
}

// Extend appends the batches read from r, as a Snapshot's WriteTo wrote
// them, until the log ends at nextOffset; the first must start at
// NextOffset. Like Append it checks each batch's header but not its CRC.
// Nothing is fsynced: call Sync.
func (l *Log) Extend(r io.Reader, nextOffset int64) error {
	var buf []byte
	for next := l.NextOffset(); next < nextOffset; next = l.NextOffset() {
		batch, err := recordbatch.Read(r, buf)
		if err != nil {
			return fmt.Errorf("restore batch at offset %d: %w", next, err)
		}
		// A cleaned log has gaps between batches.
		if err := l.appendParts(batch, nil, true); err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		buf = batch
	}
	return l.sealGaps()
}

// sealGaps rolls an active segment that got gaps from Extend: recovery
// takes a gap in the active segment for damage.
func (l *Log) sealGaps() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || !l.active().gaps {
		return nil
	}
	if err := l.roll(); err != nil {
		return fmt.Errorf("restore: seal segment with gaps: %w", err)
	}
	return nil
}

// BatchHeaderBefore returns the header bytes of the batch that ends just
// before offset, which must be a batch boundary above StartOffset.
func (l *Log) BatchHeaderBefore(offset int64) ([]byte, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return nil, errClosed
	}
	if offset <= l.startOffset() || offset > l.nextOffset() {
		return nil, fmt.Errorf("%w: no batch ends at %d in [%d, %d]", ErrOffsetOutOfRange, offset, l.startOffset(), l.nextOffset())
	}
	s := l.segs[l.segmentIndex(offset-1)]
	pos, h, err := s.locate(offset - 1)
	if err != nil {
		return nil, fmt.Errorf("batch before offset %d: %w", offset, err)
	}
	if h.LastOffset()+1 != offset {
		return nil, fmt.Errorf("batch before offset %d: offset is inside batch %d..%d", offset, h.BaseOffset, h.LastOffset())
	}
	b := make([]byte, recordbatch.HeaderSize)
	if _, err := s.f.ReadAt(b, pos); err != nil {
		return nil, fmt.Errorf("batch before offset %d: %w", offset, err)
	}
	return b, nil
}

package storage

import (
	"errors"
	"fmt"
	"io"
	"os"

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
	sizes       []int64
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
		snap.sizes = append(snap.sizes, s.size)
	}
	return snap, nil
}

// WriteTo writes the pinned batches to w, oldest first, exactly as they
// are stored: concatenated, with nothing between them.
func (s *Snapshot) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for i, f := range s.files {
		n, err := io.Copy(w, io.NewSectionReader(f, 0, s.sizes[i]))
		total += n
		if err != nil {
			return total, fmt.Errorf("snapshot segment %s: %w", f.Name(), err)
		}
	}
	return total, nil
}

// Close releases the segment files.
func (s *Snapshot) Close() {
	for _, f := range s.files {
		_ = f.Close() // opened read-only: nothing to lose
	}
	s.files = nil
}

// Restore replaces the whole log with the batches read from r, as a
// Snapshot's WriteTo wrote them, starting at startOffset and up to
// nextOffset; r may go on past them. Like Append it checks each batch's
// header but not its CRC. Nothing is fsynced: call Sync.
func (l *Log) Restore(r io.Reader, startOffset, nextOffset int64) error {
	if err := l.Reset(startOffset); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	var buf []byte
	for next := startOffset; next < nextOffset; next = l.NextOffset() {
		batch, err := recordbatch.Read(r, buf)
		if err != nil {
			return fmt.Errorf("restore batch at offset %d: %w", next, err)
		}
		if err := l.Append(batch); err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		buf = batch
	}
	return nil
}

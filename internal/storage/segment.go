package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"sync/atomic"

	"github.com/longboat/longboat/internal/recordbatch"
)

const indexEntrySize = 8

// errPastLastBatch: the offset lies after a segment's last batch, in the
// gap a cleaned (or cut) sealed segment may end with.
var errPastLastBatch = errors.New("offset after the segment's last batch")

// indexEntry maps a batch base offset to where the batch starts in its
// segment. Both are 32-bit, so segments are rolled before either overflows.
type indexEntry struct {
	rel uint32 // base offset minus segment base
	pos uint32
}

// segment is one <base>.log file and its sparse index. Fields other than the
// timestamp bound change only under Log.mu held for writing, or, for
// persisted, under Log.syncMu plus the read lock.
type segment struct {
	base      int64
	logPath   string
	indexPath string
	f         *os.File

	size       int64 // bytes of accepted batches; readers never look further
	next       int64 // offset after the last batch
	index      []indexEntry
	persisted  int   // leading index entries already in the index file
	sinceIndex int64 // log bytes from the last index entry's batch (or position 0) to size

	// When tsKnown, no batch's maxTimestamp exceeds maxTs. Segments opened
	// from disk learn the bound lazily so that Open need not read every
	// header; atomics because OffsetForTimestamp fills it in under the read lock.
	maxTs   atomic.Int64
	tsKnown atomic.Bool

	// firstTs is the first batch's maxTimestamp (segment.ms rolls on it),
	// valid when firstTsKnown; both change only under Log.mu held for writing.
	firstTs      int64
	firstTsKnown bool

	gaps bool // a batch was appended past the offset after the one before

	writtenBack int64 // bytes before this were handed to the kernel's writeback

	pins atomic.Int32 // Snapshots holding the file open
}

// writebackBytes is how much a segment accumulates before its writeback is
// started. A partition's log is durable through the Raft log and fsynced
// only at a Raft snapshot or when a segment rolls; left to the kernel, the
// megabytes written since would all be flushed by that fsync, a burst that
// stalls every other fsync sharing the disk, the Raft log's included.
const writebackBytes = 1 << 20

func newSegment(dir string, base int64) *segment {
	name := fmt.Sprintf("%020d", base)
	return &segment{
		base:      base,
		logPath:   filepath.Join(dir, name+".log"),
		indexPath: filepath.Join(dir, name+".index"),
		next:      base,
	}
}

func createSegment(dir string, base int64) (*segment, error) {
	s := newSegment(dir, base)
	f, err := os.OpenFile(s.logPath, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create segment: %w", err)
	}
	s.f = f
	s.setTimestampBound(math.MinInt64)
	return s, nil
}

func openSegment(dir string, base int64) (*segment, error) {
	s := newSegment(dir, base)
	f, err := os.OpenFile(s.logPath, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("open segment: %w", err)
	}
	s.f = f
	return s, nil
}

func (s *segment) setTimestampBound(ts int64) {
	s.maxTs.Store(ts)
	s.tsKnown.Store(true)
}

// track accounts for a batch accepted at pos, adding an index entry once
// interval bytes have gone by since the previous one.
func (s *segment) track(pos int64, h recordbatch.Header, interval int64) {
	if s.sinceIndex >= interval {
		s.index = append(s.index, indexEntry{rel: uint32(h.BaseOffset - s.base), pos: uint32(pos)})
		s.sinceIndex = 0
	}
	s.sinceIndex += h.Length
	if pos == 0 {
		s.firstTs, s.firstTsKnown = h.MaxTimestamp, true
	}
	s.size = pos + h.Length
	s.next = h.LastOffset() + 1
	if s.tsKnown.Load() && h.MaxTimestamp > s.maxTs.Load() {
		s.maxTs.Store(h.MaxTimestamp)
	}
}

// write puts a batch at the end of the segment with plain pwrites so that
// readers see it as soon as size moves past it.
func (s *segment) write(head, body []byte) error {
	_, err := s.f.WriteAt(head, s.size)
	if err == nil && len(body) > 0 {
		_, err = s.f.WriteAt(body, s.size+int64(len(head)))
	}
	if err != nil {
		// Drop a partial batch so the file holds nothing past size for a
		// later recovery to judge.
		return errors.Join(fmt.Errorf("write batch to %s: %w", s.logPath, err), s.f.Truncate(s.size))
	}
	s.writtenBack = min(s.writtenBack, s.size) // the log was cut back since
	if end := s.size + int64(len(head)) + int64(len(body)); end-s.writtenBack >= writebackBytes {
		startWriteback(s.f, s.writtenBack, end-s.writtenBack)
		s.writtenBack = end
	}
	return nil
}

// locate returns the position and header of the batch containing offset,
// starting from the nearest index entry and reading only headers.
func (s *segment) locate(offset int64) (int64, recordbatch.Header, error) {
	i := sort.Search(len(s.index), func(i int) bool { return s.base+int64(s.index[i].rel) > offset })
	var pos int64
	if i > 0 {
		pos = int64(s.index[i-1].pos)
	}
	for pos < s.size {
		h, err := readHeader(s.f, pos, s.size)
		if err != nil {
			return 0, recordbatch.Header{}, fmt.Errorf("%s: %w", s.logPath, err)
		}
		if h.LastOffset() >= offset {
			return pos, h, nil
		}
		pos += h.Length
	}
	return 0, recordbatch.Header{}, fmt.Errorf("%s: offset %d: %w", s.logPath, offset, errPastLastBatch)
}

// maxTimestamp returns the largest batch maxTimestamp in the segment
// (math.MinInt64 when empty), scanning headers once if it is not known.
func (s *segment) maxTimestamp() (int64, error) {
	if s.tsKnown.Load() {
		return s.maxTs.Load(), nil
	}
	highest := int64(math.MinInt64)
	for pos := int64(0); pos < s.size; {
		h, err := readHeader(s.f, pos, s.size)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", s.logPath, err)
		}
		highest = max(highest, h.MaxTimestamp)
		pos += h.Length
	}
	s.setTimestampBound(highest)
	return highest, nil
}

// firstTimestamp returns the first batch's maxTimestamp; ok is false for
// an empty segment.
func (s *segment) firstTimestamp() (ts int64, ok bool, err error) {
	if s.size == 0 {
		return 0, false, nil
	}
	if !s.firstTsKnown {
		h, err := readHeader(s.f, 0, s.size)
		if err != nil {
			return 0, false, fmt.Errorf("%s: %w", s.logPath, err)
		}
		s.firstTs, s.firstTsKnown = h.MaxTimestamp, true
	}
	return s.firstTs, true, nil
}

// findTimestamp returns the base offset of the first batch whose
// maxTimestamp is at least ts.
func (s *segment) findTimestamp(ts int64) (int64, bool, error) {
	if s.tsKnown.Load() && s.maxTs.Load() < ts {
		return 0, false, nil
	}
	highest := int64(math.MinInt64)
	for pos := int64(0); pos < s.size; {
		h, err := readHeader(s.f, pos, s.size)
		if err != nil {
			return 0, false, fmt.Errorf("%s: %w", s.logPath, err)
		}
		if h.MaxTimestamp >= ts {
			return h.BaseOffset, true, nil
		}
		highest = max(highest, h.MaxTimestamp)
		pos += h.Length
	}
	s.setTimestampBound(highest)
	return 0, false, nil
}

// writeIndex brings the index file up to date with s.index: it appends the
// entries not yet written, or replaces the file when rewrite is set or when
// nothing has been written yet (a stale file of that name may exist).
func (s *segment) writeIndex(rewrite, durable bool) error {
	if !rewrite && !durable && s.persisted == len(s.index) {
		return nil
	}
	flag := os.O_WRONLY | os.O_CREATE
	if rewrite || s.persisted == 0 {
		flag |= os.O_TRUNC
		s.persisted = 0
	}
	f, err := os.OpenFile(s.indexPath, flag, 0o644)
	if err != nil {
		return fmt.Errorf("open index: %w", err)
	}
	buf := make([]byte, 0, (len(s.index)-s.persisted)*indexEntrySize)
	for _, e := range s.index[s.persisted:] {
		buf = binary.BigEndian.AppendUint32(buf, e.rel)
		buf = binary.BigEndian.AppendUint32(buf, e.pos)
	}
	_, err = f.WriteAt(buf, int64(s.persisted)*indexEntrySize)
	if err == nil && durable {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write index %s: %w", s.indexPath, err)
	}
	s.persisted = len(s.index)
	return nil
}

// cut removes everything from pos (a batch boundary, holding offset) on,
// from both the file and the index.
func (s *segment) cut(pos, offset int64, durable bool) error {
	if err := s.f.Truncate(pos); err != nil {
		return fmt.Errorf("truncate segment: %w", err)
	}
	s.size, s.next = pos, offset
	i := sort.Search(len(s.index), func(i int) bool { return int64(s.index[i].pos) >= pos })
	s.index = s.index[:i]
	s.sinceIndex = pos
	if i > 0 {
		s.sinceIndex = pos - int64(s.index[i-1].pos)
	}
	// A non-empty remainder keeps the old timestamp bound: still an upper
	// bound, and OffsetForTimestamp tightens it when it next scans.
	if pos == 0 {
		s.setTimestampBound(math.MinInt64)
		s.firstTsKnown = false
	}
	if durable {
		if err := s.f.Sync(); err != nil {
			return fmt.Errorf("sync segment %s: %w", s.logPath, err)
		}
	}
	if s.persisted > len(s.index) {
		return s.writeIndex(true, durable)
	}
	return nil
}

// remove deletes the segment's files, the index first so that a crash in
// between leaves a log that merely needs its index rebuilt. The log file
// goes to bin when there is one.
func (s *segment) remove(bin Trash) error {
	if err := os.Remove(s.indexPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove index: %w", err)
	}
	remove := os.Remove
	if bin != nil {
		remove = func(path string) error { return bin.Take(path, func() bool { return s.pins.Load() > 0 }) }
	}
	if err := remove(s.logPath); err != nil {
		return fmt.Errorf("remove segment: %w", err)
	}
	// The file is unlinked: a close error cannot lose anything still needed.
	_ = s.f.Close()
	return nil
}

// recover rebuilds the in-memory state from the files. Index entries are
// trusted up to the first one that is out of order or points past the end
// of the log, and the last must point at a batch carrying the offset it
// claims; the segment is then scanned from that entry's batch to the end.
// The active segment's scan also checks CRCs and offset continuity and cuts
// the file at the first bad batch, returning how many bytes went. A sealed
// segment was fsynced when it was rolled, so a bad batch there is an error.
func (s *segment) recover(active bool, interval int64) (int64, error) {
	fi, err := s.f.Stat()
	if err != nil {
		return 0, fmt.Errorf("stat segment: %w", err)
	}
	fileSize := fi.Size()
	if fileSize > math.MaxUint32 {
		return 0, fmt.Errorf("segment %s: %d bytes is too large for 32-bit index positions", s.logPath, fileSize)
	}
	raw, err := os.ReadFile(s.indexPath)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("read index: %w", err)
	}
	s.index = s.trustedEntries(raw, fileSize)
	s.persisted = len(s.index)
	if len(raw) != len(s.index)*indexEntrySize {
		if err := s.writeIndex(true, false); err != nil {
			return 0, err
		}
	}

	pos, expect := int64(0), s.base
	if n := len(s.index); n > 0 {
		pos, expect = int64(s.index[n-1].pos), s.base+int64(s.index[n-1].rel)
	}
	s.size, s.next, s.sinceIndex = pos, expect, 0
	s.maxTs.Store(math.MinInt64)
	s.tsKnown.Store(pos == 0) // only a scan from the start sees every timestamp

	var buf []byte
	for pos < fileSize {
		h, err := s.checkBatch(pos, fileSize, expect, active, &buf)
		if err != nil {
			if !active || !errors.Is(err, recordbatch.ErrCorrupt) {
				return 0, fmt.Errorf("recover %s: %w", s.logPath, err)
			}
			if err := s.cut(pos, expect, false); err != nil {
				return 0, fmt.Errorf("recover %s: %w", s.logPath, err)
			}
			return fileSize - pos, nil
		}
		s.track(pos, h, interval)
		pos += h.Length
		expect = h.LastOffset() + 1
	}
	return 0, nil
}

// trustedEntries decodes the longest plausible prefix of an index file.
func (s *segment) trustedEntries(raw []byte, fileSize int64) []indexEntry {
	var idx []indexEntry
	for off := 0; off+indexEntrySize <= len(raw); off += indexEntrySize {
		e := indexEntry{rel: binary.BigEndian.Uint32(raw[off:]), pos: binary.BigEndian.Uint32(raw[off+4:])}
		// Position 0 is never indexed (lookups fall back to it anyway), so
		// an entry there is zero fill, not data.
		if e.pos == 0 || int64(e.pos) >= fileSize {
			break
		}
		if n := len(idx); n > 0 && (e.rel <= idx[n-1].rel || e.pos <= idx[n-1].pos) {
			break
		}
		idx = append(idx, e)
	}
	for n := len(idx); n > 0; n-- {
		e := idx[n-1]
		h, err := readHeader(s.f, int64(e.pos), fileSize)
		if err == nil && h.BaseOffset == s.base+int64(e.rel) {
			return idx[:n]
		}
	}
	return nil
}

// checkBatch validates the batch at pos during recovery; with crc it reads
// the whole batch into *buf to verify its checksum.
func (s *segment) checkBatch(pos, limit, expect int64, crc bool, buf *[]byte) (recordbatch.Header, error) {
	h, err := readHeader(s.f, pos, limit)
	if err != nil {
		return recordbatch.Header{}, err
	}
	// In a sealed segment, past expect is a gap the log cleaner left (or
	// copied from a replica that cleaned); the active segment never has
	// gaps (Extend seals one that got them), so there a jump is damage
	// the CRC does not cover.
	if h.BaseOffset < expect || (crc && h.BaseOffset != expect) {
		return recordbatch.Header{}, fmt.Errorf("%w: batch at position %d has base offset %d, want at least %d", recordbatch.ErrCorrupt, pos, h.BaseOffset, expect)
	}
	if h.LastOffset()-s.base > math.MaxUint32 {
		return recordbatch.Header{}, fmt.Errorf("%w: batch at position %d ends too far past the segment base for the index", recordbatch.ErrCorrupt, pos)
	}
	if !crc {
		return h, nil
	}
	if int64(cap(*buf)) < h.Length {
		*buf = make([]byte, h.Length)
	}
	b := (*buf)[:h.Length]
	if _, err := s.f.ReadAt(b, pos); err != nil {
		return recordbatch.Header{}, fmt.Errorf("read batch at position %d: %w", pos, err)
	}
	if !recordbatch.ValidCRC(b) {
		return recordbatch.Header{}, fmt.Errorf("%w: CRC mismatch in batch at position %d", recordbatch.ErrCorrupt, pos)
	}
	return h, nil
}

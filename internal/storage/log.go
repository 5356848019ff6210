// Package storage keeps one partition replica's Kafka v2 record batches in a
// segmented append-only log with a sparse offset index. Batches arrive with
// their base offsets already assigned and are stored byte for byte.
package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/longboat/longboat/internal/durable"
	"github.com/longboat/longboat/internal/recordbatch"
)

// ErrOffsetOutOfRange reports an offset outside [StartOffset, NextOffset].
var ErrOffsetOutOfRange = errors.New("storage: offset out of range")

var errClosed = errors.New("storage: log is closed")

const (
	defaultSegmentBytes  = 1 << 30
	defaultIndexInterval = 4096
)

// Options tunes a Log; zero values pick the defaults.
type Options struct {
	SegmentBytes       int64 // roll to a new segment when the active one would exceed this; default 1 GiB when 0
	IndexIntervalBytes int   // one sparse index entry at least every this many log bytes; default 4096 when 0
	Trash              Trash // takes removed segment files to free them gradually; nil unlinks them at once
}

// Trash takes a file out of its directory at once and frees its blocks
// later, a little at a time: unlinking a segment of up to 1 GiB in one go
// makes every fsync on the disk wait for the journal commit that frees it
// (and, with the discard mount option, discards it). The file must not be
// truncated while busy reports true.
type Trash interface {
	Take(path string, busy func() bool) error
}

func (o Options) withDefaults() (Options, error) {
	if o.SegmentBytes == 0 {
		o.SegmentBytes = defaultSegmentBytes
	}
	if o.IndexIntervalBytes == 0 {
		o.IndexIntervalBytes = defaultIndexInterval
	}
	if o.SegmentBytes < 0 || o.SegmentBytes > math.MaxUint32 {
		return o, fmt.Errorf("segment bytes %d outside 1..%d (index positions are 32-bit)", o.SegmentBytes, uint32(math.MaxUint32))
	}
	if o.IndexIntervalBytes < 0 {
		return o, fmt.Errorf("negative index interval bytes %d", o.IndexIntervalBytes)
	}
	return o, nil
}

// SegmentInfo describes one segment. EndOffset is the offset after the
// segment's last batch; its first Size bytes are whole batches.
type SegmentInfo struct {
	BaseOffset, EndOffset int64
	Size                  int64
}

// Log is a partition replica's log. All methods are safe for concurrent
// use: Read, OffsetForTimestamp and the accessors share a read lock, while
// Append, TruncateTo, Reset and Close take it exclusively (briefly, except
// when an Append rolls a segment and fsyncs it).
type Log struct {
	dir  string
	opts Options

	// Sync runs under the read lock so that an fsync does not hold up
	// Read; syncMu keeps Syncs apart since they update dirDirty and the
	// active segment's index bookkeeping.
	syncMu sync.Mutex

	mu        sync.RWMutex
	segs      []*segment // ascending base offsets; the last takes appends
	closed    bool
	dirDirty  bool // segment files created since the directory was last fsynced
	truncated int64

	// cleanMu keeps cleaning passes apart; cleanedTo (under mu) is the
	// offset below which a pass has deduplicated every key (clean.go).
	cleanMu   sync.Mutex
	cleanedTo int64
	// cleanAgainMs (under mu; 0: never) is when a pass that found nothing
	// dirty has work all the same: a tombstone or marker whose
	// delete.retention.ms ends then, or a transaction whose records the
	// last pass removed.
	cleanAgainMs int64
	cleanHalted  error // under cleanMu: a swap failed after its decision point
}

// Open opens the log in dir, creating dir and an empty log starting at
// offset 0 if there is none. Sealed segments are trusted; the active one is
// checked batch by batch and cut at the first torn or corrupt batch (see
// RecoveryInfo). Index files are rebuilt wherever they fall short.
func Open(dir string, opts Options) (*Log, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("open log %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	if err := finishSwaps(dir); err != nil {
		return nil, fmt.Errorf("open log %s: %w", dir, err)
	}
	bases, err := listSegments(dir)
	if err != nil {
		return nil, fmt.Errorf("open log %s: %w", dir, err)
	}
	l := &Log{dir: dir, opts: opts}
	if len(bases) == 0 {
		s, err := createSegment(dir, 0)
		if err != nil {
			return nil, fmt.Errorf("open log %s: %w", dir, err)
		}
		l.segs = []*segment{s}
		if err := durable.SyncDir(dir); err != nil {
			return nil, errors.Join(fmt.Errorf("open log %s: %w", dir, err), l.Close())
		}
		return l, nil
	}
	for i, base := range bases {
		if err := l.recoverSegment(base, bases[i+1:]); err != nil {
			return nil, errors.Join(fmt.Errorf("open log %s: %w", dir, err), l.Close())
		}
	}
	l.loadCleanedTo()
	return l, nil
}

// recoverSegment opens the segment at base; later holds the bases of the
// segments after it, the first of which it must lead into exactly.
func (l *Log) recoverSegment(base int64, later []int64) error {
	s, err := openSegment(l.dir, base)
	if err != nil {
		return err
	}
	l.segs = append(l.segs, s)
	cut, err := s.recover(len(later) == 0, int64(l.opts.IndexIntervalBytes))
	if err != nil {
		return err
	}
	l.truncated += cut
	if len(later) == 0 {
		return nil
	}
	// A sealed segment may end in a gap (its last batches cleaned away or
	// cut by TruncateTo): it ends where the next one starts.
	if s.next > later[0] {
		return fmt.Errorf("segment %s ends at offset %d but the next segment starts at %d", s.logPath, s.next, later[0])
	}
	s.next = later[0]
	// A sealed index rebuilt by scanning is worth keeping; its data is durable.
	return s.writeIndex(false, false)
}

// listSegments returns the base offsets of the segment files in dir in
// ascending order, removing index files that have no segment: a segment
// created later under that name must not inherit stale entries.
func listSegments(dir string) ([]int64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	logs := map[int64]bool{}
	var indexes []int64
	for _, e := range entries {
		if base, ok := parseName(e.Name(), ".log"); ok {
			logs[base] = true
		} else if base, ok := parseName(e.Name(), ".index"); ok {
			indexes = append(indexes, base)
		}
	}
	for _, base := range indexes {
		if !logs[base] {
			if err := os.Remove(newSegment(dir, base).indexPath); err != nil {
				return nil, fmt.Errorf("remove orphaned index: %w", err)
			}
		}
	}
	bases := make([]int64, 0, len(logs))
	for base := range logs {
		bases = append(bases, base)
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	return bases, nil
}

// parseName accepts exactly the names Open creates: %020d plus ext.
func parseName(name, ext string) (int64, bool) {
	stem, ok := strings.CutSuffix(name, ext)
	if !ok || len(stem) != 20 {
		return 0, false
	}
	var base int64
	for _, c := range stem {
		if c < '0' || c > '9' || base > (math.MaxInt64-int64(c-'0'))/10 {
			return 0, false
		}
		base = base*10 + int64(c-'0')
	}
	return base, true
}

func (l *Log) active() *segment { return l.segs[len(l.segs)-1] }

// startOffset and nextOffset report 0 for a log that a failed Reset left
// without segments.
func (l *Log) startOffset() int64 {
	if len(l.segs) == 0 {
		return 0
	}
	return l.segs[0].base
}

func (l *Log) nextOffset() int64 {
	if len(l.segs) == 0 {
		return 0
	}
	return l.active().next
}

func (l *Log) checkRange(offset int64) error {
	if start, next := l.startOffset(), l.nextOffset(); offset < start || offset > next {
		return fmt.Errorf("%w: %d is outside [%d, %d]", ErrOffsetOutOfRange, offset, start, next)
	}
	return nil
}

// segmentIndex returns the index of the segment holding offset, which must
// be in [StartOffset, NextOffset).
func (l *Log) segmentIndex(offset int64) int {
	return sort.Search(len(l.segs), func(i int) bool { return l.segs[i].base > offset }) - 1
}

// Append adds a batch whose base offset must equal NextOffset. Only the
// header is checked (length, magic, offsets); the CRC is the caller's
// business, though Open will cut a batch with a bad CRC from the active
// segment. The batch is written with a plain write, not fsynced.
func (l *Log) Append(batch []byte) error {
	return l.AppendParts(batch, nil)
}

// AppendParts appends the batch head followed by body, saving the caller
// from concatenating them (e.g. when it rewrites the first header bytes in
// a small buffer of its own).
func (l *Log) AppendParts(head, body []byte) error {
	return l.appendParts(head, body, false)
}

// appendParts appends a batch; with gaps its base offset may lie past
// NextOffset, as in a cleaned log copied from another replica.
func (l *Log) appendParts(head, body []byte, gaps bool) error {
	total := int64(len(head)) + int64(len(body))
	if total < recordbatch.HeaderSize {
		return fmt.Errorf("append: %d-byte batch is shorter than a %d-byte header", total, recordbatch.HeaderSize)
	}
	var hb [recordbatch.HeaderSize]byte
	copy(hb[copy(hb[:], head):], body)
	h := recordbatch.ParseHeader(hb[:])
	if err := h.Check(); err != nil {
		return fmt.Errorf("append: %w", err)
	}
	if h.Length != total {
		return fmt.Errorf("append: header says %d bytes but the batch has %d", h.Length, total)
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return errClosed
	}
	if next := l.nextOffset(); h.BaseOffset != next && (!gaps || h.BaseOffset < next) {
		return fmt.Errorf("append: batch base offset %d, want %d", h.BaseOffset, next)
	}
	s := l.active()
	if s.size > 0 && (s.size+total > l.opts.SegmentBytes || h.LastOffset()-s.base > math.MaxUint32) {
		if err := l.roll(); err != nil {
			return fmt.Errorf("append: %w", err)
		}
		s = l.active()
	}
	if err := s.write(head, body); err != nil {
		return fmt.Errorf("append: %w", err)
	}
	if h.BaseOffset > s.next {
		s.gaps = true
	}
	s.track(s.size, h, int64(l.opts.IndexIntervalBytes))
	return nil
}

// roll seals the active segment and starts a new one at NextOffset. The
// sealed segment and its index are fsynced first so that Open can trust
// them without scanning.
func (l *Log) roll() error {
	s := l.active()
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("sync segment %s: %w", s.logPath, err)
	}
	if err := s.writeIndex(false, true); err != nil {
		return err
	}
	n, err := createSegment(l.dir, s.next)
	if err != nil {
		return err
	}
	l.segs = append(l.segs, n)
	l.dirDirty = true
	return nil
}

// SetSegmentBytes changes the size at which the active segment rolls (a
// topic's segment.bytes); it applies from the next append.
func (l *Log) SetSegmentBytes(n int64) error {
	if n <= 0 || n > math.MaxUint32 {
		return fmt.Errorf("segment bytes %d outside 1..%d", n, uint32(math.MaxUint32))
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.opts.SegmentBytes = n
	return nil
}

// RollIfOlder seals the active segment before a batch whose largest
// timestamp is batchTs when the segment holds data and its first batch's
// maxTimestamp is at least maxAgeMs older (segment.ms), so that time-based
// retention can delete what it holds. This is Kafka's rule
// (LogSegment.shouldRoll): it compares the incoming timestamp, not the
// clock, with the segment's first, so a producer sending old timestamps
// fills one segment rather than rolling one per append. Negative
// timestamps (none given) never roll. batchTs comes from the replicated
// command, so every replica rolls at the same batch.
func (l *Log) RollIfOlder(batchTs, maxAgeMs int64) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false, errClosed
	}
	ts, ok, err := l.active().firstTimestamp()
	if err != nil || !ok || ts < 0 || batchTs < 0 || batchTs-ts < maxAgeMs {
		return false, err
	}
	if err := l.roll(); err != nil {
		return false, fmt.Errorf("time roll: %w", err)
	}
	return true, nil
}

// SegmentStat is one segment as retention sees it.
type SegmentStat struct {
	BaseOffset, EndOffset int64
	Size                  int64
	MaxTimestamp          int64 // largest batch maxTimestamp; math.MinInt64 when empty
}

// SegmentStats describes the segments, oldest first, with their largest
// timestamps (read from the batch headers once per segment, then cached).
func (l *Log) SegmentStats() ([]SegmentStat, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return nil, errClosed
	}
	out := make([]SegmentStat, len(l.segs))
	for i, s := range l.segs {
		ts, err := s.maxTimestamp()
		if err != nil {
			return nil, fmt.Errorf("segment stats: %w", err)
		}
		out[i] = SegmentStat{BaseOffset: s.base, EndOffset: s.next, Size: s.size, MaxTimestamp: ts}
	}
	return out, nil
}

// DeleteBefore removes, oldest first, every segment that lies wholly below
// offset and returns the bytes freed. The active segment goes only when
// offset is NextOffset: a new, empty segment starting there is created and
// made durable first, so the log is never left without one.
func (l *Log) DeleteBefore(offset int64) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, errClosed
	}
	if offset > l.nextOffset() {
		return 0, fmt.Errorf("delete before %d: %w: the log ends at %d", offset, ErrOffsetOutOfRange, l.nextOffset())
	}
	if a := l.active(); offset == l.nextOffset() && a.size > 0 {
		if err := l.roll(); err != nil {
			return 0, fmt.Errorf("delete before %d: %w", offset, err)
		}
		if err := durable.SyncDir(l.dir); err != nil {
			return 0, fmt.Errorf("delete before %d: %w", offset, err)
		}
		l.dirDirty = false
	}
	var freed int64
	for len(l.segs) > 1 && l.segs[0].next <= offset {
		s := l.segs[0]
		if err := s.remove(l.opts.Trash); err != nil {
			return freed, fmt.Errorf("delete before %d: %w", offset, err)
		}
		freed += s.size
		l.segs = l.segs[1:]
	}
	if freed > 0 {
		if err := durable.SyncDir(l.dir); err != nil {
			return freed, fmt.Errorf("delete before %d: %w", offset, err)
		}
	}
	return freed, nil
}

// NextOffset returns the offset the next appended batch must start at.
func (l *Log) NextOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.nextOffset()
}

// StartOffset returns the first offset held, the base of the first segment.
func (l *Log) StartOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.startOffset()
}

// Read returns whole batches, starting with the one containing offset, that
// fit in maxBytes; always at least one batch, however large (KIP-74). It
// never crosses a segment boundary, so it can return less than maxBytes
// with more to come: the caller reads again from the offset after the last
// batch returned. At NextOffset it returns (nil, nil).
func (l *Log) Read(offset int64, maxBytes int) ([]byte, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return nil, errClosed
	}
	if err := l.checkRange(offset); err != nil {
		return nil, err
	}
	if offset == l.nextOffset() {
		return nil, nil
	}
	k := l.segmentIndex(offset)
	s := l.segs[k]
	pos, first, err := s.locate(offset)
	for errors.Is(err, errPastLastBatch) && k+1 < len(l.segs) {
		// In the gap a sealed segment ends with: the next batch is further on.
		k++
		s = l.segs[k]
		pos, first, err = s.locate(s.base)
	}
	if errors.Is(err, errPastLastBatch) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read offset %d: %w", offset, err)
	}
	// One read of everything that may fit, then trimmed to whole batches,
	// costs fewer syscalls than reading each header first.
	n := max(first.Length, min(int64(maxBytes), s.size-pos))
	buf := make([]byte, n)
	if _, err := s.f.ReadAt(buf, pos); err != nil {
		return nil, fmt.Errorf("read offset %d from %s: %w", offset, s.logPath, err)
	}
	return buf[:recordbatch.WholeLen(buf)], nil
}

// TruncateTo removes every batch at or after offset, which must be a batch
// boundary in [StartOffset, NextOffset]. The result is fsynced.
func (l *Log) TruncateTo(offset int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return errClosed
	}
	if err := l.checkRange(offset); err != nil {
		return fmt.Errorf("truncate: %w", err)
	}
	if offset == l.nextOffset() {
		return nil
	}
	k := l.segmentIndex(offset)
	s := l.segs[k]
	pos, h, err := s.locate(offset)
	gap := errors.Is(err, errPastLastBatch)
	switch {
	case gap:
		pos = s.size
	case err != nil:
		return fmt.Errorf("truncate to %d: %w", offset, err)
	case h.BaseOffset < offset:
		return fmt.Errorf("truncate to %d: offset is inside batch %d..%d", offset, h.BaseOffset, h.LastOffset())
	case h.BaseOffset > offset:
		gap = true // offset lies in a gap cleaning left
	}
	if err := l.removeFrom(k + 1); err != nil {
		return fmt.Errorf("truncate to %d: %w", offset, err)
	}
	if err := durable.SyncDir(l.dir); err != nil {
		return fmt.Errorf("truncate to %d: %w", offset, err)
	}
	l.dirDirty = false
	if err := s.cut(pos, offset, true); err != nil {
		return fmt.Errorf("truncate to %d: %w", offset, err)
	}
	if gap && offset > s.base {
		if err := l.sealGap(k, offset); err != nil {
			return fmt.Errorf("truncate to %d: %w", offset, err)
		}
	}
	return l.lowerCleanedTo(offset)
}

// sealGap makes the log end at offset after a cut left segment k (the
// last) ending in a gap below it: the active segment must have none, so k
// is sealed with its gap and an empty active segment starts at offset, or,
// if k holds nothing, replaced by one.
func (l *Log) sealGap(k int, offset int64) error {
	s := l.segs[k]
	if s.size > 0 {
		if err := l.roll(); err != nil {
			return err
		}
	} else {
		n, err := createSegment(l.dir, offset)
		if err != nil {
			return err
		}
		if err := s.remove(l.opts.Trash); err != nil {
			return errors.Join(err, n.f.Close())
		}
		l.segs[k] = n
		if k > 0 {
			l.segs[k-1].next = offset
		}
	}
	return durable.SyncDir(l.dir)
}

// removeFrom deletes segments k and later, newest first, so that a failure
// part-way leaves a shorter log without gaps.
func (l *Log) removeFrom(k int) error {
	for i := len(l.segs) - 1; i >= k; i-- {
		if err := l.segs[i].remove(l.opts.Trash); err != nil {
			return err
		}
		l.segs = l.segs[:i]
	}
	return nil
}

// OffsetForTimestamp returns the base offset of the first batch whose
// maxTimestamp is at least ts, or found == false if there is none.
func (l *Log) OffsetForTimestamp(ts int64) (offset int64, found bool, err error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return 0, false, errClosed
	}
	for _, s := range l.segs {
		offset, found, err := s.findTimestamp(ts)
		if err != nil {
			return 0, false, fmt.Errorf("offset for timestamp %d: %w", ts, err)
		}
		if found {
			return offset, true, nil
		}
	}
	return 0, false, nil
}

// Size returns the total bytes across segments.
func (l *Log) Size() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var n int64
	for _, s := range l.segs {
		n += s.size
	}
	return n
}

// Sync makes every batch appended so far durable. It holds only the read
// lock while fsyncing, so Reads carry on, but an Append from another
// goroutine waits, and Reads arriving after that Append wait too.
func (l *Log) Sync() error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return errClosed
	}
	s := l.active()
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("sync segment %s: %w", s.logPath, err)
	}
	if l.dirDirty {
		if err := durable.SyncDir(l.dir); err != nil {
			return err
		}
		l.dirDirty = false
	}
	// Index entries reach the file only once the batches they point at are
	// durable, which is what lets Open trust them.
	return s.writeIndex(false, false)
}

// Close closes the segment files without syncing; call Sync first for
// durability. Later calls other than accessors return an error.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	var errs []error
	for _, s := range l.segs {
		if err := s.f.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close %s: %w", s.logPath, err))
		}
	}
	return errors.Join(errs...)
}

// Reset deletes every segment and starts an empty log at startOffset, e.g.
// before restoring a snapshot. If the files are gone but the new segment
// cannot be created, the log is left closed.
func (l *Log) Reset(startOffset int64) error {
	if startOffset < 0 {
		return fmt.Errorf("reset: negative start offset %d", startOffset)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return errClosed
	}
	if err := l.removeFrom(0); err != nil {
		return fmt.Errorf("reset: %w", err)
	}
	s, err := createSegment(l.dir, startOffset)
	if err != nil {
		l.closed = true
		return fmt.Errorf("reset: %w", err)
	}
	l.segs = []*segment{s}
	l.dirDirty = true
	if err := os.Remove(filepath.Join(l.dir, cleanerCheckpointFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("reset: %w", err)
	}
	l.cleanedTo, l.cleanAgainMs = startOffset, 0
	if err := durable.SyncDir(l.dir); err != nil {
		return fmt.Errorf("reset: %w", err)
	}
	l.dirDirty = false
	return nil
}

// RecoveryInfo reports how many bytes Open cut from a torn or corrupt tail.
func (l *Log) RecoveryInfo() (truncatedBytes int64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.truncated
}

// Segments describes the segments, oldest first.
func (l *Log) Segments() []SegmentInfo {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]SegmentInfo, len(l.segs))
	for i, s := range l.segs {
		out[i] = SegmentInfo{BaseOffset: s.base, EndOffset: s.next, Size: s.size}
	}
	return out
}

package storage

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/longboat/longboat/internal/recordbatch"
)

// CleanConfig is what one cleaning pass of a compacted log applies: the
// topic's cleaner settings and the clock they are measured against.
type CleanConfig struct {
	NowMs int64
	// Limit: only segments ending at or below it are cleaned. The partition
	// passes its durable checkpoint, since Open cuts the log back to it and
	// Raft replays the appends after it onto batch boundaries.
	Limit              int64
	MinCleanableRatio  float64 // min.cleanable.dirty.ratio
	MinCompactionLagMs int64   // min.compaction.lag.ms: segments with newer records wait
	MaxCompactionLagMs int64   // max.compaction.lag.ms: dirty data this old is cleaned whatever the ratio
	DeleteRetentionMs  int64   // delete.retention.ms: tombstones stay at least this long
	SegmentBytes       int64   // segment.bytes: cleaned runs are merged up to this size
	Force              bool    // clean whatever the ratio (tests)
	// Aborted is the partition's aborted-transaction index. Limit must not
	// pass the last stable offset, so that every transaction below it has
	// ended and each aborted one is listed.
	Aborted []AbortedTxn
	// DropAborted, when set, is given the marker offsets of aborted
	// transactions none of whose batches is left, before the rewrite that
	// may remove those markers is swapped in: the caller takes them out of
	// its index for good first, or a fetch could be told of a transaction
	// whose ABORT marker it then never reads. An error gives up the pass.
	DropAborted func(markers []int64) error
}

// CleanResult reports one pass.
type CleanResult struct {
	Cleaned    bool
	DirtyRatio float64 // dirty share of the cleanable bytes before the pass
	CleanedTo  int64   // offsets below are clean (have been deduplicated)
	// BytesBefore and BytesAfter are the sizes of the segments the pass
	// rewrote; BytesRead counts what it read (mapping and copying).
	BytesBefore, BytesAfter, BytesRead int64
	RecordsRemoved                     int64
}

// errCleanAborted marks a pass given up because the log changed under it
// (retention, truncation, a snapshot install); the next pass starts over.
var errCleanAborted = errors.New("log changed while cleaning")

// cleanFault, set by tests, is called after each step of a swap; an error
// makes Clean return at once without cleaning up, as a crash would.
var cleanFault func(step string) error

func fault(step string) error {
	if cleanFault == nil {
		return nil
	}
	return cleanFault(step)
}

// cleanSeg is a segment as a pass found it.
type cleanSeg struct {
	s          *segment
	base, next int64
	size       int64
	maxTs      int64
	firstTs    int64
}

// Clean runs one cleaning pass (log compaction) over the sealed segments
// below cfg.Limit: it keeps the last record of each key (by offsets,
// which never change), drops tombstones older than delete.retention.ms
// once they have been deduplicated, drops the records of aborted
// transactions and, after delete.retention.ms, the markers of
// transactions with no record left, and replaces the segments it rewrites
// through the crash-safe swap in cleanswap.go. Reads, appends and Sync go
// on meanwhile; only the swap itself takes the log's write lock. m is the
// pass's key map (reused between passes); throttle, when not nil, limits
// its I/O.
func (l *Log) Clean(ctx context.Context, cfg CleanConfig, m *OffsetMap, throttle *Throttle) (CleanResult, error) {
	l.cleanMu.Lock()
	defer l.cleanMu.Unlock()
	if l.cleanHalted != nil {
		return CleanResult{}, l.cleanHalted
	}
	segs, cleanedTo, err := l.cleanable(cfg)
	if err != nil || len(segs) == 0 {
		return CleanResult{CleanedTo: cleanedTo}, err
	}
	res := CleanResult{CleanedTo: cleanedTo}
	var clean, dirty int64
	firstDirty := len(segs)
	for i, c := range segs {
		if c.next <= cleanedTo {
			clean += c.size
			continue
		}
		firstDirty = min(firstDirty, i)
		dirty += c.size
	}
	if dirty > 0 {
		res.DirtyRatio = float64(dirty) / float64(clean+dirty)
	}
	due := l.cleanAgain(cfg.NowMs)
	if dirty == 0 && !due {
		return res, nil
	}
	overdue := dirty > 0 && cfg.MaxCompactionLagMs > 0 && segs[firstDirty].firstTs >= 0 && segs[firstDirty].firstTs < cfg.NowMs-cfg.MaxCompactionLagMs
	if !cfg.Force && res.DirtyRatio < cfg.MinCleanableRatio && !overdue && !due {
		return res, nil
	}

	m.prepare(dirty)
	mapFrom := max(cleanedTo, segs[0].base)
	mapEnd, read, err := l.buildMap(ctx, segs[firstDirty:], mapFrom, m, newTxnTracker(cfg.Aborted, mapFrom), throttle)
	res.BytesRead += read
	if err != nil {
		return res, err
	}
	if dirty > 0 && mapEnd <= cleanedTo {
		return res, fmt.Errorf("clean %s: the dedupe buffer (%d keys) cannot hold the keys of one batch at offset %d: raise --log-cleaner-dedupe-buffer-size", l.dir, m.Capacity(), mapEnd)
	}
	lastOf, err := l.producerLastBatches()
	if err != nil {
		return res, err
	}
	f := filter{m: m, lastOf: lastOf, prevCleaned: cleanedTo, nowMs: cfg.NowMs, deleteRetentionMs: cfg.DeleteRetentionMs,
		txns: newTxnTracker(cfg.Aborted, segs[0].base)}
	for _, group := range groupSegments(segs, mapEnd, cfg.SegmentBytes) {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		if err := l.cleanGroup(ctx, group, &f, cfg.DropAborted, throttle, &res); err != nil {
			return res, err
		}
	}
	if err := l.setCleanedTo(max(mapEnd, cleanedTo), f.again); err != nil {
		return res, err
	}
	res.Cleaned, res.CleanedTo = true, mapEnd
	return res, nil
}

// cleanAgain reports whether a pass is due without dirty data (see
// cleanAgainMs).
func (l *Log) cleanAgain(nowMs int64) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.cleanAgainMs != 0 && l.cleanAgainMs <= nowMs
}

// cleanable returns the sealed segments a pass may rewrite, oldest first:
// below cfg.Limit and, with a min.compaction.lag.ms, holding no record
// newer than that lag.
func (l *Log) cleanable(cfg CleanConfig) ([]cleanSeg, int64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return nil, 0, errClosed
	}
	var out []cleanSeg
	for _, s := range l.segs[:max(len(l.segs)-1, 0)] {
		if s.next > cfg.Limit {
			break
		}
		maxTs, err := s.maxTimestamp()
		if err != nil {
			return nil, 0, fmt.Errorf("clean: %w", err)
		}
		if cfg.MinCompactionLagMs > 0 && maxTs > cfg.NowMs-cfg.MinCompactionLagMs {
			break
		}
		firstTs, _, err := s.firstTimestamp()
		if err != nil {
			return nil, 0, fmt.Errorf("clean: %w", err)
		}
		out = append(out, cleanSeg{s: s, base: s.base, next: s.next, size: s.size, maxTs: maxTs, firstTs: firstTs})
	}
	return out, max(l.cleanedTo, l.startOffset()), nil
}

// readSealed reads n bytes at pos of a sealed segment under the read lock,
// so that a segment removed meanwhile gives an error rather than bytes of
// a closed file's successor.
func (l *Log) readSealed(s *segment, pos int64, buf []byte) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return errClosed
	}
	if !l.holds(s) {
		return errCleanAborted
	}
	if _, err := s.f.ReadAt(buf, pos); err != nil {
		return fmt.Errorf("clean: read %s: %w", s.logPath, err)
	}
	return nil
}

// holds reports whether s is still one of the log's segments.
func (l *Log) holds(s *segment) bool {
	i := l.segmentIndex(s.base)
	return i >= 0 && i < len(l.segs) && l.segs[i] == s
}

// eachBatch calls fn with every batch of a cleanable segment, reading in
// chunks of up to 1 MiB (or one batch, if larger) through the throttle.
func (l *Log) eachBatch(ctx context.Context, c cleanSeg, throttle *Throttle, read *int64, fn func(h recordbatch.Header, b []byte) (bool, error)) error {
	var buf []byte
	for pos := int64(0); pos < c.size; {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(c.size-pos, 1<<20)
		var hb [recordbatch.HeaderSize]byte
		if err := l.readSealed(c.s, pos, hb[:]); err != nil {
			return err
		}
		h := recordbatch.ParseHeader(hb[:])
		if err := h.Check(); err != nil || h.Length > c.size-pos {
			return fmt.Errorf("clean: %s: %w: bad batch header at position %d", c.s.logPath, recordbatch.ErrCorrupt, pos)
		}
		n = max(n, h.Length)
		if int64(cap(buf)) < n {
			buf = make([]byte, n)
		}
		chunk := buf[:n]
		if err := l.readSealed(c.s, pos, chunk); err != nil {
			return err
		}
		throttle.Wait(ctx, n)
		*read += n
		chunk = chunk[:recordbatch.WholeLen(chunk)]
		if len(chunk) == 0 {
			return fmt.Errorf("clean: %s: no whole batch at position %d", c.s.logPath, pos)
		}
		for h, b := range recordbatch.All(chunk) {
			more, err := fn(h, b)
			if err != nil || !more {
				return err
			}
		}
		pos += int64(len(chunk))
	}
	return nil
}

// buildMap records the last offset of each key from offset from on, batch
// by batch, until the map is full; it returns the offset up to which every
// key is mapped. Records of aborted transactions and markers are not
// mapped: an aborted record must not hide the committed one before it.
func (l *Log) buildMap(ctx context.Context, segs []cleanSeg, from int64, m *OffsetMap, txns *txnTracker, throttle *Throttle) (int64, int64, error) {
	end := from
	var read int64
	full := false
	for _, c := range segs {
		err := l.eachBatch(ctx, c, throttle, &read, func(h recordbatch.Header, b []byte) (bool, error) {
			if h.LastOffset() < from {
				return true, nil
			}
			if recs, ok := mappable(h, b, txns); ok {
				err := recordbatch.Records(recs, h.Records, func(r recordbatch.Record) bool {
					if r.Key != nil && !m.put(r.Key, h.BaseOffset+r.OffsetDelta) {
						full = true
					}
					return !full
				})
				if err != nil {
					return false, fmt.Errorf("clean: %s: batch %d: %w", c.s.logPath, h.BaseOffset, err)
				}
				if full {
					return false, nil
				}
			}
			end = h.LastOffset() + 1
			return true, nil
		})
		if err != nil {
			return end, read, err
		}
		if full {
			break
		}
		end = c.next
	}
	return end, read, nil
}

// mappable returns the records of a batch whose keys a pass maps: data
// batches outside aborted transactions (committed transactional records
// are compacted like any others), decompressed if need be. A compressed
// batch that does not decompress (a producer may write one to a topic
// that was not compacted then: only compacted topics and recompression
// decompress at produce) is kept whole, rather than stop the partition's
// cleaning for good.
func mappable(h recordbatch.Header, b []byte, txns *txnTracker) ([]byte, bool) {
	if h.Control() {
		txns.marker(h, b)
		return nil, false
	}
	if txns.data(h) {
		return nil, false
	}
	recs, err := recordbatch.Decompress(h.Codec(), b[recordbatch.HeaderSize:])
	return recs, err == nil
}

// producerLastBatches maps each producer id to the base offset of its last
// batch in the log, from the batch headers, one segment per read lock so
// that appends are not held up for the whole scan.
func (l *Log) producerLastBatches() (map[int64]int64, error) {
	l.mu.RLock()
	segs := append([]*segment(nil), l.segs...)
	l.mu.RUnlock()
	out := map[int64]int64{}
	for _, s := range segs {
		if err := l.scanProducers(s, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (l *Log) scanProducers(s *segment, out map[int64]int64) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return errClosed
	}
	if !l.holds(s) {
		return errCleanAborted
	}
	for pos := int64(0); pos < s.size; {
		h, err := readHeader(s.f, pos, s.size)
		if err != nil {
			return fmt.Errorf("clean: %s: %w", s.logPath, err)
		}
		if h.ProducerID >= 0 {
			out[h.ProducerID] = h.BaseOffset
		}
		pos += h.Length
	}
	return nil
}

// groupSegments splits the segments that hold offsets below mapEnd into
// runs to rewrite as one segment each: up to segmentBytes of input and
// within the 32-bit offset span of a segment's index.
func groupSegments(segs []cleanSeg, mapEnd, segmentBytes int64) [][]cleanSeg {
	var groups [][]cleanSeg
	var cur []cleanSeg
	var size int64
	for _, c := range segs {
		if c.base >= mapEnd {
			break
		}
		if len(cur) > 0 && (size+c.size > segmentBytes || c.next-1-cur[0].base > math.MaxUint32) {
			groups = append(groups, cur)
			cur, size = nil, 0
		}
		cur = append(cur, c)
		size += c.size
	}
	if len(cur) > 0 {
		groups = append(groups, cur)
	}
	return groups
}

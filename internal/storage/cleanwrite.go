package storage

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/longboat/longboat/internal/durable"
	"github.com/longboat/longboat/internal/recordbatch"
)

// filter decides which records of a batch a pass keeps.
type filter struct {
	m                 *OffsetMap
	lastOf            map[int64]int64 // producer id -> base offset of its last batch
	prevCleaned       int64           // offsets below were deduplicated by an earlier pass
	nowMs             int64
	deleteRetentionMs int64
	txns              *txnTracker
	removed           int64
	buf               []byte // the records kept of the batch at hand
	// again is when a later pass has work on what this one kept (see
	// Log.cleanAgainMs): the soonest expiry of a tombstone or removable
	// marker it kept, or now when it removed a transaction's last records.
	again int64
}

func (f *filter) wake(ms int64) {
	if f.again == 0 || ms < f.again {
		f.again = ms
	}
}

// expiry is when a batch's delete.retention.ms has passed, or 0 for never.
func (f *filter) expiry(h recordbatch.Header) int64 {
	if f.deleteRetentionMs >= math.MaxInt64-1-h.MaxTimestamp {
		return 0
	}
	return h.MaxTimestamp + f.deleteRetentionMs + 1
}

// expired reports whether a batch is older than delete.retention.ms by its
// own timestamp, which every replica holds alike (Kafka counts from the
// pass that first finds the batch removable, a local moment).
func (f *filter) expired(h recordbatch.Header) bool {
	return f.deleteRetentionMs < math.MaxInt64-h.MaxTimestamp && h.MaxTimestamp+f.deleteRetentionMs < f.nowMs
}

// keep is Kafka's LogCleaner.shouldRetainRecord for a data record: a
// record goes when a later record has its key, when it has no key, or
// when it is a tombstone older than delete.retention.ms whose key has been
// deduplicated up to it (by this pass or an earlier one), so that no older
// value of the key is left for its removal to bring back.
func (f *filter) keep(h recordbatch.Header, r recordbatch.Record) bool {
	if r.Key == nil {
		return false
	}
	off := h.BaseOffset + r.OffsetDelta
	latest, found := f.m.get(r.Key)
	if found && latest > off {
		return false
	}
	deduplicated := (found && latest == off) || off < f.prevCleaned
	if !r.NullValue || !deduplicated {
		return true
	}
	if f.expired(h) {
		return false
	}
	if at := f.expiry(h); at > 0 {
		f.wake(at)
	}
	return true
}

// batch returns what stays of a batch: itself when every record stays,
// a rebuilt batch with the same offsets and producer fields holding the
// records that stay (recompressed with the batch's codec, at its default
// level, as Kafka's cleaner does), an empty batch when none stay but the
// batch must (the last of its producer, or of its segment), or nil. The
// records of an aborted transaction all go; a marker goes whole once no
// record of its transaction is left and delete.retention.ms has passed.
func (f *filter) batch(h recordbatch.Header, b []byte, mustStay bool) ([]byte, error) {
	if h.Control() {
		removable, next := f.txns.marker(h, b)
		switch {
		case next:
			f.wake(f.nowMs)
			return b, nil
		case !removable:
			return b, nil
		case !f.expired(h):
			if at := f.expiry(h); at > 0 {
				f.wake(at)
			}
			return b, nil
		}
		f.removed += int64(h.Records)
		return f.emptied(h, mustStay), nil
	}
	if f.txns.data(h) {
		f.removed += int64(h.Records)
		if h.Records > 0 {
			f.wake(f.nowMs) // its marker's index entry goes next pass
		}
		return f.emptied(h, mustStay), nil
	}
	recs, err := recordbatch.Decompress(h.Codec(), b[recordbatch.HeaderSize:])
	if err != nil {
		// Kept whole: see mappable.
		return b, nil
	}
	f.buf = f.buf[:0]
	var kept int32
	err = recordbatch.Records(recs, h.Records, func(r recordbatch.Record) bool {
		if f.keep(h, r) {
			f.buf = append(f.buf, r.Raw...)
			kept++
		}
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("batch %d: %w", h.BaseOffset, err)
	}
	f.removed += int64(h.Records - kept)
	f.txns.filtered(h, kept)
	switch {
	case kept == h.Records:
		return b, nil
	case kept > 0 && h.Compressed():
		out, err := recordbatch.AppendKept(nil, h, kept, f.buf, h.Codec())
		if err != nil {
			return nil, fmt.Errorf("batch %d: %w", h.BaseOffset, err)
		}
		return out, nil
	case kept > 0:
		out := append(append(make([]byte, 0, recordbatch.HeaderSize+len(f.buf)), b[:recordbatch.HeaderSize]...), f.buf...)
		return recordbatch.FinishBatch(out, h, kept), nil
	}
	return f.emptied(h, mustStay), nil
}

// emptied is what stays of a batch none of whose records stay: nothing,
// or when it must stay an empty batch. One that is its producer's last
// keeps the producer's fields, as Kafka keeps it. A data batch kept only to
// end its segment names no producer and no transaction: with them, every
// later pass would find a batch of its transaction left and keep the
// transaction's marker for good.
func (f *filter) emptied(h recordbatch.Header, mustStay bool) []byte {
	switch {
	case h.ProducerID >= 0 && f.lastOf[h.ProducerID] == h.BaseOffset:
		return recordbatch.EmptyBatch(h)
	case !mustStay:
		return nil
	case !h.Control():
		h.ProducerID, h.ProducerEpoch, h.BaseSequence = -1, -1, -1
		h.Attributes &^= recordbatch.AttrTransactional
	}
	return recordbatch.EmptyBatch(h)
}

// cleanGroup rewrites a run of segments into one cleaned segment and swaps
// it in.
func (l *Log) cleanGroup(ctx context.Context, group []cleanSeg, f *filter, dropAborted func([]int64) error, throttle *Throttle, res *CleanResult) error {
	first, last := group[0], group[len(group)-1]
	path := cleanedPath(l.dir, first.base)
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("clean: remove stale %s: %w", path, err)
	}
	file, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("clean: %w", err)
	}
	ns := newSegment(l.dir, first.base)
	ns.f = file
	ns.setTimestampBound(math.MinInt64)
	w := bufio.NewWriterSize(file, 1<<20)
	removedBefore := f.removed
	werr := func() error {
		for _, c := range group {
			err := l.eachBatch(ctx, c, throttle, &res.BytesRead, func(h recordbatch.Header, b []byte) (bool, error) {
				out, err := f.batch(h, b, c == last && h.LastOffset()+1 == c.next)
				if err != nil || out == nil {
					return err == nil, err
				}
				if _, err := w.Write(out); err != nil {
					return false, fmt.Errorf("clean: write %s: %w", path, err)
				}
				throttle.Wait(ctx, int64(len(out)))
				ns.track(ns.size, recordbatch.ParseHeader(out), int64(l.opts.IndexIntervalBytes))
				return true, nil
			})
			if err != nil {
				return err
			}
		}
		if err := w.Flush(); err != nil {
			return fmt.Errorf("clean: write %s: %w", path, err)
		}
		if err := file.Sync(); err != nil {
			return fmt.Errorf("clean: sync %s: %w", path, err)
		}
		if ns.next != last.next {
			return fmt.Errorf("clean: %s ends at offset %d, want %d", path, ns.next, last.next)
		}
		return nil
	}()
	if werr != nil {
		return errors.Join(werr, file.Close(), os.Remove(path))
	}
	if err := fault("cleaned"); err != nil {
		return err
	}
	if len(f.txns.gone) > 0 && dropAborted != nil {
		if err := dropAborted(f.txns.gone); err != nil {
			return errors.Join(err, file.Close(), os.Remove(path))
		}
		f.txns.gone = nil
	}
	if err := l.swapIn(group, ns); err != nil {
		return err
	}
	res.RecordsRemoved += f.removed - removedBefore
	for _, c := range group {
		res.BytesBefore += c.size
	}
	res.BytesAfter += ns.size
	return nil
}

// swapIn replaces the segments of group with ns (whose file is still at
// its .cleaned path), unless the log changed since the pass read them.
func (l *Log) swapIn(group []cleanSeg, ns *segment) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	cleaned := cleanedPath(l.dir, ns.base)
	abandon := func(err error) error { return errors.Join(err, ns.f.Close(), os.Remove(cleaned)) }
	if l.closed {
		return abandon(errClosed)
	}
	at := l.segmentIndex(group[0].base)
	for i, c := range group {
		k := at + i
		if k < 0 || k >= len(l.segs)-1 || l.segs[k] != c.s || c.s.size != c.size || c.s.next != c.next {
			return abandon(errCleanAborted)
		}
	}
	swap := swapPath(l.dir, ns.base, group[len(group)-1].next)
	if err := os.Rename(cleaned, swap); err != nil {
		return abandon(fmt.Errorf("clean: %w", err))
	}
	// From here on the swap is decided: an error leaves the rest to Open,
	// and no other pass may run in this process (a second swap file for
	// the same base could cover a shorter range than the first).
	halt := func(err error) error {
		l.cleanHalted = fmt.Errorf("clean: an earlier swap failed half-way; reopen the log to finish it: %w", err)
		return err
	}
	if err := durable.SyncDir(l.dir); err != nil {
		return halt(fmt.Errorf("clean: %w", err))
	}
	if err := fault("swap"); err != nil {
		return halt(err)
	}
	for _, c := range group[1:] {
		if err := c.s.remove(l.opts.Trash); err != nil {
			return halt(fmt.Errorf("clean: %w", err))
		}
	}
	if err := os.Remove(group[0].s.indexPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return halt(fmt.Errorf("clean: remove index: %w", err))
	}
	if err := fault("removed"); err != nil {
		return halt(err)
	}
	if err := os.Rename(swap, ns.logPath); err != nil {
		return halt(fmt.Errorf("clean: %w", err))
	}
	if err := durable.SyncDir(l.dir); err != nil {
		return halt(fmt.Errorf("clean: %w", err))
	}
	_ = group[0].s.f.Close() // replaced by the rename: nothing of it is needed
	l.segs = append(l.segs[:at], append([]*segment{ns}, l.segs[at+len(group):]...)...)
	if err := fault("renamed"); err != nil {
		return err
	}
	return ns.writeIndex(true, true)
}

const cleanerCheckpointFile = "cleaner-offset-checkpoint"

// setCleanedTo records that offsets below off are deduplicated and when a
// pass has work again without new dirty data.
func (l *Log) setCleanedTo(off, againMs int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.storeCleanedTo(off, againMs)
}

// storeCleanedTo writes the cleaner checkpoint durably;
// l.mu is held for writing.
func (l *Log) storeCleanedTo(off, againMs int64) error {
	path := filepath.Join(l.dir, cleanerCheckpointFile)
	err := durable.WriteFile(path, fmt.Appendf(nil, "%d %d\n", off, againMs), 0o644)
	if err != nil {
		return fmt.Errorf("cleaner checkpoint: %w", err)
	}
	l.cleanedTo, l.cleanAgainMs = off, againMs
	return nil
}

// lowerCleanedTo keeps the cleaner checkpoint at or below off after the
// log was cut there: appends that replace the cut part are not clean.
func (l *Log) lowerCleanedTo(off int64) error {
	if l.cleanedTo <= off {
		return nil
	}
	return l.storeCleanedTo(off, l.cleanAgainMs)
}

// loadCleanedTo reads the cleaner checkpoint at Open; a missing or
// unreadable one means nothing is known clean, which only costs work.
func (l *Log) loadCleanedTo() {
	b, err := os.ReadFile(filepath.Join(l.dir, cleanerCheckpointFile))
	if err != nil {
		return
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return
	}
	off, err := strconv.ParseInt(fields[0], 10, 64)
	if err != nil || off < l.startOffset() || off > l.nextOffset() {
		return
	}
	l.cleanedTo = off
	if len(fields) > 1 {
		// Written by passes since transactions were cleaned; older files
		// have the offset alone.
		l.cleanAgainMs, _ = strconv.ParseInt(fields[1], 10, 64)
	}
}

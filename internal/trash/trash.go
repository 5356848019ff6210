// Package trash frees deleted files a slice at a time instead of in one
// unlink.
//
// ext4 frees a file's blocks in the journal transaction that commits next,
// and on a file system mounted with discard it also discards them before
// that commit completes, so deleting a 64 MiB file made every fsync on the
// disk (each Raft append's) wait behind it: these waits were the tail of
// produce latency (docs/BENCHMARKS.md). A file handed to a Bin is moved into
// its directory at once, then truncated a few MiB at a time and removed.
package trash

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

const (
	// slice is how much of a file one truncation frees.
	slice = 4 << 20
	// pause separates truncations: at most 4 MiB per 5 ms (800 MB/s),
	// far above the rate a broker writes.
	pause = 5 * time.Millisecond
)

type entry struct {
	path string
	busy func() bool // nil: nothing else holds the file open
}

// Bin is a directory of files waiting to be freed and the goroutine that
// frees them. A file left in it by a crash is freed at the next Open.
type Bin struct {
	dir     string
	log     zerolog.Logger
	seq     atomic.Uint64
	warned  atomic.Bool // a move failed (e.g. another file system); said once
	queue   chan entry
	stop    chan struct{}
	stopped sync.WaitGroup
}

// Open creates dir (which must be on the file system of the files it will
// take) and starts freeing what it holds.
func Open(dir string, log zerolog.Logger) (*Bin, error) {
	b := &Bin{dir: dir, log: log, queue: make(chan entry, 4096), stop: make(chan struct{})}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("trash: %w", err)
	}
	left, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("trash: %w", err)
	}
	var leftover []entry
	for _, e := range left {
		leftover = append(leftover, entry{path: filepath.Join(dir, e.Name())})
	}
	b.stopped.Add(1)
	go b.run(leftover)
	return b, nil
}

// Take moves path into the bin and queues it, or deletes it at once when
// the queue is full or the move fails; a missing path is an fs.ErrNotExist
// error. While busy reports true (another
// descriptor still reads the file) the file is unlinked without being
// truncated, its blocks freed when that descriptor closes.
func (b *Bin) Take(path string, busy func() bool) error {
	dst := filepath.Join(b.dir, strconv.FormatInt(time.Now().UnixNano(), 10)+"-"+strconv.FormatUint(b.seq.Add(1), 10))
	if err := os.Rename(path, dst); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return err // as os.Remove reports it
		}
		if !b.warned.Swap(true) {
			b.log.Warn().Err(err).Str("file", path).Str("trash", b.dir).Msg("could not move a deleted file to the trash: deleting it, and any later one that cannot move, at once (not logged again); keep the data directory on one file system")
		}
		return os.RemoveAll(path)
	}
	select {
	case b.queue <- entry{path: dst, busy: busy}:
		return nil
	default:
		return os.Remove(dst)
	}
}

func (b *Bin) run(leftover []entry) {
	defer b.stopped.Done()
	for _, e := range leftover {
		if !b.shred(e) {
			return
		}
	}
	for {
		select {
		case <-b.stop:
			return
		case e := <-b.queue:
			if !b.shred(e) {
				return
			}
		}
	}
}

// shred truncates a file a slice at a time, then removes it; false when
// stopped first (the rest stays for the next Open).
func (b *Bin) shred(e entry) bool {
	f, err := os.OpenFile(e.path, os.O_WRONLY, 0)
	if err == nil {
		var st os.FileInfo
		if st, err = f.Stat(); err == nil {
			for size := st.Size(); size > 0 && err == nil && (e.busy == nil || !e.busy()); {
				size = max(0, size-slice)
				err = f.Truncate(size)
				select {
				case <-b.stop:
					_ = f.Close() // the file stays in the bin either way
					return false
				case <-time.After(pause):
				}
			}
		}
		err = errors.Join(err, f.Close())
	}
	if err := errors.Join(err, os.Remove(e.path)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		b.log.Warn().Err(err).Str("file", e.path).Msg("could not free a file in the trash")
	}
	return true
}

// Close stops freeing; files not yet freed wait for the next Open.
func (b *Bin) Close() {
	close(b.stop)
	b.stopped.Wait()
}

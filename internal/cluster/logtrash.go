package cluster

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

// logTrashDir holds the tan log files tan has let go of, until logTrash has
// freed them; it sits beside the NodeHost directory, on the same file system.
const logTrashDir = "raft-logdb-trash"

const (
	// shredSlice is how much of a file one truncation frees.
	shredSlice = 4 << 20
	// shredPause separates truncations: at most 4 MiB per 5 ms (800 MB/s),
	// far above the rate a broker writes its Raft log.
	shredPause = 5 * time.Millisecond
)

// logTrash frees the tan log files tan deletes (a 64 MiB file at a time, the
// Raft log's whole write rate under load) a slice at a time instead of in
// one unlink. ext4 frees a file's blocks in the journal transaction that
// commits next, and on a file system mounted with discard it also discards
// them before that commit completes: one 64 MiB unlink made every fsync on
// the disk (each Raft append's) wait behind it, and these waits were the
// tail of produce latency (docs/BENCHMARKS.md). tan has already dropped a
// file from its manifest when it deletes it, so a file moved here is never
// read again; one left here by a crash is freed at the next start.
type logTrash struct {
	dir     string
	log     zerolog.Logger
	seq     atomic.Uint64
	warned  atomic.Bool // a move failed (e.g. raft/ on another file system); said once
	queue   chan string
	stop    chan struct{}
	stopped sync.WaitGroup
}

// openLogTrash creates dataDir's trash directory and starts freeing what
// it holds.
func openLogTrash(dataDir string, log zerolog.Logger) (*logTrash, error) {
	t := &logTrash{dir: filepath.Join(dataDir, logTrashDir), log: log, queue: make(chan string, 4096), stop: make(chan struct{})}
	if err := os.MkdirAll(t.dir, 0o755); err != nil {
		return nil, fmt.Errorf("Raft log trash: %w", err)
	}
	left, err := os.ReadDir(t.dir)
	if err != nil {
		return nil, fmt.Errorf("Raft log trash: %w", err)
	}
	var leftover []string
	for _, e := range left {
		leftover = append(leftover, filepath.Join(t.dir, e.Name()))
	}
	t.stopped.Add(1)
	go t.run(leftover)
	return t, nil
}

// take moves name into the trash and queues it, or deletes it at once when
// the queue is full or the move fails.
func (t *logTrash) take(name string) error {
	dst := filepath.Join(t.dir, strconv.FormatInt(time.Now().UnixNano(), 10)+"-"+strconv.FormatUint(t.seq.Add(1), 10))
	if err := os.Rename(name, dst); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if !t.warned.Swap(true) {
			t.log.Warn().Err(err).Str("file", name).Str("trash", t.dir).Msg("could not move a Raft log file to the trash: deleting it, and any later one that cannot move, at once (not logged again); keep the data directory on one file system")
		}
		return os.RemoveAll(name)
	}
	select {
	case t.queue <- dst:
		return nil
	default:
		return os.Remove(dst)
	}
}

func (t *logTrash) run(leftover []string) {
	defer t.stopped.Done()
	for _, name := range leftover {
		if !t.shred(name) {
			return
		}
	}
	for {
		select {
		case <-t.stop:
			return
		case name := <-t.queue:
			if !t.shred(name) {
				return
			}
		}
	}
}

// shred truncates name a slice at a time, then removes it; false when
// stopped first (the rest stays for the next start).
func (t *logTrash) shred(name string) bool {
	f, err := os.OpenFile(name, os.O_WRONLY, 0)
	if err == nil {
		var st os.FileInfo
		if st, err = f.Stat(); err == nil {
			for size := st.Size(); size > 0 && err == nil; {
				size = max(0, size-shredSlice)
				err = f.Truncate(size)
				select {
				case <-t.stop:
					_ = f.Close() // the file stays in the trash either way
					return false
				case <-time.After(shredPause):
				}
			}
		}
		err = errors.Join(err, f.Close())
	}
	if err := errors.Join(err, os.Remove(name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.log.Warn().Err(err).Str("file", name).Msg("could not free a Raft log file in the trash")
	}
	return true
}

// close stops freeing; files not yet freed wait for the next start.
func (t *logTrash) close() {
	close(t.stop)
	t.stopped.Wait()
}

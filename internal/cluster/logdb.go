package cluster

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	dbconfig "github.com/lni/dragonboat/v4/config"
	"github.com/lni/dragonboat/v4/plugin/tan"
	"github.com/lni/vfs"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/longboat/longboat/internal/config"
	"github.com/longboat/longboat/internal/durable"
	"github.com/longboat/longboat/internal/meta"
	"github.com/longboat/longboat/internal/storage"
)

// logDBFile records which Raft log store a data directory holds. dragonboat
// refuses to open a NodeHost directory with another store ("logdb type
// changed"), so the choice is made once per data directory and kept.
const logDBFile = "raft-logdb"

// resolveLogDB returns the Raft log store for dataDir: the one recorded
// there, or for a directory made before the choice was recorded (it has
// Raft data but no record) pebble, the only store then; for a new directory
// the requested one, tan-shared if none. A request that contradicts the directory
// is a configuration error: entries cannot be converted in place.
//
// An empty record is one a crash cut short: versions before the record was
// written durably could leave the file created and empty. The store is then
// the one whose files the directory holds, if any.
func resolveLogDB(dataDir, requested string) (string, error) {
	path := filepath.Join(dataDir, logDBFile)
	b, err := os.ReadFile(path)
	held := strings.TrimSpace(string(b))
	recorded := err == nil && held != ""
	switch {
	case recorded:
		if held != config.LogDBTanShared && held != config.LogDBTan && held != config.LogDBPebble {
			return "", fmt.Errorf("%s holds %q, not %q, %q or %q: write the store this directory's raft/ holds (tandb/shard-N inside it means tan-shared, tandb/node-S-R tan)", path, held, config.LogDBTanShared, config.LogDBTan, config.LogDBPebble)
		}
	case err == nil:
		held = storeOnDisk(dataDir)
	case errors.Is(err, fs.ErrNotExist):
		if hasRaftData(dataDir) {
			held = config.LogDBPebble
		}
	default:
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	if held != "" && requested != "" && requested != held {
		// An empty --data-dir is no way out: a Raft member that forgot its
		// log and votes must not rejoin under its old ID.
		return "", fmt.Errorf("--raft-logdb %s: %s holds a %s Raft log, which cannot be converted in place; drop the flag to keep %s", requested, dataDir, held, held)
	}
	kind := held
	if kind == "" {
		kind = requested
	}
	if kind == "" {
		kind = config.LogDBTanShared
	}
	if !recorded {
		if err := durable.WriteFile(path, []byte(kind+"\n"), 0o644); err != nil {
			return "", fmt.Errorf("record the Raft log store: %w", err)
		}
	}
	return kind, nil
}

// storeOnDisk names the Raft log store whose files dataDir holds (tan's
// tandb/ with shard-N/ directories when shared, node-S-R/ ones otherwise,
// or pebble's logdb-N/ directories), or "" when it holds none.
func storeOnDisk(dataDir string) string {
	for _, s := range []struct{ kind, dir string }{{config.LogDBTanShared, "tandb/shard-*"}, {config.LogDBTan, "tandb"}, {config.LogDBPebble, "logdb-*"}} {
		if m, _ := filepath.Glob(filepath.Join(dataDir, "raft", "*", "*", s.dir)); len(m) > 0 {
			return s.kind
		}
	}
	return ""
}

func hasRaftData(dataDir string) bool {
	entries, err := os.ReadDir(filepath.Join(dataDir, "raft"))
	return err == nil && len(entries) > 0
}

// expertConfig selects and sizes the Raft log store.
//
// tan gives every replica its own log file, appends each Raft update to it
// and keeps an index in memory; a file is replaced at 64 MiB and deleted
// once the log is trimmed past it. pebble writes every entry to its WAL and
// then copies it into a memtable, and flushes and compacts; on 2 vCPUs RF=3
// produce moved about twice the bytes with tan (docs/BENCHMARKS.md).
// tan-shared (the default for new data directories) is tan with one log for
// the replicas of a step worker, so one fsync persists a step's appends of
// every partition; upstream keeps it internal, Longboat's copy of dragonboat
// exports it (third_party/dragonboat/LONGBOAT-PATCHES.md).
func expertConfig(cfg *config.Config, kind string, fsync prometheus.Observer, trash storage.Trash) dbconfig.ExpertConfig {
	if kind == config.LogDBTan || kind == config.LogDBTanShared {
		c := dbconfig.GetSmallMemLogDBConfig()
		// tan uses KVWriteBufferSize only for 16 encode buffers, one per
		// step worker; an update larger than one gets its own.
		c.KVWriteBufferSize = 4 << 20
		fs := sparseLogFS{FS: vfs.Default, fsync: fsync, trash: trash}
		if kind == config.LogDBTan {
			return dbconfig.ExpertConfig{LogDB: c, LogDBFactory: tan.Factory, FS: fs}
		}
		e := dbconfig.GetDefaultEngineConfig()
		e.StepGroup = sharedLogGroup
		return dbconfig.ExpertConfig{LogDB: c, Engine: e, LogDBFactory: tan.SharedFactory, FS: fs}
	}
	return dbconfig.ExpertConfig{LogDB: pebbleConfig(cfg)}
}

// sharedLogGroup puts every partition and group replica of a broker on one
// step worker and so, with tan-shared, in one log file, and __meta on its
// own: a step's appends of all busy partitions then cost one fsync instead
// of one each (docs/BENCHMARKS.md). It names the directory each replica's
// log lives in (tandb/shard-<group mod 16>), so it is part of the data
// directory's format and must not change.
func sharedLogGroup(shard uint64) uint64 {
	if shard == meta.ShardID {
		return shard
	}
	return meta.FirstPartitionShard
}

// pebbleConfig sizes the pebble Raft log store (16 shards). Its memtables
// are large enough to hold a busy partition's whole Raft log between trims
// (SnapshotEntries + CompactionOverhead entries of up to ~64 KiB each), so
// a flush finds most of them already deleted and writes little: a replica
// writes about 2.5 bytes per produced byte (the LogDB WAL, the partition
// segment and what flushes still carry) instead of about 3.8.
func pebbleConfig(cfg *config.Config) dbconfig.LogDBConfig {
	c := dbconfig.GetSmallMemLogDBConfig()
	c.KVWriteBufferSize = cfg.LogDBMemtableMB << 20
	// One memtable filling while the previous one flushes: a flush writes
	// little (see above), and pebble preallocates a WAL file of memtable
	// size for each memtable, so more of them only cost disk and memory.
	c.KVMaxWriteBufferNumber = 2
	return c
}

// sparseLogFS is the file system tan gets: it creates log files that are not
// *os.File, the only kind tan preallocates (fallocate of 64 MiB, blocks
// reserved at once). With a file per replica that reserved 64 MiB for every
// replica as it started, 6.8 GB per broker for a 100-partition topic; the
// files now take the disk they are written with. Durability is the same:
// tan syncs with fsync, which persists the blocks an append allocated and
// the new file size along with the data (preallocation kept the size too).
type sparseLogFS struct {
	vfs.FS
	fsync prometheus.Observer // times each log file fsync
	trash storage.Trash       // frees deleted log files gradually; nil deletes at once
}

// RemoveAll hands tan's deleted log files (64 MiB each) to the trash. tan
// has dropped a file from its manifest before it deletes it, so nothing
// reads it again.
func (fs sparseLogFS) RemoveAll(name string) error {
	if fs.trash == nil || filepath.Ext(name) != ".log" {
		return fs.FS.RemoveAll(name)
	}
	if err := fs.trash.Take(name, nil); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

func (fs sparseLogFS) Create(name string) (vfs.File, error) {
	f, err := fs.FS.Create(name)
	if err != nil || filepath.Ext(name) != ".log" {
		return f, err
	}
	return &sparseFile{File: f, fsync: fs.fsync}, nil
}

// sparseFile also drops each log file's synced pages from the page cache.
// A synced entry is read again only when a lagging follower needs entries
// no longer in memory, at restart, and by dragonboat's trim (one entry, for
// its term), so cached copies of the log mostly push out partition segments
// (which consumers read) and make every append find a fresh page: under
// produce load the kernel spent as long allocating and copying into the Raft
// log's pages as into the segments' (perf, 2 vCPU).
// Dropping clean pages is only a hint to the kernel; what is on disk is the
// same. tan appends from one goroutine at a time but may fsync from another
// meanwhile, so a sync drops only what was written before it began.
type sparseFile struct {
	vfs.File
	fsync   prometheus.Observer
	written atomic.Int64 // bytes appended since Create: tan only appends
	mu      sync.Mutex   // orders concurrent syncs' drops
	dropped int64        // start of the range not yet dropped
}

func (f *sparseFile) Write(p []byte) (int, error) {
	n, err := f.File.Write(p)
	f.written.Add(int64(n))
	return n, err
}

func (f *sparseFile) Sync() error {
	// Everything written before fsync starts is durable once it returns.
	// Keep the last, partly written page: the next append fills it, and
	// dropping it would make the kernel read it back first.
	end := f.written.Load() &^ int64(os.Getpagesize()-1)
	start := time.Now()
	if err := f.File.Sync(); err != nil {
		return err
	}
	if f.fsync != nil {
		f.fsync.Observe(time.Since(start).Seconds())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if end > f.dropped {
		dropCache(f.File, f.dropped, end-f.dropped)
		f.dropped = end
	}
	return nil
}

// removedLogsFile lists tan replica directories to delete at the next start.
const removedLogsFile = "raft-logdb-removed"

// releaseTanLog frees a removed replica's tan log. tan's RemoveNodeData
// deletes the replica's entries and older files but keeps its current log
// file (up to 64 MiB) and the directory open for good, and writes an index
// there when the NodeHost closes, so the directory cannot go yet: topic
// churn would leave one behind per deleted replica. The log files are
// truncated now (nothing reads them again: shard IDs are never reused) and
// the directory is listed for removal at the next start, before tan opens.
func releaseTanLog(dataDir string, nodeID, shardID uint64) error {
	name := fmt.Sprintf("node-%d-%d", shardID, nodeID)
	logs, err := filepath.Glob(filepath.Join(tanDirs(dataDir, name), "*.log"))
	if err != nil {
		return err
	}
	for _, l := range logs {
		if err := os.Truncate(l, 0); err != nil {
			return fmt.Errorf("truncate %s: %w", l, err)
		}
	}
	f, err := os.OpenFile(filepath.Join(dataDir, removedLogsFile), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	_, werr := fmt.Fprintln(f, name)
	serr := f.Sync()
	if err := errors.Join(werr, serr, f.Close()); err != nil {
		return fmt.Errorf("list %s for removal: %w", name, err)
	}
	return durable.SyncDir(dataDir)
}

// removeReleasedTanLogs deletes the directories releaseTanLog listed; it
// runs before the NodeHost (and tan) opens. An entry that is not a replica
// directory's name is skipped with a warning, not refused: each append is
// fsynced before the replica counts as removed, so such an entry is an
// append a crash cut short (a partial name, or the zeros ext4 can leave
// in a file's unwritten tail), and keeping one directory is harmless.
func removeReleasedTanLogs(dataDir string, log zerolog.Logger) error {
	list := filepath.Join(dataDir, removedLogsFile)
	b, err := os.ReadFile(list)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, name := range strings.FieldsFunc(string(b), func(r rune) bool { return r == '\n' || r == 0 }) {
		if !tanReplicaName.MatchString(name) {
			log.Warn().Str("file", list).Str("entry", name).Msg("skipping an entry that names no tan replica directory (a listing cut short by a crash); that directory, if any, stays")
			continue
		}
		dirs, err := filepath.Glob(tanDirs(dataDir, name))
		if err != nil {
			return err
		}
		for _, d := range dirs {
			if err := os.RemoveAll(d); err != nil {
				return err
			}
		}
	}
	return os.Remove(list)
}

// tanReplicaName is the name of a tan replica directory,
// node-<shard id>-<replica id>.
var tanReplicaName = regexp.MustCompile(`^node-[0-9]+-[0-9]+$`)

// tanDirs is the glob pattern of a tan replica directory named name:
// NodeHostDir/<hostname>/<node id>/tandb/<name>.
func tanDirs(dataDir, name string) string {
	return filepath.Join(dataDir, "raft", "*", "*", "tandb", name)
}

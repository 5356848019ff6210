package cluster

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/rs/zerolog"
)

// A file system mounted with online discard trims every freed extent inside
// its journal commit, and every fsync waits for that commit. The broker
// frees blocks all the time (each replica's Raft log file is replaced every
// 64 MiB, retention drops segments), so on such a mount produce latency
// follows the device's trim speed (docs/BENCHMARKS.md). The broker cannot
// change the mount; it says so once at start.
func warnOnlineDiscard(dataDir string, log zerolog.Logger) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return // not Linux: nothing to check
	}
	defer f.Close()
	m, err := mountOf(f, dataDir)
	if err != nil {
		log.Debug().Err(err).Msg("data directory's mount options not checked")
		return
	}
	if m.onlineDiscard() {
		log.Warn().Str("mount", m.point).Str("fstype", m.fstype).Str("device", m.source).
			Msg("the data directory's file system is mounted with online discard: its trims run inside journal commits and stall the Raft log's fsyncs; mount it with nodiscard and trim it periodically instead (fstrim, e.g. fstrim.timer)")
	}
}

// mount is one line of /proc/self/mountinfo.
type mount struct {
	point, fstype, source string
	options               []string // per-mount and file-system (super block) options
}

// onlineDiscard: ext4's and XFS's "discard", btrfs's "discard=sync".
// btrfs's discard=async batches trims outside the commit.
func (m mount) onlineDiscard() bool {
	for _, o := range m.options {
		if o == "discard" || o == "discard=sync" {
			return true
		}
	}
	return false
}

// mountOf finds the mount holding dir in mountinfo (proc(5)): the one with
// the longest mount point containing dir, the last listed if several are
// stacked there.
func mountOf(mountinfo io.Reader, dir string) (mount, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return mount{}, err
	}
	if resolved, err := filepath.EvalSymlinks(abs); err == nil {
		abs = resolved
	}
	var best mount
	found := false
	sc := bufio.NewScanner(mountinfo)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		m, ok := parseMountinfo(sc.Text())
		if !ok || !within(abs, m.point) {
			continue
		}
		if !found || len(m.point) >= len(best.point) {
			best, found = m, true
		}
	}
	if err := sc.Err(); err != nil {
		return mount{}, fmt.Errorf("read mountinfo: %w", err)
	}
	if !found {
		return mount{}, fmt.Errorf("no mount holds %s", abs)
	}
	return best, nil
}

// parseMountinfo reads "id parent maj:min root point options [optional...] -
// fstype source superoptions".
func parseMountinfo(line string) (mount, bool) {
	fields := strings.Fields(line)
	sep := -1
	for i := 6; i < len(fields); i++ {
		if fields[i] == "-" {
			sep = i
			break
		}
	}
	if sep < 0 || sep+2 >= len(fields) {
		return mount{}, false
	}
	opts := strings.Split(fields[5], ",")
	if sep+3 < len(fields) {
		opts = append(opts, strings.Split(fields[sep+3], ",")...)
	}
	return mount{point: unescapeMount(fields[4]), fstype: fields[sep+1], source: unescapeMount(fields[sep+2]), options: opts}, true
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// within tells whether path is point or below it.
func within(path, point string) bool {
	if point == "/" {
		return true
	}
	return path == point || strings.HasPrefix(path, point+"/")
}

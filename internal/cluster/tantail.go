package cluster

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"

	"github.com/cespare/xxhash/v2"
	"github.com/rs/zerolog"

	"github.com/longboat/longboat/internal/config"
)

// tan's log format (dragonboat internal/tan/record.go, pebble's WAL record
// format): 32 KiB blocks of chunks, each a 7-byte header (checksum uint32,
// payload length uint16, chunk type) and its payload; the checksum is the
// low 32 bits of the xxhash64 of the type byte and the payload. tan writes
// only the legacy chunk types 1-4; 5-8 are pebble's recyclable ones.
const (
	tanBlockSize       = 32 << 10
	tanHeaderSize      = 7
	tanFirstRecyclable = 5
	tanLastRecyclable  = 8
)

// tanLogName is a tan log file's name; its index file has the same number.
var tanLogName = regexp.MustCompile(`^([0-9]+)\.log$`)

// cutTornTanLogs makes every tan replica's log openable after a crash
// that left its last chunk torn (the header on disk, the payload not all
// there), which tan otherwise refuses for good ("tan: crc mismatch").
//
// At start tan reads the one log file without an index (the one in use
// when the process stopped) and treats a zeroed, over-long or cut-off
// chunk as the end of the log: the writes after the last successful fsync
// that did not all reach the disk. A checksum mismatch is the same tear
// (pebble, whose reader tan's is, counts it so) but tan panics on it. This
// cuts that file at the first chunk whose checksum fails before tan opens
// it, so tan finds the end it expects. Nothing cut was acknowledged: an
// entry counts only once its fsync returned (dragonboat answers the leader
// after tan's save returns), and tan panics when that fsync fails. It runs
// before the NodeHost opens.
func cutTornTanLogs(dataDir, kind string, log zerolog.Logger) error {
	pattern := "node-*" // a directory per replica
	if kind == config.LogDBTanShared {
		pattern = "shard-*" // a directory per step worker's group of replicas
	}
	dirs, err := filepath.Glob(tanDirs(dataDir, pattern))
	if err != nil {
		return err
	}
	for _, dir := range dirs {
		path, ok, err := unindexedTanLog(dir)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		at, size, torn, err := tanTear(path)
		if err != nil {
			return fmt.Errorf("check %s for a torn tail: %w", path, err)
		}
		if !torn {
			continue
		}
		if err := truncateSynced(path, at); err != nil {
			return fmt.Errorf("cut %s at its torn chunk: %w", path, err)
		}
		log.Warn().Str("file", path).Int64("offset", at).Int64("bytes_dropped", size-at).
			Msg("Raft log ended in a torn write (checksum mismatch), cut there: it was never acknowledged; the replica catches up from its peers")
	}
	return nil
}

// unindexedTanLog returns the highest-numbered log file in a tan replica
// directory that has no index file: the one tan rebuilds at open.
func unindexedTanLog(dir string) (string, bool, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", false, err
	}
	names := map[string]bool{}
	var logs []string
	for _, e := range entries {
		names[e.Name()] = true
		if m := tanLogName.FindStringSubmatch(e.Name()); m != nil {
			logs = append(logs, m[1])
		}
	}
	// Equal widths (%06d) until a number passes 999999; then longer is later.
	slices.SortFunc(logs, func(a, b string) int {
		if len(a) != len(b) {
			return len(a) - len(b)
		}
		return cmp.Compare(a, b)
	})
	if len(logs) == 0 || names[logs[len(logs)-1]+".index"] {
		return "", false, nil
	}
	return filepath.Join(dir, logs[len(logs)-1]+".log"), true, nil
}

// truncateSynced cuts a file to size and syncs it.
func truncateSynced(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	terr := f.Truncate(size)
	if terr == nil {
		terr = f.Sync()
	}
	return errors.Join(terr, f.Close())
}

// tanTear walks a tan log's chunks as tan's reader does and reports the
// offset of the first one whose checksum fails (torn), and the file size.
// It stops without a tear where tan stops by itself: a zeroed header, a
// chunk running past its block or the file, a recyclable chunk (a type tan
// never writes, which its reader takes for a previous file's and stops at).
func tanTear(path string) (at, size int64, torn bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, false, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, 0, false, err
	}
	size = st.Size()
	buf := make([]byte, tanBlockSize)
	for block := int64(0); ; block += tanBlockSize {
		n, err := io.ReadFull(f, buf)
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
			return 0, size, false, err
		}
		for pos := 0; pos+tanHeaderSize <= n; {
			sum := binary.LittleEndian.Uint32(buf[pos:])
			length := int(binary.LittleEndian.Uint16(buf[pos+4:]))
			typ := buf[pos+6]
			if sum == 0 && length == 0 && typ == 0 {
				if n-pos < tanHeaderSize+4 {
					break // the writer's zero padding at a block's end
				}
				return 0, size, false, nil
			}
			end := pos + tanHeaderSize + length
			if end > n || (typ >= tanFirstRecyclable && typ <= tanLastRecyclable) {
				return 0, size, false, nil
			}
			if uint32(xxhash.Sum64(buf[pos+6:end])) != sum {
				return block + int64(pos), size, true, nil
			}
			pos = end
		}
		if n < tanBlockSize {
			return 0, size, false, nil
		}
	}
}

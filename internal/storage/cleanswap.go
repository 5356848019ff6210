package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/longboat/longboat/internal/durable"
)

// The cleaner replaces a run of sealed segments with one cleaned segment
// in steps that a crash may interrupt anywhere (Kafka's .cleaned/.swap):
//
//  1. write <base>.cleaned and fsync it;
//  2. rename it to <base>-<end>.swap and fsync the directory: from here
//     the replacement is decided, and Open finishes it;
//  3. remove the replaced segments' files other than <base>.log;
//  4. rename the .swap over <base>.log and fsync the directory.
//
// Open (finishSwaps) removes every .cleaned file (step 1 never counts) and
// completes steps 3 and 4 for every .swap file, so the segment set is
// always either the old run or the cleaned segment, never a mix.
const (
	cleanedExt = ".cleaned"
	swapExt    = ".swap"
)

func cleanedPath(dir string, base int64) string {
	return filepath.Join(dir, fmt.Sprintf("%020d%s", base, cleanedExt))
}

func swapPath(dir string, base, end int64) string {
	return filepath.Join(dir, fmt.Sprintf("%020d-%020d%s", base, end, swapExt))
}

// parseSwap reads the offsets of a <base>-<end>.swap name.
func parseSwap(name string) (base, end int64, ok bool) {
	stem, ok := strings.CutSuffix(name, swapExt)
	if !ok {
		return 0, 0, false
	}
	b, e, ok := strings.Cut(stem, "-")
	if !ok {
		return 0, 0, false
	}
	base, ok1 := parseName(b, "")
	end, ok2 := parseName(e, "")
	return base, end, ok1 && ok2 && base < end
}

// finishSwaps runs at Open, before the segments are listed.
func finishSwaps(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	changed := false
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), cleanedExt) {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return fmt.Errorf("remove unfinished cleaned segment: %w", err)
			}
			changed = true
		}
	}
	for _, e := range entries {
		base, end, ok := parseSwap(e.Name())
		if !ok {
			continue
		}
		if err := completeSwap(dir, entries, base, end); err != nil {
			return err
		}
		changed = true
	}
	if changed {
		return durable.SyncDir(dir)
	}
	return nil
}

// completeSwap does steps 3 and 4 for the swap file of [base, end).
func completeSwap(dir string, entries []fs.DirEntry, base, end int64) error {
	for _, e := range entries {
		for _, ext := range []string{".log", ".index"} {
			b, ok := parseName(e.Name(), ext)
			if !ok || b < base || b >= end || (b == base && ext == ".log") {
				continue
			}
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("finish cleaner swap: %w", err)
			}
		}
	}
	if err := os.Rename(swapPath(dir, base, end), newSegment(dir, base).logPath); err != nil {
		return fmt.Errorf("finish cleaner swap: %w", err)
	}
	return nil
}

// Command fsyncbench measures the disk's ceiling for a durable log: one
// writer appending fixed-size blocks to a file, each followed by
// fdatasync, as a Raft log does for every batch it persists. Used by
// scripts/bench-compare.sh at the same block size as Longboat's proposals.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"time"
)

func main() {
	dir := flag.String("dir", os.TempDir(), "directory for the scratch file (removed afterwards)")
	size := flag.Int("size", 64<<10, "bytes per append")
	dur := flag.Duration("duration", 20*time.Second, "how long to append")
	flag.Parse()
	if err := run(*dir, *size, *dur); err != nil {
		fmt.Fprintln(os.Stderr, "fsyncbench:", err)
		os.Exit(1)
	}
}

func run(dir string, size int, dur time.Duration) error {
	path := filepath.Join(dir, "fsyncbench.log")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open scratch file: %w", err)
	}
	defer os.Remove(path)
	defer f.Close()
	block := make([]byte, size)
	for i := range block {
		block[i] = byte(i)
	}
	var lats []time.Duration
	start := time.Now()
	for time.Since(start) < dur {
		t0 := time.Now()
		if _, err := f.Write(block); err != nil {
			return fmt.Errorf("append: %w", err)
		}
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			return fmt.Errorf("fdatasync: %w", err)
		}
		lats = append(lats, time.Since(t0))
	}
	secs := time.Since(start).Seconds()
	sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
	at := func(p float64) float64 { return float64(lats[int(float64(len(lats)-1)*p)].Microseconds()) / 1000 }
	fmt.Printf("RESULT size=%d appends/s=%.0f MB/s=%.1f p50_ms=%.2f p99_ms=%.2f\n",
		size, float64(len(lats))/secs, float64(len(lats))*float64(size)/secs/1e6, at(0.5), at(0.99))
	return nil
}

// Package trashtest lets tests see what reaches a real trash.Bin.
package trashtest

import (
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/longboat/longboat/internal/trash"
)

// Counting counts the files handed to its Bin.
type Counting struct {
	Bin   *trash.Bin
	Dir   string
	taken atomic.Int32
}

// Open starts a Bin in a new temporary directory, closed when the test ends.
func Open(t testing.TB) *Counting {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "trash")
	bin, err := trash.Open(dir, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bin.Close)
	return &Counting{Bin: bin, Dir: dir}
}

// Take counts the file, then hands it to the Bin.
func (c *Counting) Take(path string, busy func() bool) error {
	c.taken.Add(1)
	return c.Bin.Take(path, busy)
}

// Taken is how many files Take was given.
func (c *Counting) Taken() int { return int(c.taken.Load()) }

// WaitEmpty waits until dir (a Bin's) holds no file: all were freed.
func WaitEmpty(t testing.TB, dir string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		left, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d files still in %s", len(left), dir)
		}
	}
}

package cluster

import (
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/lni/vfs"
	"github.com/rs/zerolog"

	"github.com/longboat/longboat/internal/trash"
)

// countingTrash counts the files handed to a real trash.Bin.
type countingTrash struct {
	bin   *trash.Bin
	taken atomic.Int32
}

func (c *countingTrash) Take(path string, busy func() bool) error {
	c.taken.Add(1)
	return c.bin.Take(path, busy)
}

// tan's deleted log files go to the trash; its other files are removed as
// before.
func TestSparseLogFSTrashesLogFiles(t *testing.T) {
	dir := t.TempDir()
	bin, err := trash.Open(filepath.Join(dir, trashDir), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer bin.Close()
	counted := &countingTrash{bin: bin}
	fs := sparseLogFS{FS: vfs.Default, trash: counted}
	logFile, index := filepath.Join(dir, "000001.log"), filepath.Join(dir, "000001.index")
	for _, name := range []string{logFile, index} {
		if err := os.WriteFile(name, []byte("tan"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := fs.RemoveAll(name); err != nil {
			t.Fatalf("RemoveAll(%s): %v", name, err)
		}
		if _, err := os.Stat(name); !os.IsNotExist(err) {
			t.Fatalf("%s still there after RemoveAll: %v", name, err)
		}
	}
	if n := counted.taken.Load(); n != 1 {
		t.Fatalf("%d files went to the trash, want the log file", n)
	}
	// Like os.RemoveAll, removing what is not there is no error.
	if err := fs.RemoveAll(logFile); err != nil {
		t.Fatalf("RemoveAll of a missing log file: %v", err)
	}
}

package cluster

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/lni/vfs"

	"github.com/longboat/longboat/internal/trash/trashtest"
)

// tan's deleted log files go to the trash; its other files are removed as
// before.
func TestSparseLogFSTrashesLogFiles(t *testing.T) {
	dir := t.TempDir()
	counted := trashtest.Open(t)
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
	if n := counted.Taken(); n != 1 {
		t.Fatalf("%d files went to the trash, want the log file", n)
	}
	// Like os.RemoveAll, removing what is not there is no error.
	if err := fs.RemoveAll(logFile); err != nil {
		t.Fatalf("RemoveAll of a missing log file: %v", err)
	}
}

package cluster

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lni/vfs"
	"github.com/rs/zerolog"
)

// writeFile makes a sparse file of size bytes: freeing one takes as many
// truncations as a written one.
func writeFile(t *testing.T, path string, size int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(f.Truncate(size), f.Close()); err != nil {
		t.Fatal(err)
	}
}

func waitEmpty(t *testing.T, dir string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
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
		time.Sleep(10 * time.Millisecond)
	}
}

// tan's deleted log files leave its directory at once and are freed from
// the trash; other files tan removes go as before.
func TestLogTrashFreesDeletedLogFiles(t *testing.T) {
	data := t.TempDir()
	trash, err := openLogTrash(data, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer trash.close()
	tandb := filepath.Join(data, "raft", "tandb")
	if err := os.MkdirAll(tandb, 0o755); err != nil {
		t.Fatal(err)
	}
	fs := sparseLogFS{FS: vfs.Default, trash: trash}
	logFile, index := filepath.Join(tandb, "000001.log"), filepath.Join(tandb, "000001.index")
	writeFile(t, logFile, 3*shredSlice+123)
	writeFile(t, index, 10)
	for _, name := range []string{logFile, index, filepath.Join(tandb, "missing.log")} {
		if err := fs.RemoveAll(name); err != nil {
			t.Fatalf("RemoveAll(%s): %v", name, err)
		}
		if _, err := os.Stat(name); !os.IsNotExist(err) {
			t.Fatalf("%s still there after RemoveAll: %v", name, err)
		}
	}
	if n := trash.seq.Load(); n != 2 {
		t.Fatalf("%d names went to the trash, want the two .log ones", n)
	}
	waitEmpty(t, filepath.Join(data, logTrashDir))
}

// A file a crash left in the trash is freed at the next start; one not yet
// freed when the trash closes stays for the start after.
func TestLogTrashLeftovers(t *testing.T) {
	data := t.TempDir()
	dir := filepath.Join(data, logTrashDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "left")
	// 100 slices take at least 0.5 s to free, longer than close below.
	writeFile(t, big, 100*shredSlice)
	trash, err := openLogTrash(data, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	trash.close()
	if d := time.Since(start); d > time.Second {
		t.Fatalf("close took %v", d)
	}
	st, err := os.Stat(big)
	if err != nil {
		t.Fatalf("a file not yet freed left the trash at close: %v", err)
	}
	if st.Size() >= 100*shredSlice {
		t.Fatalf("nothing of %s was freed in 50 ms (size %d)", big, st.Size())
	}
	trash, err = openLogTrash(data, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer trash.close()
	waitEmpty(t, dir)
}

package trash_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/longboat/longboat/internal/trash"
	"github.com/longboat/longboat/internal/trash/trashtest"
)

// slice is a little more than the Bin frees in one truncation (4 MiB).
const slice = 5 << 20

// sparse makes a sparse file of size bytes: freeing one takes as many
// truncations as a written one.
func sparse(t *testing.T, path string, size int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(f.Truncate(size), f.Close()); err != nil {
		t.Fatal(err)
	}
}

// A taken file leaves its directory at once and is freed from the bin; a
// missing one is reported as os.Remove reports it.
func TestTakeFrees(t *testing.T) {
	dir := t.TempDir()
	b, err := trash.Open(filepath.Join(dir, "trash"), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	f := filepath.Join(dir, "00000001.log")
	sparse(t, f, 3*slice+123)
	if err := b.Take(f, nil); err != nil {
		t.Fatalf("Take(%s): %v", f, err)
	}
	if _, err := os.Stat(f); !os.IsNotExist(err) {
		t.Fatalf("%s still there after Take: %v", f, err)
	}
	if err := b.Take(filepath.Join(dir, "missing"), nil); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Take of a missing file: %v, want fs.ErrNotExist", err)
	}
	trashtest.WaitEmpty(t, filepath.Join(dir, "trash"))
}

// A file another descriptor still reads is unlinked whole: truncating it
// would cut what that reader has not read yet.
func TestTakeBusyIsNotTruncated(t *testing.T) {
	dir := t.TempDir()
	b, err := trash.Open(filepath.Join(dir, "trash"), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	f := filepath.Join(dir, "segment")
	sparse(t, f, 10*slice)
	reader, err := os.Open(f)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	var busy atomic.Bool
	busy.Store(true)
	if err := b.Take(f, busy.Load); err != nil {
		t.Fatal(err)
	}
	trashtest.WaitEmpty(t, filepath.Join(dir, "trash"))
	st, err := reader.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() != 10*slice {
		t.Fatalf("a busy file was truncated to %d bytes", st.Size())
	}
}

// A file a crash left in the bin is freed at the next Open; one not yet
// freed when the bin closes stays for the Open after.
func TestLeftovers(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "trash")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "left")
	// 100 slices take at least 0.5 s to free, longer than Close below.
	sparse(t, big, 100*slice)
	b, err := trash.Open(dir, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	b.Close()
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Close took %v", d)
	}
	st, err := os.Stat(big)
	if err != nil {
		t.Fatalf("a file not yet freed left the bin at Close: %v", err)
	}
	if st.Size() >= 100*slice {
		t.Fatalf("nothing of %s was freed in 50 ms (size %d)", big, st.Size())
	}
	b, err = trash.Open(dir, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	trashtest.WaitEmpty(t, dir)
}

package cluster

import (
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"github.com/lni/vfs"
	"golang.org/x/sys/unix"
)

// resident counts the file's pages in the page cache.
func resident(t *testing.T, path string) (in, total int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	m, err := unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	pages := (len(m) + os.Getpagesize() - 1) / os.Getpagesize()
	vec := make([]byte, pages)
	if _, _, e := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0]))); e != 0 {
		t.Fatal(e)
	}
	for _, v := range vec {
		in += int(v & 1)
	}
	return in, pages
}

// A synced tan log file leaves the page cache except its last, partly
// written page, which the next append fills; unsynced writes stay cached.
func TestSyncedLogPagesLeaveCache(t *testing.T) {
	dir := t.TempDir()
	var fs unix.Statfs_t
	if err := unix.Statfs(dir, &fs); err != nil {
		t.Fatal(err)
	}
	if fs.Type == unix.TMPFS_MAGIC {
		t.Skip("tmpfs pages cannot be dropped: they are the only copy")
	}
	path := filepath.Join(dir, "00000001.log")
	f, err := sparseLogFS{FS: vfs.Default}.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	page := os.Getpagesize()
	block := make([]byte, 64*page+100)
	for i := range block {
		block[i] = byte(i)
	}
	if _, err := f.Write(block); err != nil {
		t.Fatal(err)
	}
	if in, total := resident(t, path); in != total {
		t.Fatalf("before sync %d of %d pages cached, want all", in, total)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if in, total := resident(t, path); in != 1 || total != 65 {
		t.Fatalf("after sync %d of %d pages cached, want only the last, partial one of 65", in, total)
	}
	if _, err := f.Write(block); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if in, total := resident(t, path); in != 1 || total != 129 {
		t.Fatalf("after the second sync %d of %d pages cached, want 1 of 129", in, total)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2*len(block) || got[len(block)] != block[0] || got[len(got)-1] != block[len(block)-1] {
		t.Fatalf("file holds %d bytes, not the two blocks written", len(got))
	}
}

// Files other than the logs (tan's index and state files) are left alone.
func TestOnlyLogFilesDropCache(t *testing.T) {
	f, err := sparseLogFS{FS: vfs.Default}.Create(filepath.Join(t.TempDir(), "00000001.index"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, ok := f.(*sparseFile); ok {
		t.Fatal("an index file was wrapped")
	}
}

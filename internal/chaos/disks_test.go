package chaos

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// loopDisk gives one broker a loop-mounted ext4 of size bytes, or skips
// the test where that cannot be made (not root, no loop device, no
// mkfs.ext4).
func loopDisk(t *testing.T, size int64) *ProcessBackend {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (loop mounts)")
	}
	if err := exec.Command("losetup", "-f").Run(); err != nil {
		t.Skip("no free loop device")
	}
	if _, err := exec.LookPath("mkfs.ext4"); err != nil {
		t.Skip("no mkfs.ext4")
	}
	pb := &ProcessBackend{Dir: t.TempDir(), n: 1, DiskBytes: size}
	if err := pb.setupDisks(); err != nil {
		pb.teardownDisks()
		t.Fatal(err)
	}
	t.Cleanup(pb.teardownDisks)
	return pb
}

// The disk nemeses' mechanics on a real loop-mounted ext4: a filled disk
// answers ENOSPC until freed, a failed one EIO until mounted again, and a
// copy of the mount in another mount namespace (as `ip netns exec` makes
// for every broker) does not keep the failed filesystem alive.
func TestDiskFaults(t *testing.T) {
	pb := loopDisk(t, 64<<20)
	n := 0
	write := func() error { // a new file each time: a rewrite would reuse its own blocks
		n++
		return os.WriteFile(filepath.Join(pb.DataDir(1), fmt.Sprintf("probe%d", n)), make([]byte, 1<<20), 0o644)
	}
	if err := write(); err != nil {
		t.Fatalf("fresh disk: %v", err)
	}
	if err := pb.FillDisk(1); err != nil {
		t.Fatal(err)
	}
	if err := write(); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("full disk: write answered %v, want ENOSPC", err)
	}
	if err := pb.FreeDisk(1); err != nil {
		t.Fatal(err)
	}
	if err := write(); err != nil {
		t.Fatalf("freed disk: %v", err)
	}

	// Hold a copy of the mount in another mount namespace while the disk
	// fails, as a running broker's namespace does.
	holder := exec.Command("unshare", "--mount", "--propagation", "slave", "sleep", "60")
	if err := holder.Start(); err != nil {
		t.Skipf("unshare: %v", err)
	}
	t.Cleanup(func() { _ = holder.Process.Kill(); _ = holder.Wait() })

	if err := pb.FailDisk(1); err != nil {
		t.Fatal(err)
	}
	if err := write(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("failed disk: write answered %v, want EIO", err)
	}
	if err := pb.remount(1); err != nil {
		t.Fatal(err)
	}
	if err := write(); err != nil {
		t.Fatalf("disk mounted again: %v", err)
	}
	if _, err := os.Stat(filepath.Join(pb.DataDir(1), "probe1")); err != nil {
		t.Fatalf("what was written before the failure: %v", err)
	}
}

// A failed disk keeps every write whose fsync returned: writers append and
// fsync until the disk fails under them, and after it is mounted again
// each file holds at least what its last successful fsync covered. (The
// chaos suite's invariants assume such a disk; see FailDisk.)
func TestFailedDiskKeepsSyncedWrites(t *testing.T) {
	pb := loopDisk(t, 512<<20)
	const rounds, writers = 40, 16
	for round := 0; round < rounds; round++ {
		var synced [writers]atomic.Int64
		var wg sync.WaitGroup
		path := func(w int) string { return filepath.Join(pb.DataDir(1), fmt.Sprintf("r%d-w%d", round, w)) }
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				f, err := os.Create(path(w))
				if err != nil {
					return
				}
				defer f.Close()
				chunk := bytes.Repeat([]byte{byte(w + 1)}, 3000+w*100)
				// Bounded: the disk fails within a second.
				for size := int64(0); size < 256<<20; {
					n, err := f.Write(chunk)
					if err != nil {
						return
					}
					size += int64(n)
					if err := f.Sync(); err != nil {
						return
					}
					synced[w].Store(size)
				}
			}()
		}
		time.Sleep(time.Duration(100+round*7) * time.Millisecond)
		if err := pb.FailDisk(1); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		if err := pb.remount(1); err != nil {
			t.Fatal(err)
		}
		for w := 0; w < writers; w++ {
			var size int64
			if st, err := os.Stat(path(w)); err == nil {
				size = st.Size()
			}
			if size < synced[w].Load() {
				t.Errorf("round %d: file %d holds %d bytes after the failure, but an fsync returned with %d written", round, w, size, synced[w].Load())
			}
		}
	}
}

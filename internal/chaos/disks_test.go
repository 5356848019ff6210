package chaos

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// The disk nemeses' mechanics on a real loop-mounted ext4: a filled disk
// answers ENOSPC until freed, a failed one EIO until mounted again, and a
// copy of the mount in another mount namespace (as `ip netns exec` makes
// for every broker) does not keep the failed filesystem alive. Root only.
func TestDiskFaults(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (loop mounts)")
	}
	if err := exec.Command("losetup", "-f").Run(); err != nil {
		t.Skip("no free loop device")
	}
	if _, err := exec.LookPath("mkfs.ext4"); err != nil {
		t.Skip("no mkfs.ext4")
	}
	pb := &ProcessBackend{Dir: t.TempDir(), n: 1, DiskBytes: 64 << 20}
	if err := pb.setupDisks(); err != nil {
		pb.teardownDisks()
		t.Fatal(err)
	}
	t.Cleanup(pb.teardownDisks)
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

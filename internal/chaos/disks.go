package chaos

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
	"unsafe"
)

// DiskFaults is what a backend with a filesystem of its own per broker can
// do to it (the process backend with --disk-size).
type DiskFaults interface {
	Disks() bool
	// FillDisk takes every free byte of broker i's filesystem; FreeDisk
	// gives them back.
	FillDisk(i int) error
	FreeDisk(i int) error
	// FailDisk makes every later I/O on broker i's filesystem fail with
	// EIO, as a dying disk does; RepairDisk ends the broker (it cannot let
	// go of a dead filesystem otherwise), mounts the filesystem afresh
	// (replaying its journal) and starts the broker again.
	FailDisk(i int) error
	RepairDisk(i int) error
}

// ProcessControl is what a backend that runs the broker processes itself
// can tell about them.
type ProcessControl interface {
	Running(i int) bool
	WaitExit(i int, d time.Duration) (exitErr error, exited bool)
	// LogSize is how long broker i's log is; LogFrom what it holds from
	// offset off on (at most 1 MiB).
	LogSize(i int) int64
	LogFrom(i int, off int64) string
}

func (pb *ProcessBackend) Disks() bool { return pb.DiskBytes > 0 }

func (pb *ProcessBackend) image(i int) string {
	return filepath.Join(pb.Dir, fmt.Sprintf("disk%d.img", i))
}
func (pb *ProcessBackend) mountPoint(i int) string {
	return filepath.Join(pb.Dir, fmt.Sprintf("disk%d", i))
}
func (pb *ProcessBackend) filler(i int) string {
	return filepath.Join(pb.mountPoint(i), "chaos-filler")
}

// setupDisks makes a sparse ext4 image per broker (no blocks reserved for
// root: the broker runs as root and would otherwise see a disk that is
// full for everyone else but not for it) and loop-mounts it.
//
// The brokers' directory is first bind-mounted on itself as a shared
// mount: `ip netns exec` gives each broker a mount namespace of its own,
// a slave copy of ours, and every broker's copy would otherwise keep every
// disk's filesystem alive after we unmount it, so a failed disk could never
// be mounted afresh.
func (pb *ProcessBackend) setupDisks() error {
	pb.disksUp = true
	if err := sh("mount", "--bind", pb.Dir, pb.Dir); err != nil {
		return err
	}
	if err := sh("mount", "--make-shared", pb.Dir); err != nil {
		return err
	}
	for i := 1; i <= pb.n; i++ {
		f, err := os.Create(pb.image(i))
		if err != nil {
			return fmt.Errorf("disk image of broker %d: %w", i, err)
		}
		err = f.Truncate(pb.DiskBytes)
		f.Close()
		if err != nil {
			return fmt.Errorf("disk image of broker %d: %w", i, err)
		}
		if err := sh("mkfs.ext4", "-q", "-F", "-m", "0", pb.image(i)); err != nil {
			return err
		}
		if err := os.MkdirAll(pb.mountPoint(i), 0o755); err != nil {
			return err
		}
		if err := pb.mount(i); err != nil {
			return err
		}
		if err := os.MkdirAll(pb.DataDir(i), 0o755); err != nil {
			return err
		}
	}
	return nil
}

func (pb *ProcessBackend) mount(i int) error {
	return sh("mount", "-o", "loop", pb.image(i), pb.mountPoint(i))
}

// unmount retries a little: the kernel may hold the filesystem a moment
// after the last process using it died.
func (pb *ProcessBackend) unmount(i int) error {
	var err error
	for try := 0; try < 20; try++ {
		if err = sh("umount", pb.mountPoint(i)); err == nil {
			return nil
		}
		time.Sleep(250 * time.Millisecond)
	}
	return err
}

func (pb *ProcessBackend) teardownDisks() {
	if !pb.disksUp {
		return
	}
	pb.disksUp = false
	for i := 1; i <= pb.n; i++ {
		_ = pb.unmount(i)
		_ = os.Remove(pb.image(i))
	}
	_ = sh("umount", pb.Dir)
}

func (pb *ProcessBackend) FillDisk(i int) error {
	f, err := os.OpenFile(pb.filler(i), os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("fill broker %d's disk: %w", i, err)
	}
	defer f.Close()
	var st syscall.Statfs_t
	if err := syscall.Statfs(pb.mountPoint(i), &st); err != nil {
		return fmt.Errorf("fill broker %d's disk: %w", i, err)
	}
	// Allocate what is free, less a little per try for the extent tree, then
	// write until nothing is left.
	size := int64(st.Bavail) * st.Bsize
	for ; size > 0; size -= 1 << 20 {
		if err := syscall.Fallocate(int(f.Fd()), 0, 0, size); err == nil {
			break
		} else if !errors.Is(err, syscall.ENOSPC) {
			return fmt.Errorf("fill broker %d's disk: fallocate: %w", i, err)
		}
	}
	if _, err := f.Seek(0, 2); err != nil {
		return err
	}
	chunk := make([]byte, 64<<10)
	for n := 0; n < 1<<14; n++ {
		if _, err := f.Write(chunk); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return nil
			}
			return fmt.Errorf("fill broker %d's disk: %w", i, err)
		}
	}
	return fmt.Errorf("fill broker %d's disk: still not full after 1 GiB of writes past the allocation", i)
}

func (pb *ProcessBackend) FreeDisk(i int) error {
	if err := os.Remove(pb.filler(i)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("free broker %d's disk: %w", i, err)
	}
	return nil
}

// ext4's EXT4_IOC_SHUTDOWN (_IOR('X', 125, __u32)) with
// EXT4_GOING_FLAGS_DEFAULT: the filesystem is frozen (what was written is
// flushed), then every later read or write fails with EIO until it is
// mounted again: a disk that stops answering, having kept every write it
// acknowledged. EXT4_GOING_FLAGS_LOGFLUSH is not that disk: it aborts the
// journal under fsyncs in flight, and one that returns success can still
// lose its write (TestFailedDiskKeepsSyncedWrites lost 1 and 6 of its 640
// files in two runs with it): a Raft replica then forgets an entry it
// acknowledged, which no Raft implementation recovers from.
const (
	ext4IocShutdown       = 0x8004587D
	ext4GoingFlagsDefault = 0
)

func (pb *ProcessBackend) FailDisk(i int) error {
	d, err := os.Open(pb.mountPoint(i))
	if err != nil {
		return fmt.Errorf("fail broker %d's disk: %w", i, err)
	}
	defer d.Close()
	flag := uint32(ext4GoingFlagsDefault)
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, d.Fd(), ext4IocShutdown, uintptr(unsafe.Pointer(&flag))); errno != 0 {
		return fmt.Errorf("fail broker %d's disk: shutdown ioctl: %w", i, errno)
	}
	return nil
}

func (pb *ProcessBackend) RepairDisk(i int) error {
	_ = pb.Kill(i)
	if err := pb.remount(i); err != nil {
		return err
	}
	return pb.Restart(i)
}

// remount mounts broker i's filesystem afresh; nothing may use it.
func (pb *ProcessBackend) remount(i int) error {
	if err := pb.unmount(i); err != nil {
		return fmt.Errorf("repair broker %d's disk: %w", i, err)
	}
	if err := pb.mount(i); err != nil {
		return fmt.Errorf("repair broker %d's disk: %w", i, err)
	}
	return nil
}

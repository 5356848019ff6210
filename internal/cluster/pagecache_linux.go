package cluster

import (
	"github.com/lni/vfs"
	"golang.org/x/sys/unix"
)

// dropCache asks the kernel to drop the file's clean cached pages in
// [off, off+n). It is a hint: a file without a descriptor, or an error, only
// leaves the pages cached.
func dropCache(f vfs.File, off, n int64) {
	if fd, ok := f.(interface{ Fd() uintptr }); ok {
		_ = unix.Fadvise(int(fd.Fd()), off, n, unix.FADV_DONTNEED)
	}
}

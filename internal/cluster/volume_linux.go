package cluster

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// volumeBytes is statfs(2): the file system's size and the bytes an
// unprivileged writer may still use.
func volumeBytes(dir string) (total, usable int64, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return -1, -1, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return int64(st.Blocks) * st.Bsize, int64(st.Bavail) * st.Bsize, nil
}

//go:build !linux

package cluster

import "github.com/lni/vfs"

// dropCache does nothing where posix_fadvise is not offered (macOS): the
// pages stay cached, which costs memory, not correctness.
func dropCache(vfs.File, int64, int64) {}

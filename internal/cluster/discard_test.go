package cluster

import (
	"os"
	"strings"
	"testing"
)

func TestMountOfFindsTheDataDirectorysMount(t *testing.T) {
	const mountinfo = `27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard,resv_strict
30 27 8:16 / /data rw,noatime shared:5 - xfs /dev/sdb rw,attr2,inode64
31 30 8:32 / /data/kafka rw,noatime shared:6 master:1 - ext4 /dev/sdc rw,discard
32 27 8:48 / /srv/with\040space rw - ext4 /dev/my\040disk rw,discard
33 27 0:40 / /btr rw - btrfs /dev/sdd rw,discard=async,space_cache=v2
34 27 0:41 / /btrsync rw - btrfs /dev/sde rw,discard=sync
35 27 8:64 / /opt rw,noatime - ext4 /dev/sdf rw,discard
36 35 8:80 / /opt rw,noatime - ext4 /dev/sdg rw
garbage line
`
	cases := []struct {
		dir, point, source string
		discard            bool
	}{
		{"/var/lib/longboat", "/", "/dev/vda", true},
		{"/data/longboat", "/data", "/dev/sdb", false},
		{"/opt/longboat", "/opt", "/dev/sdg", false}, // the mount stacked last on /opt
		{"/data/kafka/broker-1", "/data/kafka", "/dev/sdc", true},
		{"/data/kafkaesque", "/data", "/dev/sdb", false}, // not below /data/kafka
		{"/srv/with space/d", "/srv/with space", "/dev/my disk", true},
		{"/btr/d", "/btr", "/dev/sdd", false},
		{"/btrsync", "/btrsync", "/dev/sde", true},
	}
	for _, tc := range cases {
		m, err := mountOf(strings.NewReader(mountinfo), tc.dir)
		if err != nil {
			t.Fatalf("%s: %v", tc.dir, err)
		}
		if m.point != tc.point || m.source != tc.source || m.onlineDiscard() != tc.discard {
			t.Errorf("%s: mount %q on %q, online discard %v; want %q on %q, %v", tc.dir, m.source, m.point, m.onlineDiscard(), tc.source, tc.point, tc.discard)
		}
	}
	if _, err := mountOf(strings.NewReader("garbage\n"), "/x"); err == nil {
		t.Error("a mountinfo without a mount for the directory gave no error")
	}
}

// This machine's own mount table: the temporary directory lies on some mount.
func TestMountOfReadsThisMachinesMountTable(t *testing.T) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Skip("no /proc/self/mountinfo here")
	}
	defer f.Close()
	m, err := mountOf(f, t.TempDir())
	if err != nil || m.point == "" || m.fstype == "" {
		t.Fatalf("mount %+v, %v", m, err)
	}
}

package cluster

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/longboat/longboat/internal/config"
)

func TestJudgeFresh(t *testing.T) {
	fresh := IdentityReport{}
	starting := IdentityReport{Starting: true, HasData: true, ClusterID: "c1"}
	member := IdentityReport{ClusterID: "c1", HasData: true, Synced: true, Brokers: map[uint64]string{1: "a", 3: "old"}}
	without := IdentityReport{ClusterID: "c1", HasData: true, Synced: true, Brokers: map[uint64]string{1: "a", 2: "b"}}
	unsynced := IdentityReport{ClusterID: "c1", HasData: true, Brokers: map[uint64]string{1: "a"}}
	cases := []struct {
		name       string
		members    int
		answers    map[uint64]IdentityReport
		windowOver bool
		want       freshVerdict
	}{
		{"first start: every peer new", 3, map[uint64]IdentityReport{1: fresh, 2: fresh}, false, freshProceed},
		{"registered in a peer's __meta", 3, map[uint64]IdentityReport{1: member, 2: fresh}, false, freshRefuse},
		{"registered beats a synced peer without it", 3, map[uint64]IdentityReport{1: without, 2: member}, false, freshRefuse},
		{"synced cluster never had this node", 3, map[uint64]IdentityReport{1: without}, false, freshProceed},
		{"one peer silent: wait", 3, map[uint64]IdentityReport{1: fresh}, false, freshWait},
		{"one peer silent, window over: majority new", 3, map[uint64]IdentityReport{1: fresh}, true, freshProceed},
		{"nobody answered, window over", 3, map[uint64]IdentityReport{}, true, freshRefuse},
		{"five members, one new peer, window over", 5, map[uint64]IdentityReport{1: fresh}, true, freshRefuse},
		{"peer with data, starting: wait", 3, map[uint64]IdentityReport{1: starting, 2: fresh}, false, freshWait},
		{"cluster not synced, window over", 3, map[uint64]IdentityReport{1: unsynced, 2: fresh}, true, freshRefuse},
	}
	for _, tc := range cases {
		got, why := judgeFresh(3, tc.members, tc.answers, tc.windowOver)
		if got != tc.want {
			t.Errorf("%s: verdict %d (%s), want %d", tc.name, got, why, tc.want)
		}
	}
}

func TestIdentityFileRoundTrip(t *testing.T) {
	dir := t.TempDir()
	if id, err := readIdentity(dir); err != nil || id != nil {
		t.Fatalf("empty dir: %v %v", id, err)
	}
	want := identity{ClusterID: "c", NodeID: 2, Incarnation: randomID()}
	if err := writeIdentity(dir, want); err != nil {
		t.Fatal(err)
	}
	got, err := readIdentity(dir)
	if err != nil || got == nil || *got != want {
		t.Fatalf("read %+v %v, want %+v", got, err, want)
	}
	if _, err := os.Stat(filepath.Join(dir, identityFile+".tmp")); !os.IsNotExist(err) {
		t.Fatalf("temporary file left: %v", err)
	}
}

// A directory with Raft data and no identity file (made before identity
// files) adopts one; a directory of another node id is refused.
func TestIdentityCheckLocalRules(t *testing.T) {
	dir := t.TempDir()
	cfg := &config.Config{NodeID: 1, DataDir: dir, InitialMembers: map[uint64]string{1: "127.0.0.1:1"}}
	check := identityCheck{cfg: cfg, client: newPeerHTTP(nil).timeout(time.Second), window: time.Second, log: zerolog.Nop()}
	if err := os.MkdirAll(filepath.Join(dir, "raft", "tandb"), 0o755); err != nil {
		t.Fatal(err)
	}
	id, err := check.run(context.Background())
	if err != nil || id.NodeID != 1 || id.Incarnation == "" {
		t.Fatalf("upgrade: %+v %v", id, err)
	}
	again, err := check.run(context.Background())
	if err != nil || again != id {
		t.Fatalf("second start: %+v %v, want %+v", again, err, id)
	}
	cfg.NodeID = 2
	cfg.InitialMembers = map[uint64]string{2: "127.0.0.1:1"}
	if _, err := check.run(context.Background()); err == nil || !strings.Contains(err.Error(), "belongs to node 1") {
		t.Fatalf("node 1's directory as node 2: %v", err)
	}
}

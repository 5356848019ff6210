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

func TestDeploymentIDFor(t *testing.T) {
	a, b := deploymentIDFor("c1"), deploymentIDFor("c2")
	if a == b || a <= legacyDeploymentID || b <= legacyDeploymentID || a != deploymentIDFor("c1") {
		t.Fatalf("ids %d %d: want distinct, stable, above %d", a, b, legacyDeploymentID)
	}
}

func TestNewMemberDeployment(t *testing.T) {
	starting := func(p string) IdentityReport { return IdentityReport{Starting: true, ClusterIDProposal: p} }
	running := IdentityReport{DeploymentID: 77}
	forming := IdentityReport{DeploymentID: 77, ClusterIDProposal: "p1"}
	old := IdentityReport{ClusterID: "c-old", HasData: true, Synced: true, Brokers: map[uint64]string{1: "a"}}
	cases := []struct {
		name     string
		self     uint64
		answers  map[uint64]IdentityReport
		peers    bool
		wantCID  string
		wantDID  uint64
		wantFail string
	}{
		{"new cluster, node 1 proposes", 2, map[uint64]IdentityReport{1: starting("p1"), 3: starting("p3")}, true, "p1", deploymentIDFor("p1"), ""},
		{"new cluster, self lowest", 1, map[uint64]IdentityReport{2: starting("p2"), 3: starting("p3")}, true, "own", deploymentIDFor("own"), ""},
		{"node 1 silent: lowest heard", 3, map[uint64]IdentityReport{2: starting("p2")}, true, "p2", deploymentIDFor("p2"), ""},
		{"peer already running", 3, map[uint64]IdentityReport{1: running, 2: starting("p2")}, true, "", 77, ""},
		{"peer running, __meta not formed", 3, map[uint64]IdentityReport{1: forming, 2: forming}, true, "p1", 77, ""},
		{"peers of a cluster from before deployment ids", 3, map[uint64]IdentityReport{1: old}, true, "", legacyDeploymentID, ""},
		{"no --initial-members-http", 2, nil, false, "", legacyDeploymentID, ""},
		{"peers disagree", 3, map[uint64]IdentityReport{1: running, 2: {DeploymentID: 78}}, true, "", 0, "different Raft deployment ids"},
	}
	for _, tc := range cases {
		cid, did, why, err := newMemberDeployment(tc.self, "own", tc.peers, tc.answers)
		if tc.wantFail != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantFail) {
				t.Errorf("%s: err %v, want %q", tc.name, err, tc.wantFail)
			}
			continue
		}
		if err != nil || cid != tc.wantCID || did != tc.wantDID {
			t.Errorf("%s: %q %d (%s) %v, want %q %d", tc.name, cid, did, why, err, tc.wantCID, tc.wantDID)
		}
	}
}

// An upgrade: a data directory whose identity file predates deployment
// ids keeps the id its Raft data lies under (dragonboat's directory name),
// and records it; a new single-broker directory derives one from the
// cluster id it will propose.
func TestIdentityDeploymentOnUpgrade(t *testing.T) {
	dir := t.TempDir()
	cfg := &config.Config{NodeID: 1, DataDir: dir, InitialMembers: map[uint64]string{1: "127.0.0.1:1"}}
	check := identityCheck{cfg: cfg, client: newPeerHTTP(nil).timeout(time.Second), window: time.Second, log: zerolog.Nop()}
	fresh, err := check.run(context.Background())
	if err != nil || fresh.NewClusterID == "" || fresh.DeploymentID != deploymentIDFor(fresh.NewClusterID) {
		t.Fatalf("new directory: %+v %v", fresh, err)
	}

	for _, onDisk := range []string{"00000000000000000001", "00000000000000000042"} {
		dir := t.TempDir()
		cfg.DataDir = dir
		if err := writeIdentity(dir, identity{ClusterID: "c", NodeID: 1, Incarnation: "i"}); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(dir, "raft", "broker1", onDisk, "tandb"), 0o755); err != nil {
			t.Fatal(err)
		}
		id, err := check.run(context.Background())
		want := map[string]uint64{"00000000000000000001": 1, "00000000000000000042": 42}[onDisk]
		if err != nil || id.DeploymentID != want || id.ClusterID != "c" || id.Incarnation != "i" {
			t.Fatalf("%s: %+v %v, want deployment id %d", onDisk, id, err, want)
		}
		if saved, err := readIdentity(dir); err != nil || saved.DeploymentID != want {
			t.Fatalf("%s: saved %+v %v", onDisk, saved, err)
		}
	}

	if err := os.MkdirAll(filepath.Join(dir, "raft", "broker1", "00000000000000000009"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "raft", "broker1", "00000000000000000010"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := onDiskDeploymentID(dir); err == nil || !strings.Contains(err.Error(), "several deployment ids") {
		t.Fatalf("two deployment directories: %v", err)
	}
}

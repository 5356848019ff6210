package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/longboat/longboat/internal/broker"
	"github.com/longboat/longboat/internal/testcluster"
)

// A broker whose data directory was wiped must not rejoin under its node
// id (it would vote with an empty log); one holding another cluster's or
// another node's directory must not start either. Each refusal leaves the
// cluster serving with every acknowledged record, and a plain restart
// still works.
func TestBrokerIdentityRefusals(t *testing.T) {
	t.Parallel()
	c := testcluster.Start(t, testcluster.Options{})
	seeds := c.Addrs()
	createTopic(t, seeds, "ids", 3, 3)
	cl := newClient(t, seeds)
	produced := produceN(t, cl, "ids", "before", 300)

	const victim = 2 // node 3
	cfg := c.Configs[victim]
	c.StopBroker(victim)
	keep := cfg.DataDir + ".keep"
	if err := os.Rename(cfg.DataDir, keep); err != nil {
		t.Fatal(err)
	}

	refused := func(what string, want ...string) {
		t.Helper()
		b, err := broker.Start(cfg, zerolog.Nop())
		if err == nil {
			b.Close()
			t.Fatalf("%s: broker started", what)
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Fatalf("%s: error %q lacks %q", what, err, w)
			}
		}
		t.Logf("%s: refused: %v", what, err)
	}

	// Wiped: an empty directory under a registered node id.
	refused("wiped data directory", "data directory is empty but node 3 is a member of cluster", "wipe every broker")

	// Another node's directory (a copy of node 2's).
	copyDir(t, c.Configs[1].DataDir, cfg.DataDir)
	refused("node 2's data directory", "belongs to node 2")
	if err := os.RemoveAll(cfg.DataDir); err != nil {
		t.Fatal(err)
	}

	// Another cluster's node 3.
	other := testcluster.Start(t, testcluster.Options{})
	otherID := filepath.Join(other.Configs[victim].DataDir, "identity.json")
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if b, _ := os.ReadFile(otherID); strings.Contains(string(b), `"cluster_id"`) { // not new_cluster_id, known before Raft starts
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the other cluster's node 3 never recorded its cluster id")
		}
	}
	other.Close()
	copyDir(t, other.Configs[victim].DataDir, cfg.DataDir)
	refused("another cluster's data directory", "belongs to cluster", "is a member of cluster")
	if err := os.RemoveAll(cfg.DataDir); err != nil {
		t.Fatal(err)
	}

	// The cluster served on without node 3 and lost nothing.
	produced = append(produced, produceN(t, cl, "ids", "during", 300)...)
	checkSameRecords(t, produced, consumeAll(t, seeds, "ids", len(produced)))

	// Its own directory back: a normal restart.
	if err := os.Rename(keep, cfg.DataDir); err != nil {
		t.Fatal(err)
	}
	c.StartBroker(victim)
	c.WaitReady(60 * time.Second)
	produced = append(produced, produceN(t, cl, "ids", "after", 300)...)
	checkSameRecords(t, produced, consumeAll(t, seeds, "ids", len(produced)))
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "identity.json")); err != nil {
		t.Fatalf("identity file: %v", err)
	}
}

// copyDir replaces dst with a copy of src.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.RemoveAll(dst); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp %s %s: %v: %s", src, dst, err, out)
	}
}

package integration

import (
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/longboat/longboat/internal/broker"
	"github.com/longboat/longboat/internal/config"
	"github.com/longboat/longboat/internal/testcluster"
	"github.com/longboat/longboat/internal/testutil"
)

// TestPebbleDataDirectoryKeepsItsStore starts brokers on data directories
// as the releases before --raft-logdb left them (a pebble Raft log, no
// record of the store): they must come back on pebble with every
// acknowledged record, and a broker told to use tan there must refuse to
// start, saying why, instead of opening an empty Raft log.
func TestPebbleDataDirectoryKeepsItsStore(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := testcluster.Start(t, testcluster.Options{Nodes: 3, Dir: dir, Adjust: func(cfg *config.Config) {
		cfg.RaftLogDB = config.LogDBPebble
		// Every broker is stopped: the later ones' leadership hand-off
		// has no live target and would wait out half of this (5 s of the
		// default 10 s). What is tested is the restart, not the hand-off.
		cfg.ShutdownTimeout = time.Second
	}})
	seeds := c.Addrs()
	createTopic(t, seeds, "legacy", 3, 3)
	produced := produceN(t, newClient(t, seeds), "legacy", "a", 300)
	for i := range c.Configs {
		c.StopBroker(i)
		if err := os.Remove(filepath.Join(c.Configs[i].DataDir, "raft-logdb")); err != nil {
			t.Fatal(err)
		}
		c.Configs[i].RaftLogDB = ""
	}

	tan := *c.Configs[0]
	tan.RaftLogDB = config.LogDBTan
	if b, err := broker.Start(&tan, zerolog.Nop()); err == nil {
		b.Close()
		t.Fatal("a broker asked for tan started on a pebble data directory")
	} else if !strings.Contains(err.Error(), "holds a pebble Raft log") {
		t.Fatalf("refusal does not name the store: %v", err)
	}

	for i := range c.Configs {
		c.StartBroker(i)
	}
	c.WaitReady(60 * time.Second)
	for i, cfg := range c.Configs {
		b, err := os.ReadFile(filepath.Join(cfg.DataDir, "raft-logdb"))
		if err != nil || strings.TrimSpace(string(b)) != config.LogDBPebble {
			t.Fatalf("broker %d recorded store %q (%v), want pebble", i+1, b, err)
		}
	}
	produced = append(produced, produceN(t, newClient(t, seeds), "legacy", "b", 100)...)
	checkSameRecords(t, produced, consumeAll(t, seeds, "legacy", len(produced)))
}

// TestTanLogFiles: tan gives every replica its own log file and would
// preallocate 64 MiB for each as the replica starts; a broker with 60
// replicas must not reserve gigabytes before a record arrives. Deleting the
// topic must free its replicas' log files at once (tan itself keeps each
// one's last file) and remove their directories at the next start.
func TestTanLogFiles(t *testing.T) {
	t.Parallel()
	c := testcluster.Start(t, testcluster.Options{Nodes: 1, Adjust: func(cfg *config.Config) { cfg.RaftLogDB = config.LogDBTan }})
	createTopic(t, c.Addrs(), "many", 60, 1)
	produced := produceN(t, newClient(t, c.Addrs()), "many", "a", 600)
	root := filepath.Join(c.Configs[0].DataDir, "raft")
	logs, err := filepath.Glob(filepath.Join(root, "*", "*", "tandb", "node-*", "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	allocated := allocatedUnder(t, root, "")
	if len(logs) < 60 {
		t.Fatalf("found %d tan log files under %s, want one per replica (60+): is the broker on tan?", len(logs), root)
	}
	if allocated > 64<<20 {
		t.Fatalf("the Raft log store takes %d MiB of disk for %d log files holding ~1 MiB of records", allocated>>20, len(logs))
	}
	checkSameRecords(t, produced, consumeAll(t, c.Addrs(), "many", len(produced)))

	topic := c.Brokers[0].Node.Meta().Topics["many"]
	cl := newClient(t, c.Addrs())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	shardDirs := func() []string {
		var dirs []string
		for _, p := range topic.Partitions {
			d, err := filepath.Glob(filepath.Join(root, "*", "*", "tandb", fmt.Sprintf("node-%d-1", p.ShardID)))
			if err != nil {
				t.Fatal(err)
			}
			dirs = append(dirs, d...)
		}
		return dirs
	}
	if n := len(shardDirs()); n != len(topic.Partitions) {
		t.Fatalf("found %d tan directories for the topic's %d partitions before deleting it", n, len(topic.Partitions))
	}
	if _, err := kadm.NewClient(cl).DeleteTopic(ctx, "many"); err != nil {
		t.Fatalf("delete topic: %v", err)
	}
	testutil.Eventually(t, 30*time.Second, func() error {
		var held int64
		for _, d := range shardDirs() {
			held += allocatedUnder(t, d, ".log")
		}
		if held > 0 {
			return fmt.Errorf("after the topic was deleted its replicas' tan directories still take %d KiB", held>>10)
		}
		return nil
	})
	c.StopBroker(0)
	c.StartBroker(0)
	c.WaitReady(60 * time.Second)
	if left := shardDirs(); len(left) > 0 {
		t.Fatalf("after a restart %d deleted replicas' tan directories remain, e.g. %s", len(left), left[0])
	}
}

// allocatedUnder sums the disk blocks of the files under root whose names
// end in ext ("" for all).
func allocatedUnder(t *testing.T, root, ext string) int64 {
	t.Helper()
	var allocated int64
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ext) {
			return err
		}
		var st syscall.Stat_t
		if err := syscall.Stat(path, &st); err != nil {
			return err
		}
		allocated += st.Blocks * 512
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return allocated
}

// TestSharedLogKeepsOtherReplicas: on tan-shared every partition and group
// replica of a broker appends to
// one log directory and __meta to its own. Deleting a topic removes its
// replicas' records from that shared log, which must not take the other
// replicas' records with it (dragonboat's multiplexed log deleted every
// file but the current one there): after the deletion and a restart of
// every broker, the other topic reads back whole.
func TestSharedLogKeepsOtherReplicas(t *testing.T) {
	t.Parallel()
	c := testcluster.Start(t, testcluster.Options{Nodes: 3, Adjust: func(cfg *config.Config) {
		cfg.RaftLogDB = config.LogDBTanShared
		cfg.ShutdownTimeout = time.Second
	}})
	seeds := c.Addrs()
	createTopic(t, seeds, "kept", 6, 3)
	createTopic(t, seeds, "dropped", 6, 3)
	cl := newClient(t, seeds)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	produced := produceN(t, cl, "kept", "a", 2000)
	// Over 64 MiB of the other topic rotates the shared log past the file
	// holding the first topic's entries, which no snapshot trimmed yet.
	fill := kgo.Record{Topic: "dropped"}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 80000; i++ {
		r := fill
		r.Value = make([]byte, 1024)
		for j := range r.Value {
			r.Value[j] = byte(rng.Uint32())
		}
		cl.Produce(ctx, &r, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce: %v", err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for i, cfg := range c.Configs {
		b, err := os.ReadFile(filepath.Join(cfg.DataDir, "raft-logdb"))
		if err != nil || strings.TrimSpace(string(b)) != config.LogDBTanShared {
			t.Fatalf("broker %d recorded store %q (%v), want tan-shared", i+1, b, err)
		}
		dirs, err := filepath.Glob(filepath.Join(cfg.DataDir, "raft", "*", "*", "tandb", "*"))
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, d := range dirs {
			if fi, err := os.Stat(d); err == nil && fi.IsDir() && filepath.Base(d) != "bootstrap" {
				names = append(names, filepath.Base(d))
			}
		}
		// __meta (shard 1) alone, every other replica in shard-8
		// (1000 mod 16): no directory per replica.
		if strings.Join(names, ",") != "shard-1,shard-8" {
			t.Fatalf("broker %d tan directories %v, want shard-1 and shard-8", i+1, names)
		}
		logs, err := filepath.Glob(filepath.Join(cfg.DataDir, "raft", "*", "*", "tandb", "shard-8", "*.log"))
		if err != nil || len(logs) < 2 {
			t.Fatalf("broker %d shared log files %v (%v): the test wrote too little to rotate it", i+1, logs, err)
		}
	}
	if _, err := kadm.NewClient(cl).DeleteTopic(ctx, "dropped"); err != nil {
		t.Fatalf("delete topic: %v", err)
	}
	testutil.Eventually(t, 30*time.Second, func() error {
		for i, b := range c.Brokers {
			if n := len(b.Node.HostedShards()); n > 6 {
				return fmt.Errorf("broker %d still hosts %d partition replicas", i+1, n)
			}
		}
		return nil
	})
	produced = append(produced, produceN(t, cl, "kept", "c", 500)...)
	for i := range c.Configs {
		c.StopBroker(i)
	}
	for i := range c.Configs {
		c.StartBroker(i)
	}
	c.WaitReady(60 * time.Second)
	checkSameRecords(t, produced, consumeAll(t, seeds, "kept", len(produced)))
}

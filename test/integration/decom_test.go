package integration

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/longboat/longboat/internal/broker"
	"github.com/longboat/longboat/internal/testcluster"
	"github.com/longboat/longboat/internal/testutil"
)

// runCLI runs the longboat binary and returns its stdout and stderr.
func runCLI(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	cmd := exec.CommandContext(ctx, buildBinary(t), args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	t.Logf("longboat %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out.String(), errOut.String())
	return out.String(), errOut.String(), err
}

// The replace-a-broker procedure of docs/OPERATIONS.md, run as written
// while an idempotent producer and a consumer group run: broker 4 (joined)
// loses its disk; remove-broker 4 first refuses, changing nothing, because
// the three others cannot hold an RF=4 topic; a new broker 5 joins with an empty disk; remove-broker 4
// moves every replica of 4 (a group shard's too) onto the live brokers and
// removes 4 from __meta;
// node id 4 can never come back (its empty disk cannot vote as if it held
// data); a rebalance then evens replicas (a topic created while 4 was
// down sits on 1, 2 and 3 only) and preferred leaders. No
// acknowledged record is lost or duplicated, the consumer carries on.
func TestReplaceWipedBrokerUnderLoad(t *testing.T) {
	t.Parallel() // nothing in it is timed
	c := testcluster.Start(t, testcluster.Options{})
	four := c.Join(0)
	c.WaitReady(60 * time.Second)
	createTopic(t, c.Addrs(), "moving", 4, 3)
	createTopic(t, c.Addrs(), "wide", 2, 4)
	load := startLoad(t, c.Addrs(), "moving")
	consumer := startGroupConsumer(t, c.Addrs(), "decom-readers", "moving")
	wideAcked := produceN(t, newClient(t, c.Addrs()), "wide", "wide", 200)
	on4 := len(c.Brokers[0].Node.Meta().PartitionsOf(4))
	if on4 < 3 {
		t.Fatalf("placement put %d partitions on the joined broker 4, want at least 3 (both of wide and one of moving)", on4)
	}
	cli := func(running []int, args ...string) (string, string, error) {
		var kafka, http []string
		for _, i := range running {
			kafka = append(kafka, c.Addrs()[i])
			http = append(http, c.HTTPAddr(i))
		}
		return runCLI(t, append(args, "--bootstrap-server", strings.Join(kafka, ","), "--http", strings.Join(http, ","), "--timeout", "60s")...)
	}

	// The readers' group shard gets a replica on broker 4 too
	// (__consumer_offsets/i is group shard i): remove-broker must move it
	// off like the partitions.
	node := c.Brokers[0].Node
	shard, _ := node.GroupShardFor("decom-readers")
	for i, p := range node.Meta().GroupShards {
		if p.ShardID != shard {
			continue
		}
		leader, _, _ := node.Leader(shard)
		target := []int32{4}
		for _, r := range p.Replicas {
			if r != leader && len(target) < len(p.Replicas)-1 {
				target = append(target, int32(r))
			}
		}
		target = append(target, int32(leader))
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		moveAndWait(ctx, t, kadm.NewClient(newClient(t, c.Addrs())), "__consumer_offsets", int32(i), target)
		cancel()
		on4++
	}

	// Broker 4's disk is gone.
	cfg4 := *c.Configs[four]
	c.StopBroker(four)
	if err := os.RemoveAll(cfg4.DataDir); err != nil {
		t.Fatal(err)
	}
	if _, stderr, err := cli([]int{0, 1, 2}, "cluster", "remove-broker", "4"); err == nil || !strings.Contains(stderr, "topic wide has replication factor 4 but only 3 brokers") {
		t.Fatalf("remove-broker 4 with 3 brokers left for an RF=4 topic: %v, stderr %q", err, stderr)
	}
	if st := c.Brokers[0].Node.Meta(); len(st.Draining) != 0 || len(st.Reassignments) != 0 {
		t.Fatalf("a refused remove-broker changed __meta: draining %v, moves %v", st.Draining, st.Reassignments)
	}

	// A topic created while 4 is down lands on 1, 2 and 3 only: the
	// rebalance below has something to even out.
	createTopic(t, c.Addrs()[:3], "late", 2, 3)
	lateAcked := produceN(t, newClient(t, c.Addrs()[:3]), "late", "late", 100)

	// The replacement: a new node id on an empty disk.
	five := c.Join(0)
	c.WaitReady(120 * time.Second) // a loaded machine: every broker ready, the join applied everywhere
	running := []int{0, 1, 2, five}
	start := time.Now()
	stdout, stderr, err := cli(running, "cluster", "remove-broker", "4", "--concurrency", "4", "--wait", "2m")
	if err != nil {
		t.Fatalf("remove-broker 4: %v", err)
	}
	t.Logf("remove-broker 4 (%d partitions) took %v", on4, time.Since(start).Round(time.Millisecond))
	if !strings.Contains(stderr, "broker 4 marked draining") || !strings.Contains(stderr, "broker 4 removed from the cluster") ||
		strings.Count(stdout, "completed") != on4 {
		t.Fatalf("remove-broker 4 output: want draining, %d completed moves and the removal", on4)
	}
	testutil.Eventually(t, 30*time.Second, func() error {
		for _, i := range running {
			st := c.Brokers[i].Node.Meta()
			if _, ok := st.Brokers[4]; ok || !slices.Equal(st.RemovedBrokers, []uint64{4}) || len(st.Draining) != 0 {
				return fmt.Errorf("broker %d: brokers %v, removed %v, draining %v", i+1, st.BrokerIDs(), st.RemovedBrokers, st.Draining)
			}
			if held := st.HeldBy(4); len(held) != 0 {
				return fmt.Errorf("broker %d: 4 still holds %v", i+1, held)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		m, err := c.Brokers[0].Node.MetaMembership(ctx)
		if err != nil {
			return err
		}
		if !reflect.DeepEqual(m.NonVoting, []uint64{5}) || !reflect.DeepEqual(m.Voters, []uint64{1, 2, 3}) {
			return fmt.Errorf("__meta voters %v, non-voting %v; want [1 2 3] and [5]", m.Voters, m.NonVoting)
		}
		return nil
	})

	// Node id 4 never comes back: an empty disk under it is refused.
	cfg4.DataDir = t.TempDir()
	if b, err := broker.Start(&cfg4, zerolog.Nop()); err == nil {
		b.Close()
		t.Fatal("a broker started under the removed node id 4")
	} else if !strings.Contains(err.Error(), "node 4 was removed from cluster") {
		t.Fatalf("removed node id 4 starting again: %v", err)
	}

	// Rebalance: plan first (dry run changes nothing), then carry it out.
	before := c.Brokers[0].Node.Meta().Index
	if stdout, _, err := cli(running, "cluster", "rebalance", "--dry-run"); err != nil || !strings.Contains(stdout, "Plan:") {
		t.Fatalf("rebalance --dry-run: %v", err)
	}
	if st := c.Brokers[0].Node.Meta(); len(st.Reassignments) != 0 {
		t.Fatalf("rebalance --dry-run started moves (index %d -> %d)", before, st.Index)
	}
	stdout, _, err = cli(running, "cluster", "rebalance", "--concurrency", "4", "--wait", "2m")
	if err != nil || !strings.Contains(stdout, "completed") {
		t.Fatalf("rebalance: %v (want completed changes)", err)
	}
	replicas, leaders := map[uint64]int{}, map[uint64]int{}
	for _, name := range []string{"moving", "wide", "late"} {
		for _, p := range c.Brokers[0].Node.Meta().Topics[name].Partitions {
			leaders[p.Replicas[0]]++
			for _, r := range p.Replicas {
				replicas[r]++
			}
		}
	}
	for _, id := range []uint64{1, 2, 3, 5} {
		// 26 replicas and 8 partitions over 4 brokers.
		if replicas[id] < 6 || replicas[id] > 7 || leaders[id] != 2 {
			t.Errorf("after the rebalance: replicas per broker %v, preferred leaders %v; want 6-7 and 2 each on 1, 2, 3, 5", replicas, leaders)
			break
		}
	}
	if stdout, _, err := cli(running, "cluster", "rebalance", "--dry-run"); err != nil || !strings.Contains(stdout, "Plan: 0 changes") {
		t.Errorf("a second rebalance plans changes: %v", err)
	}

	acked := load.stop(t)
	if len(acked) < 100 {
		t.Fatalf("only %d records acknowledged under load", len(acked))
	}
	consumer.waitSeen(t, acked, 60*time.Second)
	consumer.close()
	redelivered := checkRecords(t, acked, consumer.records())
	t.Logf("group consumer: %d records, %d redelivered", len(consumer.records()), redelivered)
	checkSameRecords(t, acked, consumeAll(t, c.Addrs()[:3], "moving", len(acked)))
	checkSameRecords(t, wideAcked, consumeAll(t, c.Addrs()[:3], "wide", len(wideAcked)))
	checkSameRecords(t, lateAcked, consumeAll(t, c.Addrs()[:3], "late", len(lateAcked)))
}

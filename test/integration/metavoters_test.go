package integration

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/config"
	"github.com/longboat/longboat/internal/meta"
	"github.com/longboat/longboat/internal/testcluster"
	"github.com/longboat/longboat/internal/testutil"
)

// __meta keeps three voters (--meta-voters 3): broker 4 joins and stays
// non-voting while the three initial voters run; voter 3 stops and, once
// down for --meta-voter-replace-after, broker 4 is promoted and then 3 is
// removed. Broker 4 restarts as the voter it became, broker 5 joins and
// stays non-voting beside three live voters, and a topic created through
// broker 5 is written and read back. remove-broker takes broker 3 (down,
// its vote replaced) out of the cluster. Then broker 1, a founding voter made
// __meta's leader, is removed with remove-broker while a producer and a
// consumer group run: its keeper hands __meta's leadership over, broker 5
// is promoted, 1 loses its vote and leaves __meta's brokers, every topic
// keeps its replication factor and every acknowledged record, and the
// remaining brokers' Metadata and FindCoordinator no longer name 1; broker
// 1, out of __meta, names no controller and answers NOT_CONTROLLER.
func TestMetaVotersReplaceDeadVoter(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Nodes: 3, Adjust: func(cfg *config.Config) {
		cfg.MetaVoterReplaceAfter = 3 * time.Second
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	membership := func(i int) (voters, nonVoting []uint64, err error) {
		mctx, mcancel := context.WithTimeout(ctx, 5*time.Second)
		defer mcancel()
		m, err := c.Brokers[i].Node.MetaMembership(mctx)
		return m.Voters, m.NonVoting, err
	}
	wantMembership := func(i int, voters, nonVoting []uint64) {
		t.Helper()
		testutil.Eventually(t, 60*time.Second, func() error {
			v, nv, err := membership(i)
			if err != nil {
				return err
			}
			if !slices.Equal(v, voters) || !slices.Equal(nv, nonVoting) {
				return fmt.Errorf("__meta voters %v non-voting %v, want %v and %v", v, nv, voters, nonVoting)
			}
			return nil
		})
	}

	four := c.Join(0)
	c.WaitReady(60 * time.Second)
	wantMembership(0, []uint64{1, 2, 3}, []uint64{4})
	time.Sleep(2 * metaVoterSettle) // three live voters: broker 4 is not promoted
	wantMembership(0, []uint64{1, 2, 3}, []uint64{4})

	start := time.Now()
	c.StopBroker(2)
	wantMembership(0, []uint64{1, 2, 4}, nil)
	t.Logf("voter 3 stopped; broker 4 promoted and 3 removed after %v", time.Since(start).Round(time.Millisecond))

	// The promoted broker's own snapshot records it as a voter (the
	// marker), so it restarts as one.
	marker := filepath.Join(c.Configs[four].DataDir, "reassign", fmt.Sprintf("%d-voter", meta.ShardID))
	testutil.Eventually(t, 30*time.Second, func() error {
		_, err := os.Stat(marker)
		return err
	})
	c.StopBroker(four)
	c.StartBroker(four)
	wantMembership(four, []uint64{1, 2, 4}, nil)

	five := c.Join(0)
	wantMembership(0, []uint64{1, 2, 4}, []uint64{5})
	time.Sleep(2 * metaVoterSettle)
	wantMembership(0, []uint64{1, 2, 4}, []uint64{5})

	seeds := []string{c.Addrs()[five]}
	testutil.Eventually(t, 60*time.Second, func() error {
		_, nv, err := membership(five)
		if err != nil || !slices.Contains(nv, 5) {
			return fmt.Errorf("broker 5 does not read __meta yet: %v", err)
		}
		return nil
	})
	createTopic(t, seeds, "after-voters", 2, 3)
	acked := produceN(t, newClient(t, seeds), "after-voters", "v", 200)
	checkSameRecords(t, acked, consumeAll(t, seeds, "after-voters", len(acked)))

	// Broker 3, whose vote went to 4, still holds group shard replicas
	// (and a move naming a down broker is refused): remove-broker takes it
	// out as any non-voting broker.
	live := []int{0, 1, four, five}
	var kafka, http []string
	for _, i := range live {
		kafka = append(kafka, c.Addrs()[i])
		http = append(http, c.HTTPAddr(i))
	}
	if _, _, err := runCLI(t, "cluster", "remove-broker", "3", "--bootstrap-server", strings.Join(kafka, ","), "--http", strings.Join(http, ","), "--timeout", "60s", "--wait", "3m"); err != nil {
		t.Fatalf("remove-broker 3 (down, its vote replaced): %v", err)
	}

	// remove-broker of a voter, __meta's leader, under load.
	remaining := live[1:]
	kafka = kafka[1:]
	load := startLoad(t, kafka, "after-voters")
	consumer := startGroupConsumer(t, kafka, "after-voters-readers", "after-voters")
	testutil.Eventually(t, 60*time.Second, func() error {
		if leader, _, ok := c.Brokers[0].Node.Leader(meta.ShardID); ok && leader == 1 {
			return nil
		}
		if err := c.Brokers[0].Node.TransferLeadership(meta.ShardID, 1); err != nil {
			return err
		}
		return errors.New("__meta's leadership not on broker 1 yet")
	})
	start = time.Now()
	// Broker 1's HTTP address first in --http: remove-broker asks another.
	stdout, stderr, err := runCLI(t, "cluster", "remove-broker", "1", "--bootstrap-server", strings.Join(kafka, ","), "--http", strings.Join(http, ","), "--timeout", "60s", "--wait", "3m")
	if err != nil {
		t.Fatalf("remove-broker 1 (a voter): %v", err)
	}
	t.Logf("remove-broker 1 (a voter, __meta's leader) took %v", time.Since(start).Round(time.Millisecond))
	if !strings.Contains(stderr, "broker 1 votes in __meta") || !strings.Contains(stderr, "voters now 2,4,5") || !strings.Contains(stdout, "Summary:") {
		t.Fatalf("remove-broker 1 output: want the wait for its vote, the new voters 2,4,5 and the summary")
	}
	wantMembership(four, []uint64{2, 4, 5}, nil)
	testutil.Eventually(t, 30*time.Second, func() error {
		for _, i := range remaining {
			st := c.Brokers[i].Node.Meta()
			if _, ok := st.Brokers[1]; ok || !slices.Equal(st.RemovedBrokers, []uint64{3, 1}) || len(st.Draining) != 0 {
				return fmt.Errorf("broker %d: brokers %v, removed %v, draining %v", i+1, st.BrokerIDs(), st.RemovedBrokers, st.Draining)
			}
			for _, p := range st.Topics["after-voters"].Partitions {
				if len(p.Replicas) != 3 || slices.Contains(p.Replicas, 1) {
					return fmt.Errorf("broker %d: after-voters/%d on %v, want 3 replicas without 1", i+1, p.Index, p.Replicas)
				}
			}
		}
		return nil
	})
	shard, _ := c.Brokers[1].Node.GroupShardFor("after-voters-readers")
	testutil.Eventually(t, 30*time.Second, func() error {
		leader, _, ok := c.Brokers[1].Node.Leader(shard)
		if !ok || leader == 1 {
			return fmt.Errorf("group shard %d leader %d (known %v)", shard, leader, ok)
		}
		for _, i := range remaining {
			one := newClient(t, []string{c.Addrs()[i]})
			mctx, mcancel := context.WithTimeout(ctx, 5*time.Second)
			defer mcancel()
			md, err := kmsg.NewPtrMetadataRequest().RequestWith(mctx, one)
			if err != nil {
				return err
			}
			var ids []int32
			for _, b := range md.Brokers {
				ids = append(ids, b.NodeID)
			}
			if slices.Sort(ids); !slices.Equal(ids, []int32{2, 4, 5}) {
				return fmt.Errorf("broker %d's Metadata lists brokers %v, want 2, 4 and 5", i+1, ids)
			}
			if !slices.Contains(ids, md.ControllerID) {
				return fmt.Errorf("broker %d's Metadata names controller %d, want one of 2, 4 and 5", i+1, md.ControllerID)
			}
			req := kmsg.NewPtrFindCoordinatorRequest()
			req.CoordinatorKey = "after-voters-readers"
			resp, err := req.RequestWith(mctx, one)
			if err != nil {
				return err
			}
			if resp.ErrorCode != 0 || resp.NodeID != int32(leader) {
				return fmt.Errorf("broker %d: FindCoordinator = node %d (error %d), want %d", i+1, resp.NodeID, resp.ErrorCode, leader)
			}
		}
		return nil
	})
	// Broker 1, still running but out of __meta's Raft group, has a view
	// of __meta that stands still: it names no controller, and answers a
	// controller request NOT_CONTROLLER, so that clients ask elsewhere.
	gone := newClient(t, []string{c.Addrs()[0]}).SeedBrokers()[0]
	gctx, gcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer gcancel()
	md, err := gone.Request(gctx, kmsg.NewPtrMetadataRequest())
	if err != nil {
		t.Fatalf("Metadata of removed broker 1: %v", err)
	}
	if id := md.(*kmsg.MetadataResponse).ControllerID; id != -1 {
		t.Fatalf("removed broker 1's Metadata names controller %d, want -1 (none)", id)
	}
	lr, err := gone.Request(gctx, kmsg.NewPtrListPartitionReassignmentsRequest())
	if err != nil {
		t.Fatalf("ListPartitionReassignments of removed broker 1: %v", err)
	}
	if code := lr.(*kmsg.ListPartitionReassignmentsResponse).ErrorCode; code != kerr.NotController.Code {
		t.Fatalf("removed broker 1's ListPartitionReassignments: error %d, want NOT_CONTROLLER", code)
	}
	loaded := load.stop(t)
	if len(loaded) == 0 {
		t.Fatal("no record acknowledged under load")
	}
	consumer.waitSeen(t, loaded, 60*time.Second)
	consumer.close()
	// The removed broker stops, as remove-broker says; a client given its
	// address among others still describes the group (lag 0: everything
	// read was committed on close).
	c.StopBroker(0)
	testutil.Eventually(t, 30*time.Second, func() error {
		out, stderr, err := runCLI(t, "groups", "describe", "--brokers", c.Addrs()[0]+","+strings.Join(kafka, ","), "--group", "after-voters-readers", "--output", "json")
		if err != nil || !strings.Contains(out, `"total_lag": 0`) {
			return fmt.Errorf("groups describe: %v, %s", err, stderr)
		}
		return nil
	})
	checkRecords(t, loaded, consumer.records())
	checkSameRecords(t, append(acked, loaded...), consumeAll(t, kafka, "after-voters", len(acked)+len(loaded)))
}

// metaVoterSettle is a few rounds of __meta's voter keeper.
const metaVoterSettle = 3 * time.Second

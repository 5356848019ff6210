package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/longboat/longboat/internal/broker"
	"github.com/longboat/longboat/internal/cluster"
	"github.com/longboat/longboat/internal/testcluster"
	"github.com/longboat/longboat/internal/testutil"
)

// A fourth broker joins a three-broker cluster through one broker's HTTP
// address while an idempotent producer runs: it follows __meta without a
// vote, hosts no replica until a new topic places some on it, answers
// Metadata, DescribeCluster and FindCoordinator as every other broker, is
// refused when its directory is wiped, restarts without joining again
// (even with its --join broker unreachable), and no acknowledged record is
// lost.
func TestBrokerJoinsUnderLoad(t *testing.T) {
	t.Parallel() // nothing in it is timed
	c := testcluster.Start(t, testcluster.Options{})
	createTopic(t, c.Addrs(), "before", 3, 3)
	load := startLoad(t, c.Addrs(), "before")

	joined := c.Join(0)
	c.WaitReady(60 * time.Second)
	self := c.Configs[joined].NodeID
	if refs := c.Brokers[joined].Node.Meta().PartitionsOf(self); len(refs) != 0 {
		t.Fatalf("the joined broker hosts %d partition replicas before any placement", len(refs))
	}
	for i := range c.Brokers {
		st := v1Status(t, c.HTTPAddr(i))
		if !reflect.DeepEqual(st.MetaVoters, []uint64{1, 2, 3}) || !reflect.DeepEqual(st.MetaNonVoting, []uint64{self}) {
			t.Fatalf("broker %d: __meta voters %v, non-voting %v; want [1 2 3] and [%d]", i+1, st.MetaVoters, st.MetaNonVoting, self)
		}
	}

	// A new RF=3 topic, created through the joined broker, is spread over
	// all four.
	createTopic(t, []string{c.Addrs()[joined]}, "after", 8, 3)
	held := map[uint64]int{}
	for _, p := range c.Brokers[0].Node.Meta().Topics["after"].Partitions {
		for _, r := range p.Replicas {
			held[r]++
		}
	}
	for id := uint64(1); id <= 4; id++ {
		if held[id] == 0 {
			t.Fatalf("broker %d holds no replica of the new topic: %v", id, held)
		}
	}
	checkClusterAgreement(t, c, []string{"before", "after"})
	produced := produceN(t, newClient(t, c.Addrs()), "after", "after", 400)

	// Wiped: an empty directory under the joined node id is refused.
	cfg := c.Configs[joined]
	c.StopBroker(joined)
	keep := cfg.DataDir + ".keep"
	if err := os.Rename(cfg.DataDir, keep); err != nil {
		t.Fatal(err)
	}
	if b, err := broker.Start(cfg, zerolog.Nop()); err == nil {
		b.Close()
		t.Fatal("a wiped joined broker started")
	} else if !strings.Contains(err.Error(), fmt.Sprintf("data directory is empty but node %d is a member of cluster", self)) {
		t.Fatalf("wiped joined broker: %v", err)
	} else {
		t.Logf("wiped joined broker refused: %v", err)
	}
	if err := os.RemoveAll(cfg.DataDir); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(keep, cfg.DataDir); err != nil {
		t.Fatal(err)
	}
	// A restart does not join again: it needs no answer from --join.
	cfg.Join = testcluster.FreeAddrs(t, 1)[0]
	c.StartBroker(joined)
	c.WaitReady(60 * time.Second)
	if st := v1Status(t, c.HTTPAddr(0)); !reflect.DeepEqual(st.MetaNonVoting, []uint64{self}) {
		t.Fatalf("after the restart __meta non-voting = %v, want [%d]", st.MetaNonVoting, self)
	}
	checkClusterAgreement(t, c, []string{"before", "after"})

	checkAdmissionRefusals(t, c, joined)

	acked := load.stop(t)
	if len(acked) < 100 {
		t.Fatalf("only %d records acknowledged under load", len(acked))
	}
	checkSameRecords(t, acked, consumeAll(t, c.Addrs(), "before", len(acked)))
	checkSameRecords(t, produced, consumeAll(t, c.Addrs(), "after", len(produced)))
}

// checkAdmissionRefusals asks a broker directly to admit what it must
// refuse, and to admit the joined broker again (the same answer).
func checkAdmissionRefusals(t *testing.T, c *testcluster.Cluster, joined int) {
	t.Helper()
	n := c.Brokers[0].Node
	self := c.Configs[joined].NodeID
	inc := n.Meta().Brokers[self].Incarnation
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, tc := range []struct {
		name string
		req  cluster.JoinRequest
		want string
	}{
		{"wiped", cluster.JoinRequest{NodeID: self, RaftAddr: c.Configs[joined].RaftAddr, Incarnation: "fresh"}, "from another data directory"},
		{"voter", cluster.JoinRequest{NodeID: 2, RaftAddr: "127.0.0.1:1", Incarnation: n.Meta().Brokers[2].Incarnation}, "is a voter of __meta"},
		{"taken Raft address", cluster.JoinRequest{NodeID: 9, RaftAddr: c.Configs[1].RaftAddr, Incarnation: "x"}, "is node 2's"},
		{"moved Raft address", cluster.JoinRequest{NodeID: self, RaftAddr: "127.0.0.1:1", Incarnation: inc}, "joined with Raft address"},
	} {
		_, err := n.AdmitBroker(ctx, tc.req)
		var refused *cluster.ErrJoinRefused
		if !errors.As(err, &refused) || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("%s: AdmitBroker = %v, want a refusal saying %q", tc.name, err, tc.want)
		}
	}
	if _, err := n.AdmitBroker(ctx, cluster.JoinRequest{NodeID: self, RaftAddr: c.Configs[joined].RaftAddr, Incarnation: inc}); err != nil {
		t.Fatalf("admitting the joined broker again: %v", err)
	}
}

type statusDoc struct {
	MetaVoters    []uint64 `json:"meta_voters"`
	MetaNonVoting []uint64 `json:"meta_non_voting"`
}

func v1Status(t *testing.T, httpAddr string) statusDoc {
	t.Helper()
	var st statusDoc
	testutil.Eventually(t, 30*time.Second, func() error {
		resp, err := http.Get("http://" + httpAddr + "/v1/status")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		st = statusDoc{}
		if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
			return err
		}
		if len(st.MetaVoters) == 0 {
			return fmt.Errorf("%s: no __meta membership in /v1/status", httpAddr)
		}
		return nil
	})
	return st
}

// load is an idempotent producer writing unique values one batch after
// another until stopped (at most 5 minutes or 20,000 records).
type load struct {
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	acked  []record
	failed int
	first  error // the first failure
}

func startLoad(t *testing.T, seeds []string, topic string) *load {
	cl := newClient(t, seeds, kgo.RecordRetries(1000), kgo.ProducerLinger(5*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	l := &load{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for i := 0; i < 20000 && ctx.Err() == nil; i += 50 {
			var wg sync.WaitGroup
			for j := i; j < i+50; j++ {
				wg.Add(1)
				cl.Produce(ctx, &kgo.Record{Topic: topic, Value: []byte(fmt.Sprintf("load-%d", j))}, func(r *kgo.Record, err error) {
					defer wg.Done()
					l.mu.Lock()
					defer l.mu.Unlock()
					if err != nil {
						if l.failed++; l.first == nil {
							l.first = err
						}
						return
					}
					l.acked = append(l.acked, record{r.Partition, r.Offset, string(r.Value)})
				})
			}
			wg.Wait()
		}
	}()
	return l
}

// stop ends the load and returns the acknowledged records.
func (l *load) stop(t *testing.T) []record {
	t.Helper()
	l.cancel()
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	t.Logf("load: %d records acknowledged, %d failed (first: %v)", len(l.acked), l.failed, l.first)
	return l.acked
}

package integration

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/longboat/longboat/internal/testcluster"
)

// groupConsumer is one franz-go group member recording what it consumed.
type groupConsumer struct {
	cl   *kgo.Client
	mu   sync.Mutex
	seen []record
	stop chan struct{}
	done chan struct{}
}

func startGroupConsumer(t *testing.T, seeds []string, groupID, topic string, opts ...kgo.Opt) *groupConsumer {
	t.Helper()
	base := []kgo.Opt{kgo.SeedBrokers(seeds...), kgo.ConsumerGroup(groupID), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.AutoCommitInterval(200 * time.Millisecond),
		kgo.SessionTimeout(6 * time.Second), kgo.HeartbeatInterval(500 * time.Millisecond)}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	gc := &groupConsumer{cl: cl, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(gc.done)
		for {
			select {
			case <-gc.stop:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			fs := cl.PollFetches(ctx)
			cancel()
			fs.EachRecord(func(r *kgo.Record) {
				gc.mu.Lock()
				gc.seen = append(gc.seen, record{r.Partition, r.Offset, string(r.Value)})
				gc.mu.Unlock()
			})
		}
	}()
	return gc
}

// close stops polling and leaves the group (committing what was consumed).
func (gc *groupConsumer) close() {
	close(gc.stop)
	<-gc.done
	gc.cl.Close()
}

func (gc *groupConsumer) records() []record {
	gc.mu.Lock()
	defer gc.mu.Unlock()
	return append([]record(nil), gc.seen...)
}

func describeMembers(t *testing.T, seeds []string, groupID string) (string, map[string]int) {
	t.Helper()
	adm := kadm.NewClient(newClient(t, seeds))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	groups, err := adm.DescribeGroups(ctx, groupID)
	if err != nil {
		t.Fatal(err)
	}
	g := groups[groupID]
	if g.Err != nil {
		t.Fatalf("describe %s: %v", groupID, g.Err)
	}
	out := map[string]int{}
	for _, m := range g.Members {
		n := 0
		if ca, ok := m.Assigned.AsConsumer(); ok {
			for _, tp := range ca.Topics {
				n += len(tp.Partitions)
			}
		}
		out[m.MemberID] = n
	}
	return g.State, out
}

func waitGroup(t *testing.T, seeds []string, groupID string, members int, within time.Duration) map[string]int {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		state, assigned := describeMembers(t, seeds, groupID)
		if state == "Stable" && len(assigned) == members {
			return assigned
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s: state %s with %d members, want Stable with %d", groupID, state, len(assigned), members)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestFranzGroupSharesAndRebalances: three members share six partitions two
// each and consume everything once; one leaves and the other two take over
// its partitions.
func TestFranzGroupSharesAndRebalances(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Nodes: 3})
	seeds := c.Addrs()
	createTopic(t, seeds, "grouped", 6, 3)
	produced := produceN(t, newClient(t, seeds), "grouped", "a", 3000)

	var members []*groupConsumer
	for i := 0; i < 3; i++ {
		members = append(members, startGroupConsumer(t, seeds, "g-share", "grouped"))
	}
	assigned := waitGroup(t, seeds, "g-share", 3, 30*time.Second)
	for id, n := range assigned {
		if n != 2 {
			t.Fatalf("member %s has %d partitions, want 2: %v", id, n, assigned)
		}
	}
	waitConsumed(t, members, len(produced))

	members[2].close()
	assigned = waitGroup(t, seeds, "g-share", 2, 30*time.Second)
	for id, n := range assigned {
		if n != 3 {
			t.Fatalf("after a member left, %s has %d partitions, want 3: %v", id, n, assigned)
		}
	}
	more := produceN(t, newClient(t, seeds), "grouped", "b", 600)
	waitConsumedValues(t, members[:2], more)
	for _, m := range members[:2] {
		m.close()
	}
	var all []record
	for _, m := range members {
		all = append(all, m.records()...)
	}
	dups := checkRecords(t, append(produced, more...), all)
	t.Logf("consumed %d records, %d redelivered after the rebalance", len(all), dups)
}

func waitConsumed(t *testing.T, members []*groupConsumer, n int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		seen := map[string]bool{}
		for _, m := range members {
			for _, r := range m.records() {
				seen[r.value] = true
			}
		}
		if len(seen) >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("group consumed %d distinct values, want %d", len(seen), n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func waitConsumedValues(t *testing.T, members []*groupConsumer, want []record) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		seen := map[string]bool{}
		for _, m := range members {
			for _, r := range m.records() {
				seen[r.value] = true
			}
		}
		missing := 0
		for _, r := range want {
			if !seen[r.value] {
				missing++
			}
		}
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d values never consumed", missing, len(want))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// committedOffsets fetches a group's committed offsets per partition.
func committedOffsets(t *testing.T, seeds []string, groupID string) map[int32]int64 {
	t.Helper()
	adm := kadm.NewClient(newClient(t, seeds))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		resp, err := adm.FetchOffsets(ctx, groupID)
		if err == nil {
			err = resp.Error()
		}
		if err == nil {
			out := map[int32]int64{}
			resp.Each(func(o kadm.OffsetResponse) { out[o.Partition] = o.At })
			return out
		}
		if ctx.Err() != nil {
			t.Fatalf("fetch offsets of %s: %v", groupID, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func sortedParts(m map[int32]int64) string {
	var ps []int
	for p := range m {
		ps = append(ps, int(p))
	}
	sort.Ints(ps)
	s := ""
	for _, p := range ps {
		s += fmt.Sprintf("%d:%d ", p, m[int32(p)])
	}
	return s
}

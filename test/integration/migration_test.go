package integration

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/longboat/longboat/internal/testutil"
)

// ownership follows, from the clients' own callbacks, which member owns
// each partition: a partition assigned to a member while another still
// holds it (its revocation callback has not run) is a violation.
type ownership struct {
	mu          sync.Mutex
	owner       map[int32]string
	violations  []string
	assignments int
}

func newOwnership() *ownership { return &ownership{owner: map[int32]string{}} }

// opts are a member's callbacks. Revocation commits first, as franz-go's
// default callback does when autocommitting.
func (o *ownership) opts(name string) []kgo.Opt {
	release := func(m map[string][]int32) {
		o.mu.Lock()
		defer o.mu.Unlock()
		for _, ps := range m {
			for _, p := range ps {
				if o.owner[p] == name {
					delete(o.owner, p)
				}
			}
		}
	}
	return []kgo.Opt{
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			o.mu.Lock()
			defer o.mu.Unlock()
			for _, ps := range m {
				for _, p := range ps {
					if prev, ok := o.owner[p]; ok && prev != name {
						o.violations = append(o.violations, fmt.Sprintf("partition %d assigned to %s while %s owns it", p, name, prev))
					}
					o.owner[p] = name
					o.assignments++
				}
			}
		}),
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, m map[string][]int32) {
			// A commit refused by a fence is fine: the next owner starts
			// from the last accepted one.
			_ = cl.CommitUncommittedOffsets(ctx)
			release(m)
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { release(m) }),
	}
}

func (o *ownership) check(t *testing.T) {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.violations) > 0 {
		t.Fatalf("partitions owned by two members at once: %v", o.violations)
	}
	if o.assignments == 0 {
		t.Fatal("no member was ever assigned a partition")
	}
}

// watcher runs a check every interval until finished: a check tells
// whether it could look (polls) and what it found wrong.
type watcher struct {
	stop, done chan struct{}
	found      []string
	polls      int
}

func watch(interval time.Duration, check func() (bool, []string)) *watcher {
	w := &watcher{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			select {
			case <-w.stop:
				return
			case <-time.After(interval):
			}
			if looked, found := check(); looked {
				w.polls++
				w.found = append(w.found, found...)
			}
		}
	}()
	return w
}

// finish stops the watcher and fails the test if it found anything, or
// never managed to look.
func (w *watcher) finish(t *testing.T, what string) {
	t.Helper()
	close(w.stop)
	<-w.done
	if len(w.found) > 0 {
		t.Fatalf("%s: %v", what, w.found)
	}
	if w.polls == 0 {
		t.Fatalf("%s: never checked", what)
	}
}

// watchCommits records any partition whose committed offset went back.
func watchCommits(t *testing.T, seeds []string, groupID string) *watcher {
	adm := kadm.NewClient(newClient(t, seeds))
	last := map[int32]int64{}
	return watch(200*time.Millisecond, func() (bool, []string) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		resp, err := adm.FetchOffsets(ctx, groupID)
		if err != nil || resp.Error() != nil {
			return false, nil
		}
		var found []string
		resp.Each(func(o kadm.OffsetResponse) {
			if o.At < last[o.Partition] {
				found = append(found, fmt.Sprintf("partition %d: %d after %d", o.Partition, o.At, last[o.Partition]))
			}
			last[o.Partition] = max(last[o.Partition], o.At)
		})
		return true, found
	})
}

// memberTypes counts a consumer group's members by protocol, from
// ConsumerGroupDescribe v1 (0 classic, 1 consumer).
func memberTypes(t *testing.T, seeds []string, groupID string) (classic, consumer int) {
	t.Helper()
	g, err := describeConsumerGroup(t, seeds, groupID)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range g.Members {
		switch m.MemberType {
		case 0:
			classic++
		case 1:
			consumer++
		}
	}
	return classic, consumer
}

// watchOverlaps polls a group's assignment as the coordinator describes
// it (ConsumerGroupDescribe while it is a consumer group, DescribeGroups
// while classic) and records any partition two members hold at once.
func watchOverlaps(t *testing.T, seeds []string, groupID string) *watcher {
	adm := kadm.NewClient(newClient(t, seeds))
	return watch(100*time.Millisecond, func() (bool, []string) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		holders := map[int32][]string{}
		if cgs, err := adm.DescribeConsumerGroups(ctx, groupID); err == nil && cgs[groupID].Err == nil {
			for _, m := range cgs[groupID].Members {
				for _, ps := range m.Assignment {
					for p := range ps {
						holders[p] = append(holders[p], m.MemberID)
					}
				}
			}
		} else if gs, err := adm.DescribeGroups(ctx, groupID); err == nil && gs[groupID].Err == nil {
			for _, m := range gs[groupID].Members {
				if ca, ok := m.Assigned.AsConsumer(); ok {
					for _, tp := range ca.Topics {
						for _, p := range tp.Partitions {
							holders[p] = append(holders[p], m.MemberID)
						}
					}
				}
			}
		} else {
			return false, nil
		}
		var found []string
		for p, ms := range holders {
			if len(ms) > 1 {
				found = append(found, fmt.Sprintf("partition %d held by %v", p, ms))
			}
		}
		return true, found
	})
}

// migrant is a member that joins with the consumer protocol.
type migrant struct {
	records func() []record
	leave   func()
}

// seenAll waits until the members consumed every value of want.
func seenAll(t *testing.T, members []func() []record, want []record) {
	t.Helper()
	testutil.Eventually(t, 60*time.Second, func() error {
		seen := map[string]bool{}
		for _, m := range members {
			for _, r := range m() {
				seen[r.value] = true
			}
		}
		missing := 0
		for _, r := range want {
			if !seen[r.value] {
				missing++
			}
		}
		if missing > 0 {
			return fmt.Errorf("%d of %d values not consumed", missing, len(want))
		}
		return nil
	})
}

// TestGroupOnlineMigration: a classic franz-go group (eager or
// cooperative-sticky) is consuming when a KIP-848 franz-go member joins:
// the group becomes a consumer group with two classic members and the new
// one, the partitions are split among the three, the classic members
// leave, a classic member joins the consumer group, and when the KIP-848
// member leaves the group is a classic group again. Throughout, no
// partition is owned by two members at once (the clients' own callbacks,
// and the coordinator's view polled), committed offsets never go back, and
// every record is consumed.
func TestGroupOnlineMigration(t *testing.T) {
	c := sharedCluster(t)
	seeds := c.Addrs()
	for _, tc := range []struct {
		name     string
		balancer kgo.GroupBalancer
	}{{"eager", kgo.RangeBalancer()}, {"cooperative", kgo.CooperativeStickyBalancer()}} {
		t.Run(tc.name, func(t *testing.T) {
			migrate(t, seeds, tc.name, tc.balancer, func(own *ownership, groupID, topic string) migrant {
				k := startGroupConsumer(t, seeds, groupID, topic, append(own.opts("kip848"), kgo.ServerSideBalancer(), kgo.Balancers(kgo.CooperativeStickyBalancer()))...)
				return migrant{records: k.records, leave: k.close}
			})
		})
	}
}

// TestGroupOnlineMigrationJava: the same with the Java client (3.9,
// group.protocol=consumer) as the member that upgrades the classic
// franz-go group; its ownership is checked from the coordinator's view.
func TestGroupOnlineMigrationJava(t *testing.T) {
	argv := javaMember848(t)
	c := sharedCluster(t)
	seeds := c.Addrs()
	migrate(t, seeds, "java", kgo.CooperativeStickyBalancer(), func(_ *ownership, groupID, topic string) migrant {
		m := startJavaMember(t, argv, seeds, groupID, topic)
		return migrant{records: m.records, leave: func() { m.close(t) }}
	})
}

// migrate runs the upgrade and downgrade of one group; start848 starts
// the member that joins with the consumer protocol.
func migrate(t *testing.T, seeds []string, name string, balancer kgo.GroupBalancer, start848 func(own *ownership, groupID, topic string) migrant) {
	topic, groupID := "mig-"+name, "gmig-"+name
	createTopic(t, seeds, topic, 6, 3)
	produced := produceN(t, newClient(t, seeds), topic, "a", 600)
	own := newOwnership()
	commits := watchCommits(t, seeds, groupID)
	overlaps := watchOverlaps(t, seeds, groupID)
	var all []func() []record
	classic := func(name string) *groupConsumer {
		m := startGroupConsumer(t, seeds, groupID, topic, append(own.opts(name), kgo.Balancers(balancer))...)
		all = append(all, m.records)
		return m
	}

	c1, c2 := classic("classic-1"), classic("classic-2")
	for id, n := range waitGroup(t, seeds, groupID, 2, 30*time.Second) {
		if n != 3 {
			t.Fatalf("classic member %s has %d partitions, want 3", id, n)
		}
	}
	seenAll(t, all, produced)

	// Upgrade: a consumer-protocol member joins the live classic group.
	k := start848(own, groupID, topic)
	all = append(all, k.records)
	owned := waitConsumerGroup(t, seeds, groupID, 3, 60*time.Second)
	for id, n := range owned {
		if n != 2 {
			t.Fatalf("mixed group: member %s owns %d partitions, want 2: %v", id, n, owned)
		}
	}
	if cl, co := memberTypes(t, seeds, groupID); cl != 2 || co != 1 {
		t.Fatalf("mixed group: %d classic and %d consumer members, want 2 and 1", cl, co)
	}
	// DescribeGroups shows the consumer group and all three members.
	if state, members := describeMembers(t, seeds, groupID); state != "Stable" || len(members) != 3 {
		t.Fatalf("DescribeGroups of the mixed group: %s %v", state, members)
	}
	more := produceN(t, newClient(t, seeds), topic, "b", 300)
	seenAll(t, all, more)

	// The classic members leave: the consumer-protocol member takes all.
	c1.close()
	c2.close()
	owned = waitConsumerGroup(t, seeds, groupID, 1, 60*time.Second)
	for id, n := range owned {
		if n != 6 {
			t.Fatalf("after the classic members left, %s owns %d partitions, want 6", id, n)
		}
	}
	more = append(more, produceN(t, newClient(t, seeds), topic, "c", 120)...)
	seenAll(t, all, more)

	// A classic member joins the consumer group, then the consumer-protocol
	// member leaves: the group is downgraded to a classic group.
	c3 := classic("classic-3")
	waitConsumerGroup(t, seeds, groupID, 2, 60*time.Second)
	if cl, co := memberTypes(t, seeds, groupID); cl != 1 || co != 1 {
		t.Fatalf("mixed again: %d classic and %d consumer members, want 1 and 1", cl, co)
	}
	k.leave()
	for id, n := range waitGroup(t, seeds, groupID, 1, 60*time.Second) {
		if n != 6 {
			t.Fatalf("downgraded group: %s has %d partitions, want 6", id, n)
		}
	}
	if _, err := describeConsumerGroup(t, seeds, groupID); !errors.Is(err, kerr.GroupIDNotFound) {
		t.Fatalf("ConsumerGroupDescribe of the downgraded group: %v, want GROUP_ID_NOT_FOUND", err)
	}
	adm := kadm.NewClient(newClient(t, seeds))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	listed, err := adm.ListGroupsByType(ctx, []string{"classic"})
	if err != nil {
		t.Fatal(err)
	}
	if lg, ok := listed[groupID]; !ok || lg.GroupType != "classic" {
		t.Fatalf("ListGroups of type classic: %+v", listed)
	}
	more = append(more, produceN(t, newClient(t, seeds), topic, "d", 120)...)
	seenAll(t, all, more)
	c3.close()

	commits.finish(t, "committed offsets went back")
	overlaps.finish(t, "the coordinator gave a partition to two members at once")
	own.check(t)
	var records []record
	for _, m := range all {
		checkMonotonic(t, m())
		records = append(records, m()...)
	}
	unique, redelivered := dedupeByPosition(t, records)
	checkSameRecords(t, append(produced, more...), unique)
	testutil.Eventually(t, 20*time.Second, func() error {
		committed := committedOffsets(t, seeds, groupID)
		for p, end := range endOffsets(context.Background(), t, seeds, topic) {
			if committed[p] != end {
				return fmt.Errorf("partition %d committed %d, end %d", p, committed[p], end)
			}
		}
		return nil
	})
	t.Logf("consumed %d records, %d redelivered; %d offset and %d assignment polls", len(unique), redelivered, commits.polls, overlaps.polls)
}

package integration

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/testutil"
)

// describeConsumerGroup reads a KIP-848 group with ConsumerGroupDescribe:
// its state and each member's owned partition count.
func describeConsumerGroup(t *testing.T, seeds []string, groupID string) (kadm.DescribedConsumerGroup, error) {
	t.Helper()
	adm := kadm.NewClient(newClient(t, seeds))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	groups, err := adm.DescribeConsumerGroups(ctx, groupID)
	if err != nil {
		return kadm.DescribedConsumerGroup{}, err
	}
	g := groups[groupID]
	return g, g.Err
}

// waitConsumerGroup waits until a consumer group is Stable with members
// members, every member owning its target, and returns the counts owned.
func waitConsumerGroup(t *testing.T, seeds []string, groupID string, members int, within time.Duration) map[string]int {
	t.Helper()
	var owned map[string]int
	testutil.Eventually(t, within, func() error {
		g, err := describeConsumerGroup(t, seeds, groupID)
		if err != nil {
			return err
		}
		owned = map[string]int{}
		for _, m := range g.Members {
			n := 0
			for _, ps := range m.Assignment {
				n += len(ps)
			}
			owned[m.MemberID] = n
			if m.MemberEpoch != g.AssignmentEpoch {
				return fmt.Errorf("member %s at epoch %d, target at %d", m.MemberID, m.MemberEpoch, g.AssignmentEpoch)
			}
		}
		if g.State != "Stable" || len(owned) != members {
			return fmt.Errorf("group %s: state %s with %d members, want Stable with %d", groupID, g.State, len(owned), members)
		}
		return nil
	})
	return owned
}

// TestKIP848FranzJoinOneByOneAndLeave: franz-go's KIP-848 consumer
// (ServerSideBalancer) against the server-side uniform and range
// assignors: members joining one at a time end balanced, a leaving member's
// partitions go to the others, every record is consumed (at least once)
// and the offsets are committed.
func TestKIP848FranzJoinOneByOneAndLeave(t *testing.T) {
	c := sharedCluster(t)
	seeds := c.Addrs()
	for _, tc := range []struct {
		assignor string
		balancer kgo.GroupBalancer
	}{{"uniform", kgo.CooperativeStickyBalancer()}, {"range", kgo.RangeBalancer()}} {
		t.Run(tc.assignor, func(t *testing.T) {
			topic, groupID := "k848-"+tc.assignor, "g848-"+tc.assignor
			createTopic(t, seeds, topic, 6, 3)
			produced := produceN(t, newClient(t, seeds), topic, "a", 1200)
			opts := []kgo.Opt{kgo.ServerSideBalancer(), kgo.Balancers(tc.balancer)}

			var members []*groupConsumer
			for i := 1; i <= 3; i++ {
				members = append(members, startGroupConsumer(t, seeds, groupID, topic, opts...))
				owned := waitConsumerGroup(t, seeds, groupID, i, 30*time.Second)
				for id, n := range owned {
					if n != 6/i {
						t.Fatalf("with %d members, %s owns %d partitions, want %d: %v", i, id, n, 6/i, owned)
					}
				}
			}
			g, err := describeConsumerGroup(t, seeds, groupID)
			if err != nil {
				t.Fatal(err)
			}
			if g.AssignorName != tc.assignor {
				t.Fatalf("assignor %q, want %q", g.AssignorName, tc.assignor)
			}
			waitConsumed(t, members, len(produced))

			members[2].close()
			owned := waitConsumerGroup(t, seeds, groupID, 2, 30*time.Second)
			for id, n := range owned {
				if n != 3 {
					t.Fatalf("after a member left, %s owns %d partitions, want 3: %v", id, n, owned)
				}
			}
			more := produceN(t, newClient(t, seeds), topic, "b", 300)
			waitConsumedValues(t, members[:2], more)
			for _, m := range members[:2] {
				m.close()
			}
			var all []record
			for _, m := range members {
				checkMonotonic(t, m.records())
				all = append(all, m.records()...)
			}
			unique, redelivered := dedupeByPosition(t, all)
			checkSameRecords(t, append(produced, more...), unique)
			committed := committedOffsets(t, seeds, groupID)
			ends := endOffsets(context.Background(), t, seeds, topic)
			for p, end := range ends {
				if committed[p] != end {
					t.Fatalf("partition %d committed %d, end %d (committed %s)", p, committed[p], end, sortedParts(committed))
				}
			}
			t.Logf("consumed %d records, %d redelivered", len(unique), redelivered)
		})
	}
}

// TestKIP848MixedProtocols: one group name is one group of one protocol.
// A classic JoinGroup of another protocol type than "consumer" to a
// consumer group with members is refused (INCONSISTENT_GROUP_PROTOCOL);
// once the group is empty, it converts. (Groups with members migrate
// online: TestGroupOnlineMigration.)
func TestKIP848MixedProtocols(t *testing.T) {
	c := sharedCluster(t)
	seeds := c.Addrs()
	createTopic(t, seeds, "k848-mixed", 2, 3)
	next := []kgo.Opt{kgo.ServerSideBalancer(), kgo.Balancers(kgo.CooperativeStickyBalancer())}

	m848 := startGroupConsumer(t, seeds, "g848-mixed", "k848-mixed", next...)
	waitConsumerGroup(t, seeds, "g848-mixed", 1, 30*time.Second)
	// The classic admin APIs see it as Kafka shows a consumer group.
	// ListGroups asks every broker for the groups of the shards it leads
	// at that moment; while the group's shard changes leader (the leader
	// balancer after an earlier test's restarts) one round may miss it, as
	// a Kafka coordinator moving does: ask until it is listed.
	adm := kadm.NewClient(newClient(t, seeds))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	testutil.Eventually(t, 10*time.Second, func() error {
		listed, err := adm.ListGroupsByType(ctx, []string{"consumer"})
		if err != nil {
			return err
		}
		if lg, ok := listed["g848-mixed"]; !ok || lg.ProtocolType != "consumer" || lg.GroupType != "consumer" {
			return fmt.Errorf("ListGroups of type consumer: %+v", listed)
		}
		return nil
	})
	state, owned := describeMembers(t, seeds, "g848-mixed")
	if state != "Stable" || len(owned) != 1 {
		t.Fatalf("DescribeGroups of a consumer group: %s %v, want Stable with one member", state, owned)
	}
	for id, n := range owned {
		if n != 2 {
			t.Fatalf("DescribeGroups: member %s assigned %d partitions, want 2", id, n)
		}
	}
	joinErr := classicJoinError(t, seeds, "g848-mixed")
	if !errors.Is(joinErr, kerr.InconsistentGroupProtocol) {
		t.Fatalf("classic join of protocol type connect to a consumer group: %v, want INCONSISTENT_GROUP_PROTOCOL", joinErr)
	}
	m848.close()
	testutil.Eventually(t, 20*time.Second, func() error {
		g, err := describeConsumerGroup(t, seeds, "g848-mixed")
		if err != nil {
			return err
		}
		if g.State != "Empty" {
			return fmt.Errorf("state %s, want Empty", g.State)
		}
		return nil
	})
	// Empty: a classic member converts it.
	classic := startGroupConsumer(t, seeds, "g848-mixed", "k848-mixed")
	waitGroup(t, seeds, "g848-mixed", 1, 30*time.Second)
	if _, err := describeConsumerGroup(t, seeds, "g848-mixed"); !errors.Is(err, kerr.GroupIDNotFound) {
		t.Fatalf("ConsumerGroupDescribe of a classic group: %v, want GROUP_ID_NOT_FOUND", err)
	}
	classic.close()
}

// classicJoinError sends one classic JoinGroup of protocol type "connect"
// and returns its error.
func classicJoinError(t *testing.T, seeds []string, groupID string) error {
	t.Helper()
	req := kmsg.NewPtrJoinGroupRequest()
	req.Group, req.ProtocolType, req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = groupID, "connect", 10000, 10000
	proto := kmsg.NewJoinGroupRequestProtocol()
	proto.Name, proto.Metadata = "range", []byte{0, 0, 0, 0, 0, 0, 0, 0}
	req.Protocols = append(req.Protocols, proto)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, newClient(t, seeds))
	if err != nil {
		t.Fatal(err)
	}
	return kerr.ErrorForCode(resp.ErrorCode)
}

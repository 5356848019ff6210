package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/testcluster"
	"github.com/longboat/longboat/internal/testutil"
)

// TestListGroupsWithoutCoordinatorIsAnError: clients merge the ListGroups
// answers of every broker, so a broker must not answer "no groups" for a
// group shard whose leader it cannot name. With the coordinator and one
// more broker stopped, the broker left lists the group (while it still
// leads its shard) or answers COORDINATOR_NOT_AVAILABLE or
// COORDINATOR_LOAD_IN_PROGRESS, never an empty list; with the brokers back
// the group is listed again.
func TestListGroupsWithoutCoordinatorIsAnError(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a three-broker cluster of its own")
	}
	t.Parallel()
	c := testcluster.Start(t, testcluster.Options{Nodes: 3})
	seeds := c.Addrs()
	const group = "listed-without-leader"
	createTopic(t, seeds, "listed", 1, 3)
	adm := kadm.NewClient(newClient(t, seeds))
	testutil.Eventually(t, 20*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		offsets := kadm.Offsets{}
		offsets.Add(kadm.Offset{Topic: "listed", Partition: 0, At: 0, LeaderEpoch: -1})
		return adm.CommitAllOffsets(ctx, group, offsets)
	})
	listed := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		groups, err := adm.ListGroups(ctx)
		if err != nil {
			return err
		}
		if _, ok := groups[group]; !ok {
			return fmt.Errorf("%s not listed: %v", group, groups.Groups())
		}
		return nil
	}
	testutil.Eventually(t, 20*time.Second, listed)

	coordinator := int(coordinatorOf(t, seeds, group)) - 1
	left := (coordinator + 1) % 3
	for i := range 3 {
		if i != left {
			c.StopBroker(i)
		}
	}
	one := newClient(t, seeds[left:left+1])
	leftID := int(c.Configs[left].NodeID)
	deadline := time.Now().Add(30 * time.Second)
	for answers := 0; ; answers++ {
		if time.Now().After(deadline) {
			t.Fatalf("after %d answers in 30 s, broker %d never said it could not name the group's coordinator", answers, leftID)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		kresp, err := one.Broker(leftID).Request(ctx, kmsg.NewPtrListGroupsRequest())
		cancel()
		if err != nil {
			t.Fatalf("ListGroups to broker %d: %v", leftID, err)
		}
		resp := kresp.(*kmsg.ListGroupsResponse)
		if resp.ErrorCode == kerr.CoordinatorNotAvailable.Code {
			break
		}
		if resp.ErrorCode == kerr.CoordinatorLoadInProgress.Code {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if resp.ErrorCode != 0 {
			t.Fatalf("ListGroups to broker %d: %v", leftID, kerr.ErrorForCode(resp.ErrorCode))
		}
		found := false
		for _, g := range resp.Groups {
			found = found || g.Group == group
		}
		if !found {
			t.Fatalf("broker %d, the only one running, answered ListGroups without error and without %s: %+v", leftID, group, resp.Groups)
		}
		time.Sleep(100 * time.Millisecond)
	}

	for i := range 3 {
		if i != left {
			c.StartBroker(i)
		}
	}
	testutil.Eventually(t, 60*time.Second, listed)
}

package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

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
// broker 5 is written and read back.
func TestMetaVotersReplaceDeadVoter(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Nodes: 3, Adjust: func(cfg *config.Config) {
		cfg.MetaVoterReplaceAfter = 3 * time.Second
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
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
}

// metaVoterSettle is a few rounds of __meta's voter keeper.
const metaVoterSettle = 3 * time.Second

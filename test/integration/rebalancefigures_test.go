package integration

import (
	"fmt"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestRebalanceFigures prints how long a group of ten franz-go members
// takes to settle after each member joins, one at a time, under the classic
// protocol with an eager assignor (range), the classic protocol with the
// cooperative-sticky assignor (two rebalances per join), and KIP-848 (the
// broker's uniform assignor). A join is settled when the group is Stable
// with every member holding its share (20 partitions: 20/n or one more)
// and, for KIP-848, at the target's epoch. Members heartbeat every 500 ms
// in all three (the client's interval for classic, the broker's for
// KIP-848). Figures, not a check: run with LONGBOAT_REBALANCE_FIGURES=1.
func TestRebalanceFigures(t *testing.T) {
	if os.Getenv("LONGBOAT_REBALANCE_FIGURES") == "" {
		t.Skip("figures only: set LONGBOAT_REBALANCE_FIGURES=1")
	}
	c := sharedCluster(t)
	seeds := c.Addrs()
	const members, partitions = 10, 20
	for _, p := range []struct {
		name string
		opts []kgo.Opt
		next bool
	}{
		{"classic eager (range)", []kgo.Opt{kgo.Balancers(kgo.RangeBalancer())}, false},
		{"classic cooperative-sticky", []kgo.Opt{kgo.Balancers(kgo.CooperativeStickyBalancer())}, false},
		{"KIP-848 (uniform)", []kgo.Opt{kgo.ServerSideBalancer(), kgo.Balancers(kgo.CooperativeStickyBalancer())}, true},
	} {
		slug := fmt.Sprintf("rebalfig-%d", time.Now().UnixNano())
		createTopic(t, seeds, slug, partitions, 3)
		var gcs []*groupConsumer
		var took []time.Duration
		for i := 1; i <= members; i++ {
			start := time.Now()
			gcs = append(gcs, startGroupConsumer(t, seeds, slug, slug, p.opts...))
			if err := waitSettled(t, seeds, slug, i, partitions, p.next, 60*time.Second); err != nil {
				t.Fatalf("%s, member %d: %v", p.name, i, err)
			}
			took = append(took, time.Since(start))
		}
		for _, gc := range gcs {
			gc.close()
		}
		var total time.Duration
		for _, d := range took {
			total += d
		}
		sorted := append([]time.Duration(nil), took...)
		sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
		var each []string
		for _, d := range took {
			each = append(each, fmt.Sprintf("%.2f", d.Seconds()))
		}
		fmt.Printf("%-28s joins 2..10 median %.2f s, max %.2f s; all ten %.1f s; per join (s): %v\n",
			p.name, median(sorted[1:]).Seconds(), sorted[len(sorted)-1].Seconds(), total.Seconds(), each)
	}
}

func median(sorted []time.Duration) time.Duration { return sorted[len(sorted)/2] }

// waitSettled polls the group's description until n members hold a
// balanced share of the partitions.
func waitSettled(t *testing.T, seeds []string, group string, n, partitions int, next bool, within time.Duration) error {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if settledShare(t, seeds, group, n, partitions, next) {
			return nil
		}
		time.Sleep(25 * time.Millisecond)
	}
	return fmt.Errorf("group %s not balanced over %d members within %s", group, n, within)
}

func settledShare(t *testing.T, seeds []string, group string, n, partitions int, next bool) bool {
	var owned map[string]int
	if next {
		g, err := describeConsumerGroup(t, seeds, group)
		if err != nil || g.State != "Stable" {
			return false
		}
		owned = map[string]int{}
		for _, m := range g.Members {
			if m.MemberEpoch != g.AssignmentEpoch {
				return false
			}
			for _, ps := range m.Assignment {
				owned[m.MemberID] += len(ps)
			}
		}
	} else {
		var state string
		state, owned = describeMembers(t, seeds, group)
		if state != "Stable" {
			return false
		}
	}
	if len(owned) != n {
		return false
	}
	sum := 0
	for _, k := range owned {
		if k < partitions/n || k > (partitions+n-1)/n {
			return false
		}
		sum += k
	}
	return sum == partitions
}

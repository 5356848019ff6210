package integration

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestCommitFigures prints the OffsetCommit latency (p50, p99, max) of a
// steady stream of commits while the cluster holds 10,000 groups, each with
// a committed offset. Every group shard takes a Raft snapshot every 100
// entries, so the stream runs through many snapshots of ~1,700 groups each:
// what it measures is how much a snapshot stalls the commits applied
// meanwhile. Figures, not a check: run with LONGBOAT_GROUP_SCALE_FIGURES=1
// (LONGBOAT_GROUP_SCALE_GROUPS and _SECONDS change the defaults).
func TestCommitFigures(t *testing.T) {
	if os.Getenv("LONGBOAT_GROUP_SCALE_FIGURES") == "" {
		t.Skip("figures only: set LONGBOAT_GROUP_SCALE_FIGURES=1")
	}
	groups, seconds := envInt("LONGBOAT_GROUP_SCALE_GROUPS", 10000), envInt("LONGBOAT_GROUP_SCALE_SECONDS", 20)
	c := sharedCluster(t)
	seeds := c.Addrs()
	topic := fmt.Sprintf("commitfig-%d", time.Now().UnixNano())
	createTopic(t, seeds, topic, 1, 3)
	cl := newClient(t, seeds)
	name := func(i int) string { return fmt.Sprintf("%s-g%05d", topic, i) }

	// Standalone commits (generation -1) create the groups; kgo sends each
	// to its group's coordinator.
	start := time.Now()
	var next atomic.Int64
	runWorkers(t, 32, func() error {
		for i := int(next.Add(1)) - 1; i < groups; i = int(next.Add(1)) - 1 {
			if _, err := commitOnce(cl, name(i), topic, 1); err != nil {
				return fmt.Errorf("create group %d: %w", i, err)
			}
		}
		return nil
	})
	t.Logf("%d groups with an offset each in %.1f s", groups, time.Since(start).Seconds())

	// The stream: 8 committers, each committing one group at a time.
	var (
		mu   sync.Mutex
		lats []time.Duration
	)
	stop := time.Now().Add(time.Duration(seconds) * time.Second)
	runWorkers(t, 8, func() error {
		rnd := rand.New(rand.NewSource(time.Now().UnixNano()))
		var mine []time.Duration
		for off := int64(2); time.Now().Before(stop); off++ {
			d, err := commitOnce(cl, name(rnd.Intn(groups)), topic, off)
			if err != nil {
				return err
			}
			mine = append(mine, d)
		}
		mu.Lock()
		lats = append(lats, mine...)
		mu.Unlock()
		return nil
	})
	sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
	pct := func(p float64) float64 { return float64(lats[int(p*float64(len(lats)-1))].Microseconds()) / 1000 }
	fmt.Printf("commit latency, %d groups, %d commits in %d s: p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
		groups, len(lats), seconds, pct(0.50), pct(0.99), pct(1))
}

// commitOnce commits offset for partition 0 of topic as a standalone
// consumer and returns how long the broker took.
func commitOnce(cl *kgo.Client, group, topic string, offset int64) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	resp, err := commitRequest(group, "", -1, topic, offset).RequestWith(ctx, cl)
	took := time.Since(start)
	if err != nil {
		return took, err
	}
	if err := kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode); err != nil {
		return took, fmt.Errorf("commit %s: %w", group, err)
	}
	return took, nil
}

// runWorkers runs n copies of fn and fails t with the first error.
func runWorkers(t *testing.T, n int, fn func() error) {
	t.Helper()
	errs := make(chan error, n)
	for range n {
		go func() { errs <- fn() }()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

func envInt(name string, def int) int {
	var v int
	if _, err := fmt.Sscan(os.Getenv(name), &v); err != nil || v <= 0 {
		return def
	}
	return v
}

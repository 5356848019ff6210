package integration

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/longboat/longboat/internal/config"
	"github.com/longboat/longboat/internal/testcluster"
	"github.com/longboat/longboat/internal/testutil"
)

// TestBrokerStopMidStream stops one broker while a producer with retries is
// sending, restarts it, then stops a different broker so that the restarted
// one must serve as part of the quorum: every acknowledged record must be
// readable at its acknowledged offset, and nothing appears twice unless the
// producer was told the send failed.
func TestBrokerStopMidStream(t *testing.T) {
	t.Parallel()
	c := testcluster.Start(t, testcluster.Options{Nodes: 3})
	seeds := c.Addrs()
	createTopic(t, seeds, "failover", 6, 3)
	cl := newClient(t, seeds, kgo.RecordRetries(50), kgo.RetryTimeout(30*time.Second))

	var mu sync.Mutex
	var acked []record
	failed := 0
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	stop := make(chan struct{})
	done := make(chan struct{})
	sent := 0
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			r := &kgo.Record{Topic: "failover", Value: []byte(fmt.Sprintf("f-%d", i))}
			cl.Produce(ctx, r, func(r *kgo.Record, err error) {
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					failed++
					return
				}
				acked = append(acked, record{r.Partition, r.Offset, string(r.Value)})
			})
			sent++
			if i%50 == 49 { // pace the producer: load, not a flood
				time.Sleep(5 * time.Millisecond)
			}
		}
	}()
	ackedCount := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	waitAcked := func(n int) {
		t.Helper()
		testutil.Eventually(t, 30*time.Second, func() error { return atLeast("records acknowledged", ackedCount(), n) })
	}
	waitAcked(2000)
	t.Log("stopping broker 2")
	c.StopBroker(1)
	waitAcked(ackedCount() + 3000)
	t.Log("restarting broker 2")
	c.StartBroker(1)
	c.WaitReady(60 * time.Second)
	waitAcked(ackedCount() + 2000)
	close(stop)
	<-done
	if err := cl.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
	mu.Lock()
	t.Logf("sent %d, acknowledged %d, failed %d", sent, len(acked), failed)
	produced := append([]record(nil), acked...)
	mu.Unlock()

	// Broker 2 has rejoined; take broker 3 away so that broker 2's copy is
	// needed for a quorum and for reads.
	c.StopBroker(2)
	live := []string{seeds[0], seeds[1]}
	consumed := consumeAll(t, live, "failover", len(produced))
	checkSameRecords(t, produced, consumed)
}

// TestFullClusterRestart stops every broker and starts them again on the
// same directories: topics, offsets and records all survive.
func TestFullClusterRestart(t *testing.T) {
	t.Parallel()
	c := testcluster.Start(t, testcluster.Options{Nodes: 3, Adjust: func(cfg *config.Config) {
		// Every broker is stopped: the later ones' leadership hand-off
		// has no live target and would wait out half of this (5 s of the
		// default 10 s). What is tested is the restart, not the hand-off.
		cfg.ShutdownTimeout = time.Second
	}})
	seeds := c.Addrs()
	createTopic(t, seeds, "durable", 6, 3)
	produced := produceN(t, newClient(t, seeds), "durable", "d", 3000)
	for i := range c.Brokers {
		c.StopBroker(i)
	}
	for i := range c.Brokers {
		c.StartBroker(i)
	}
	c.WaitReady(60 * time.Second)
	consumed := consumeAll(t, seeds, "durable", len(produced))
	checkSameRecords(t, produced, consumed)
	// Appends continue after the restored end.
	more := produceN(t, newClient(t, seeds), "durable", "e", 600)
	all := consumeAll(t, seeds, "durable", len(produced)+len(more))
	checkSameRecords(t, append(produced, more...), all)
}

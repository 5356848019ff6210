// Command scaleprobe measures, for scripts/bench-scale.sh, how long the
// partitions a killed broker led stay unavailable: it finds the partitions
// of a topic that broker leads, kills the broker's process (SIGKILL), then
// produces one record to each of those partitions, retrying until it is
// acknowledged, and reports the time from the kill to each first ack.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func main() {
	brokers := flag.String("brokers", "", "comma-separated bootstrap servers of the surviving brokers (and the victim)")
	topic := flag.String("topic", "scale", "topic")
	victim := flag.Int("broker", 1, "node id of the broker to kill")
	pid := flag.Int("pid", 0, "process id of that broker")
	limit := flag.Duration("timeout", 60*time.Second, "give up on a partition after this long")
	flag.Parse()
	if *brokers == "" || *pid == 0 {
		fmt.Fprintln(os.Stderr, "scaleprobe: --brokers and --pid are required")
		os.Exit(2)
	}
	if err := run(strings.Split(*brokers, ","), *topic, int32(*victim), *pid, *limit); err != nil {
		fmt.Fprintln(os.Stderr, "scaleprobe:", err)
		os.Exit(1)
	}
}

func run(brokers []string, topic string, victim int32, pid int, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), limit+30*time.Second)
	defer cancel()
	adm, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return fmt.Errorf("admin client: %w", err)
	}
	md, err := kadm.NewClient(adm).Metadata(ctx, topic)
	adm.Close()
	if err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	var led []int32
	for _, p := range md.Topics[topic].Partitions {
		if p.Leader == victim {
			led = append(led, p.Partition)
		}
	}
	if len(led) == 0 {
		return fmt.Errorf("broker %d leads no partition of %s", victim, topic)
	}
	// One client per partition would be the purest measure, but 300+ clients
	// cost more than the thing measured; one client with a manual partitioner
	// retries each partition's record on its own.
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordDeliveryTimeout(limit), kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }),
		kgo.MetadataMinAge(100*time.Millisecond))
	if err != nil {
		return fmt.Errorf("producer: %w", err)
	}
	defer cl.Close()
	// Warm up the producer's connections and metadata before the kill so the
	// figure is the cluster's, not the client's start-up.
	if err := cl.Ping(ctx); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	fmt.Printf("broker %d leads %d partitions of %s; killing pid %d\n", victim, len(led), topic, pid)
	killed := time.Now()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill %d: %w", pid, err)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	took := make([]time.Duration, 0, len(led))
	failed := 0
	for _, p := range led {
		wg.Add(1)
		cl.Produce(ctx, &kgo.Record{Topic: topic, Partition: p, Value: []byte("after-kill")}, func(_ *kgo.Record, err error) {
			defer wg.Done()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed++
				return
			}
			took = append(took, time.Since(killed))
		})
	}
	wg.Wait()
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	if len(took) == 0 {
		return fmt.Errorf("no partition acknowledged within %s", limit)
	}
	q := func(f float64) float64 { return took[int(f*float64(len(took)-1))].Seconds() }
	fmt.Printf("RESULT led=%d acked=%d failed=%d first_ack_s=%.3f median_s=%.3f max_s=%.3f\n",
		len(led), len(took), failed, q(0), q(0.5), q(1))
	return nil
}

// Command scaleprobe measures, for scripts/bench-scale.sh, how long the
// partitions a killed broker led stay unavailable: it finds the partitions
// of a topic that broker leads, kills the broker's process (SIGKILL; or
// stops it, SIGSTOP, to stand for a hung broker), then
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
	survivors := flag.String("survivors", "", "comma-separated bootstrap servers without the victim: also report when their metadata stops naming it leader")
	stop := flag.Bool("stop", false, "SIGSTOP the broker instead of SIGKILL (the caller resumes or kills it afterwards)")
	flag.Parse()
	if *brokers == "" || *pid == 0 {
		fmt.Fprintln(os.Stderr, "scaleprobe: --brokers and --pid are required")
		os.Exit(2)
	}
	sig := syscall.SIGKILL
	if *stop {
		sig = syscall.SIGSTOP
	}
	var surv []string
	if *survivors != "" {
		surv = strings.Split(*survivors, ",")
	}
	if err := run(strings.Split(*brokers, ","), surv, *topic, int32(*victim), *pid, sig, *limit); err != nil {
		fmt.Fprintln(os.Stderr, "scaleprobe:", err)
		os.Exit(1)
	}
}

func run(brokers, survivors []string, topic string, victim int32, pid int, sig syscall.Signal, limit time.Duration) error {
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
	fmt.Printf("broker %d leads %d partitions of %s; sending %v to pid %d\n", victim, len(led), topic, sig, pid)
	killed := time.Now()
	if err := syscall.Kill(pid, sig); err != nil {
		return fmt.Errorf("signal %d: %w", pid, err)
	}
	// A client's request already sent to a stopped broker waits out its own
	// timeout (franz-go: ~20 s), so with SIGSTOP the acks measure the
	// client; the survivors' metadata shows when the cluster moved on.
	moved := make(chan time.Duration, 1)
	if len(survivors) > 0 {
		go func() { moved <- metadataMoved(ctx, survivors, topic, victim, led, killed) }()
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
		if len(survivors) > 0 {
			fmt.Printf("survivors' metadata moved after %.3f s\n", (<-moved).Seconds())
		}
		return fmt.Errorf("no partition acknowledged within %s", limit)
	}
	q := func(f float64) float64 { return took[int(f*float64(len(took)-1))].Seconds() }
	meta := ""
	if len(survivors) > 0 {
		meta = fmt.Sprintf(" metadata_moved_s=%.3f", (<-moved).Seconds())
	}
	fmt.Printf("RESULT led=%d acked=%d failed=%d first_ack_s=%.3f median_s=%.3f max_s=%.3f%s\n",
		len(led), len(took), failed, q(0), q(0.5), q(1), meta)
	return nil
}

// metadataMoved polls the survivors' metadata until no partition in led
// names victim leader (or has none), and returns how long after since
// that was; -1 s if ctx ended first.
func metadataMoved(ctx context.Context, survivors []string, topic string, victim int32, led []int32, since time.Time) time.Duration {
	cl, err := kgo.NewClient(kgo.SeedBrokers(survivors...))
	if err != nil {
		return -time.Second
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	want := map[int32]bool{}
	for _, p := range led {
		want[p] = true
	}
	for ctx.Err() == nil {
		md, err := adm.Metadata(ctx, topic)
		if err == nil {
			done := true
			for _, p := range md.Topics[topic].Partitions {
				if want[p.Partition] && (p.Leader == victim || p.Leader < 0) {
					done = false
				}
			}
			if done {
				return time.Since(since)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return -time.Second
}

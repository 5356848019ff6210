package integration

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// quiesceWait is longer than dragonboat's quiesce threshold at the default
// timing (ten of the longest election timeouts: 10 × 2 × 5 ticks × 200 ms
// = 20 s), so every partition shard of an idle cluster has quiesced after
// it.
const quiesceWait = 23 * time.Second

// TestIdlePartitionsQuiesceAndFailOver lets the partition shards of a
// three-broker cluster go quiet (quiesce), then proves that produce and
// consume work on them with no error any client sees and no leadership
// change, and that when the broker leading the most of them is killed
// (SIGKILL) while they are quiesced, their leadership moves and every one
// of them acknowledges a produce again within seconds.
//
// Not parallel: quiescing needs an idle cluster, and the failover is timed.
func TestIdlePartitionsQuiesceAndFailOver(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs broker processes")
	}
	const topic, partitions = "idle", 24
	pc := startProcCluster(t, 3)
	createTopic(t, pc.kafka, topic, partitions, 3)
	cl := newClient(t, pc.kafka, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.MetadataMinAge(100*time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }))
	var produced []record
	produced = append(produced, produceEach(t, cl, topic, partitions, "first")...)

	// Deliberately idle: quiescing is visible to no client or metric, so
	// the test lets its threshold pass (here and below). The partitions of
	// the broker that leads the most stay quiesced for its kill below; the
	// others are woken by a produce first.
	time.Sleep(quiesceWait)
	led := leadersByBroker(t, pc.kafka, topic)
	victim, most := int32(0), 0
	for b, ps := range led {
		if len(ps) > most {
			victim, most = b, len(ps)
		}
	}
	if most == 0 || most == partitions {
		t.Fatalf("want the leaders spread over the brokers, metadata gives %v", led)
	}
	var others []int32
	for b, ps := range led {
		if b != victim {
			others = append(others, ps...)
		}
	}
	changes, failures := produceStats(t, pc)
	start := time.Now()
	produced = append(produced, produceOneEach(t, cl, topic, others, "woken")...)
	t.Logf("one record to each of %d quiesced partitions acknowledged in %v", len(others), time.Since(start))
	changesAfter, failuresAfter := produceStats(t, pc)
	if failuresAfter != failures {
		t.Errorf("produce to quiesced partitions answered %v partition errors", failuresAfter-failures)
	}
	if changesAfter != changes {
		t.Errorf("waking quiesced partitions changed leadership %v times", changesAfter-changes)
	}

	// Kill the broker that leads the most partitions while they are quiesced.
	var survivors []string
	for i, addr := range pc.kafka {
		if int32(i+1) != victim {
			survivors = append(survivors, addr)
		}
	}
	after := newClient(t, survivors, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.MetadataMinAge(100*time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }), kgo.RecordDeliveryTimeout(30*time.Second))
	if err := after.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Logf("killing broker %d, leader of %d quiesced partitions", victim, most)
	killed := time.Now()
	pc.kill(int(victim - 1))
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	var mu sync.Mutex
	var wg sync.WaitGroup
	var slowest time.Duration
	for _, p := range led[victim] {
		wg.Add(1)
		after.Produce(ctx, &kgo.Record{Topic: topic, Partition: p, Value: []byte(fmt.Sprintf("after-kill-%d", p))}, func(r *kgo.Record, err error) {
			defer wg.Done()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Errorf("partition %d after the kill: %v", r.Partition, err)
				return
			}
			slowest = max(slowest, time.Since(killed))
			produced = append(produced, record{r.Partition, r.Offset, string(r.Value)})
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("every partition the killed broker led acknowledged again within %v of the kill", slowest)
	// Detection takes ~0.4 s and the election a few hundred ms; on a loaded
	// machine allow for much more, but not for "never".
	if slowest > 15*time.Second {
		t.Errorf("partitions of a killed idle leader took %v to acknowledge again", slowest)
	}
	for b, ps := range leadersByBroker(t, survivors, topic) {
		if b == victim {
			t.Errorf("metadata still names killed broker %d leader of partitions %v", victim, ps)
		}
	}

	checkSameRecords(t, produced, consumeAll(t, survivors, topic, len(produced)))

	// The killed broker returns to a cluster whose shards have quiesced
	// again: it must catch up and every partition must take produce.
	time.Sleep(quiesceWait)
	pc.start(int(victim - 1))
	pc.waitReady(60 * time.Second)
	produced = append(produced, produceEach(t, cl, topic, partitions, "returned")...)
	checkSameRecords(t, produced, consumeAll(t, pc.kafka, topic, len(produced)))
}

// produceEach sends one record to every partition and waits for the acks.
func produceEach(t *testing.T, cl *kgo.Client, topic string, partitions int32, prefix string) []record {
	t.Helper()
	all := make([]int32, partitions)
	for p := range all {
		all[p] = int32(p)
	}
	return produceOneEach(t, cl, topic, all, prefix)
}

// produceOneEach sends one record to each of the partitions and waits for the
// acks.
func produceOneEach(t *testing.T, cl *kgo.Client, topic string, partitions []int32, prefix string) []record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for _, p := range partitions {
		recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: []byte(fmt.Sprintf("%s-%d", prefix, p))})
	}
	res := cl.ProduceSync(ctx, recs...)
	if err := res.FirstErr(); err != nil {
		t.Fatalf("produce %s: %v", prefix, err)
	}
	out := make([]record, 0, len(res))
	for _, r := range res {
		out = append(out, record{r.Record.Partition, r.Record.Offset, string(r.Record.Value)})
	}
	return out
}

// leadersByBroker maps each broker id to the partitions of topic it leads.
func leadersByBroker(t *testing.T, seeds []string, topic string) map[int32][]int32 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	md, err := kadm.NewClient(newClient(t, seeds)).Metadata(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32][]int32{}
	for _, p := range md.Topics[topic].Partitions.Sorted() {
		out[p.Leader] = append(out[p.Leader], p.Partition)
	}
	return out
}

// produceStats sums, over the running brokers, the leadership changes they
// observed and the Produce responses that carried a partition error.
func produceStats(t *testing.T, pc *procCluster) (changes, failures float64) {
	t.Helper()
	for i, p := range pc.procs {
		if p == nil {
			continue
		}
		resp, err := http.Get("http://" + pc.http[i] + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			line := sc.Text()
			f := strings.Fields(line)
			if len(f) != 2 {
				continue
			}
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				continue
			}
			switch {
			case strings.HasPrefix(line, "longboat_raft_leadership_changes_total{"):
				changes += v
			case strings.HasPrefix(line, `longboat_kafka_requests_total{api="Produce"`) && !strings.Contains(line, `error="NONE"`):
				failures += v
			}
		}
		resp.Body.Close()
	}
	return changes, failures
}

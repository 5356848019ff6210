package integration

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/testcluster"
	"github.com/longboat/longboat/internal/testutil"
)

// idempotentBatch builds a v2 record batch of n records from a producer.
func idempotentBatch(pid int64, epoch int16, seq int32, n int) []byte {
	now := time.Now().UnixMilli()
	var records []byte
	for i := 0; i < n; i++ {
		r := kmsg.Record{OffsetDelta: int32(i), Value: []byte(fmt.Sprintf("seq-%d", int(seq)+i))}
		r.Length = int32(len(r.AppendTo(nil)) - 1) // AppendTo writes a 1-byte length placeholder for 0
		records = r.AppendTo(records)
	}
	b := kmsg.RecordBatch{
		Magic: 2, LastOffsetDelta: int32(n - 1), FirstTimestamp: now, MaxTimestamp: now,
		ProducerID: pid, ProducerEpoch: epoch, FirstSequence: seq, NumRecords: int32(n), Records: records,
	}
	raw := b.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
	binary.BigEndian.PutUint32(raw[17:], crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli)))
	return raw
}

// produceRaw sends one batch to partition 0 of topic through cl and
// returns the partition's base offset and error code.
func produceRaw(t *testing.T, cl *kgo.Client, topic string, batch []byte) (int64, int16) {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic, rt.TopicID = topic, topicID(t, cl, topic)
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var offset int64
	var code int16
	testutil.Eventually(t, 30*time.Second, func() error {
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatalf("produce: %v", err)
		}
		p := resp.Topics[0].Partitions[0]
		if p.ErrorCode == 6 || p.ErrorCode == 5 { // leadership moving: retry, as a client would
			return fmt.Errorf("produce to %s: error code %d", topic, p.ErrorCode)
		}
		offset, code = p.BaseOffset, p.ErrorCode
		return nil
	})
	return offset, code
}

// TestDuplicateBatchesByHand sends batches of one producer id directly:
// a retried batch is acknowledged with its original offset and not written
// again (also by a new leader), a gap answers OUT_OF_ORDER_SEQUENCE_NUMBER,
// an older epoch INVALID_PRODUCER_EPOCH.
func TestDuplicateBatchesByHand(t *testing.T) {
	t.Parallel()
	c := testcluster.Start(t, testcluster.Options{Nodes: 3})
	seeds := c.Addrs()
	createTopic(t, seeds, "dedupe", 1, 3)
	cl := newClient(t, seeds)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ipr, err := kmsg.NewPtrInitProducerIDRequest().RequestWith(ctx, cl)
	if err != nil || ipr.ErrorCode != 0 {
		t.Fatalf("InitProducerId: %v (code %d)", err, ipr.ErrorCode)
	}
	pid := ipr.ProducerID
	first := idempotentBatch(pid, 0, 0, 3)
	if off, code := produceRaw(t, cl, "dedupe", first); off != 0 || code != 0 {
		t.Fatalf("first batch: offset %d code %d", off, code)
	}
	if off, code := produceRaw(t, cl, "dedupe", first); off != 0 || code != 0 {
		t.Fatalf("retried batch: offset %d code %d, want the original offset 0", off, code)
	}
	second := idempotentBatch(pid, 0, 3, 2)
	if off, code := produceRaw(t, cl, "dedupe", second); off != 3 || code != 0 {
		t.Fatalf("next batch: offset %d code %d, want 3", off, code)
	}
	if _, code := produceRaw(t, cl, "dedupe", idempotentBatch(pid, 0, 9, 1)); code != 45 {
		t.Fatalf("gap: code %d, want 45 OUT_OF_ORDER_SEQUENCE_NUMBER", code)
	}

	// The partition's leader goes away; the new leader still knows the batch.
	leaderIdx := -1
	for i, b := range c.Brokers {
		for _, shard := range b.Node.HostedShards() {
			if _, ok := b.Node.IsLeader(shard); ok {
				leaderIdx = i
			}
		}
	}
	c.StopBroker(leaderIdx)
	var live []string
	for i, a := range seeds {
		if i != leaderIdx {
			live = append(live, a)
		}
	}
	cl2 := newClient(t, live)
	if off, code := produceRaw(t, cl2, "dedupe", second); off != 3 || code != 0 {
		t.Fatalf("retry to the new leader: offset %d code %d, want the original offset 3", off, code)
	}
	if off, code := produceRaw(t, cl2, "dedupe", idempotentBatch(pid, 1, 0, 1)); off != 5 || code != 0 {
		t.Fatalf("new epoch from sequence 0: offset %d code %d, want 5", off, code)
	}
	if _, code := produceRaw(t, cl2, "dedupe", idempotentBatch(pid, 0, 5, 1)); code != 47 {
		t.Fatalf("old epoch: code %d, want 47 INVALID_PRODUCER_EPOCH", code)
	}
	got := consumeAll(t, live, "dedupe", 6)
	if len(got) != 6 {
		t.Fatalf("log holds %d records, want 6 (3 + 2 + 1, no duplicates): %v", len(got), got)
	}
}

// checkExactlyOnceInOrder asserts, per partition, that the acknowledged
// offsets have no gaps, that the log holds exactly them, and that each
// producer's values (prefix-<i>) appear in send order.
func checkExactlyOnceInOrder(t *testing.T, acked, consumed []record) {
	t.Helper()
	checkSameRecords(t, acked, consumed)
	if len(consumed) != len(acked) {
		t.Fatalf("consumed %d records, acknowledged %d", len(consumed), len(acked))
	}
	byPart := map[int32][]record{}
	for _, r := range consumed {
		byPart[r.partition] = append(byPart[r.partition], r)
	}
	for p, rs := range byPart {
		sort.Slice(rs, func(i, j int) bool { return rs[i].offset < rs[j].offset })
		last := map[string]int{}
		for i, r := range rs {
			if r.offset != rs[0].offset+int64(i) {
				t.Fatalf("partition %d: gap before offset %d", p, r.offset)
			}
			dash := strings.LastIndexByte(r.value, '-')
			n, err := strconv.Atoi(r.value[dash+1:])
			if err != nil {
				t.Fatalf("value %q", r.value)
			}
			producer := r.value[:dash]
			if prev, ok := last[producer]; ok && n <= prev {
				t.Fatalf("partition %d: %q at offset %d after %s-%d: out of send order", p, r.value, r.offset, producer, prev)
			}
			last[producer] = n
		}
	}
}

// TestIdempotentProducersThroughLeaderKills runs a franz-go and a sarama
// idempotent producer while broker processes are SIGKILLed in turn: every
// value must end up exactly once, in send order per partition, with no
// gaps between acknowledged offsets.
func TestIdempotentProducersThroughLeaderKills(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs broker processes")
	}
	t.Parallel()
	pc := startProcCluster(t, 3)
	createTopic(t, pc.kafka, "exactly-once", 3, 3)

	var mu sync.Mutex
	var acked []record
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	stop := make(chan struct{})
	var wg sync.WaitGroup

	franz := newClient(t, pc.kafka, kgo.RecordRetries(1000), kgo.RetryTimeout(2*time.Minute))
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			r := &kgo.Record{Topic: "exactly-once", Key: []byte("f"), Value: []byte(fmt.Sprintf("franz-%d", i))}
			franz.Produce(ctx, r, func(r *kgo.Record, err error) {
				if err != nil {
					t.Errorf("franz-go gave up on %s: %v", r.Value, err)
					return
				}
				mu.Lock()
				acked = append(acked, record{r.Partition, r.Offset, string(r.Value)})
				mu.Unlock()
			})
			if i%20 == 19 { // pace the producer: load, not a flood
				time.Sleep(2 * time.Millisecond)
			}
		}
	}()

	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.Producer.Idempotent = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Producer.Retry.Max = 1000
	cfg.Producer.Retry.Backoff = 100 * time.Millisecond
	cfg.Net.MaxOpenRequests = 1
	cfg.Producer.Partitioner = sarama.NewHashPartitioner
	sp, err := sarama.NewSyncProducer(pc.kafka, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			v := fmt.Sprintf("sarama-%d", i)
			p, off, err := sp.SendMessage(&sarama.ProducerMessage{Topic: "exactly-once", Key: sarama.StringEncoder("s"), Value: sarama.StringEncoder(v)})
			if err != nil {
				t.Errorf("sarama gave up on %s: %v", v, err)
				return
			}
			mu.Lock()
			acked = append(acked, record{p, off, v})
			mu.Unlock()
		}
	}()

	count := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	waitMore := func(n int) {
		t.Helper()
		target := count() + n
		testutil.Eventually(t, 60*time.Second, func() error { return atLeast("records acknowledged", count(), target) })
	}
	waitMore(1000)
	kills := 0
	for _, victim := range []int{0, 1, 2, 0} {
		pc.kill(victim)
		kills++
		waitMore(1000)
		pc.start(victim)
		pc.waitReady(60 * time.Second)
		waitMore(1000)
	}
	close(stop)
	wg.Wait()
	if err := franz.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	all := append([]record(nil), acked...)
	mu.Unlock()
	consumed := consumeAll(t, pc.kafka, "exactly-once", len(all))
	checkExactlyOnceInOrder(t, all, consumed)
	t.Logf("%d broker kills; %d records acknowledged and read back exactly once: 0 duplicates, 0 gaps", kills, len(all))
}

package integration

// Tests driving the cluster with github.com/segmentio/kafka-go: its Client
// (protocol package, negotiated versions) for admin requests and its
// Writer/Reader/Conn for the data path.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/longboat/longboat/internal/testutil"
)

// kgLogger adapts t.Logf for kafka-go's error logger. The writer or reader
// using it must be closed before the test returns.
func kgLogger(t testing.TB, prefix string) kafka.Logger {
	return kafka.LoggerFunc(func(msg string, args ...interface{}) {
		t.Logf(prefix+msg, args...)
	})
}

func kgClient(addrs []string) *kafka.Client {
	return &kafka.Client{Addr: kafka.TCP(addrs...), Timeout: 20 * time.Second}
}

// kgCreateTopic creates a topic with kafka.Client.CreateTopics (which the
// client routes to the controller) and waits until Metadata shows a leader
// for every partition.
func kgCreateTopic(t testing.TB, addrs []string, topic string, partitions, rf int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := kgClient(addrs).CreateTopics(ctx, &kafka.CreateTopicsRequest{
		Topics: []kafka.TopicConfig{{Topic: topic, NumPartitions: partitions, ReplicationFactor: rf}},
	})
	if err != nil {
		t.Fatalf("kafka-go CreateTopics %s: %v", topic, err)
	}
	if e, ok := resp.Errors[topic]; !ok || e != nil {
		t.Fatalf("kafka-go CreateTopics %s: topic error %v (present in response: %v)", topic, e, ok)
	}
	kgWaitLeaders(t, addrs, topic, partitions)
}

// kgWaitLeaders polls Metadata until the topic has the given number of
// partitions, each with a leader and no error, and each leader is the
// preferred (first) replica, i.e. the broker's leader balancing has settled.
// It logs how many partitions started on a non-preferred leader.
func kgWaitLeaders(t testing.TB, addrs []string, topic string, partitions int) {
	t.Helper()
	loggedMoves := false
	start := time.Now()
	testutil.Eventually(t, 20*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var last string
		md, err := kgClient(addrs).Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
		if err == nil && len(md.Topics) == 1 && md.Topics[0].Error == nil && len(md.Topics[0].Partitions) == partitions {
			ok, notPreferred := true, 0
			for _, p := range md.Topics[0].Partitions {
				if p.Error != nil || p.Leader.ID <= 0 || p.Leader.Host == "" {
					ok = false
					last = fmt.Sprintf("partition %d: leader %+v err %v", p.ID, p.Leader, p.Error)
				} else if len(p.Replicas) > 0 && p.Leader.ID != p.Replicas[0].ID {
					ok = false
					notPreferred++
					last = fmt.Sprintf("partition %d: leader %d, preferred replica %d", p.ID, p.Leader.ID, p.Replicas[0].ID)
				}
			}
			if notPreferred > 0 && !loggedMoves {
				loggedMoves = true
				t.Logf("topic %s: %d of %d partitions have a leader that is not the preferred replica (waiting for balancing)", topic, notPreferred, partitions)
			}
			if ok {
				return nil
			}
		} else if err != nil {
			last = err.Error()
		} else if len(md.Topics) == 1 {
			last = fmt.Sprintf("topic error %v, %d partitions", md.Topics[0].Error, len(md.Topics[0].Partitions))
		}
		return fmt.Errorf("topic %s: leaders not settled: %s", topic, last)
	})
	if loggedMoves {
		t.Logf("topic %s: leaders settled on preferred replicas after %v", topic, time.Since(start))
	}
}

// kgOffsets asks the partition leader for the first and last (high
// watermark) offsets with Conn.ReadFirstOffset / Conn.ReadLastOffset,
// redialing the leader if leadership moved in between.
func kgOffsets(t testing.TB, addrs []string, topic string, partition int) (first, last int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	testutil.Eventually(t, 10*time.Second, func() error {
		var err error
		first, last, err = kgOffsetsOnce(ctx, addrs, topic, partition)
		if err != nil && !(errors.Is(err, kafka.NotLeaderForPartition) || errors.Is(err, kafka.LeaderNotAvailable)) {
			t.Fatalf("ListOffsets %s/%d: %v", topic, partition, err)
		}
		if err != nil {
			t.Logf("ListOffsets %s/%d: %v; retrying", topic, partition, err)
			return fmt.Errorf("ListOffsets %s/%d: %w", topic, partition, err)
		}
		return nil
	})
	return first, last
}

func kgOffsetsOnce(ctx context.Context, addrs []string, topic string, partition int) (first, last int64, err error) {
	conn, err := kafka.DialLeader(ctx, "tcp", addrs[0], topic, partition)
	if err != nil {
		return 0, 0, fmt.Errorf("DialLeader: %w", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if first, err = conn.ReadFirstOffset(); err != nil {
		return 0, 0, fmt.Errorf("ReadFirstOffset: %w", err)
	}
	if last, err = conn.ReadLastOffset(); err != nil {
		return 0, 0, fmt.Errorf("ReadLastOffset: %w", err)
	}
	return first, last, nil
}

// kgReadPartition reads partition p from offset from until it has seen the
// message at offset end-1, with a kafka.Reader bound to the partition (no
// consumer group).
func kgReadPartition(t testing.TB, addrs []string, topic string, p int, from, end int64) []kafka.Message {
	t.Helper()
	if end <= from {
		return nil
	}
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:     addrs,
		Topic:       topic,
		Partition:   p,
		MinBytes:    1,
		MaxBytes:    4 << 20,
		MaxWait:     250 * time.Millisecond,
		ErrorLogger: kgLogger(t, fmt.Sprintf("reader %s/%d: ", topic, p)),
	})
	defer r.Close()
	if err := r.SetOffset(from); err != nil {
		t.Fatalf("SetOffset: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []kafka.Message
	for {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("read %s/%d: %v after %d messages (want offsets %d..%d)", topic, p, err, len(out), from, end-1)
		}
		out = append(out, m)
		if m.Offset >= end-1 {
			return out
		}
	}
}

func headerMap(hs []kafka.Header) map[string]string {
	m := map[string]string{}
	for _, h := range hs {
		m[h.Key] = string(h.Value)
	}
	return m
}

// TestKafkaGoProduceConsumeRF3 creates a 6-partition RF=3 topic with
// kafka-go's Client, writes 2,000 keyed messages with headers and explicit
// timestamps through a round-robin Writer with acks=all, and reads every
// partition back with a partition-bound Reader: each value exactly once, at
// the offset the Writer was acknowledged with, offsets contiguous from 0,
// key, headers and timestamp preserved.
func TestKafkaGoProduceConsumeRF3(t *testing.T) {
	c := sharedCluster(t)
	addrs := c.Addrs()
	const topic, parts, n = "kg-orders", 6, 2000
	kgCreateTopic(t, addrs, topic, parts, 3)

	type ack struct {
		partition int
		offset    int64
	}
	var mu sync.Mutex
	acks := map[string]ack{}
	var ackErrs []error
	w := &kafka.Writer{
		Addr:         kafka.TCP(addrs...),
		Topic:        topic,
		Balancer:     &kafka.RoundRobin{},
		RequiredAcks: kafka.RequireAll,
		BatchSize:    100,
		BatchTimeout: 5 * time.Millisecond,
		MaxAttempts:  10,
		ErrorLogger:  kgLogger(t, "writer: "),
		Completion: func(msgs []kafka.Message, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				ackErrs = append(ackErrs, err)
				return
			}
			for _, m := range msgs {
				if _, dup := acks[string(m.Value)]; dup {
					ackErrs = append(ackErrs, fmt.Errorf("value %s acknowledged twice", m.Value))
				}
				acks[string(m.Value)] = ack{m.Partition, m.Offset}
			}
		},
	}
	t0 := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		msgs[i] = kafka.Message{
			Key:   []byte(fmt.Sprintf("k-%04d", i)),
			Value: []byte(fmt.Sprintf("kg-%d", i)),
			Headers: []kafka.Header{
				{Key: "idx", Value: []byte(strconv.Itoa(i))},
				{Key: "client", Value: []byte("kafka-go")},
			},
			Time: t0.Add(time.Duration(i) * time.Millisecond),
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	err := w.WriteMessages(ctx, msgs...)
	if cerr := w.Close(); cerr != nil {
		t.Errorf("writer close: %v", cerr)
	}
	if err != nil {
		t.Fatalf("WriteMessages: %v", err)
	}
	t.Logf("wrote %d messages in %v", n, time.Since(start))
	if len(ackErrs) > 0 {
		t.Fatalf("completion errors: %v", ackErrs)
	}
	if len(acks) != n {
		t.Fatalf("acknowledged %d of %d messages", len(acks), n)
	}

	seen := map[string]bool{}
	total := int64(0)
	for p := 0; p < parts; p++ {
		first, last := kgOffsets(t, addrs, topic, p)
		if first != 0 {
			t.Errorf("partition %d: first offset %d, want 0 on a fresh topic", p, first)
		}
		total += last - first
		if last-first < n/parts/2 {
			t.Errorf("partition %d holds %d messages; round robin over %d partitions should give ~%d", p, last-first, parts, n/parts)
		}
		got := kgReadPartition(t, addrs, topic, p, first, last)
		want := first
		for _, m := range got {
			if m.Partition != p {
				t.Fatalf("reader for partition %d returned partition %d", p, m.Partition)
			}
			if m.Offset != want {
				t.Fatalf("partition %d: offset %d, want %d (offsets must be contiguous and increasing)", p, m.Offset, want)
			}
			want++
			v := string(m.Value)
			if seen[v] {
				t.Fatalf("value %q read twice", v)
			}
			seen[v] = true
			a, ok := acks[v]
			if !ok {
				t.Fatalf("partition %d offset %d: value %q was never written", p, m.Offset, v)
			}
			if a.partition != p || a.offset != m.Offset {
				t.Fatalf("value %q acknowledged at %d/%d but read at %d/%d", v, a.partition, a.offset, p, m.Offset)
			}
			i, _ := strconv.Atoi(v[len("kg-"):])
			if wantKey := fmt.Sprintf("k-%04d", i); string(m.Key) != wantKey {
				t.Fatalf("value %q: key %q, want %q", v, m.Key, wantKey)
			}
			h := headerMap(m.Headers)
			if len(m.Headers) != 2 || h["idx"] != strconv.Itoa(i) || h["client"] != "kafka-go" {
				t.Fatalf("value %q: headers %v, want idx=%d client=kafka-go", v, m.Headers, i)
			}
			if wantTime := t0.Add(time.Duration(i) * time.Millisecond); !m.Time.Equal(wantTime) {
				t.Fatalf("value %q: timestamp %v, want %v (CreateTime must be kept)", v, m.Time, wantTime)
			}
		}
	}
	if total != n {
		t.Errorf("sum of partition high watermarks %d, want %d", total, n)
	}
	if len(seen) != n {
		t.Fatalf("read %d distinct values, want %d", len(seen), n)
	}
}

// kgCodecs lists kafka-go's codecs with their record-batch attribute ids.
var kgCodecs = []struct {
	name  string
	codec kafka.Compression
	id    int16
}{
	{"gzip", kafka.Gzip, 1},
	{"snappy", kafka.Snappy, 2},
	{"lz4", kafka.Lz4, 3},
	{"zstd", kafka.Zstd, 4},
}

// compressionPayload returns value i: a mix of empty, small, random
// (incompressible) and large repetitive values.
func compressionPayload(rng *rand.Rand, i int) []byte {
	switch {
	case i == 1:
		return []byte{}
	case i%50 == 0:
		return bytes.Repeat([]byte(fmt.Sprintf("large-%d-", i)), 64<<10/10) // ~64 KiB, compressible
	case i%3 == 0:
		b := make([]byte, rng.Intn(3000))
		rng.Read(b)
		return b
	default:
		return []byte(fmt.Sprintf("value-%d-%s", i, bytes.Repeat([]byte("abc"), rng.Intn(500))))
	}
}

// TestKafkaGoCompressionRoundTrip writes with gzip, snappy, lz4 and zstd
// Writers (acks=all) and reads every value back byte for byte; a raw Fetch
// (franz-go kmsg) to each partition leader checks that the stored batches
// still carry the producer's codec, i.e. the broker kept them as sent.
func TestKafkaGoCompressionRoundTrip(t *testing.T) {
	c := sharedCluster(t)
	addrs := c.Addrs()
	const parts, n = 3, 400
	for _, cc := range kgCodecs {
		t.Run(cc.name, func(t *testing.T) {
			topic := "kg-comp-" + cc.name
			kgCreateTopic(t, addrs, topic, parts, 3)
			rng := rand.New(rand.NewSource(int64(cc.id)))
			msgs := make([]kafka.Message, n)
			want := map[string][]byte{}
			for i := range msgs {
				k := fmt.Sprintf("%s-%d", cc.name, i)
				msgs[i] = kafka.Message{Key: []byte(k), Value: compressionPayload(rng, i),
					Headers: []kafka.Header{{Key: "codec", Value: []byte(cc.name)}}}
				want[k] = msgs[i].Value
			}
			w := &kafka.Writer{
				Addr:         kafka.TCP(addrs...),
				Topic:        topic,
				Balancer:     &kafka.RoundRobin{},
				RequiredAcks: kafka.RequireAll,
				Compression:  cc.codec,
				BatchSize:    50,
				BatchBytes:   4 << 20,
				BatchTimeout: 5 * time.Millisecond,
				ErrorLogger:  kgLogger(t, "writer: "),
			}
			ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
			defer cancel()
			err := w.WriteMessages(ctx, msgs...)
			w.Close()
			if err != nil {
				t.Fatalf("WriteMessages(%s): %v", cc.name, err)
			}
			got := map[string]bool{}
			for p := 0; p < parts; p++ {
				first, last := kgOffsets(t, addrs, topic, p)
				for _, m := range kgReadPartition(t, addrs, topic, p, first, last) {
					k := string(m.Key)
					wv, ok := want[k]
					if !ok {
						t.Fatalf("unexpected key %q at %d/%d", k, p, m.Offset)
					}
					if got[k] {
						t.Fatalf("key %q read twice", k)
					}
					got[k] = true
					if !bytes.Equal(m.Value, wv) {
						t.Fatalf("key %q: value differs (got %d bytes, want %d)", k, len(m.Value), len(wv))
					}
					if h := headerMap(m.Headers); h["codec"] != cc.name {
						t.Fatalf("key %q: headers %v", k, m.Headers)
					}
				}
			}
			if len(got) != n {
				t.Fatalf("read %d of %d values", len(got), n)
			}
			checkStoredCodec(t, addrs, topic, cc.id, false)
		})
	}
}

// TestKafkaGoListOffsetsAndDeleteTopics checks ListOffsets through
// Conn.ReadFirstOffset / ReadLastOffset / ReadOffset(time), CreateTopics of
// an existing topic (TOPIC_ALREADY_EXISTS), DeleteTopics of an existing and a
// missing topic, that a deleted topic disappears from Metadata, and that a
// recreated topic with the same name starts empty.
func TestKafkaGoListOffsetsAndDeleteTopics(t *testing.T) {
	c := sharedCluster(t)
	addrs := c.Addrs()
	const topic = "kg-offsets"
	kgCreateTopic(t, addrs, topic, 2, 3)

	// Empty partitions: first == last == 0.
	for p := 0; p < 2; p++ {
		if first, last := kgOffsets(t, addrs, topic, p); first != 0 || last != 0 {
			t.Fatalf("empty partition %d: first %d last %d, want 0 0", p, first, last)
		}
	}

	// 50 messages at t1 then 50 at t2 = t1+10min on partition 0 through the
	// leader's Conn (Conn produce with acks=all).
	t1 := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	t2 := t1.Add(10 * time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := kafka.DialLeader(ctx, "tcp", addrs[0], topic, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetRequiredAcks(-1)
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	for batch, ts := range []time.Time{t1, t2} {
		var ms []kafka.Message
		for i := 0; i < 50; i++ {
			ms = append(ms, kafka.Message{Value: []byte(fmt.Sprintf("off-%d", batch*50+i)), Time: ts.Add(time.Duration(i) * time.Millisecond)})
		}
		if _, err := conn.WriteMessages(ms...); err != nil {
			t.Fatalf("Conn.WriteMessages: %v", err)
		}
	}
	if first, last := kgOffsets(t, addrs, topic, 0); first != 0 || last != 100 {
		t.Fatalf("partition 0 after 100 writes: first %d last %d, want 0 100", first, last)
	}
	if first, last := kgOffsets(t, addrs, topic, 1); first != 0 || last != 0 {
		t.Fatalf("partition 1 untouched: first %d last %d, want 0 0", first, last)
	}
	for _, tc := range []struct {
		at   time.Time
		want int64
	}{
		{t1.Add(-time.Minute), 0},
		{t1, 0},
		{t1.Add(10 * time.Millisecond), 10},
		{t1.Add(time.Minute), 50},
		{t2, 50},
		{t2.Add(49 * time.Millisecond), 99},
	} {
		got, err := conn.ReadOffset(tc.at)
		if err != nil {
			t.Fatalf("ReadOffset(%v): %v", tc.at, err)
		}
		if got != tc.want {
			t.Errorf("ListOffsets timestamp %d (t1%+v): offset %d, want %d (first offset with timestamp >= target)", tc.at.UnixMilli(), tc.at.Sub(t1), got, tc.want)
		}
	}
	// A timestamp later than every record: Kafka answers offset -1.
	if got, err := conn.ReadOffset(t2.Add(time.Hour)); err != nil || got != -1 {
		t.Errorf("ListOffsets timestamp after every record: offset %d err %v, want -1 (Kafka returns -1 when no record qualifies)", got, err)
	}
	// Read the data back with Conn.ReadBatch.
	if _, err := conn.Seek(40, kafka.SeekAbsolute); err != nil {
		t.Fatal(err)
	}
	b := conn.ReadBatch(1, 1<<20)
	var vals []string
	for {
		m, err := b.ReadMessage()
		if err != nil {
			break
		}
		vals = append(vals, string(m.Value))
		if m.Offset != int64(40+len(vals)-1) {
			t.Fatalf("ReadBatch from 40: message %d has offset %d", len(vals)-1, m.Offset)
		}
	}
	if err := b.Close(); err != nil {
		t.Fatalf("ReadBatch: %v", err)
	}
	if len(vals) == 0 || vals[0] != "off-40" {
		t.Fatalf("ReadBatch from offset 40: %v", vals)
	}
	if hw := b.HighWaterMark(); hw != 100 {
		t.Errorf("ReadBatch high watermark %d, want 100", hw)
	}
	conn.Close()

	cl := kgClient(addrs)
	// Creating it again must fail with TOPIC_ALREADY_EXISTS.
	cr, err := cl.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{Topic: topic, NumPartitions: 2, ReplicationFactor: 3}}})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(cr.Errors[topic], kafka.TopicAlreadyExists) {
		t.Errorf("CreateTopics of an existing topic: %v, want TOPIC_ALREADY_EXISTS", cr.Errors[topic])
	}

	// DeleteTopics: the existing topic succeeds, a missing one is
	// UNKNOWN_TOPIC_OR_PARTITION.
	dr, err := cl.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{topic, "kg-no-such-topic"}})
	if err != nil {
		t.Fatalf("DeleteTopics: %v", err)
	}
	if e, ok := dr.Errors[topic]; !ok || e != nil {
		t.Fatalf("DeleteTopics %s: %v (present %v)", topic, e, ok)
	}
	if e := dr.Errors["kg-no-such-topic"]; !errors.Is(e, kafka.UnknownTopicOrPartition) {
		t.Errorf("DeleteTopics of a missing topic: %v, want UNKNOWN_TOPIC_OR_PARTITION", e)
	}
	// Every broker must stop listing it.
	for _, addr := range addrs {
		testutil.Eventually(t, 10*time.Second, func() error {
			md, err := kgClient([]string{addr}).Metadata(ctx, &kafka.MetadataRequest{})
			if err != nil {
				t.Fatalf("metadata from %s: %v", addr, err)
			}
			for _, tp := range md.Topics {
				if tp.Name == topic {
					return fmt.Errorf("broker %s still lists deleted topic %s", addr, topic)
				}
			}
			return nil
		})
		md, err := kgClient([]string{addr}).Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
		if err != nil {
			t.Fatalf("metadata for deleted topic from %s: %v", addr, err)
		}
		if len(md.Topics) != 1 || !errors.Is(md.Topics[0].Error, kafka.UnknownTopicOrPartition) {
			t.Errorf("broker %s: metadata for deleted topic: %+v, want UNKNOWN_TOPIC_OR_PARTITION", addr, md.Topics)
		}
	}

	// Recreate with the same name (Kafka may briefly answer
	// TOPIC_ALREADY_EXISTS while the deletion completes): it must be empty.
	testutil.Eventually(t, 15*time.Second, func() error {
		cr, err := cl.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{Topic: topic, NumPartitions: 3, ReplicationFactor: 3}}})
		if err != nil {
			t.Fatal(err)
		}
		e := cr.Errors[topic]
		if e != nil && !errors.Is(e, kafka.TopicAlreadyExists) {
			t.Fatalf("recreate %s: %v", topic, e)
		}
		if e != nil {
			return fmt.Errorf("recreate %s: %w", topic, e)
		}
		return nil
	})
	kgWaitLeaders(t, addrs, topic, 3)
	for p := 0; p < 3; p++ {
		if first, last := kgOffsets(t, addrs, topic, p); first != 0 || last != 0 {
			t.Fatalf("recreated topic partition %d: first %d last %d, want 0 0 (old data must be gone)", p, first, last)
		}
	}
	w := &kafka.Writer{Addr: kafka.TCP(addrs...), Topic: topic, Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll, BatchTimeout: 5 * time.Millisecond}
	err = w.WriteMessages(ctx, kafka.Message{Key: []byte("a"), Value: []byte("new-0")}, kafka.Message{Key: []byte("b"), Value: []byte("new-1")})
	w.Close()
	if err != nil {
		t.Fatalf("write to recreated topic: %v", err)
	}
	var all []string
	for p := 0; p < 3; p++ {
		first, last := kgOffsets(t, addrs, topic, p)
		for _, m := range kgReadPartition(t, addrs, topic, p, first, last) {
			all = append(all, string(m.Value))
		}
	}
	sort.Strings(all)
	if fmt.Sprint(all) != "[new-0 new-1]" {
		t.Fatalf("recreated topic holds %v, want [new-0 new-1]", all)
	}
}

// TestKafkaGoEmptyFetchAtHighWatermark fetches (kafka-go Conn.ReadBatchWith,
// Fetch v10) at the high watermark of a partition. Kafka answers an empty,
// non-null record set after MaxWait, which kafka-go reads as an empty batch
// (RequestTimedOut, its "nothing arrived within MaxWait" signal) carrying the
// high watermark. It then checks that a long poll at the high
// watermark returns the record appended while it waits, well before MaxWait.
func TestKafkaGoEmptyFetchAtHighWatermark(t *testing.T) {
	c := sharedCluster(t)
	addrs := c.Addrs()
	const topic = "kg-tail"
	kgCreateTopic(t, addrs, topic, 1, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := kafka.DialLeader(ctx, "tcp", addrs[0], topic, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetRequiredAcks(-1)
	conn.SetDeadline(time.Now().Add(25 * time.Second))
	for i := 0; i < 5; i++ {
		if _, err := conn.WriteMessages(kafka.Message{Value: []byte(fmt.Sprintf("tail-%d", i))}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conn.Seek(5, kafka.SeekAbsolute); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	b := conn.ReadBatchWith(kafka.ReadBatchConfig{MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 300 * time.Millisecond})
	m, rerr := b.ReadMessage()
	cerr := b.Close()
	t.Logf("empty fetch at HW returned after %v: ReadMessage (%q, %v), Close %v, HighWaterMark %d", time.Since(start), m.Value, rerr, cerr, b.HighWaterMark())
	// kafka-go signals an empty record set after MaxWait as RequestTimedOut
	// (messageSetReader.empty); anything else means it could not parse the
	// response (a null record set gave "message set size = -1").
	if rerr == nil {
		t.Errorf("fetch at the high watermark returned a message at offset %d", m.Offset)
	} else if !errors.Is(rerr, kafka.RequestTimedOut) {
		t.Errorf("Fetch v10 at the high watermark: kafka-go reports %q, want its empty-batch signal RequestTimedOut; Kafka sends an empty (size 0), never a null (size -1), record set", rerr)
	}
	if cerr != nil && !errors.Is(cerr, kafka.RequestTimedOut) {
		t.Errorf("Batch.Close after an empty fetch: %v", cerr)
	}
	if hw := b.HighWaterMark(); hw != 5 {
		t.Errorf("high watermark %d, want 5", hw)
	}

	// Long poll: a fetch waiting at the high watermark must return the
	// record appended meanwhile, long before MaxWait.
	conn2, err := kafka.DialLeader(ctx, "tcp", addrs[0], topic, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	conn2.SetDeadline(time.Now().Add(25 * time.Second))
	if _, err := conn2.Seek(5, kafka.SeekAbsolute); err != nil {
		t.Fatal(err)
	}
	go func() {
		// Append only once the fetch below is waiting at the high watermark.
		time.Sleep(300 * time.Millisecond)
		w := &kafka.Writer{Addr: kafka.TCP(addrs...), Topic: topic, RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
		defer w.Close()
		_ = w.WriteMessages(ctx, kafka.Message{Value: []byte("tail-5")})
	}()
	start = time.Now()
	b = conn2.ReadBatchWith(kafka.ReadBatchConfig{MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 8 * time.Second})
	m, rerr = b.ReadMessage()
	b.Close()
	took := time.Since(start)
	if rerr != nil || string(m.Value) != "tail-5" || m.Offset != 5 {
		t.Fatalf("long poll at HW: got (%q at %d, %v) after %v, want tail-5 at 5", m.Value, m.Offset, rerr, took)
	}
	if took > 4*time.Second {
		t.Errorf("long poll returned after %v; the append at ~300ms should wake it", took)
	}
	t.Logf("long poll woke after %v", took)
}

// TestKafkaGoAcksModesAndMessageSize writes with acks=0 and acks=1 Writers
// (an acks=0 produce gets no response, so a broker that answered it would
// desynchronise the pooled connection), reads everything back exactly
// once, then checks the size limit: a 900 KB value is accepted and read
// back intact, a 2 MB batch is refused with MESSAGE_TOO_LARGE
// (max.message.bytes defaults to 1048588).
func TestKafkaGoAcksModesAndMessageSize(t *testing.T) {
	c := sharedCluster(t)
	addrs := c.Addrs()
	const topic, parts = "kg-acks", 3
	kgCreateTopic(t, addrs, topic, parts, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	want := map[string]bool{}
	for _, mode := range []struct {
		name string
		acks kafka.RequiredAcks
	}{{"acks0", kafka.RequireNone}, {"acks1", kafka.RequireOne}, {"acksall", kafka.RequireAll}} {
		w := &kafka.Writer{Addr: kafka.TCP(addrs...), Topic: topic, Balancer: &kafka.RoundRobin{}, RequiredAcks: mode.acks,
			BatchSize: 50, BatchTimeout: 2 * time.Millisecond, ErrorLogger: kgLogger(t, mode.name+" writer: ")}
		var msgs []kafka.Message
		for i := 0; i < 500; i++ {
			v := fmt.Sprintf("%s-%d", mode.name, i)
			want[v] = true
			msgs = append(msgs, kafka.Message{Value: []byte(v)})
		}
		err := w.WriteMessages(ctx, msgs...)
		w.Close()
		if err != nil {
			t.Fatalf("%s WriteMessages: %v", mode.name, err)
		}
	}
	// acks=0 writes are not confirmed: wait until they are applied.
	testutil.Eventually(t, 10*time.Second, func() error {
		total := int64(0)
		for p := 0; p < parts; p++ {
			_, last := kgOffsets(t, addrs, topic, p)
			total += last
		}
		return atLeast("records in the topic", int(total), len(want))
	})
	seen := map[string]bool{}
	for p := 0; p < parts; p++ {
		first, last := kgOffsets(t, addrs, topic, p)
		for _, m := range kgReadPartition(t, addrs, topic, p, first, last) {
			v := string(m.Value)
			if !want[v] || seen[v] {
				t.Fatalf("%s/%d offset %d: unexpected or repeated value %q", topic, p, m.Offset, v)
			}
			seen[v] = true
		}
	}
	if len(seen) != len(want) {
		missing := map[string]int{}
		for v := range want {
			if !seen[v] {
				missing[v[:strings.IndexByte(v, '-')]]++
			}
		}
		t.Fatalf("read %d of %d values; missing per mode: %v", len(seen), len(want), missing)
	}

	// Size limit.
	big := &kafka.Writer{Addr: kafka.TCP(addrs...), Topic: topic, Balancer: &kafka.RoundRobin{}, RequiredAcks: kafka.RequireAll,
		BatchBytes: 16 << 20, BatchTimeout: time.Millisecond, MaxAttempts: 2}
	defer big.Close()
	okVal := bytes.Repeat([]byte("0123456789abcdef"), 900<<10/16)
	rand.New(rand.NewSource(1)).Read(okVal[:1000])
	if err := big.WriteMessages(ctx, kafka.Message{Key: []byte("900k"), Value: okVal}); err != nil {
		t.Fatalf("900 KB message: %v (max.message.bytes is 1048588)", err)
	}
	tooBig := make([]byte, 2<<20)
	err := big.WriteMessages(ctx, kafka.Message{Key: []byte("2m"), Value: tooBig})
	var we kafka.WriteErrors
	if errors.As(err, &we) && len(we) == 1 {
		err = we[0]
	}
	if !errors.Is(err, kafka.MessageSizeTooLarge) {
		t.Errorf("2 MB message: %v, want MESSAGE_TOO_LARGE (batch over max.message.bytes 1048588)", err)
	}
	found := false
	for p := 0; p < parts; p++ {
		first, last := kgOffsets(t, addrs, topic, p)
		for _, m := range kgReadPartition(t, addrs, topic, p, first, last) {
			switch string(m.Key) {
			case "900k":
				found = true
				if !bytes.Equal(m.Value, okVal) {
					t.Errorf("900 KB value differs after the round trip (%d bytes)", len(m.Value))
				}
			case "2m":
				t.Errorf("the 2 MB message was stored at %d/%d", p, m.Offset)
			}
		}
	}
	if !found {
		t.Errorf("900 KB message not found")
	}
}

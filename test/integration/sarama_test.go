package integration

// Tests driving the cluster with github.com/IBM/sarama: ClusterAdmin for
// topic administration, SyncProducer / AsyncProducer and the partition
// Consumer for the data path, at a current and at older protocol versions.

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/testcluster"
	"github.com/longboat/longboat/internal/testutil"
)

func init() {
	if os.Getenv("SARAMA_LOG") != "" {
		sarama.Logger = log.New(os.Stderr, "[sarama] ", log.LstdFlags|log.Lmicroseconds)
	}
}

// srConfig is a sarama config for version v with acks=all, no idempotence,
// short timeouts and generous retries.
func srConfig(v sarama.KafkaVersion) *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = v
	cfg.ClientID = "longboat-sarama-test"
	cfg.Net.DialTimeout = 3 * time.Second
	cfg.Net.ReadTimeout = 10 * time.Second
	cfg.Net.WriteTimeout = 10 * time.Second
	cfg.Metadata.Retry.Max = 20
	cfg.Metadata.Retry.Backoff = 100 * time.Millisecond
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Producer.Return.Errors = true
	cfg.Producer.Retry.Max = 10
	cfg.Producer.Retry.Backoff = 100 * time.Millisecond
	cfg.Producer.Timeout = 10 * time.Second
	cfg.Producer.Partitioner = sarama.NewRoundRobinPartitioner
	cfg.Consumer.Return.Errors = true
	cfg.Consumer.MaxWaitTime = 250 * time.Millisecond
	cfg.Consumer.Retry.Backoff = 100 * time.Millisecond
	cfg.Admin.Timeout = 20 * time.Second
	cfg.Admin.Retry.Max = 10
	cfg.Admin.Retry.Backoff = 200 * time.Millisecond
	return cfg
}

func srAdmin(t testing.TB, addrs []string, cfg *sarama.Config) sarama.ClusterAdmin {
	t.Helper()
	adm, err := sarama.NewClusterAdmin(addrs, cfg)
	if err != nil {
		t.Fatalf("sarama.NewClusterAdmin: %v", err)
	}
	t.Cleanup(func() { adm.Close() })
	return adm
}

func srClient(t testing.TB, addrs []string, cfg *sarama.Config) sarama.Client {
	t.Helper()
	cl, err := sarama.NewClient(addrs, cfg)
	if err != nil {
		t.Fatalf("sarama.NewClient: %v", err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// srWaitLeaders refreshes metadata until every partition of topic has a
// leader that is its preferred (first) replica.
func srWaitLeaders(t testing.TB, cl sarama.Client, topic string, partitions int) {
	t.Helper()
	testutil.Eventually(t, 20*time.Second, func() error {
		var last string
		err := cl.RefreshMetadata(topic)
		if err == nil {
			ps, err2 := cl.Partitions(topic)
			ok := err2 == nil && len(ps) == partitions
			if !ok {
				last = fmt.Sprintf("partitions %v (%v)", ps, err2)
			}
			for _, p := range ps {
				if !ok {
					break
				}
				leader, _, lerr := cl.LeaderAndEpoch(topic, p)
				reps, rerr := cl.Replicas(topic, p)
				if lerr != nil || rerr != nil || len(reps) == 0 || leader.ID() != reps[0] {
					ok = false
					id := int32(-1)
					if leader != nil {
						id = leader.ID()
					}
					last = fmt.Sprintf("partition %d: leader %d (%v), replicas %v (%v)", p, id, lerr, reps, rerr)
				}
			}
			if ok {
				return nil
			}
		} else {
			last = err.Error()
		}
		return fmt.Errorf("topic %s: leaders not settled: %s", topic, last)
	})
}

// srReadPartition consumes partition p with ConsumePartition(start) (an
// offset, or sarama.OffsetOldest) until the message at end-1 arrives,
// asserting that offsets start at from and are contiguous.
func srReadPartition(t testing.TB, consumer sarama.Consumer, topic string, p int32, start, from, end int64) []*sarama.ConsumerMessage {
	t.Helper()
	if end <= from {
		return nil
	}
	pc, err := consumer.ConsumePartition(topic, p, start)
	if err != nil {
		t.Fatalf("ConsumePartition %s/%d at %d: %v", topic, p, from, err)
	}
	defer pc.Close()
	timeout := time.After(30 * time.Second)
	var out []*sarama.ConsumerMessage
	next := from
	for {
		select {
		case m := <-pc.Messages():
			if m.Offset != next {
				t.Fatalf("%s/%d: consumed offset %d, want %d (offsets must be contiguous and increasing)", topic, p, m.Offset, next)
			}
			next++
			out = append(out, m)
			if m.Offset >= end-1 {
				return out
			}
		case cerr := <-pc.Errors():
			t.Logf("consume %s/%d: %v", topic, p, cerr)
		case <-timeout:
			t.Fatalf("consume %s/%d: only %d messages (offsets %d..%d wanted) after 30s", topic, p, len(out), from, end-1)
		}
	}
}

// srHighWatermarks returns each partition's oldest and newest offsets
// (ListOffsets through sarama.Client.GetOffset).
func srOffsets(t testing.TB, cl sarama.Client, topic string, p int32) (oldest, newest int64) {
	t.Helper()
	var err error
	if oldest, err = cl.GetOffset(topic, p, sarama.OffsetOldest); err != nil {
		t.Fatalf("GetOffset(%s/%d, oldest): %v", topic, p, err)
	}
	if newest, err = cl.GetOffset(topic, p, sarama.OffsetNewest); err != nil {
		t.Fatalf("GetOffset(%s/%d, newest): %v", topic, p, err)
	}
	return oldest, newest
}

func srHeaders(hs []*sarama.RecordHeader) map[string]string {
	m := map[string]string{}
	for _, h := range hs {
		m[string(h.Key)] = string(h.Value)
	}
	return m
}

type srAck struct {
	partition int32
	offset    int64
}

// srProduceSync sends n messages "<prefix>-<i>" with keys and headers in
// SendMessages calls of 100 and returns value -> acknowledged position.
func srProduceSync(t testing.TB, addrs []string, cfg *sarama.Config, topic, prefix string, n int, withHeaders bool) map[string]srAck {
	t.Helper()
	prod, err := sarama.NewSyncProducer(addrs, cfg)
	if err != nil {
		t.Fatalf("NewSyncProducer: %v", err)
	}
	defer prod.Close()
	acks := map[string]srAck{}
	for start := 0; start < n; start += 100 {
		var batch []*sarama.ProducerMessage
		for i := start; i < min(start+100, n); i++ {
			m := &sarama.ProducerMessage{
				Topic: topic,
				Key:   sarama.StringEncoder(fmt.Sprintf("k-%04d", i)),
				Value: sarama.StringEncoder(fmt.Sprintf("%s-%d", prefix, i)),
			}
			if withHeaders {
				m.Headers = []sarama.RecordHeader{
					{Key: []byte("idx"), Value: []byte(strconv.Itoa(i))},
					{Key: []byte("client"), Value: []byte("sarama")},
				}
			}
			batch = append(batch, m)
		}
		if err := prod.SendMessages(batch); err != nil {
			var pe sarama.ProducerErrors
			if errors.As(err, &pe) && len(pe) > 0 {
				t.Fatalf("SendMessages: %d failed, first: %v", len(pe), pe[0].Err)
			}
			t.Fatalf("SendMessages: %v", err)
		}
		for _, m := range batch {
			v := string(m.Value.(sarama.StringEncoder))
			if _, dup := acks[v]; dup {
				t.Fatalf("value %s acknowledged twice", v)
			}
			acks[v] = srAck{m.Partition, m.Offset}
		}
	}
	return acks
}

// srCheckTopic reads every partition of topic from its oldest offset and
// asserts that it holds exactly the acknowledged values, each at its
// acknowledged position, with keys (and headers) intact.
func srCheckTopic(t testing.TB, addrs []string, cfg *sarama.Config, topic, prefix string, partitions int32, acks map[string]srAck, withHeaders bool) {
	t.Helper()
	cl := srClient(t, addrs, cfg)
	consumer, err := sarama.NewConsumerFromClient(cl)
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	seen := map[string]bool{}
	total := int64(0)
	for p := int32(0); p < partitions; p++ {
		oldest, newest := srOffsets(t, cl, topic, p)
		if oldest != 0 {
			t.Errorf("%s/%d: oldest offset %d, want 0", topic, p, oldest)
		}
		total += newest - oldest
		for _, m := range srReadPartition(t, consumer, topic, p, sarama.OffsetOldest, oldest, newest) {
			v := string(m.Value)
			if seen[v] {
				t.Fatalf("value %q consumed twice", v)
			}
			seen[v] = true
			a, ok := acks[v]
			if !ok {
				t.Fatalf("%s/%d offset %d: value %q never produced", topic, p, m.Offset, v)
			}
			if a.partition != p || a.offset != m.Offset {
				t.Fatalf("value %q acknowledged at %d/%d, consumed at %d/%d", v, a.partition, a.offset, p, m.Offset)
			}
			i, _ := strconv.Atoi(v[len(prefix)+1:])
			if want := fmt.Sprintf("k-%04d", i); string(m.Key) != want {
				t.Fatalf("value %q: key %q, want %q", v, m.Key, want)
			}
			if withHeaders {
				h := srHeaders(m.Headers)
				if len(m.Headers) != 2 || h["idx"] != strconv.Itoa(i) || h["client"] != "sarama" {
					t.Fatalf("value %q: headers %v", v, h)
				}
			}
			if m.Timestamp.IsZero() || time.Since(m.Timestamp) > 5*time.Minute || time.Until(m.Timestamp) > time.Minute {
				t.Fatalf("value %q: implausible timestamp %v", v, m.Timestamp)
			}
		}
	}
	if total != int64(len(acks)) || len(seen) != len(acks) {
		t.Fatalf("%s: high watermarks sum to %d, consumed %d distinct values, acknowledged %d", topic, total, len(seen), len(acks))
	}
}

// TestSaramaProduceConsumeAndAdmin uses sarama at its newest protocol
// version: ClusterAdmin.CreateTopic (6 partitions, RF=3, a topic config),
// SyncProducer with acks=all sending 2,000 keyed messages with headers,
// ConsumePartition from OffsetOldest on every partition (each value exactly
// once, at its acknowledged offset, offsets contiguous), then ListTopics,
// DescribeTopics, DescribeConfig, CreatePartitions 6 -> 8 (new partitions
// usable, shrinking refused), CreateTopic of an existing topic, and
// DeleteTopic (twice: the second is UNKNOWN_TOPIC_OR_PARTITION).
func TestSaramaProduceConsumeAndAdmin(t *testing.T) {
	c := sharedCluster(t)
	addrs := c.Addrs()
	cfg := srConfig(sarama.MaxVersion)
	const topic = "sr-orders"
	adm := srAdmin(t, addrs, cfg)
	retention := "3600000"
	if err := adm.CreateTopic(topic, &sarama.TopicDetail{
		NumPartitions: 6, ReplicationFactor: 3,
		ConfigEntries: map[string]*string{"retention.ms": &retention},
	}, false); err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
	cl := srClient(t, addrs, cfg)
	srWaitLeaders(t, cl, topic, 6)

	start := time.Now()
	acks := srProduceSync(t, addrs, cfg, topic, "sr", 2000, true)
	t.Logf("SyncProducer: 2000 messages in %v", time.Since(start))
	perPartition := map[int32]int{}
	for _, a := range acks {
		perPartition[a.partition]++
	}
	if len(perPartition) != 6 {
		t.Errorf("round robin used partitions %v, want all 6", perPartition)
	}
	srCheckTopic(t, addrs, cfg, topic, "sr", 6, acks, true)
	srTailCheck(t, addrs, cfg, topic)

	// ListTopics: the topic with its partition count, RF and config.
	topics, err := adm.ListTopics()
	if err != nil {
		t.Fatalf("ListTopics: %v", err)
	}
	td, ok := topics[topic]
	if !ok {
		t.Fatalf("ListTopics does not list %s: %v", topic, topics)
	}
	if td.NumPartitions != 6 || td.ReplicationFactor != 3 {
		t.Errorf("ListTopics %s: %d partitions RF %d, want 6 RF 3", topic, td.NumPartitions, td.ReplicationFactor)
	}
	if v := td.ConfigEntries["retention.ms"]; v == nil || *v != retention {
		t.Errorf("ListTopics %s: retention.ms %v, want %s", topic, v, retention)
	}

	// DescribeTopics: every partition led, 3 replicas, 3 in sync.
	md, err := adm.DescribeTopics([]string{topic, "sr-missing"})
	if err != nil {
		t.Fatalf("DescribeTopics: %v", err)
	}
	if len(md) != 2 {
		t.Fatalf("DescribeTopics returned %d topics, want 2", len(md))
	}
	for _, tm := range md {
		switch tm.Name {
		case topic:
			if tm.Err != sarama.ErrNoError || len(tm.Partitions) != 6 {
				t.Fatalf("DescribeTopics %s: err %v, %d partitions", topic, tm.Err, len(tm.Partitions))
			}
			for _, p := range tm.Partitions {
				if p.Err != sarama.ErrNoError || p.Leader < 1 || len(p.Replicas) != 3 || len(p.Isr) != 3 {
					t.Errorf("DescribeTopics %s/%d: err %v leader %d replicas %v isr %v", topic, p.ID, p.Err, p.Leader, p.Replicas, p.Isr)
				}
			}
		case "sr-missing":
			if tm.Err != sarama.ErrUnknownTopicOrPartition {
				t.Errorf("DescribeTopics of a missing topic: %v, want UNKNOWN_TOPIC_OR_PARTITION", tm.Err)
			}
		default:
			t.Errorf("DescribeTopics returned unrequested topic %q", tm.Name)
		}
	}

	// DescribeConfig: the override and the defaults.
	//lint:ignore SA1019 the one-resource call is what most sarama programs use
	entries, err := adm.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic})
	if err != nil {
		t.Fatalf("DescribeConfig: %v", err)
	}
	byName := map[string]sarama.ConfigEntry{}
	for _, e := range entries {
		byName[e.Name] = e
	}
	if e, ok := byName["retention.ms"]; !ok || e.Value != retention || e.Default || e.Source != sarama.SourceTopic {
		t.Errorf("DescribeConfig retention.ms: %+v, want value %s, not default, source topic", e, retention)
	}
	if e, ok := byName["cleanup.policy"]; !ok || e.Value != "delete" || !e.Default {
		t.Errorf("DescribeConfig cleanup.policy: %+v (present %v), want default delete", e, ok)
	}
	//lint:ignore SA1019 the one-resource call is what most sarama programs use
	if _, err := adm.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: "sr-missing"}); !errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
		t.Errorf("DescribeConfig of a missing topic: %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
	}

	// CreateTopics error paths and validate-only.
	for _, tc := range []struct {
		name   string
		detail sarama.TopicDetail
		want   sarama.KError
	}{
		{"rf-above-brokers", sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 4}, sarama.ErrInvalidReplicationFactor},
		{"zero-partitions", sarama.TopicDetail{NumPartitions: 0, ReplicationFactor: 3}, sarama.ErrInvalidPartitions},
		{"bad-config", sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 3, ConfigEntries: map[string]*string{"retention.ms": strPtr("soon")}}, sarama.ErrInvalidConfig},
	} {
		d := tc.detail
		if err := adm.CreateTopic("sr-bad-"+tc.name, &d, false); !errors.Is(err, tc.want) {
			t.Errorf("CreateTopic %s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if err := adm.CreateTopic("sr-validate-only", &sarama.TopicDetail{NumPartitions: 2, ReplicationFactor: 3}, true); err != nil {
		t.Errorf("CreateTopic validateOnly: %v", err)
	}
	if topics, err := adm.ListTopics(); err != nil {
		t.Fatal(err)
	} else {
		for name := range topics {
			if name == "sr-validate-only" || strings.HasPrefix(name, "sr-bad-") {
				t.Errorf("topic %s exists after a validate-only or refused CreateTopics", name)
			}
		}
	}

	// CreateTopic of an existing topic.
	if err := adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 6, ReplicationFactor: 3}, false); !errors.Is(err, sarama.ErrTopicAlreadyExists) {
		t.Errorf("CreateTopic of an existing topic: %v, want TOPIC_ALREADY_EXISTS", err)
	}

	// CreatePartitions: grow to 8; shrinking is INVALID_PARTITIONS.
	if err := adm.CreatePartitions(topic, 8, nil, false); err != nil {
		t.Fatalf("CreatePartitions to 8: %v", err)
	}
	srWaitLeaders(t, cl, topic, 8)
	if err := adm.CreatePartitions(topic, 4, nil, false); !errors.Is(err, sarama.ErrInvalidPartitions) {
		t.Errorf("CreatePartitions 8 -> 4: %v, want INVALID_PARTITIONS", err)
	}
	md, err = adm.DescribeTopics([]string{topic})
	if err != nil || len(md) != 1 || len(md[0].Partitions) != 8 {
		t.Fatalf("DescribeTopics after CreatePartitions: %v %+v", err, md)
	}
	// The new partitions take writes and serve reads.
	mcfg := srConfig(sarama.MaxVersion)
	mcfg.Producer.Partitioner = sarama.NewManualPartitioner
	prod, err := sarama.NewSyncProducer(addrs, mcfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []int32{6, 7} {
		for i := 0; i < 3; i++ {
			gp, off, err := prod.SendMessage(&sarama.ProducerMessage{Topic: topic, Partition: p, Value: sarama.StringEncoder(fmt.Sprintf("new-%d-%d", p, i))})
			if err != nil || gp != p || off != int64(i) {
				t.Fatalf("produce to new partition %d: partition %d offset %d err %v, want offset %d", p, gp, off, err, i)
			}
		}
	}
	prod.Close()
	consumer, err := sarama.NewConsumerFromClient(cl)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []int32{6, 7} {
		ms := srReadPartition(t, consumer, topic, p, sarama.OffsetOldest, 0, 3)
		if len(ms) != 3 || string(ms[2].Value) != fmt.Sprintf("new-%d-2", p) {
			t.Fatalf("new partition %d read back %d messages", p, len(ms))
		}
	}
	consumer.Close()

	// DeleteTopic, then it is gone; deleting again is UNKNOWN_TOPIC_OR_PARTITION.
	if err := adm.DeleteTopic(topic); err != nil {
		t.Fatalf("DeleteTopic: %v", err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		topics, err := adm.ListTopics()
		if err != nil {
			t.Fatalf("ListTopics after delete: %v", err)
		}
		if _, still := topics[topic]; still {
			return fmt.Errorf("ListTopics still lists %s after DeleteTopic", topic)
		}
		return nil
	})
	if err := adm.DeleteTopic(topic); !errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
		t.Errorf("DeleteTopic of a deleted topic: %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
	}
}

// TestSaramaOldProtocolVersions runs create / produce / consume with sarama
// configured for older Kafka versions, so that it sends old request
// versions (V0_11_0_0: Produce v3, Fetch v5, Metadata v4, CreateTopics v2;
// V1_0_0_0: Produce v5, Fetch v6, Metadata v5; V2_0_0_0: Produce v6, Fetch
// v8, Metadata v6, CreateTopics v3), with a different codec for each.
func TestSaramaOldProtocolVersions(t *testing.T) {
	c := sharedCluster(t)
	addrs := c.Addrs()
	for _, tc := range []struct {
		name  string
		v     sarama.KafkaVersion
		codec sarama.CompressionCodec
	}{
		{"V0_11_0_0-gzip", sarama.V0_11_0_0, sarama.CompressionGZIP},
		{"V1_0_0_0-none", sarama.V1_0_0_0, sarama.CompressionNone},
		{"V2_0_0_0-lz4", sarama.V2_0_0_0, sarama.CompressionLZ4},
		{"V2_1_0_0-zstd", sarama.V2_1_0_0, sarama.CompressionZSTD},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := srConfig(tc.v)
			cfg.Producer.Compression = tc.codec
			topic := "sr-old-" + tc.name
			if err := srAdmin(t, addrs, cfg).CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 3, ReplicationFactor: 3}, false); err != nil {
				t.Fatalf("CreateTopic: %v", err)
			}
			srWaitLeaders(t, srClient(t, addrs, cfg), topic, 3)
			acks := srProduceSync(t, addrs, cfg, topic, "old", 600, true)
			srCheckTopic(t, addrs, cfg, topic, "old", 3, acks, true)
			srTailCheck(t, addrs, cfg, topic)
		})
	}
}

// srTailCheck consumes partition 0 from OffsetNewest, lets several empty
// long polls (MaxWaitTime) pass, then produces one message: the consumer
// must deliver it promptly and report no error for the empty fetches.
func srTailCheck(t testing.TB, addrs []string, cfg *sarama.Config, topic string) {
	t.Helper()
	cl := srClient(t, addrs, cfg)
	consumer, err := sarama.NewConsumerFromClient(cl)
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	_, hw := srOffsets(t, cl, topic, 0)
	pc, err := consumer.ConsumePartition(topic, 0, sarama.OffsetNewest)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	var errs []error
	idle := time.After(1500 * time.Millisecond)
wait:
	for {
		select {
		case m := <-pc.Messages():
			t.Fatalf("tail of %s/0: unexpected message at offset %d", topic, m.Offset)
		case e := <-pc.Errors():
			errs = append(errs, e)
		case <-idle:
			break wait
		}
	}
	mcfg := *cfg
	mcfg.Producer.Partitioner = sarama.NewManualPartitioner
	prod, err := sarama.NewSyncProducer(addrs, &mcfg)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	sent := time.Now()
	if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: topic, Partition: 0, Value: sarama.StringEncoder("tail")}); err != nil {
		t.Fatalf("produce tail message: %v", err)
	}
	timeout := time.After(10 * time.Second)
	for {
		select {
		case m := <-pc.Messages():
			if string(m.Value) != "tail" || m.Offset != hw {
				t.Fatalf("tail of %s/0: got %q at %d, want \"tail\" at %d", topic, m.Value, m.Offset, hw)
			}
			took := time.Since(sent)
			if len(errs) > 0 {
				t.Errorf("tail of %s/0 (sarama Version %s): %d consumer errors while polling an up-to-date partition, first: %v", topic, cfg.Version, len(errs), errs[0])
			}
			if took > 3*time.Second {
				t.Errorf("tail of %s/0: message delivered %v after produce", topic, took)
			}
			return
		case e := <-pc.Errors():
			errs = append(errs, e)
		case <-timeout:
			t.Fatalf("tail of %s/0: message not delivered within 10s; consumer errors: %v", topic, errs)
		}
	}
}

// TestSaramaFailoverBrokerRestart produces continuously with a retrying
// sarama AsyncProducer (acks=all) while broker 2 is stopped and restarted.
// Afterwards every acknowledged message must be readable at its
// acknowledged offset (duplicates from retries are counted and logged, not
// failed). Then the restarted broker is asked directly (Metadata via a
// client seeded with it alone), broker 1 is stopped so that the restarted
// broker must be part of every partition's quorum, and everything is read
// again: the same values at the same offsets, and ListOffsets sent directly
// to the restarted broker for the partitions it now leads agrees.
func TestSaramaFailoverBrokerRestart(t *testing.T) {
	t.Parallel()
	c := testcluster.Start(t, testcluster.Options{Nodes: 3})
	addrs := c.Addrs()
	const topic, parts = "sr-failover", 6
	cfg := srConfig(sarama.MaxVersion)
	cfg.Producer.Retry.Max = 100
	cfg.Producer.Retry.Backoff = 100 * time.Millisecond
	cfg.Producer.Flush.Frequency = 5 * time.Millisecond
	cfg.Producer.Flush.Messages = 50
	cfg.Metadata.RefreshFrequency = time.Second
	cfg.Net.ReadTimeout = 5 * time.Second
	cfg.Producer.Timeout = 5 * time.Second
	// The admin keeps srConfig's read timeout: CreateTopics answers once the
	// new leaders settle, which on a busy machine takes longer than the
	// producer's 5 s.
	if err := srAdmin(t, addrs, srConfig(sarama.MaxVersion)).CreateTopic(topic, &sarama.TopicDetail{NumPartitions: parts, ReplicationFactor: 3}, false); err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
	srWaitLeaders(t, srClient(t, addrs, cfg), topic, parts)

	prod, err := sarama.NewAsyncProducer(addrs, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	acks := map[string]srAck{}
	var failed []string
	var drained sync.WaitGroup
	drained.Add(2)
	go func() {
		defer drained.Done()
		for m := range prod.Successes() {
			mu.Lock()
			acks[string(m.Value.(sarama.StringEncoder))] = srAck{m.Partition, m.Offset}
			mu.Unlock()
		}
	}()
	go func() {
		defer drained.Done()
		for e := range prod.Errors() {
			mu.Lock()
			failed = append(failed, fmt.Sprintf("%s: %v", e.Msg.Value, e.Err))
			mu.Unlock()
		}
	}()
	ackCount := func() int { mu.Lock(); defer mu.Unlock(); return len(acks) }

	stop := make(chan struct{})
	sentDone := make(chan int)
	go func() {
		i := 0
		defer func() { sentDone <- i }()
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			for j := 0; j < 5; j++ {
				select {
				case prod.Input() <- &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(fmt.Sprintf("k-%04d", i)), Value: sarama.StringEncoder(fmt.Sprintf("fo-%d", i))}:
					i++
				case <-stop:
					return
				}
			}
			select {
			case <-tick.C:
			case <-stop:
				return
			}
		}
	}()
	waitAcks := func(n int, what string) {
		t.Helper()
		testutil.Eventually(t, 30*time.Second, func() error { return atLeast("acknowledged "+what, ackCount(), n) })
	}

	waitAcks(1000, "before stop")
	before := ackCount()
	t.Logf("stopping broker 2 with %d acknowledged", before)
	stopAt := time.Now()
	c.StopBroker(1)
	waitAcks(before+2000, "while broker 2 is down")
	t.Logf("%d acknowledged %v after stopping broker 2", ackCount(), time.Since(stopAt))
	// Deliberately keep broker 2 away a while longer under load, so that it
	// returns well behind the others.
	time.Sleep(time.Second)
	c.StartBroker(1)
	c.WaitReady(30 * time.Second)
	t.Logf("broker 2 restarted and ready, %d acknowledged", ackCount())
	mid := ackCount()
	waitAcks(mid+1000, "after restart")
	close(stop)
	sent := <-sentDone
	prod.AsyncClose()
	drained.Wait()
	t.Logf("sent %d, acknowledged %d, failed %d", sent, len(acks), len(failed))
	if len(failed) > 0 {
		t.Logf("first failures: %v", failed[:min(5, len(failed))])
	}

	// First read: every acknowledged value at its acknowledged offset.
	first := srReadAllCheckAcked(t, addrs, cfg, topic, parts, acks, "first read")

	// The restarted broker answers Metadata on its own with every leader.
	franz := newClient(t, []string{addrs[1]})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	mreq := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(topic)
	mreq.Topics = append(mreq.Topics, mt)
	mresp, err := mreq.RequestWith(ctx, franz)
	if err != nil {
		t.Fatalf("metadata from restarted broker: %v", err)
	}
	if len(mresp.Brokers) != 3 || len(mresp.Topics) != 1 || len(mresp.Topics[0].Partitions) != parts {
		t.Fatalf("metadata from restarted broker: %d brokers, topics %+v", len(mresp.Brokers), mresp.Topics)
	}
	for _, p := range mresp.Topics[0].Partitions {
		if p.ErrorCode != 0 || p.Leader < 1 || len(p.ISR) != 3 {
			t.Errorf("restarted broker's metadata for %s/%d: error %d leader %d isr %v", topic, p.Partition, p.ErrorCode, p.Leader, p.ISR)
		}
	}

	// Stop broker 1: every partition's quorum now needs the restarted broker.
	c.StopBroker(0)
	t.Logf("stopped broker 1")
	rest := addrs[1:]
	second := srReadAllCheckAcked(t, rest, cfg, topic, parts, acks, "read with broker 1 down")
	for p := int32(0); p < parts; p++ {
		if fmt.Sprint(first[p]) != fmt.Sprint(second[p]) {
			t.Errorf("partition %d: the read with broker 1 down differs from the first read (%d vs %d values)", p, len(second[p]), len(first[p]))
		}
	}
	// ListOffsets directly to the restarted broker for what it leads.
	franz2 := newClient(t, rest)
	mresp, err = mreq.RequestWith(ctx, franz2)
	if err != nil {
		t.Fatalf("metadata with broker 1 down: %v", err)
	}
	led := 0
	for _, p := range mresp.Topics[0].Partitions {
		if p.Leader != 2 {
			continue
		}
		led++
		lreq := kmsg.NewPtrListOffsetsRequest()
		lreq.ReplicaID = -1
		lt := kmsg.NewListOffsetsRequestTopic()
		lt.Topic = topic
		lp := kmsg.NewListOffsetsRequestTopicPartition()
		lp.Partition = p.Partition
		lp.Timestamp = -1
		lp.CurrentLeaderEpoch = -1
		lt.Partitions = append(lt.Partitions, lp)
		lreq.Topics = append(lreq.Topics, lt)
		lresp, err := lreq.RequestWith(ctx, franz2.Broker(2))
		if err != nil {
			t.Fatalf("ListOffsets to broker 2: %v", err)
		}
		rp := lresp.Topics[0].Partitions[0]
		if rp.ErrorCode != 0 || rp.Offset != int64(len(first[p.Partition])) {
			t.Errorf("ListOffsets latest on restarted broker 2 for %s/%d: error %d offset %d, want offset %d", topic, p.Partition, rp.ErrorCode, rp.Offset, len(first[p.Partition]))
		}
	}
	t.Logf("with broker 1 down, restarted broker 2 leads %d of %d partitions", led, parts)
}

// srReadAllCheckAcked reads every partition up to its high watermark and
// asserts that each acknowledged value sits at its acknowledged position.
// Values that appear more than once (retries) are counted and logged. It
// returns each partition's values in offset order.
func srReadAllCheckAcked(t testing.TB, addrs []string, cfg *sarama.Config, topic string, parts int32, acks map[string]srAck, what string) map[int32][]string {
	t.Helper()
	ccfg := *cfg
	cl := srClient(t, addrs, &ccfg)
	consumer, err := sarama.NewConsumerFromClient(cl)
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	out := map[int32][]string{}
	where := map[string][]string{}
	for p := int32(0); p < parts; p++ {
		var oldest, newest int64
		testutil.Eventually(t, 20*time.Second, func() error {
			var err1, err2 error
			oldest, err1 = cl.GetOffset(topic, p, sarama.OffsetOldest)
			newest, err2 = cl.GetOffset(topic, p, sarama.OffsetNewest)
			if err := errors.Join(err1, err2); err != nil {
				return fmt.Errorf("%s: ListOffsets %s/%d: %w", what, topic, p, err)
			}
			return nil
		})
		if oldest != 0 {
			t.Errorf("%s: %s/%d oldest offset %d, want 0", what, topic, p, oldest)
		}
		for _, m := range srReadPartition(t, consumer, topic, p, sarama.OffsetOldest, oldest, newest) {
			out[p] = append(out[p], string(m.Value))
			where[string(m.Value)] = append(where[string(m.Value)], fmt.Sprintf("%d/%d", p, m.Offset))
		}
	}
	lost := 0
	for v, a := range acks {
		vals := out[a.partition]
		if a.offset >= int64(len(vals)) || vals[a.offset] != v {
			got := "<beyond high watermark>"
			if a.offset < int64(len(vals)) {
				got = vals[a.offset]
			}
			if lost < 10 {
				t.Errorf("%s: acknowledged %q at %d/%d, but that offset holds %s (found at %v)", what, v, a.partition, a.offset, got, where[v])
			}
			lost++
		}
	}
	dups, unacked := 0, 0
	for v, ws := range where {
		if len(ws) > 1 {
			dups++
			if dups <= 5 {
				t.Logf("%s: %q appears %d times: %v", what, v, len(ws), ws)
			}
		}
		if _, ok := acks[v]; !ok {
			unacked++
		}
	}
	var sizes []string
	for p := int32(0); p < parts; p++ {
		sizes = append(sizes, fmt.Sprintf("%d:%d", p, len(out[p])))
	}
	sort.Strings(sizes)
	t.Logf("%s: partitions %v, %d acknowledged lost, %d values duplicated, %d unacknowledged values present", what, sizes, lost, dups, unacked)
	if lost > 0 {
		t.Fatalf("%s: %d acknowledged messages lost or moved", what, lost)
	}
	return out
}

func strPtr(s string) *string { return &s }

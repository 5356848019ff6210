package compat

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"
)

// kafkaGoClient drives github.com/segmentio/kafka-go: Writer, Reader
// (by partition and by group) and Client for administration.
type kafkaGoClient struct{ addrs []string }

func (c *kafkaGoClient) name() string     { return "kafka-go" }
func (c *kafkaGoClient) clientID() string { return "compat-kafka-go" }
func (c *kafkaGoClient) version() string  { return moduleVersion("github.com/segmentio/kafka-go") }
func (c *kafkaGoClient) caps() capabilities {
	return capabilities{binary: true, timestamps: true, perRecordHeaders: true, emptyIsNull: true,
		codecs: []string{"none", "gzip", "snappy", "lz4", "zstd"},
		note:   "its Reader returns a zero-length value as nil, so empty and null values cannot be told apart; the suite sends it no empty non-null values"}
}

func (c *kafkaGoClient) transport() *kafka.Transport { return &kafka.Transport{ClientID: c.clientID()} }
func (c *kafkaGoClient) dialer() *kafka.Dialer {
	return &kafka.Dialer{ClientID: c.clientID(), Timeout: 10 * time.Second}
}
func (c *kafkaGoClient) client() *kafka.Client {
	return &kafka.Client{Addr: kafka.TCP(c.addrs...), Timeout: 30 * time.Second, Transport: c.transport()}
}

var kafkaGoCodecs = map[string]compress.Compression{
	"gzip": kafka.Gzip, "snappy": kafka.Snappy, "lz4": kafka.Lz4, "zstd": kafka.Zstd,
}

func (c *kafkaGoClient) produce(ctx context.Context, topic string, o produceOpts, recs []rec) error {
	if o.idempotent {
		return unsupported("kafka-go has no idempotent producer")
	}
	w := &kafka.Writer{
		Addr: kafka.TCP(c.addrs...), Topic: topic, Transport: c.transport(),
		Balancer:     kafka.BalancerFunc(func(m kafka.Message, _ ...int) int { return m.Partition }),
		RequiredAcks: map[int]kafka.RequiredAcks{0: kafka.RequireNone, 1: kafka.RequireOne, -1: kafka.RequireAll}[o.acks],
		Compression:  kafkaGoCodecs[o.codec],
		BatchTimeout: 5 * time.Millisecond,
	}
	defer w.Close()
	var msgs []kafka.Message
	for _, r := range recs {
		m := kafka.Message{Partition: int(r.Partition), Key: r.Key, Value: r.Value}
		for _, h := range r.Headers {
			m.Headers = append(m.Headers, kafka.Header{Key: h.Key, Value: h.Value})
		}
		if r.Timestamp != 0 {
			m.Time = time.UnixMilli(r.Timestamp)
		}
		msgs = append(msgs, m)
	}
	return w.WriteMessages(ctx, msgs...)
}

func fromKafkaGo(m kafka.Message) rec {
	r := rec{Partition: int32(m.Partition), Offset: m.Offset, Key: m.Key, Value: m.Value, Timestamp: m.Time.UnixMilli()}
	for _, h := range m.Headers {
		r.Headers = append(r.Headers, header{Key: h.Key, Value: h.Value})
	}
	return r
}

func (c *kafkaGoClient) consume(ctx context.Context, topic string, ranges []prange) ([]rec, error) {
	var out []rec
	for _, pr := range ranges {
		if pr.To <= pr.From {
			continue
		}
		rd := kafka.NewReader(kafka.ReaderConfig{Brokers: c.addrs, Topic: topic, Partition: int(pr.Partition),
			Dialer: c.dialer(), MinBytes: 1, MaxBytes: 10 << 20, MaxWait: 100 * time.Millisecond})
		err := rd.SetOffset(pr.From)
		for err == nil {
			var m kafka.Message
			if m, err = rd.ReadMessage(ctx); err != nil {
				break
			}
			if m.Offset < pr.To {
				out = append(out, fromKafkaGo(m))
			}
			if m.Offset >= pr.To-1 {
				break
			}
		}
		rd.Close()
		if err != nil {
			return out, fmt.Errorf("read %s/%d: %w", topic, pr.Partition, err)
		}
	}
	return out, nil
}

func (c *kafkaGoClient) groupConsume(ctx context.Context, topic, group string, want int) ([]rec, error) {
	rd := kafka.NewReader(kafka.ReaderConfig{Brokers: c.addrs, Topic: topic, GroupID: group, Dialer: c.dialer(),
		StartOffset: kafka.FirstOffset, MinBytes: 1, MaxBytes: 10 << 20, MaxWait: 100 * time.Millisecond})
	defer rd.Close()
	var out []rec
	var msgs []kafka.Message
	for len(out) < want {
		m, err := rd.FetchMessage(ctx)
		if err != nil {
			return out, fmt.Errorf("group consumed %d of %d: %w", len(out), want, err)
		}
		msgs = append(msgs, m)
		out = append(out, fromKafkaGo(m))
	}
	if err := rd.CommitMessages(ctx, msgs...); err != nil {
		return out, fmt.Errorf("commit: %w", err)
	}
	return out, nil
}

func (c *kafkaGoClient) createTopic(ctx context.Context, topic string, partitions int32) error {
	resp, err := c.client().CreateTopics(ctx, &kafka.CreateTopicsRequest{
		Topics: []kafka.TopicConfig{{Topic: topic, NumPartitions: int(partitions), ReplicationFactor: 3}}})
	if err != nil {
		return err
	}
	return resp.Errors[topic]
}

func (c *kafkaGoClient) describeTopic(ctx context.Context, topic string) (map[int32]int32, error) {
	resp, err := c.client().Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, err
	}
	out := map[int32]int32{}
	for _, t := range resp.Topics {
		if t.Name != topic {
			continue
		}
		if t.Error != nil {
			return nil, t.Error
		}
		for _, p := range t.Partitions {
			out[int32(p.ID)] = int32(p.Leader.ID)
		}
	}
	return out, nil
}

func (c *kafkaGoClient) createPartitions(ctx context.Context, topic string, total int32) error {
	resp, err := c.client().CreatePartitions(ctx, &kafka.CreatePartitionsRequest{
		Topics: []kafka.TopicPartitionsConfig{{Name: topic, Count: total}}})
	if err != nil {
		return err
	}
	return resp.Errors[topic]
}

func (c *kafkaGoClient) createAssigned(ctx context.Context, topic string, sets [][]int32) error {
	tc := kafka.TopicConfig{Topic: topic, NumPartitions: -1, ReplicationFactor: -1}
	for p, set := range sets {
		a := kafka.ReplicaAssignment{Partition: p}
		for _, id := range set {
			a.Replicas = append(a.Replicas, int(id))
		}
		tc.ReplicaAssignments = append(tc.ReplicaAssignments, a)
	}
	resp, err := c.client().CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{tc}})
	if err != nil {
		return err
	}
	return resp.Errors[topic]
}

func (c *kafkaGoClient) addAssigned(ctx context.Context, topic string, total int32, sets [][]int32) error {
	tc := kafka.TopicPartitionsConfig{Name: topic, Count: total}
	for _, set := range sets {
		tc.TopicPartitionAssignments = append(tc.TopicPartitionAssignments, kafka.TopicPartitionAssignment{BrokerIDs: set})
	}
	resp, err := c.client().CreatePartitions(ctx, &kafka.CreatePartitionsRequest{Topics: []kafka.TopicPartitionsConfig{tc}})
	if err != nil {
		return err
	}
	return resp.Errors[topic]
}

func (c *kafkaGoClient) deleteTopic(ctx context.Context, topic string) error {
	resp, err := c.client().DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{topic}})
	if err != nil {
		return err
	}
	return resp.Errors[topic]
}

func (c *kafkaGoClient) offsetForTime(ctx context.Context, topic string, partition int32, ts int64) (int64, error) {
	resp, err := c.client().ListOffsets(ctx, &kafka.ListOffsetsRequest{
		Topics: map[string][]kafka.OffsetRequest{topic: {kafka.TimeOffsetOf(int(partition), time.UnixMilli(ts))}}})
	if err != nil {
		return 0, err
	}
	for _, po := range resp.Topics[topic] {
		if po.Partition != int(partition) {
			continue
		}
		if po.Error != nil {
			return 0, po.Error
		}
		for off := range po.Offsets {
			return off, nil
		}
	}
	return 0, errors.New("kafka-go ListOffsets returned no offset")
}

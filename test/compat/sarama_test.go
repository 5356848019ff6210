package compat

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/IBM/sarama"
)

// saramaClient drives github.com/IBM/sarama at one protocol version:
// SyncProducer, Consumer, ConsumerGroup, ClusterAdmin and Client.
type saramaClient struct {
	addrs []string
	label string
	v     sarama.KafkaVersion
}

func (c *saramaClient) name() string     { return c.label }
func (c *saramaClient) clientID() string { return "compat-" + c.label }
func (c *saramaClient) version() string {
	return fmt.Sprintf("%s, config Version %s", moduleVersion("github.com/IBM/sarama"), c.v)
}
func (c *saramaClient) caps() capabilities {
	return capabilities{binary: true, timestamps: true, perRecordHeaders: true, idempotent: true,
		codecs: []string{"none", "gzip", "snappy", "lz4", "zstd"}}
}

func (c *saramaClient) config() *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = c.v
	cfg.ClientID = c.clientID()
	cfg.Net.DialTimeout = 5 * time.Second
	cfg.Metadata.Retry.Backoff = 100 * time.Millisecond
	cfg.Producer.Return.Successes = true
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Producer.Retry.Backoff = 100 * time.Millisecond
	cfg.Consumer.Return.Errors = true
	cfg.Consumer.MaxWaitTime = 100 * time.Millisecond
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.AutoCommit.Enable = false
	cfg.Admin.Timeout = 30 * time.Second
	return cfg
}

var saramaCodecs = map[string]sarama.CompressionCodec{
	"none": sarama.CompressionNone, "gzip": sarama.CompressionGZIP, "snappy": sarama.CompressionSnappy,
	"lz4": sarama.CompressionLZ4, "zstd": sarama.CompressionZSTD,
}

func (c *saramaClient) produce(ctx context.Context, topic string, o produceOpts, recs []rec) error {
	cfg := c.config()
	cfg.Producer.RequiredAcks = map[int]sarama.RequiredAcks{0: sarama.NoResponse, 1: sarama.WaitForLocal, -1: sarama.WaitForAll}[o.acks]
	cfg.Producer.Compression = saramaCodecs[o.codec]
	if o.idempotent {
		cfg.Producer.Idempotent = true
		cfg.Net.MaxOpenRequests = 1
	}
	p, err := sarama.NewSyncProducer(c.addrs, cfg)
	if err != nil {
		return err
	}
	defer p.Close()
	var msgs []*sarama.ProducerMessage
	for _, r := range recs {
		m := &sarama.ProducerMessage{Topic: topic, Partition: r.Partition}
		if r.Key != nil {
			m.Key = sarama.ByteEncoder(r.Key)
		}
		if r.Value != nil {
			m.Value = sarama.ByteEncoder(r.Value)
		}
		for _, h := range r.Headers {
			m.Headers = append(m.Headers, sarama.RecordHeader{Key: []byte(h.Key), Value: h.Value})
		}
		if r.Timestamp != 0 {
			m.Timestamp = time.UnixMilli(r.Timestamp)
		}
		msgs = append(msgs, m)
	}
	return p.SendMessages(msgs)
}

func fromSarama(m *sarama.ConsumerMessage) rec {
	r := rec{Partition: m.Partition, Offset: m.Offset, Key: m.Key, Value: m.Value, Timestamp: m.Timestamp.UnixMilli()}
	for _, h := range m.Headers {
		r.Headers = append(r.Headers, header{Key: string(h.Key), Value: h.Value})
	}
	return r
}

func (c *saramaClient) consume(ctx context.Context, topic string, ranges []prange) ([]rec, error) {
	cons, err := sarama.NewConsumer(c.addrs, c.config())
	if err != nil {
		return nil, err
	}
	defer cons.Close()
	var out []rec
	for _, pr := range ranges {
		if pr.To <= pr.From {
			continue
		}
		pc, err := cons.ConsumePartition(topic, pr.Partition, pr.From)
		if err != nil {
			return out, fmt.Errorf("consume %s/%d: %w", topic, pr.Partition, err)
		}
		err = func() error {
			defer pc.Close()
			for {
				select {
				case m := <-pc.Messages():
					if m.Offset < pr.To {
						out = append(out, fromSarama(m))
					}
					if m.Offset >= pr.To-1 {
						return nil
					}
				case e := <-pc.Errors():
					return e
				case <-ctx.Done():
					return fmt.Errorf("consume %s/%d: %w", topic, pr.Partition, ctx.Err())
				}
			}
		}()
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// saramaHandler collects claimed messages until want, then commits.
type saramaHandler struct {
	mu   sync.Mutex
	want int
	out  []rec
	done chan struct{}
	once sync.Once
}

func (h *saramaHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *saramaHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h *saramaHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for m := range claim.Messages() {
		sess.MarkMessage(m, "")
		h.mu.Lock()
		h.out = append(h.out, fromSarama(m))
		full := len(h.out) >= h.want
		h.mu.Unlock()
		if full {
			sess.Commit()
			h.once.Do(func() { close(h.done) })
		}
	}
	return nil
}

func (c *saramaClient) groupConsume(ctx context.Context, topic, group string, want int) ([]rec, error) {
	g, err := sarama.NewConsumerGroup(c.addrs, group, c.config())
	if err != nil {
		return nil, err
	}
	h := &saramaHandler{want: want, done: make(chan struct{})}
	cctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() {
		for cctx.Err() == nil {
			if err := g.Consume(cctx, []string{topic}, h); err != nil && !errors.Is(err, sarama.ErrClosedConsumerGroup) {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	select {
	case <-h.done:
	case err = <-errc:
	case <-ctx.Done():
		err = ctx.Err()
	}
	cancel()
	g.Close()
	h.mu.Lock()
	defer h.mu.Unlock()
	if err != nil {
		return h.out, fmt.Errorf("group consumed %d of %d: %w", len(h.out), want, err)
	}
	return h.out, nil
}

func (c *saramaClient) admin() (sarama.ClusterAdmin, error) {
	return sarama.NewClusterAdmin(c.addrs, c.config())
}

func (c *saramaClient) createTopic(_ context.Context, topic string, partitions int32) error {
	adm, err := c.admin()
	if err != nil {
		return err
	}
	defer adm.Close()
	return adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 3}, false)
}

func (c *saramaClient) describeTopic(_ context.Context, topic string) (map[int32]int32, error) {
	adm, err := c.admin()
	if err != nil {
		return nil, err
	}
	defer adm.Close()
	tms, err := adm.DescribeTopics([]string{topic})
	if err != nil {
		return nil, err
	}
	out := map[int32]int32{}
	for _, tm := range tms {
		if tm.Err != sarama.ErrNoError {
			return nil, tm.Err
		}
		for _, pm := range tm.Partitions {
			out[pm.ID] = pm.Leader
		}
	}
	return out, nil
}

func (c *saramaClient) createPartitions(_ context.Context, topic string, total int32) error {
	adm, err := c.admin()
	if err != nil {
		return err
	}
	defer adm.Close()
	return adm.CreatePartitions(topic, total, nil, false)
}

func (c *saramaClient) createAssigned(_ context.Context, topic string, sets [][]int32) error {
	adm, err := c.admin()
	if err != nil {
		return err
	}
	defer adm.Close()
	byPartition := map[int32][]int32{}
	for p, set := range sets {
		byPartition[int32(p)] = set
	}
	return adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: -1, ReplicationFactor: -1, ReplicaAssignment: byPartition}, false)
}

func (c *saramaClient) addAssigned(_ context.Context, topic string, total int32, sets [][]int32) error {
	adm, err := c.admin()
	if err != nil {
		return err
	}
	defer adm.Close()
	return adm.CreatePartitions(topic, total, sets, false)
}

func (c *saramaClient) deleteTopic(_ context.Context, topic string) error {
	adm, err := c.admin()
	if err != nil {
		return err
	}
	defer adm.Close()
	return adm.DeleteTopic(topic)
}

func (c *saramaClient) offsetForTime(_ context.Context, topic string, partition int32, ts int64) (int64, error) {
	cl, err := sarama.NewClient(c.addrs, c.config())
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	return cl.GetOffset(topic, partition, ts)
}

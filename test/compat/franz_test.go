package compat

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// franzClient drives github.com/twmb/franz-go (kgo, kadm).
type franzClient struct{ addrs []string }

func (c *franzClient) name() string     { return "franz-go" }
func (c *franzClient) clientID() string { return "compat-franz-go" }
func (c *franzClient) version() string  { return moduleVersion("github.com/twmb/franz-go") }
func (c *franzClient) caps() capabilities {
	return capabilities{binary: true, timestamps: true, perRecordHeaders: true, idempotent: true,
		codecs: []string{"none", "gzip", "snappy", "lz4", "zstd"}}
}

func (c *franzClient) opts(extra ...kgo.Opt) []kgo.Opt {
	return append([]kgo.Opt{kgo.SeedBrokers(c.addrs...), kgo.ClientID(c.clientID())}, extra...)
}

func (c *franzClient) admin() (*kadm.Client, func(), error) {
	cl, err := kgo.NewClient(c.opts()...)
	if err != nil {
		return nil, nil, err
	}
	return kadm.NewClient(cl), cl.Close, nil
}

var franzCodecs = map[string]kgo.CompressionCodec{
	"none": kgo.NoCompression(), "gzip": kgo.GzipCompression(), "snappy": kgo.SnappyCompression(),
	"lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression(),
}

func (c *franzClient) produce(ctx context.Context, topic string, o produceOpts, recs []rec) error {
	opts := c.opts(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(franzCodecs[o.codec]))
	switch o.acks {
	case 0:
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()))
	case 1:
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()))
	default:
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	}
	if !o.idempotent {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	return cl.ProduceSync(ctx, toFranz(topic, recs)...).FirstErr()
}

// toFranz converts records, keeping their partitions and any timestamps.
func toFranz(topic string, recs []rec) []*kgo.Record {
	var krs []*kgo.Record
	for _, r := range recs {
		kr := &kgo.Record{Topic: topic, Partition: r.Partition, Key: r.Key, Value: r.Value}
		for _, h := range r.Headers {
			kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
		}
		if r.Timestamp != 0 {
			kr.Timestamp = time.UnixMilli(r.Timestamp)
		}
		krs = append(krs, kr)
	}
	return krs
}

func (c *franzClient) consume(ctx context.Context, topic string, ranges []prange) ([]rec, error) {
	return franzConsume(ctx, c.opts(), topic, ranges)
}

// franzConsume reads the ranges by assignment.
func franzConsume(ctx context.Context, opts []kgo.Opt, topic string, ranges []prange) ([]rec, error) {
	assign := map[int32]kgo.Offset{}
	left := map[int32]int64{}
	for _, r := range ranges {
		if r.To > r.From {
			assign[r.Partition] = kgo.NewOffset().At(r.From)
			left[r.Partition] = r.To
		}
	}
	cl, err := kgo.NewClient(append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: assign}))...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	var out []rec
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return out, fmt.Errorf("consumed %d records, partitions %v not read to their end: %w", len(out), left, ctx.Err())
		}
		var ferr error
		fs.EachError(func(_ string, p int32, err error) { ferr = fmt.Errorf("fetch %d: %w", p, err) })
		if ferr != nil {
			return out, ferr
		}
		fs.EachRecord(func(kr *kgo.Record) {
			to, ok := left[kr.Partition]
			if !ok || kr.Offset >= to {
				return
			}
			out = append(out, fromFranz(kr))
			if kr.Offset >= to-1 {
				delete(left, kr.Partition)
			}
		})
	}
	return out, nil
}

func fromFranz(kr *kgo.Record) rec {
	r := rec{Partition: kr.Partition, Offset: kr.Offset, Key: kr.Key, Value: kr.Value, Timestamp: kr.Timestamp.UnixMilli()}
	for _, h := range kr.Headers {
		r.Headers = append(r.Headers, header{Key: h.Key, Value: h.Value})
	}
	return r
}

func (c *franzClient) groupConsume(ctx context.Context, topic, group string, want int) ([]rec, error) {
	return c.groupConsumeWith(ctx, topic, group, want)
}

func (c *franzClient) groupConsumeWith(ctx context.Context, topic, group string, want int, extra ...kgo.Opt) ([]rec, error) {
	opts := append([]kgo.Opt{kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit()}, extra...)
	cl, err := kgo.NewClient(c.opts(opts...)...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	var out []rec
	for len(out) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return out, fmt.Errorf("group consumed %d of %d records: %w", len(out), want, ctx.Err())
		}
		fs.EachRecord(func(kr *kgo.Record) { out = append(out, fromFranz(kr)) })
	}
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		return out, fmt.Errorf("commit: %w", err)
	}
	cl.LeaveGroup()
	return out, nil
}

// groupConsume848 is groupConsume with franz-go's KIP-848 consumer: the
// broker's uniform assignor, asked for through ServerSideBalancer.
func (c *franzClient) groupConsume848(ctx context.Context, topic, group string, want int) ([]rec, error) {
	return c.groupConsumeWith(ctx, topic, group, want, kgo.ServerSideBalancer(), kgo.Balancers(kgo.CooperativeStickyBalancer()))
}

func (c *franzClient) createTopic(ctx context.Context, topic string, partitions int32) error {
	adm, done, err := c.admin()
	if err != nil {
		return err
	}
	defer done()
	resp, err := adm.CreateTopic(ctx, partitions, 3, nil, topic)
	if err == nil {
		err = resp.Err
	}
	return err
}

func (c *franzClient) describeTopic(ctx context.Context, topic string) (map[int32]int32, error) {
	adm, done, err := c.admin()
	if err != nil {
		return nil, err
	}
	defer done()
	tds, err := adm.ListTopics(ctx, topic)
	if err != nil {
		return nil, err
	}
	td, ok := tds[topic]
	if !ok || td.Err != nil {
		return nil, fmt.Errorf("describe %s: %v", topic, td.Err)
	}
	out := map[int32]int32{}
	for p, pd := range td.Partitions {
		out[p] = pd.Leader
	}
	return out, nil
}

func (c *franzClient) createPartitions(ctx context.Context, topic string, total int32) error {
	adm, done, err := c.admin()
	if err != nil {
		return err
	}
	defer done()
	resp, err := adm.UpdatePartitions(ctx, int(total), topic)
	if err == nil {
		err = resp.Error()
	}
	return err
}

// createAssigned and addAssigned send the requests themselves: kadm takes
// a partition count and replication factor only.
func (c *franzClient) createAssigned(ctx context.Context, topic string, sets [][]int32) error {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 30000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, -1, -1
	for p, set := range sets {
		a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		a.Partition, a.Replicas = int32(p), set
		rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
	}
	req.Topics = append(req.Topics, rt)
	return c.topicRequest(ctx, req, func(r kmsg.Response) (int16, *string) {
		t := r.(*kmsg.CreateTopicsResponse).Topics
		if len(t) != 1 {
			return kerr.UnknownServerError.Code, nil
		}
		return t[0].ErrorCode, t[0].ErrorMessage
	})
}

func (c *franzClient) addAssigned(ctx context.Context, topic string, total int32, sets [][]int32) error {
	req := kmsg.NewPtrCreatePartitionsRequest()
	req.TimeoutMillis = 30000
	rt := kmsg.NewCreatePartitionsRequestTopic()
	rt.Topic, rt.Count = topic, total
	for _, set := range sets {
		a := kmsg.NewCreatePartitionsRequestTopicAssignment()
		a.Replicas = set
		rt.Assignment = append(rt.Assignment, a)
	}
	req.Topics = append(req.Topics, rt)
	return c.topicRequest(ctx, req, func(r kmsg.Response) (int16, *string) {
		t := r.(*kmsg.CreatePartitionsResponse).Topics
		if len(t) != 1 {
			return kerr.UnknownServerError.Code, nil
		}
		return t[0].ErrorCode, t[0].ErrorMessage
	})
}

// topicRequest sends a one-topic admin request and returns the error its
// response carries for the topic (code picks it out).
func (c *franzClient) topicRequest(ctx context.Context, req kmsg.Request, code func(kmsg.Response) (int16, *string)) error {
	cl, err := kgo.NewClient(c.opts()...)
	if err != nil {
		return err
	}
	defer cl.Close()
	resp, err := cl.Request(ctx, req)
	if err != nil {
		return err
	}
	ec, msg := code(resp)
	if err := kerr.ErrorForCode(ec); err != nil {
		if msg != nil {
			return fmt.Errorf("%w: %s", err, *msg)
		}
		return err
	}
	return nil
}

func (c *franzClient) deleteTopic(ctx context.Context, topic string) error {
	adm, done, err := c.admin()
	if err != nil {
		return err
	}
	defer done()
	resp, err := adm.DeleteTopics(ctx, topic)
	if err == nil {
		err = resp.Error()
	}
	return err
}

func (c *franzClient) offsetForTime(ctx context.Context, topic string, partition int32, ts int64) (int64, error) {
	adm, done, err := c.admin()
	if err != nil {
		return 0, err
	}
	defer done()
	offs, err := adm.ListOffsetsAfterMilli(ctx, ts, topic)
	if err == nil {
		err = offs.Error()
	}
	if err != nil {
		return 0, err
	}
	o, ok := offs.Lookup(topic, partition)
	if !ok {
		return 0, fmt.Errorf("no offset for %s/%d", topic, partition)
	}
	return o.Offset, nil
}

// moduleVersion is the version of module path that go.mod requires.
// (Test binaries carry no dependency list in their build info.)
func moduleVersion(path string) string {
	gomod, err := os.ReadFile("../../go.mod")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(gomod), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == path {
			return f[1]
		}
	}
	return "unknown"
}

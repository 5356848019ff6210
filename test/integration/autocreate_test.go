package integration

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/longboat/longboat/internal/config"
	"github.com/longboat/longboat/internal/testcluster"
)

// describeTopic asks for one topic's metadata without allowing its
// creation, so looking does not create it.
func describeTopic(t *testing.T, cl *kgo.Client, topic string) kmsg.MetadataResponseTopic {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || len(resp.Topics) != 1 {
		t.Fatalf("metadata %s: %v %+v", topic, err, resp)
	}
	return resp.Topics[0]
}

// checkCreatedWithDefaults fails unless topic exists with the broker
// defaults: partitions partitions of rf replicas each.
func checkCreatedWithDefaults(t *testing.T, cl *kgo.Client, topic string, partitions, rf int) {
	t.Helper()
	mt := describeTopic(t, cl, topic)
	if mt.ErrorCode != 0 || len(mt.Partitions) != partitions {
		t.Fatalf("auto-created %s: error %d, %d partitions, want %d", topic, mt.ErrorCode, len(mt.Partitions), partitions)
	}
	for _, p := range mt.Partitions {
		if len(p.Replicas) != rf {
			t.Fatalf("auto-created %s/%d: replicas %v, want %d", topic, p.Partition, p.Replicas, rf)
		}
	}
}

// produceUnknown sends one record with a raw Produce (by name, v11) to a
// topic never named in a Metadata request and returns the error code.
func produceUnknown(t *testing.T, seeds []string, topic string) int16 {
	t.Helper()
	cl := newClient(t, seeds, kgo.MaxVersions(kversion.V3_9_0()))
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = idempotentBatch(-1, -1, -1, 1)
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("produce to %s: %v %+v", topic, err, resp)
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}

// TestAutoCreateTopics: with --auto-create-topics a producer's Metadata
// request creates the topic with --default-partitions and
// --default-replication-factor, for kcat (librdkafka) and franz-go alike,
// and the record is acknowledged and readable; a Produce alone creates
// nothing, as in Kafka.
func TestAutoCreateTopics(t *testing.T) {
	t.Parallel()
	c := testcluster.Start(t, testcluster.Options{Nodes: 3, Adjust: func(cfg *config.Config) {
		cfg.AutoCreateTopics = true
		cfg.DefaultPartitions = 3
	}})
	seeds := c.Addrs()
	cl := newClient(t, seeds)

	producer := newClient(t, seeds, kgo.AllowAutoTopicCreation())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := producer.ProduceSync(ctx, &kgo.Record{Topic: "auto-franz", Value: []byte("hello")}).FirstErr(); err != nil {
		t.Fatalf("franz-go produce to a new topic: %v", err)
	}
	checkCreatedWithDefaults(t, cl, "auto-franz", 3, 3)

	if _, err := exec.LookPath("kcat"); err == nil {
		bootstrap := strings.Join(seeds, ",")
		runKcat(t, 60*time.Second, []byte("hello\n"), "-P", "-b", bootstrap, "-t", "auto-kcat", "-X", "message.timeout.ms=30000")
		checkCreatedWithDefaults(t, cl, "auto-kcat", 3, 3)
		out, _ := runKcat(t, 60*time.Second, nil, "-C", "-b", bootstrap, "-t", "auto-kcat", "-o", "beginning", "-e", "-q")
		if strings.TrimSpace(out) != "hello" {
			t.Fatalf("kcat read back %q from auto-kcat, want hello", out)
		}
	} else {
		t.Log("kcat not installed: auto-creation checked with franz-go only")
	}

	code := produceUnknown(t, seeds, "auto-produce-only")
	if code != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("produce to an unknown topic: code %d, want UNKNOWN_TOPIC_OR_PARTITION", code)
	}
	if mt := describeTopic(t, cl, "auto-produce-only"); mt.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("after a produce alone: metadata code %d, want UNKNOWN_TOPIC_OR_PARTITION (not created)", mt.ErrorCode)
	}
}

// TestAutoCreateTopicsOff: without the flag (serve's default, and the
// shared cluster's) a producer allowing auto-creation gets no topic.
func TestAutoCreateTopicsOff(t *testing.T) {
	c := sharedCluster(t)
	seeds := c.Addrs()
	producer := newClient(t, seeds, kgo.AllowAutoTopicCreation(), kgo.RecordDeliveryTimeout(3*time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := producer.ProduceSync(ctx, &kgo.Record{Topic: "not-auto", Value: []byte("hello")}).FirstErr()
	if err == nil {
		t.Fatal("produce to a new topic succeeded with auto-creation off")
	}
	if mt := describeTopic(t, newClient(t, seeds), "not-auto"); mt.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("with auto-creation off: metadata code %d, %d partitions; want UNKNOWN_TOPIC_OR_PARTITION", mt.ErrorCode, len(mt.Partitions))
	}
	if code := produceUnknown(t, seeds, "not-auto"); code != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("produce to an unknown topic: code %d, want UNKNOWN_TOPIC_OR_PARTITION", code)
	}
}

// TestCreateTopicsWhileBrokersRegister: a replication factor larger than
// the brokers registered so far is refused with a message that counts the
// initial members still missing, so a script racing the cluster's start
// knows to retry. The fourth initial member never starts, so the brokers
// sit out their identity window (30 s) before they start: in parallel.
func TestCreateTopicsWhileBrokersRegister(t *testing.T) {
	t.Parallel()
	missing := testcluster.FreeAddrs(t, 1)[0]
	c := testcluster.Start(t, testcluster.Options{Nodes: 3, Adjust: func(cfg *config.Config) {
		cfg.InitialMembers[4] = missing
	}})
	cl := newClient(t, c.Addrs())
	want := "replication factor 4 needs 4 brokers; 3 of the 4 initial members have registered so far"
	for _, validateOnly := range []bool{false, true} {
		req := kmsg.NewPtrCreateTopicsRequest()
		req.TimeoutMillis = 10000
		req.ValidateOnly = validateOnly
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "rf4", 1, 4
		req.Topics = append(req.Topics, rt)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		resp, err := req.RequestWith(ctx, cl)
		cancel()
		if err != nil || len(resp.Topics) != 1 {
			t.Fatalf("CreateTopics (validate only %v): %v %+v", validateOnly, err, resp)
		}
		got := resp.Topics[0]
		msg := ""
		if got.ErrorMessage != nil {
			msg = *got.ErrorMessage
		}
		if got.ErrorCode != kerr.InvalidReplicationFactor.Code || !strings.Contains(msg, want) {
			t.Fatalf("CreateTopics rf 4 with 3 of 4 brokers registered (validate only %v): code %d %q, want INVALID_REPLICATION_FACTOR with %q", validateOnly, got.ErrorCode, msg, want)
		}
	}
}

package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestCreatedTopicLedOnEveryBroker: once CreateTopics has answered, every
// broker's Metadata names the same leader for every partition, including
// the brokers without a replica, which learn it from __meta. librdkafka's
// offsets_for_times (kcat -Q) takes LEADER_NOT_AVAILABLE as final, so a
// broker still answering it right after creation failed such a client.
// One partition of replication factor 1 lives on one broker and leaves the
// two others to __meta's record; when that broker is the one that created
// it (the controller), it sees its leader before __meta records it.
func TestCreatedTopicLedOnEveryBroker(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	c := sharedCluster(t)
	addrs := c.Addrs()
	cl := newClient(t, addrs)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := kadm.NewClient(cl).BrokerMetadata(ctx); err != nil {
		t.Fatal(err)
	}
	for round := range 8 {
		topic := fmt.Sprintf("led-everywhere-%d", round)
		createTopic(t, addrs, topic, 1, 1)
		leaders := map[int32]int32{}
		for _, cfg := range c.Configs {
			req := kmsg.NewPtrMetadataRequest()
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(topic)
			req.Topics = append(req.Topics, rt)
			resp, err := req.RequestWith(ctx, cl.Broker(int(cfg.NodeID)))
			if err != nil {
				t.Fatalf("metadata from broker %d: %v", cfg.NodeID, err)
			}
			if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 || len(resp.Topics[0].Partitions) != 1 {
				t.Fatalf("broker %d right after creating %s: %+v", cfg.NodeID, topic, resp.Topics)
			}
			for _, p := range resp.Topics[0].Partitions {
				if p.ErrorCode != 0 || p.Leader < 0 {
					t.Fatalf("broker %d right after creating %s: partition %d leader %d error %d", cfg.NodeID, topic, p.Partition, p.Leader, p.ErrorCode)
				}
				if prev, seen := leaders[p.Partition]; seen && prev != p.Leader {
					t.Fatalf("%s partition %d: broker %d names leader %d, another broker %d", topic, p.Partition, cfg.NodeID, p.Leader, prev)
				}
				leaders[p.Partition] = p.Leader
			}
		}
	}
}

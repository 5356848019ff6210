package integration

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/testutil"
)

func TestFranzProduceConsumeRF3(t *testing.T) {
	c := sharedCluster(t)
	seeds := c.Addrs()
	createTopic(t, seeds, "orders", 6, 3)
	cl := newClient(t, seeds)
	produced := produceN(t, cl, "orders", "v", 10000)
	if len(produced) != 10000 {
		t.Fatalf("acknowledged %d of 10000", len(produced))
	}
	consumed := consumeAll(t, seeds, "orders", 10000)
	checkSameRecords(t, produced, consumed)
}

// TestMetadataIdenticalOnEveryBroker asks each broker for Metadata of its
// topic and compares brokers, controller and every partition's leader and
// epoch (only its own topic: other tests create theirs on the same cluster
// meanwhile). Right after creation a topic's leaderships move to their
// preferred replicas, and a follower that voted in the new term but has not
// heard from the new leader yet names itself (see topicMetadata), so the
// answers must agree within a few heartbeats, not at the first instant.
func TestMetadataIdenticalOnEveryBroker(t *testing.T) {
	c := sharedCluster(t)
	const topic = "meta-check"
	createTopic(t, c.Addrs(), topic, 6, 3)
	clients := map[string]*kgo.Client{}
	for _, addr := range c.Addrs() {
		clients[addr] = newClient(t, []string{addr})
	}
	testutil.Eventually(t, 10*time.Second, func() error { return metadataDiff(t, c.Addrs(), clients, topic) })
}

// metadataDiff describes the first broker whose Metadata of topic differs
// from the first broker's, or returns nil.
func metadataDiff(t *testing.T, addrs []string, clients map[string]*kgo.Client, topic string) error {
	t.Helper()
	var first *kmsg.MetadataResponse
	for _, addr := range addrs {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		req := kmsg.NewPtrMetadataRequest()
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, clients[addr])
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		for _, tp := range resp.Topics {
			for _, p := range tp.Partitions {
				if p.ErrorCode != 0 || p.Leader < 1 {
					t.Fatalf("broker %s: %s/%d has no leader (error %d)", addr, *tp.Topic, p.Partition, p.ErrorCode)
				}
			}
		}
		if first == nil {
			first = resp
			continue
		}
		if !reflect.DeepEqual(first.Brokers, resp.Brokers) || first.ControllerID != resp.ControllerID || !reflect.DeepEqual(first.Topics, resp.Topics) {
			return fmt.Errorf("broker %s answers differently:\nfirst: %+v\nthis:  %+v", addr, first, resp)
		}
	}
	return nil
}

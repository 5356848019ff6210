package integration

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/testcluster"
)

func TestFranzProduceConsumeRF3(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Nodes: 3})
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

// TestMetadataIdenticalOnEveryBroker asks each broker for Metadata and
// compares brokers, controller and every partition's leader and epoch. Right
// after creation a topic's leaderships move to their preferred replicas, and
// a follower that voted in the new term but has not heard from the new
// leader yet names itself (see topicMetadata), so the answers must agree
// within a few heartbeats, not at the first instant.
func TestMetadataIdenticalOnEveryBroker(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Nodes: 3})
	createTopic(t, c.Addrs(), "meta-check", 6, 3)
	clients := map[string]*kgo.Client{}
	for _, addr := range c.Addrs() {
		clients[addr] = newClient(t, []string{addr})
	}
	var diff string
	for attempt := 0; attempt < 20; attempt++ {
		if diff = metadataDiff(t, c.Addrs(), clients); diff == "" {
			if attempt > 0 {
				t.Logf("brokers agreed after %d earlier differing rounds", attempt)
			}
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("brokers still answer differently after 10 s: %s", diff)
}

// metadataDiff describes the first broker whose Metadata differs from the
// first broker's, or returns "".
func metadataDiff(t *testing.T, addrs []string, clients map[string]*kgo.Client) string {
	t.Helper()
	var first *kmsg.MetadataResponse
	for _, addr := range addrs {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		req := kmsg.NewPtrMetadataRequest()
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
			return fmt.Sprintf("broker %s answers differently:\nfirst: %+v\nthis:  %+v", addr, first, resp)
		}
	}
	return ""
}

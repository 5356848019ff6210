package integration

import (
	"context"
	"reflect"
	"testing"
	"time"

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
// compares brokers, controller and every partition's leader and epoch.
func TestMetadataIdenticalOnEveryBroker(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Nodes: 3})
	createTopic(t, c.Addrs(), "meta-check", 6, 3)
	var first *kmsg.MetadataResponse
	for _, addr := range c.Addrs() {
		cl := newClient(t, []string{addr})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		req := kmsg.NewPtrMetadataRequest()
		resp, err := req.RequestWith(ctx, cl)
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
			t.Fatalf("broker %s answers differently:\nfirst: %+v\nthis:  %+v", addr, first, resp)
		}
	}
}

package kafka_test

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestKafka41Versions exercises what the versions Kafka 4.1 added change:
// Produce v13 names topics by id (KIP-516), DescribeCluster v2 may ask for
// fenced brokers too.
func TestKafka41Versions(t *testing.T) {
	t.Parallel()
	addr, adm := brokerWithTopic(t, "by-id")
	details, err := adm.ListTopics(ctxT(t, 10e9), "by-id")
	if err != nil || details.Error() != nil {
		t.Fatal(err, details.Error())
	}
	id := [16]byte(details["by-id"].ID)
	conn := dial(t, addr)

	t.Run("ProduceV13ByTopicID", func(t *testing.T) {
		for i, want := range []int64{0, 1} {
			req := kmsg.NewPtrProduceRequest()
			req.Version, req.Acks, req.TimeoutMillis = 13, -1, 10000
			rt := kmsg.NewProduceRequestTopic()
			rt.TopicID = id
			rp := kmsg.NewProduceRequestTopicPartition()
			rp.Records = recordBatch(t, []byte("by id"))
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			writeFrame(t, conn, req.AppendTo(headerBytes(0, 13, int32(10+i), "v13-test", true)))
			_, body := readResponse(t, conn)
			resp := kmsg.NewPtrProduceResponse()
			resp.Version = 13
			if err := resp.ReadFrom(body[1:]); err != nil {
				t.Fatalf("decode Produce v13 response: %v", err)
			}
			if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
				t.Fatalf("response %+v", resp)
			}
			got := resp.Topics[0]
			if got.TopicID != id || got.Partitions[0].ErrorCode != 0 || got.Partitions[0].BaseOffset != want {
				t.Fatalf("topic id %x, error code %d, base offset %d; want %x, 0, %d", got.TopicID, got.Partitions[0].ErrorCode, got.Partitions[0].BaseOffset, id, want)
			}
		}
		if o := endOffset(t, adm, "by-id"); o != 2 {
			t.Fatalf("end offset %d after two records produced by topic id, want 2", o)
		}
	})

	t.Run("DescribeClusterV2", func(t *testing.T) {
		req := kmsg.NewPtrDescribeClusterRequest()
		req.Version, req.IncludeFencedBrokers = 2, true
		writeFrame(t, conn, req.AppendTo(headerBytes(60, 2, 20, "v2-test", true)))
		_, body := readResponse(t, conn)
		resp := kmsg.NewPtrDescribeClusterResponse()
		resp.Version = 2
		if err := resp.ReadFrom(body[1:]); err != nil {
			t.Fatalf("decode DescribeCluster v2 response: %v", err)
		}
		if resp.ErrorCode != 0 || resp.EndpointType != 1 || len(resp.Brokers) != 1 {
			t.Fatalf("error code %d, endpoint type %d, %d brokers; want 0, 1, 1", resp.ErrorCode, resp.EndpointType, len(resp.Brokers))
		}
		if b := resp.Brokers[0]; b.NodeID != 1 || b.IsFenced {
			t.Fatalf("broker %d fenced=%v, want broker 1 unfenced", b.NodeID, b.IsFenced)
		}
	})
}

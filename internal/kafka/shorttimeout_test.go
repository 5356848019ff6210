package kafka_test

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/testcluster"
)

// TestProduceWithTinyTimeoutCommits: an acks=all Produce whose timeout is
// shorter than a Raft tick is still proposed and answered with its offset
// (it was refused with a retriable NOT_LEADER_OR_FOLLOWER, so a client that
// set a 1 ms timeout could never produce).
func TestProduceWithTinyTimeoutCommits(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker")
	}
	c := testcluster.Start(t, testcluster.Options{Nodes: 1})
	addr := c.Addrs()[0]
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	if _, err := kadm.NewClient(cl).CreateTopic(ctxT(t, 30e9), 1, 1, nil, "tiny-timeout"); err != nil {
		t.Fatal(err)
	}
	conn := dial(t, addr)
	for corr, ms := range []int32{1, 5, 50} {
		req := kmsg.NewPtrProduceRequest()
		req.Version, req.Acks, req.TimeoutMillis = 7, -1, ms
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "tiny-timeout"
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = recordBatch(t, []byte("v"))
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		writeFrame(t, conn, req.AppendTo(headerBytes(0, 7, int32(corr), "tiny-timeout-test", false)))
		_, body := readResponse(t, conn)
		resp := kmsg.NewPtrProduceResponse()
		resp.Version = 7
		if err := resp.ReadFrom(body); err != nil {
			t.Fatalf("timeout %d ms: decode response: %v", ms, err)
		}
		p := resp.Topics[0].Partitions[0]
		if p.ErrorCode != 0 || p.BaseOffset != int64(corr) {
			t.Fatalf("timeout %d ms: error code %d, base offset %d; want 0 and %d", ms, p.ErrorCode, p.BaseOffset, corr)
		}
	}
}

package kafka_test

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestProduceWithTinyTimeoutCommits: an acks=all Produce whose timeout is
// shorter than a Raft tick is still proposed and answered with its offset
// (it was refused with a retriable NOT_LEADER_OR_FOLLOWER, so a client that
// set a 1 ms timeout could never produce).
func TestProduceWithTinyTimeoutCommits(t *testing.T) {
	t.Parallel()
	addr, _ := brokerWithTopic(t, "tiny-timeout")
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

package kafka_test

import (
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestPipelinedOffsetCommitsApplyInOrder: a client may send several
// OffsetCommits on one connection without waiting for the answers (the Java
// consumer's commitAsync, librdkafka's async commits, sarama's auto-commit
// beside an explicit Commit), and relies on Kafka handling a connection's
// requests in order: the last commit sent is the offset that stays. Run
// concurrently, an earlier commit could reach Raft after a later one and
// move the group's offset back.
func TestPipelinedOffsetCommitsApplyInOrder(t *testing.T) {
	t.Parallel()
	const topic, commits = "pipelined-commits", 64
	addr, adm := brokerWithTopic(t, topic)
	for round := range 3 {
		group := fmt.Sprintf("pipelined-%d", round)
		conn := dial(t, addr)
		// A standalone consumer's commits (no member, generation -1), all
		// written before the first answer is read.
		var frames []byte
		for i := range commits {
			req := kmsg.NewPtrOffsetCommitRequest()
			req.Version = 7
			req.Group, req.Generation = group, -1
			rt := kmsg.NewOffsetCommitRequestTopic()
			rt.Topic = topic
			rp := kmsg.NewOffsetCommitRequestTopicPartition()
			rp.Offset = int64(i + 1)
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			frame := append(headerBytes(req.Key(), req.Version, int32(i), "pipeline", false), req.AppendTo(nil)...)
			frames = append(frames, frameOf(frame)...)
		}
		writeRaw(t, conn, frames)
		for i := range commits {
			corr, body := readResponse(t, conn)
			if corr != int32(i) {
				t.Fatalf("answer %d has correlation id %d", i, corr)
			}
			resp := kmsg.NewPtrOffsetCommitResponse()
			resp.Version = 7
			if err := resp.ReadFrom(body); err != nil {
				t.Fatalf("answer %d: %v", i, err)
			}
			for _, rt := range resp.Topics {
				for _, rp := range rt.Partitions {
					if rp.ErrorCode != 0 {
						t.Fatalf("commit %d, partition %d: error %d", i, rp.Partition, rp.ErrorCode)
					}
				}
			}
		}
		offsets, err := adm.FetchOffsets(ctxT(t, 10*time.Second), group)
		if err != nil {
			t.Fatal(err)
		}
		if o, ok := offsets.Lookup(topic, 0); !ok || o.At != commits {
			t.Errorf("group %s: committed %d (found %v) after %d pipelined commits, want %d, the last one sent", group, o.At, ok, commits, commits)
		}
	}
}

// frameOf prefixes a request with its size.
func frameOf(b []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...)
}

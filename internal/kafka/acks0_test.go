package kafka_test

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// produceFrame is a Produce v7 request for one partition holding one record.
func produceFrame(t *testing.T, corr int32, acks int16, topic string, partition int32, value string) []byte {
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = 7, acks, 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = partition, recordBatch(t, []byte(value))
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req.AppendTo(headerBytes(0, 7, corr, "acks0-test", false))
}

// brokerWithTopic creates a one-partition topic on the shared broker and
// returns its address and an admin client (skipped under -short).
func brokerWithTopic(t *testing.T, topic string) (string, *kadm.Client) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a broker")
	}
	c := oneBroker.Get(t)
	addr := c.Addrs()[0]
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctxT(t, 30e9), 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	return addr, adm
}

// endOffset is the end offset of partition 0 of a topic.
func endOffset(t *testing.T, adm *kadm.Client, topic string) int64 {
	t.Helper()
	ends, err := adm.ListEndOffsets(ctxT(t, 10e9), topic)
	if err != nil || ends.Error() != nil {
		t.Fatal(err, ends.Error())
	}
	o, _ := ends.Lookup(topic, 0)
	return o.Offset
}

// TestAcksZeroFailureClosesConnection: an acks=0 Produce gets no answer;
// when it fails (here: a partition that does not exist), the broker closes
// the connection as Kafka does, after the responses to earlier requests,
// so that the client refreshes its metadata. A good one keeps it open.
func TestAcksZeroFailureClosesConnection(t *testing.T) {
	t.Parallel()
	addr, adm := brokerWithTopic(t, "acks0")

	t.Run("SuccessKeepsConnection", func(t *testing.T) {
		conn := dial(t, addr)
		writeFrame(t, conn, produceFrame(t, 1, 0, "acks0", 0, "kept"))
		writeFrame(t, conn, headerBytes(18, 0, 2, "acks0-test", false))
		if corr, _ := readResponse(t, conn); corr != 2 {
			t.Fatalf("first response has correlation id %d, want 2 (the ApiVersions after the acks=0 produce)", corr)
		}
		if o := endOffset(t, adm, "acks0"); o != 1 {
			t.Fatalf("end offset %d after one acks=0 record, want 1", o)
		}
	})

	t.Run("FailureClosesAfterEarlierResponses", func(t *testing.T) {
		conn := dial(t, addr)
		writeFrame(t, conn, produceFrame(t, 1, 1, "acks0", 0, "acked"))
		writeFrame(t, conn, produceFrame(t, 2, 0, "acks0", 99, "nowhere"))
		corr, body := readResponse(t, conn)
		if corr != 1 {
			t.Fatalf("correlation id %d, want 1", corr)
		}
		resp := kmsg.NewPtrProduceResponse()
		resp.SetVersion(7)
		if err := resp.ReadFrom(body); err != nil || resp.Topics[0].Partitions[0].ErrorCode != 0 {
			t.Fatalf("acks=1 produce: %v %+v", err, resp)
		}
		expectClosed(t, conn, "acks=0 produce to a partition that does not exist")
		expectServing(t, addr)
	})
}

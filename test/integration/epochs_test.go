package integration

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/partition"
	"github.com/longboat/longboat/internal/testcluster"
	"github.com/longboat/longboat/internal/testutil"
)

// leaderOf returns the broker index leading topic/0 and its term, as the
// first running broker sees it.
func leaderOf(t *testing.T, c *testcluster.Cluster, topic string) (leader int, term uint64) {
	t.Helper()
	testutil.Eventually(t, 30*time.Second, func() error {
		for _, b := range c.Brokers {
			if b == nil {
				continue
			}
			shard := b.Node.Meta().Topics[topic].Partitions[0].ShardID
			id, tm, ok := b.Node.Leader(shard)
			if !ok || c.Brokers[id-1] == nil {
				return fmt.Errorf("%s has no live leader", topic)
			}
			leader, term = int(id-1), tm
			return nil
		}
		return errors.New("no broker running")
	})
	return leader, term
}

// waitHighWatermark waits until replica p has applied up to hw.
func waitHighWatermark(t *testing.T, p *partition.StateMachine, hw int64, within time.Duration) {
	t.Helper()
	testutil.Eventually(t, within, func() error {
		if got := p.HighWatermark(); got < hw {
			return fmt.Errorf("high watermark %d, want %d", got, hw)
		}
		return nil
	})
}

// TestOffsetForLeaderEpochAfterLeaderChanges moves a partition's leadership
// three times while producing, with a franz-go consumer reading throughout
// (it validates its position with OffsetForLeaderEpoch when the epoch
// changes), then checks the end offset of every epoch against the leader
// epochs stamped on the records, on every replica.
func TestOffsetForLeaderEpochAfterLeaderChanges(t *testing.T) {
	t.Parallel()
	c := testcluster.Start(t, testcluster.Options{Nodes: 3})
	seeds := c.Addrs()
	cl := newClient(t, seeds)
	createTopic(t, seeds, "epochs", 1, 3)
	acked := map[int64]string{}
	consumer := newClient(t, seeds, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"epochs": {0: kgo.NewOffset().AtStart()}}))
	type seen struct {
		epoch int32
		value string
	}
	consumed := map[int64]seen{}
	drain := func(want int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		for len(consumed) < want {
			fs := consumer.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("consumer has %d of %d records", len(consumed), want)
			}
			fs.EachError(func(_ string, _ int32, err error) { t.Logf("consumer: %v", err) })
			fs.EachRecord(func(r *kgo.Record) { consumed[r.Offset] = seen{r.LeaderEpoch, name(r.Value)} })
		}
	}

	produceValues(t, cl, acked, "epochs", 20, 50, time.Time{})
	drain(len(acked))
	for round := 0; round < 3; round++ {
		old, term := leaderOf(t, c, "epochs")
		c.StopBroker(old)
		rest := []string{}
		for i, a := range seeds {
			if i != old {
				rest = append(rest, a)
			}
		}
		live := newClient(t, rest)
		produceValues(t, live, acked, "epochs", 20, 50, time.Time{})
		_, newTerm := leaderOf(t, c, "epochs")
		if newTerm <= term {
			t.Fatalf("round %d: term %d after the leader stopped, was %d", round, newTerm, term)
		}
		drain(len(acked))
		c.StartBroker(old)
		c.WaitReady(60 * time.Second)
	}
	// The balancer moves leadership back to the preferred replica after the
	// last restart, in a new epoch: let it, so that the epoch read below
	// stays current.
	waitAllPreferred(t, c, 30*time.Second)
	produceValues(t, cl, acked, "epochs", 20, 50, time.Time{})
	drain(len(acked))
	for off, v := range acked {
		if consumed[off].value != v {
			t.Fatalf("offset %d: consumed %q, acknowledged %q", off, consumed[off].value, v)
		}
	}

	// Expected: each epoch that wrote records ends where the next begins;
	// the last one ends at the log end offset.
	hw := int64(len(acked))
	type span struct {
		epoch int32
		first int64
	}
	var spans []span
	for off := int64(0); off < hw; off++ {
		if e := consumed[off].epoch; len(spans) == 0 || e != spans[len(spans)-1].epoch {
			if len(spans) > 0 && e < spans[len(spans)-1].epoch {
				t.Fatalf("offset %d: leader epoch %d after %d", off, e, spans[len(spans)-1].epoch)
			}
			spans = append(spans, span{e, off})
		}
	}
	if len(spans) < 4 {
		t.Fatalf("records carry %d leader epochs, want at least 4: %+v", len(spans), spans)
	}
	adm := kadm.NewClient(cl)
	ctx := context.Background()
	ask := func(epoch int32) kadm.OffsetForLeaderEpoch {
		t.Helper()
		var req kadm.OffsetForLeaderEpochRequest
		req.Add("epochs", 0, epoch)
		resp, err := adm.OffsetForLeaderEpoch(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		r := resp["epochs"][0]
		if r.Err != nil {
			t.Fatalf("OffsetForLeaderEpoch(%d): %v", epoch, r.Err)
		}
		return r
	}
	_, current := leaderOf(t, c, "epochs")
	for i, s := range spans {
		end := hw
		if i+1 < len(spans) {
			end = spans[i+1].first
		}
		if r := ask(s.epoch); r.LeaderEpoch != s.epoch || r.EndOffset != end {
			t.Errorf("epoch %d: answered (%d, %d), want (%d, %d)", s.epoch, r.LeaderEpoch, r.EndOffset, s.epoch, end)
		}
		// An epoch in between that wrote nothing ends where the next began.
		if i+1 < len(spans) && spans[i+1].epoch > s.epoch+1 {
			if r := ask(s.epoch + 1); r.LeaderEpoch != s.epoch || r.EndOffset != end {
				t.Errorf("empty epoch %d: answered (%d, %d), want (%d, %d)", s.epoch+1, r.LeaderEpoch, r.EndOffset, s.epoch, end)
			}
		}
	}
	if r := ask(int32(current)); r.LeaderEpoch != int32(current) || r.EndOffset != hw {
		t.Errorf("current epoch %d: answered (%d, %d), want the log end %d", current, r.LeaderEpoch, r.EndOffset, hw)
	}
	if r := ask(int32(current) + 1); r.LeaderEpoch != -1 || r.EndOffset != -1 {
		t.Errorf("future epoch: answered (%d, %d), want (-1, -1)", r.LeaderEpoch, r.EndOffset)
	}

	// CurrentLeaderEpoch fencing (KIP-320).
	for _, tc := range []struct {
		current int32
		code    int16
	}{{int32(current) - 1, kerr.FencedLeaderEpoch.Code}, {int32(current) + 1, kerr.UnknownLeaderEpoch.Code}, {int32(current), 0}} {
		req := kmsg.NewPtrOffsetForLeaderEpochRequest()
		rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
		rt.Topic = "epochs"
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.CurrentLeaderEpoch, rp.LeaderEpoch = tc.current, spans[0].epoch
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		leader, _ := leaderOf(t, c, "epochs")
		resp, err := req.RequestWith(ctx, cl.Broker(leader+1))
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Topics[0].Partitions[0].ErrorCode; got != tc.code {
			t.Errorf("CurrentLeaderEpoch %d (leader at %d): code %d, want %d", tc.current, current, got, tc.code)
		}
	}

	// Every replica built the same history by applying the same log.
	var first []byte
	for i, b := range c.Brokers {
		p, ok := b.Node.PartitionByName("epochs", 0)
		if !ok {
			t.Fatalf("broker %d has no replica", i+1)
		}
		waitHighWatermark(t, p, hw, 10*time.Second)
		var got []byte
		for _, e := range p.EpochHistory() {
			got = append(got, []byte{byte(e.Epoch), byte(e.StartOffset)}...)
		}
		if i == 0 {
			first = got
			if len(p.EpochHistory()) != len(spans) {
				t.Errorf("broker 1 history %+v, records show %+v", p.EpochHistory(), spans)
			}
		} else if !bytes.Equal(got, first) {
			t.Errorf("broker %d history %+v differs from broker 1's", i+1, p.EpochHistory())
		}
	}
}

// TestLogAppendTime: a LogAppendTime topic stamps each batch with the
// leader's clock at proposal, the same bytes on every replica, and the
// produce response carries the time.
func TestLogAppendTime(t *testing.T) {
	c := sharedCluster(t)
	seeds := c.Addrs()
	cl := newClient(t, seeds)
	adm := kadm.NewClient(cl)
	createWithConfigs(t, adm, "lat", map[string]*string{"message.timestamp.type": str("LogAppendTime")})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	old := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	before := time.Now().Add(-time.Millisecond)
	res := cl.ProduceSync(ctx, &kgo.Record{Topic: "lat", Value: []byte("a"), Timestamp: old})
	if err := res.FirstErr(); err != nil {
		t.Fatal(err)
	}
	// franz-go does not surface the produce response's LogAppendTime: send
	// a raw Produce to read it.
	leader, _ := leaderOf(t, c, "lat")
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic, rt.TopicID = "lat", topicID(t, cl, "lat")
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = rawBatch(t, []byte("b"), old.UnixMilli())
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl.Broker(leader+1))
	if err != nil {
		t.Fatal(err)
	}
	after := time.Now().Add(time.Millisecond)
	if p := resp.Topics[0].Partitions[0]; p.ErrorCode != 0 || p.LogAppendTime < before.UnixMilli() || p.LogAppendTime > after.UnixMilli() {
		t.Errorf("produce response: error %d, LogAppendTime %d, want within [%d, %d]", p.ErrorCode, p.LogAppendTime, before.UnixMilli(), after.UnixMilli())
	}
	consumer := newClient(t, seeds, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"lat": {0: kgo.NewOffset().AtStart()}}))
	var got []*kgo.Record
	for len(got) < 2 {
		fs := consumer.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of 2", len(got))
		}
		got = append(got, fs.Records()...)
	}
	for _, r := range got {
		if r.Attrs.TimestampType() != 1 || r.Timestamp.Before(before) || r.Timestamp.After(after) {
			t.Errorf("consumed %q: timestamp %v type %d, want LogAppendTime in [%v, %v]", r.Value, r.Timestamp, r.Attrs.TimestampType(), before, after)
		}
	}
	var stored []byte
	for i, b := range c.Brokers {
		p, _ := b.Node.PartitionByName("lat", 0)
		waitHighWatermark(t, p, 2, 10*time.Second)
		data, err := p.Read(0, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			stored = data
		} else if !bytes.Equal(data, stored) {
			t.Errorf("broker %d stores different bytes than broker 1", i+1)
		}
	}
}

// rawBatch builds a one-record v2 batch with timestamp ts, as a client would.
func rawBatch(t *testing.T, value []byte, ts int64) []byte {
	t.Helper()
	rec := kmsg.Record{Value: value}
	rec.Length = int32(len(rec.AppendTo(nil)) - 1) // Length 0 encodes as one varint byte
	b := kmsg.RecordBatch{Magic: 2, FirstTimestamp: ts, MaxTimestamp: ts, ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: 1, Records: rec.AppendTo(nil)}
	raw := b.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
	binary.BigEndian.PutUint32(raw[17:], crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli)))
	return raw
}

package kafka_test

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/config"
	"github.com/longboat/longboat/internal/recordbatch"
	"github.com/longboat/longboat/internal/recordbatch/batchtest"
	"github.com/longboat/longboat/internal/testutil"
)

// txnBatch is a transactional (or, with txn false, idempotent) batch of n
// records whose values are "value-<seed>-<i>".
func txnBatch(pid int64, epoch int16, seq int32, n int, seed byte, txn bool) []byte {
	b := batchtest.Batch{TsDeltas: make([]int64, n), Seed: seed, ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq, Sequenced: true}
	if txn {
		b.Attributes = recordbatch.AttrTransactional
	}
	b.FirstTimestamp = time.Now().UnixMilli()
	return b.Build()
}

func values(seed byte, n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("value-%d-%d", seed, i))
	}
	return out
}

// txnEnv talks to the leader of one single-partition topic.
type txnEnv struct {
	*adminEnv
	topic   string
	topicID [16]byte
	leader  *kgo.Broker
	other   *kgo.Broker
}

// onLeader runs send against the partition's leader, and again at the
// leader Metadata names while it answers NOT_LEADER_OR_FOLLOWER: under
// load a Raft election can move leadership at any time, and a coordinator
// (or producer) retries so. A marker or idempotent batch that committed
// before the answer was lost is harmless to repeat.
func (e *txnEnv) onLeader(t *testing.T, send func() int16) int16 {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		code := send()
		if code != kerr.NotLeaderForPartition.Code || time.Now().After(deadline) {
			return code
		}
		time.Sleep(100 * time.Millisecond)
		if l := e.metadata(t, e.topic).Partitions[0].Leader; l >= 0 {
			e.leader, e.other = e.cl.Broker(int(l)), e.cl.Broker(int(l%3+1))
		}
	}
}

func (e *txnEnv) produce(t *testing.T, txnID *string, batch []byte) (off int64, code int16) {
	t.Helper()
	code = e.onLeader(t, func() int16 {
		off, code = e.produceOnce(t, txnID, batch)
		return code
	})
	return off, code
}

func (e *txnEnv) produceOnce(t *testing.T, txnID *string, batch []byte) (int64, int16) {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis, req.TransactionID = -1, 10000, txnID
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic, rt.TopicID = e.topic, e.topicID // kgo sends v13: topics by id
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctxT(t, 15*time.Second), e.leader)
	if err != nil {
		t.Fatal(err)
	}
	p := resp.Topics[0].Partitions[0]
	return p.BaseOffset, p.ErrorCode
}

func (e *txnEnv) mustProduce(t *testing.T, batch []byte, want int64) {
	t.Helper()
	id := "txn-test"
	if off, code := e.produce(t, &id, batch); off != want || code != 0 {
		t.Fatalf("produce: offset %d code %d, want offset %d", off, code, want)
	}
}

// marker sends WriteTxnMarkers (v1, what kgo negotiates) for partition 0
// of topic to broker b, or to the leader (retrying) when b is nil.
func (e *txnEnv) marker(t *testing.T, b *kgo.Broker, topic string, pid int64, epoch int16, commit bool) int16 {
	t.Helper()
	if b == nil {
		return e.onLeader(t, func() int16 { return e.marker(t, e.leader, topic, pid, epoch, commit) })
	}
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	m := kmsg.NewWriteTxnMarkersRequestMarker()
	m.ProducerID, m.ProducerEpoch, m.Committed, m.CoordinatorEpoch = pid, epoch, commit, 3
	mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
	mt.Topic, mt.Partitions = topic, []int32{0}
	m.Topics = append(m.Topics, mt)
	req.Markers = append(req.Markers, m)
	resp, err := req.RequestWith(ctxT(t, 15*time.Second), b)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Markers) != 1 || resp.Markers[0].ProducerID != pid || len(resp.Markers[0].Topics) != 1 ||
		resp.Markers[0].Topics[0].Topic != topic || len(resp.Markers[0].Topics[0].Partitions) != 1 {
		t.Fatalf("WriteTxnMarkers response %+v", resp)
	}
	return resp.Markers[0].Topics[0].Partitions[0].ErrorCode
}

// consume reads want records' values from the start with a real kgo
// consumer at the given isolation level, then makes sure no more arrive.
func (e *txnEnv) consume(t *testing.T, level kgo.IsolationLevel, want int) []string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.c.Addrs()...), kgo.FetchIsolationLevel(level),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{e.topic: {0: kgo.NewOffset().AtStart()}}), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var got []string
	ctx := ctxT(t, 20*time.Second)
	for len(got) < want && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
		for _, fe := range fs.Errors() {
			if fe.Err != ctx.Err() {
				t.Fatalf("fetch: %v", fe.Err)
			}
		}
	}
	extra := cl.PollFetches(ctxT(t, time.Second))
	extra.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	return got
}

// describeOpen checks DescribeProducers at the leader: each producer's
// open transaction starts where want says (-1: none), and its coordinator
// epoch is the markers' (3).
func (e *txnEnv) describeOpen(t *testing.T, want map[int64]int64) {
	t.Helper()
	got := map[int64]int64{}
	code := e.onLeader(t, func() int16 {
		req := kmsg.NewPtrDescribeProducersRequest()
		rt := kmsg.NewDescribeProducersRequestTopic()
		rt.Topic, rt.Partitions = e.topic, []int32{0}
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctxT(t, 10*time.Second), e.leader)
		if err != nil {
			t.Fatal(err)
		}
		p := resp.Topics[0].Partitions[0]
		for _, ap := range p.ActiveProducers {
			if ap.CoordinatorEpoch != 3 {
				t.Fatalf("producer %d: coordinator epoch %d, want 3", ap.ProducerID, ap.CoordinatorEpoch)
			}
			got[ap.ProducerID] = ap.CurrentTxnStartOffset
		}
		return p.ErrorCode
	})
	if code != 0 || !maps.Equal(got, want) {
		t.Fatalf("DescribeProducers: code %d, open transactions %v, want %v", code, got, want)
	}
}

// sameOnEveryReplica waits until every broker's replica has applied up to
// hw and checks that all agree on the last stable offset and the aborted
// transactions: the state is replicated, not the leader's own.
func (e *txnEnv) sameOnEveryReplica(t *testing.T, hw int64) {
	t.Helper()
	shard := e.c.Brokers[0].Node.Meta().Topics[e.topic].Partitions[0].ShardID
	testutil.Eventually(t, 15*time.Second, func() error {
		var first string
		for i, b := range e.c.Brokers {
			r, ok := b.Node.Partition(shard)
			if !ok || r.HighWatermark() != hw {
				return fmt.Errorf("broker %d has not applied up to %d", i+1, hw)
			}
			state := fmt.Sprintf("LSO %d aborted %+v", r.LastStableOffset(), r.AbortedTransactions(0, hw))
			if i == 0 {
				first = state
			} else if state != first {
				t.Fatalf("broker %d: %s; broker 1: %s", i+1, state, first)
			}
		}
		return nil
	})
}

// rawFetch sends one read_committed (level 1) or read_uncommitted Fetch.
func (e *txnEnv) rawFetch(t *testing.T, level int8, offset int64) (p kmsg.FetchResponseTopicPartition) {
	t.Helper()
	e.onLeader(t, func() int16 {
		p = e.rawFetchOnce(t, level, offset)
		return p.ErrorCode
	})
	return p
}

func (e *txnEnv) rawFetchOnce(t *testing.T, level int8, offset int64) kmsg.FetchResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.IsolationLevel, req.MaxBytes, req.MaxWaitMillis = level, 1<<20, 0
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = e.topic, e.topicID
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = offset, 1<<20, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctxT(t, 10*time.Second), e.leader)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Topics[0].Partitions[0]
}

func (e *txnEnv) latest(t *testing.T, level int8) (off int64) {
	t.Helper()
	code := e.onLeader(t, func() int16 {
		var code int16
		off, code = e.latestOnce(t, level)
		return code
	})
	if code != 0 {
		t.Fatalf("ListOffsets: %v", kerr.ErrorForCode(code))
	}
	return off
}

func (e *txnEnv) latestOnce(t *testing.T, level int8) (int64, int16) {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	req.IsolationLevel = level
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = e.topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Timestamp, rp.CurrentLeaderEpoch = -1, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctxT(t, 10*time.Second), e.leader)
	if err != nil {
		t.Fatal(err)
	}
	p := resp.Topics[0].Partitions[0]
	return p.Offset, p.ErrorCode
}

// TestTransactionalPartition writes transactions the way a coordinator
// drives them (transactional Produce, then WriteTxnMarkers to the leader)
// on a real three-broker cluster, and reads them with kgo consumers:
// read_committed sees committed transactions only and nothing past the
// last stable offset; read_uncommitted sees everything.
func TestTransactionalPartition(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	// The leader balancer would hand the partition back to its preferred
	// replica behind the test's back after the move below.
	env := &txnEnv{adminEnv: newAdminEnv(t, func(cfg *config.Config) { cfg.LeaderBalanceInterval = time.Hour }), topic: "txn"}
	mt := env.createTopic(t, env.topic, 1)
	leader := mt.Partitions[0].Leader
	env.topicID = mt.TopicID
	env.leader, env.other = env.cl.Broker(int(leader)), env.cl.Broker(int(leader%3+1))
	const p1, p2 = 9001, 9002

	env.mustProduce(t, txnBatch(p1, 0, 0, 3, 1, true), 0) // A: committed
	env.mustProduce(t, txnBatch(p2, 0, 0, 2, 2, true), 3) // B: aborted
	if code := env.marker(t, nil, env.topic, p1, 0, true); code != 0 {
		t.Fatalf("commit A: %v", kerr.ErrorForCode(code))
	}
	if off, code := env.produce(t, nil, batchtest.Simple(1, time.Now().UnixMilli(), 4)); off != 6 || code != 0 { // D: plain
		t.Fatalf("plain produce: offset %d code %d", off, code)
	}
	if code := env.marker(t, nil, env.topic, p2, 0, false); code != 0 {
		t.Fatalf("abort B: %v", kerr.ErrorForCode(code))
	}
	env.mustProduce(t, txnBatch(p1, 0, 3, 2, 3, true), 8) // C: open

	// Refusals: not the leader, an unknown partition, a plain batch from a
	// producer inside a transaction, transactional records without a
	// transactional id.
	if code := env.marker(t, env.other, env.topic, p1, 0, true); code != kerr.NotLeaderForPartition.Code {
		t.Fatalf("marker to a follower: %v", kerr.ErrorForCode(code))
	}
	if code := env.marker(t, nil, env.topic, p2, 0, false); code != 0 {
		t.Fatalf("second abort of B's producer (nothing open): %v", kerr.ErrorForCode(code))
	}
	if code := env.marker(t, nil, env.topic, -1, 0, true); code != kerr.InvalidProducerIDMapping.Code {
		t.Fatalf("marker without a producer id: %v", kerr.ErrorForCode(code))
	}
	if code := env.marker(t, nil, "txn-missing", p1, 0, true); code != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("marker for an unknown topic: %v", kerr.ErrorForCode(code))
	}
	if _, code := env.produce(t, nil, txnBatch(p1, 0, 5, 1, 5, false)); code != kerr.InvalidTxnState.Code {
		t.Fatalf("plain batch inside an open transaction: %v", kerr.ErrorForCode(code))
	}
	if _, code := env.produce(t, nil, txnBatch(p1, 0, 5, 1, 5, true)); code != kerr.TransactionalIDAuthorizationFailed.Code {
		t.Fatalf("transactional batch without a transactional id: %v", kerr.ErrorForCode(code))
	}
	// Log: A 0-2, B 3-4, COMMIT 5, D 6, ABORT 7, C 8-9, ABORT(p2, empty) 10.

	committed := env.rawFetch(t, 1, 0)
	if committed.ErrorCode != 0 || committed.HighWatermark != 11 || committed.LastStableOffset != 8 {
		t.Fatalf("read_committed fetch: code %d HW %d LSO %d, want HW 11 LSO 8", committed.ErrorCode, committed.HighWatermark, committed.LastStableOffset)
	}
	if a := committed.AbortedTransactions; len(a) != 1 || a[0].ProducerID != p2 || a[0].FirstOffset != 3 {
		t.Fatalf("aborted transactions %+v, want producer %d from 3", a, p2)
	}
	var last int64
	for h := range recordbatch.All(committed.RecordBatches) {
		last = h.LastOffset()
	}
	if last != 7 {
		t.Fatalf("read_committed fetch returned batches up to %d, want 7 (below the LSO)", last)
	}
	if uncommitted := env.rawFetch(t, 0, 0); uncommitted.LastStableOffset != 8 || uncommitted.AbortedTransactions != nil {
		t.Fatalf("read_uncommitted: LSO %d aborted %+v, want LSO 8 and no list", uncommitted.LastStableOffset, uncommitted.AbortedTransactions)
	}
	if atLSO := env.rawFetch(t, 1, 9); atLSO.ErrorCode != 0 || len(atLSO.RecordBatches) != 0 {
		t.Fatalf("read_committed past the LSO: code %d, %d bytes; want nothing and no error", atLSO.ErrorCode, len(atLSO.RecordBatches))
	}
	if rc, ru := env.latest(t, 1), env.latest(t, 0); rc != 8 || ru != 11 {
		t.Fatalf("ListOffsets latest: read_committed %d, read_uncommitted %d; want 8 and 11", rc, ru)
	}

	env.describeOpen(t, map[int64]int64{p1: 8, p2: -1})
	env.sameOnEveryReplica(t, 11)
	// A new leader answers the same from its own replica.
	_, now := env.moveLeaderAway(t, env.topic, 0)
	env.leader, env.other = env.cl.Broker(int(now)), env.cl.Broker(int(now%3+1))
	testutil.Eventually(t, 15*time.Second, func() error {
		p := env.rawFetch(t, 1, 0)
		if p.ErrorCode != 0 || p.LastStableOffset != 8 || len(p.AbortedTransactions) != 1 || p.AbortedTransactions[0].FirstOffset != 3 {
			return fmt.Errorf("new leader %d: code %d LSO %d aborted %+v", now, p.ErrorCode, p.LastStableOffset, p.AbortedTransactions)
		}
		return nil
	})

	want := slices.Concat(values(1, 3), values(4, 1))
	if got := env.consume(t, kgo.ReadCommitted(), len(want)); !slices.Equal(got, want) {
		t.Fatalf("read_committed consumer got %q, want %q", got, want)
	}
	wantAll := slices.Concat(values(1, 3), values(2, 2), values(4, 1), values(3, 2))
	if got := env.consume(t, kgo.ReadUncommitted(), len(wantAll)); !slices.Equal(got, wantAll) {
		t.Fatalf("read_uncommitted consumer got %q, want %q", got, wantAll)
	}

	// The coordinator bumps p1's epoch and commits C; the zombie at the
	// old epoch is fenced.
	if code := env.marker(t, nil, env.topic, p1, 1, true); code != 0 {
		t.Fatalf("commit C at a bumped epoch: %v", kerr.ErrorForCode(code))
	}
	if code := env.marker(t, nil, env.topic, p1, 0, false); code != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("marker at the old epoch: %v", kerr.ErrorForCode(code))
	}
	id := "txn-test"
	if _, code := env.produce(t, &id, txnBatch(p1, 0, 5, 1, 6, true)); code != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("zombie produce at the old epoch: %v", kerr.ErrorForCode(code))
	}
	want = slices.Concat(values(1, 3), values(4, 1), values(3, 2))
	if got := env.consume(t, kgo.ReadCommitted(), len(want)); !slices.Equal(got, want) {
		t.Fatalf("read_committed consumer after the commit got %q, want %q", got, want)
	}
}

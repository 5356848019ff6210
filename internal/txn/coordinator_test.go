package txn_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/testutil"
)

// TestFindTransactionCoordinator: FindCoordinator key type TRANSACTION
// names a broker, the same one every broker names, and an empty
// transactional id is INVALID_REQUEST.
func TestFindTransactionCoordinator(t *testing.T) {
	t.Parallel()
	c := shared.Get(t)
	var want int32 = -1
	cl := client(t, c)
	for i := range c.Addrs() {
		var cs []kmsg.FindCoordinatorResponseCoordinator
		// The group shards may still be electing their first leaders.
		testutil.Eventually(t, 20*time.Second, func() error {
			req := kmsg.NewPtrFindCoordinatorRequest()
			req.CoordinatorType, req.CoordinatorKeys = 1, []string{"find-txn", ""}
			resp, err := cl.Broker(i+1).Request(ctx(t), req)
			if err != nil {
				return err
			}
			cs = resp.(*kmsg.FindCoordinatorResponse).Coordinators
			if cs[0].ErrorCode != 0 || cs[0].NodeID < 1 {
				return fmt.Errorf("broker %d: coordinator of find-txn: %+v", i+1, cs[0])
			}
			return nil
		})
		if want != -1 && cs[0].NodeID != want {
			t.Errorf("broker %d names coordinator %d, another named %d", i+1, cs[0].NodeID, want)
		}
		want = cs[0].NodeID
		if cs[1].ErrorCode != kerr.InvalidRequest.Code {
			t.Errorf("empty transactional id: error %d, want INVALID_REQUEST", cs[1].ErrorCode)
		}
	}
}

// TestInitProducerIDEpochs: a transactional id keeps its producer id and
// gets a new epoch at every InitProducerId; KIP-360's producer id and
// epoch must be the current or the previous ones; a timeout beyond the
// broker's maximum is refused.
func TestInitProducerIDEpochs(t *testing.T) {
	t.Parallel()
	c := shared.Get(t)
	cl := client(t, c)
	first := newProducer(t, cl, "epochs", 10000)
	if first.epoch != 0 {
		t.Fatalf("first epoch %d, want 0", first.epoch)
	}
	second := newProducer(t, cl, "epochs", 10000)
	if second.pid != first.pid || second.epoch != 1 {
		t.Fatalf("second init: %+v, want producer id %d epoch 1", second, first.pid)
	}
	// KIP-360: the producer at the current epoch bumps it.
	resp := initProducer(t, cl, 4, "epochs", 10000, second.pid, second.epoch)
	if resp.ErrorCode != 0 || resp.ProducerID != first.pid || resp.ProducerEpoch != 2 {
		t.Fatalf("KIP-360 bump: %+v", resp)
	}
	// A zombie two epochs back is fenced: PRODUCER_FENCED from v4, as
	// INVALID_PRODUCER_EPOCH before.
	if resp := initProducer(t, cl, 4, "epochs", 10000, first.pid, 0); resp.ErrorCode != kerr.ProducerFenced.Code {
		t.Errorf("stale epoch v4: error %d, want PRODUCER_FENCED", resp.ErrorCode)
	}
	if resp := initProducer(t, clientAt(t, c, map[int16]int16{22: 3}), 3, "epochs", 10000, first.pid, 0); resp.ErrorCode != kerr.InvalidProducerEpoch.Code {
		t.Errorf("stale epoch v3: error %d, want INVALID_PRODUCER_EPOCH", resp.ErrorCode)
	}
	if resp := initProducer(t, cl, 4, "epochs", 10000, first.pid+1000, 2); resp.ErrorCode != kerr.ProducerFenced.Code {
		t.Errorf("another producer id: error %d, want PRODUCER_FENCED", resp.ErrorCode)
	}
	for _, ms := range []int32{0, -5, int32(maxTimeout.Milliseconds()) + 1} {
		if resp := initProducer(t, cl, 4, "epochs", ms, -1, -1); resp.ErrorCode != kerr.InvalidTransactionTimeout.Code {
			t.Errorf("timeout %d ms: error %d, want INVALID_TRANSACTION_TIMEOUT", ms, resp.ErrorCode)
		}
	}
	if d := describe(t, cl, "epochs"); d.ProducerEpoch != 2 || d.State != "Empty" {
		t.Errorf("after refused inits: %+v, want epoch 2 Empty", d)
	}
	other := newProducer(t, cl, "epochs-other", 10000)
	if other.pid == first.pid {
		t.Errorf("two transactional ids share producer id %d", other.pid)
	}
}

// TestTxnOffsetsVisibleOnlyOnCommit: a transaction's offsets are not
// visible until it commits, and an aborted transaction's never are.
func TestTxnOffsetsVisibleOnlyOnCommit(t *testing.T) {
	c := shared.Get(t)
	cl := client(t, c)
	const group, topic = "offsets-group", "offsets-topic"
	p := newProducer(t, cl, "offsets", 10000)
	if code := p.addOffsets(t, cl, group); code != 0 {
		t.Fatalf("AddOffsetsToTxn: %d", code)
	}
	if code := p.commitOffset(t, cl, group, topic, 42, "", -1); code != 0 {
		t.Fatalf("TxnOffsetCommit: %d", code)
	}
	if d := describe(t, cl, "offsets"); d.State != "Ongoing" || d.StartTimestamp <= 0 {
		t.Errorf("ongoing: %+v", d)
	}
	if got := committed(t, cl, group, topic); got != -1 {
		t.Fatalf("offset %d visible before the commit", got)
	}
	// KIP-447: a consumer that requires stable offsets waits for the end.
	raw := clientAt(t, c, map[int16]int16{9: 7}) // the single-group form; committed uses v8+
	if _, code := fetchOffset(t, raw, group, topic, true); code != kerr.UnstableOffsetCommit.Code {
		t.Errorf("OffsetFetch requiring stable offsets while the transaction is open: %d, want UNSTABLE_OFFSET_COMMIT", code)
	}
	if code := p.end(t, cl, 3, true); code != 0 {
		t.Fatalf("EndTxn commit: %d", code)
	}
	// EndTxn answers once PrepareCommit is durable, as Kafka's does: the
	// offsets stay unstable until the coordinator has written them.
	testutil.Eventually(t, 10*time.Second, func() error {
		got, code := fetchOffset(t, raw, group, topic, true)
		if code == kerr.UnstableOffsetCommit.Code {
			return fmt.Errorf("offsets still unstable after the commit")
		}
		if got != 42 || code != 0 {
			t.Fatalf("OffsetFetch requiring stable offsets after the commit: %d, error %d", got, code)
		}
		return nil
	})
	awaitState(t, cl, "offsets", "CompleteCommit", 10*time.Second)
	if got := committed(t, cl, group, topic); got != 42 {
		t.Fatalf("committed offset %d, want 42", got)
	}
	// A retried EndTxn of the same outcome succeeds; the other outcome is
	// INVALID_TXN_STATE.
	if code := p.end(t, cl, 3, true); code != 0 {
		t.Errorf("retried commit: %d", code)
	}
	if code := p.end(t, cl, 3, false); code != kerr.InvalidTxnState.Code {
		t.Errorf("abort after commit: %d, want INVALID_TXN_STATE", code)
	}

	if code := p.addOffsets(t, cl, group); code != 0 {
		t.Fatalf("AddOffsetsToTxn: %d", code)
	}
	if code := p.commitOffset(t, cl, group, topic, 99, "", -1); code != 0 {
		t.Fatalf("TxnOffsetCommit: %d", code)
	}
	if code := p.end(t, cl, 3, false); code != 0 {
		t.Fatalf("EndTxn abort: %d", code)
	}
	awaitState(t, cl, "offsets", "CompleteAbort", 10*time.Second)
	if got := committed(t, cl, group, topic); got != 42 {
		t.Fatalf("after an aborted transaction the offset is %d, want 42", got)
	}

	list := kmsg.NewPtrListTransactionsRequest()
	list.StateFilters, list.DurationFilterMillis = []string{"CompleteAbort", "NoSuchState"}, -1
	lresp, err := list.RequestWith(ctx(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, ts := range lresp.TransactionStates {
		found = found || (ts.TransactionalID == "offsets" && ts.ProducerID == p.pid)
		if ts.TransactionState != "CompleteAbort" {
			t.Errorf("ListTransactions filtered on CompleteAbort lists %+v", ts)
		}
	}
	if !found || len(lresp.UnknownStateFilters) != 1 || lresp.UnknownStateFilters[0] != "NoSuchState" {
		t.Errorf("ListTransactions: %+v", lresp)
	}
}

// TestBadTransactionInput: each wrong request gets Kafka's code and
// changes nothing.
func TestBadTransactionInput(t *testing.T) {
	t.Parallel()
	c := shared.Get(t)
	cl := client(t, c)
	const group, topic = "bad-group", "bad-topic"
	unknown := producer{id: "bad-never-initialised", pid: 7, epoch: 0}
	if code := unknown.end(t, cl, 3, true); code != kerr.InvalidProducerIDMapping.Code {
		t.Errorf("EndTxn of an unknown id: %d, want INVALID_PRODUCER_ID_MAPPING", code)
	}
	if d := describe(t, cl, unknown.id); d.ErrorCode != kerr.TransactionalIDNotFound.Code {
		t.Errorf("DescribeTransactions of an unknown id: %+v", d)
	}
	p := newProducer(t, cl, "bad", 10000)
	if code := p.end(t, cl, 3, true); code != kerr.InvalidTxnState.Code {
		t.Errorf("EndTxn with no transaction: %d, want INVALID_TXN_STATE", code)
	}
	wrongPID := p
	wrongPID.pid++
	if code := wrongPID.addOffsets(t, cl, group); code != kerr.InvalidProducerIDMapping.Code {
		t.Errorf("AddOffsetsToTxn with another producer id: %d, want INVALID_PRODUCER_ID_MAPPING", code)
	}
	// The group was never added: nothing is stored.
	if code := p.commitOffset(t, cl, group, topic, 5, "", -1); code != kerr.InvalidTxnState.Code {
		t.Errorf("TxnOffsetCommit for a group not added: %d, want INVALID_TXN_STATE", code)
	}
	// An unknown partition fails alone, the others are not attempted and
	// the transaction does not start.
	codes := p.addPartitions(t, cl, "bad-no-such-topic", 0, 1)
	for part, code := range codes {
		if code != kerr.UnknownTopicOrPartition.Code {
			t.Errorf("AddPartitionsToTxn of an unknown topic, partition %d: %d", part, code)
		}
	}
	if d := describe(t, cl, p.id); d.State != "Empty" || len(d.Topics) != 0 {
		t.Errorf("after refused requests: %+v, want Empty with no partitions", d)
	}

	if code := p.addOffsets(t, cl, group); code != 0 {
		t.Fatalf("AddOffsetsToTxn: %d", code)
	}
	// KIP-447: a member or generation the group does not have is fenced.
	if code := p.commitOffset(t, cl, group, topic, 5, "ghost", -1); code != kerr.UnknownMemberID.Code {
		t.Errorf("TxnOffsetCommit of an unknown member: %d, want UNKNOWN_MEMBER_ID", code)
	}
	if code := p.commitOffset(t, cl, group, topic, 5, "", 9); code != kerr.IllegalGeneration.Code {
		t.Errorf("TxnOffsetCommit of another generation: %d, want ILLEGAL_GENERATION", code)
	}
	// A second producer of the id fences the first, whose transaction is
	// aborted: a stale epoch is PRODUCER_FENCED (INVALID_PRODUCER_EPOCH
	// before EndTxn v2).
	if code := p.commitOffset(t, cl, group, topic, 5, "", -1); code != 0 {
		t.Fatalf("TxnOffsetCommit: %d", code)
	}
	second := newProducer(t, cl, "bad", 10000)
	if second.pid != p.pid || second.epoch != p.epoch+2 {
		t.Errorf("init over an ongoing transaction: %+v, want epoch %d (one bump for the abort)", second, p.epoch+2)
	}
	if code := p.end(t, cl, 3, true); code != kerr.ProducerFenced.Code {
		t.Errorf("EndTxn of the fenced producer: %d, want PRODUCER_FENCED", code)
	}
	if code := p.end(t, clientAt(t, c, map[int16]int16{26: 1}), 1, true); code != kerr.InvalidProducerEpoch.Code {
		t.Errorf("EndTxn v1 of the fenced producer: %d, want INVALID_PRODUCER_EPOCH", code)
	}
	if code := p.addOffsets(t, cl, group); code != kerr.ProducerFenced.Code {
		t.Errorf("AddOffsetsToTxn of the fenced producer: %d, want PRODUCER_FENCED", code)
	}
	if code := p.commitOffset(t, cl, group, topic, 6, "", -1); code != kerr.ProducerFenced.Code {
		t.Errorf("TxnOffsetCommit of the fenced producer: %d, want PRODUCER_FENCED", code)
	}
	if got := committed(t, cl, group, topic); got != -1 {
		t.Errorf("the aborted transaction's offset is visible: %d", got)
	}
	// The new producer's own transaction commits only its offsets.
	if code := second.addOffsets(t, cl, group); code != 0 {
		t.Fatalf("AddOffsetsToTxn: %d", code)
	}
	if code := second.commitOffset(t, cl, group, topic, 8, "", -1); code != 0 {
		t.Fatalf("TxnOffsetCommit: %d", code)
	}
	if code := second.end(t, cl, 3, true); code != 0 {
		t.Fatalf("EndTxn: %d", code)
	}
	// EndTxn answers once PrepareCommit is durable: the offset shows once
	// the coordinator has written it (TestTxnOffsetsVisibleOnlyOnCommit).
	testutil.Eventually(t, 10*time.Second, func() error {
		if got := committed(t, cl, group, topic); got != 8 {
			return fmt.Errorf("committed %d, want 8", got)
		}
		return nil
	})
}

// TestTimedOutTransactionAborted: the coordinator aborts a transaction
// idle past its timeout at a new epoch, which fences its producer; the
// producer re-initialises with KIP-360's producer id and old epoch.
func TestTimedOutTransactionAborted(t *testing.T) {
	c := shared.Get(t)
	cl := client(t, c)
	const group, topic = "timeout-group", "timeout-topic"
	p := newProducer(t, cl, "timeout", 1000)
	if code := p.addOffsets(t, cl, group); code != 0 {
		t.Fatalf("AddOffsetsToTxn: %d", code)
	}
	if code := p.commitOffset(t, cl, group, topic, 3, "", -1); code != 0 {
		t.Fatalf("TxnOffsetCommit: %d", code)
	}
	d := awaitState(t, cl, "timeout", "CompleteAbort", 10*time.Second)
	if d.ProducerEpoch != p.epoch+1 {
		t.Errorf("aborted at epoch %d, want %d", d.ProducerEpoch, p.epoch+1)
	}
	if code := p.end(t, cl, 3, true); code != kerr.ProducerFenced.Code {
		t.Errorf("commit after the timeout: %d, want PRODUCER_FENCED", code)
	}
	if got := committed(t, cl, group, topic); got != -1 {
		t.Errorf("a timed-out transaction's offset is visible: %d", got)
	}
	resp := initProducer(t, cl, 4, "timeout", 1000, p.pid, p.epoch)
	if resp.ErrorCode != 0 || resp.ProducerID != p.pid || resp.ProducerEpoch != p.epoch+2 {
		t.Errorf("KIP-360 re-init after the timeout: %+v", resp)
	}
}

// TestAddPartitionsBatchedAndVerifyOnly: AddPartitionsToTxn v4+ (the
// batched form brokers send) adds partitions to several transactions at
// once, and with VerifyOnly tells which partitions a transaction holds
// without adding any.
func TestAddPartitionsBatchedAndVerifyOnly(t *testing.T) {
	t.Parallel()
	c := shared.Get(t)
	cl := client(t, c)
	const topic = "verify-topic"
	if _, err := kadm.NewClient(cl).CreateTopic(ctx(t), 2, 3, nil, topic); err != nil {
		t.Fatal(err)
	}
	p := newProducer(t, cl, "verify", 60000)
	find := kmsg.NewPtrFindCoordinatorRequest()
	find.CoordinatorType, find.CoordinatorKey = 1, p.id
	fresp, err := find.RequestWith(ctx(t), cl)
	if err != nil || fresp.ErrorCode != 0 {
		t.Fatalf("FindCoordinator: %v %+v", err, fresp)
	}
	send := func(verifyOnly bool, parts ...int32) map[int32]int16 {
		t.Helper()
		req := kmsg.NewPtrAddPartitionsToTxnRequest()
		req.Version = 4
		tx := kmsg.NewAddPartitionsToTxnRequestTransaction()
		tx.TransactionalID, tx.ProducerID, tx.ProducerEpoch, tx.VerifyOnly = p.id, p.pid, p.epoch, verifyOnly
		tx.Topics = []kmsg.AddPartitionsToTxnRequestTransactionTopic{{Topic: topic, Partitions: parts}}
		req.Transactions = append(req.Transactions, tx)
		resp, err := cl.Broker(int(fresp.NodeID)).Request(ctx(t), req)
		if err != nil {
			t.Fatal(err)
		}
		r := resp.(*kmsg.AddPartitionsToTxnResponse)
		out := map[int32]int16{}
		for _, rtx := range r.Transactions {
			for _, rt := range rtx.Topics {
				for _, rp := range rt.Partitions {
					out[rp.Partition] = rp.ErrorCode
				}
			}
		}
		return out
	}
	if got := send(true, 0); got[0] != kerr.InvalidTxnState.Code {
		t.Errorf("verify before any add: %v, want INVALID_TXN_STATE", got)
	}
	if got := send(false, 0); got[0] != 0 {
		t.Fatalf("add partition 0: %v", got)
	}
	if got := send(true, 0, 1); got[0] != 0 || got[1] != kerr.InvalidTxnState.Code {
		t.Errorf("verify 0 and 1: %v, want 0 held and 1 INVALID_TXN_STATE", got)
	}
	d := describe(t, cl, p.id)
	if d.State != "Ongoing" || len(d.Topics) != 1 || d.Topics[0].Topic != topic || len(d.Topics[0].Partitions) != 1 {
		t.Errorf("after verifying: %+v, want only partition 0 added", d)
	}
}

// TestConsumerOffsetsMarker: a transaction marker on a partition of
// __consumer_offsets (what a coordinator without a replica of the group's
// shard sends, as Kafka's coordinators do) commits the producer's pending
// offsets there, at the shard's leader only.
func TestConsumerOffsetsMarker(t *testing.T) {
	t.Parallel()
	c := shared.Get(t)
	cl := client(t, c)
	const grp, topic = "marker-group", "marker-topic"
	p := newProducer(t, cl, "marker", 30000)
	if code := p.addOffsets(t, cl, grp); code != 0 {
		t.Fatalf("AddOffsetsToTxn: %d", code)
	}
	if code := p.commitOffset(t, cl, grp, topic, 7, "", -1); code != 0 {
		t.Fatalf("TxnOffsetCommit: %d", code)
	}
	node := c.Brokers[0].Node
	shard, _ := node.GroupShardFor(grp)
	idx := int32(-1)
	for i, gs := range node.Meta().GroupShards {
		if gs.ShardID == shard {
			idx = int32(i)
		}
	}
	leaderOf := func() uint64 {
		t.Helper()
		leader, _, ok := node.Leader(shard)
		if idx < 0 || !ok {
			t.Fatalf("group shard %d: index %d, leader known %v", shard, idx, ok)
		}
		return leader
	}
	leader := leaderOf()
	mark := func(broker int) int16 {
		t.Helper()
		req := kmsg.NewPtrWriteTxnMarkersRequest()
		m := kmsg.NewWriteTxnMarkersRequestMarker()
		m.ProducerID, m.ProducerEpoch, m.Committed = p.pid, p.epoch, true
		m.Topics = []kmsg.WriteTxnMarkersRequestMarkerTopic{{Topic: "__consumer_offsets", Partitions: []int32{idx}}}
		req.Markers = append(req.Markers, m)
		resp, err := cl.Broker(broker).Request(ctx(t), req)
		if err != nil {
			t.Fatal(err)
		}
		return resp.(*kmsg.WriteTxnMarkersResponse).Markers[0].Topics[0].Partitions[0].ErrorCode
	}
	if code := mark(int(leader)%3 + 1); code != kerr.NotLeaderForPartition.Code {
		t.Errorf("marker at a follower: %d, want NOT_LEADER_OR_FOLLOWER", code)
	}
	if got := committed(t, cl, grp, topic); got != -1 {
		t.Fatalf("offset %d visible after a refused marker", got)
	}
	// Leadership may move between asking and sending on a loaded machine:
	// ask the leader of the moment again.
	testutil.Eventually(t, 20*time.Second, func() error {
		if code := mark(int(leaderOf())); code != 0 {
			return fmt.Errorf("marker at the leader: %d", code)
		}
		return nil
	})
	if got := committed(t, cl, grp, topic); got != 7 {
		t.Fatalf("after the marker the offset is %d, want 7", got)
	}
	if code := p.end(t, cl, 3, true); code != 0 {
		t.Fatalf("EndTxn: %d", code)
	}
	awaitState(t, cl, p.id, "CompleteCommit", 10*time.Second)
}

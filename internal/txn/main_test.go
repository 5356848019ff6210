package txn_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/longboat/longboat/internal/config"
	"github.com/longboat/longboat/internal/testcluster"
	"github.com/longboat/longboat/internal/testutil"
)

// maxTimeout is the test brokers' --transaction-max-timeout.
const maxTimeout = time.Minute

func adjust(cfg *config.Config) {
	cfg.TransactionMaxTimeout = maxTimeout
	cfg.TransactionAbortInterval = 200 * time.Millisecond
}

// shared is the three-broker cluster of the tests that stop no broker;
// each keeps to its own transactional ids, groups and topics.
var shared = testcluster.Shared{Options: testcluster.Options{Nodes: 3, Adjust: adjust}}

// TestMain runs the parallel tests, which wait only for conditions, three
// at a time. Left sequential, alone before them, are the tests whose
// outcome depends on a clock: a transaction timeout or an id expiration of
// a second or two (TestTimedOutTransactionAborted,
// TestTimedOutTransactionAbortsItsRecords, TestTransactionalIDExpiration),
// and an AddPartitionsToTxn or AddOffsetsToTxn sent right after EndTxn,
// which waits a bounded time for the markers
// (TestNextTransactionWaitsForMarkers, TestTxnOffsetsVisibleOnlyOnCommit).
func TestMain(m *testing.M) {
	testutil.DefaultParallel(3)
	code := m.Run()
	shared.Close()
	os.Exit(code)
}

// client is a franz-go client of the cluster: it finds the transaction
// and group coordinators of the raw requests the tests send and retries
// while they move.
func client(t *testing.T, c *testcluster.Cluster) *kgo.Client {
	t.Helper()
	return clientAt(t, c, nil)
}

// clientAt is client sending some APIs at most at the given versions
// (franz-go sends the highest version both sides have, whatever a
// request's Version says).
func clientAt(t *testing.T, c *testcluster.Cluster, maxVersions map[int16]int16) *kgo.Client {
	t.Helper()
	vs := kversion.Stable()
	for k, v := range maxVersions {
		vs.SetMaxKeyVersion(k, v)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.RequestRetries(20), kgo.MaxVersions(vs))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// initProducer sends InitProducerId for a transactional id.
func initProducer(t *testing.T, cl *kgo.Client, version int16, id string, timeoutMs int32, pid int64, epoch int16) *kmsg.InitProducerIDResponse {
	t.Helper()
	req := kmsg.NewPtrInitProducerIDRequest()
	req.Version, req.TransactionalID, req.TransactionTimeoutMillis, req.ProducerID, req.ProducerEpoch = version, &id, timeoutMs, pid, epoch
	resp, err := req.RequestWith(ctx(t), cl)
	if err != nil {
		t.Fatalf("InitProducerId %s: %v", id, err)
	}
	return resp
}

// producer is a transactional id's producer id and epoch.
type producer struct {
	id    string
	pid   int64
	epoch int16
}

// newProducer initialises a transactional id, failing on an error.
func newProducer(t *testing.T, cl *kgo.Client, id string, timeoutMs int32) producer {
	t.Helper()
	resp := initProducer(t, cl, 4, id, timeoutMs, -1, -1)
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		t.Fatalf("InitProducerId %s: %v", id, err)
	}
	return producer{id: id, pid: resp.ProducerID, epoch: resp.ProducerEpoch}
}

func (p producer) addOffsets(t *testing.T, cl *kgo.Client, group string) int16 {
	t.Helper()
	req := kmsg.NewPtrAddOffsetsToTxnRequest()
	req.Version, req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group = 3, p.id, p.pid, p.epoch, group
	resp, err := req.RequestWith(ctx(t), cl)
	if err != nil {
		t.Fatalf("AddOffsetsToTxn: %v", err)
	}
	return resp.ErrorCode
}

func (p producer) addPartitions(t *testing.T, cl *kgo.Client, topic string, parts ...int32) map[int32]int16 {
	t.Helper()
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.Version, req.TransactionalID, req.ProducerID, req.ProducerEpoch = 3, p.id, p.pid, p.epoch
	rt := kmsg.NewAddPartitionsToTxnRequestTopic()
	rt.Topic, rt.Partitions = topic, parts
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx(t), cl)
	if err != nil {
		t.Fatalf("AddPartitionsToTxn: %v", err)
	}
	out := map[int32]int16{}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			out[rp.Partition] = rp.ErrorCode
		}
	}
	return out
}

// commitOffset sends TxnOffsetCommit of one offset (v3, KIP-447 fields
// given), answering the partition's code.
func (p producer) commitOffset(t *testing.T, cl *kgo.Client, group, topic string, offset int64, member string, generation int32) int16 {
	t.Helper()
	req := kmsg.NewPtrTxnOffsetCommitRequest()
	req.Version, req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch = 3, p.id, group, p.pid, p.epoch
	req.MemberID, req.Generation = member, generation
	rt := kmsg.NewTxnOffsetCommitRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset = 0, offset
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx(t), cl)
	if err != nil {
		t.Fatalf("TxnOffsetCommit: %v", err)
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}

func (p producer) end(t *testing.T, cl *kgo.Client, version int16, commit bool) int16 {
	t.Helper()
	req := kmsg.NewPtrEndTxnRequest()
	req.Version, req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = version, p.id, p.pid, p.epoch, commit
	resp, err := req.RequestWith(ctx(t), cl)
	if err != nil {
		t.Fatalf("EndTxn: %v", err)
	}
	return resp.ErrorCode
}

// describe returns DescribeTransactions' answer for one id.
func describe(t *testing.T, cl *kgo.Client, id string) kmsg.DescribeTransactionsResponseTransactionState {
	t.Helper()
	d, err := tryDescribe(t, cl, id)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func tryDescribe(t *testing.T, cl *kgo.Client, id string) (kmsg.DescribeTransactionsResponseTransactionState, error) {
	req := kmsg.NewPtrDescribeTransactionsRequest()
	req.TransactionalIDs = []string{id}
	resp, err := req.RequestWith(ctx(t), cl)
	if err != nil || len(resp.TransactionStates) != 1 {
		return kmsg.DescribeTransactionsResponseTransactionState{}, fmt.Errorf("DescribeTransactions %s: %v %+v", id, err, resp)
	}
	return resp.TransactionStates[0], nil
}

// awaitState waits until a transactional id is in state.
func awaitState(t *testing.T, cl *kgo.Client, id, state string, within time.Duration) kmsg.DescribeTransactionsResponseTransactionState {
	t.Helper()
	var d kmsg.DescribeTransactionsResponseTransactionState
	if err := testutil.Poll(within, func() error {
		var err error
		if d, err = tryDescribe(t, cl, id); err != nil {
			return err
		}
		if d.ErrorCode != 0 || d.State != state {
			return fmt.Errorf("transaction %s: state %q, error %d; want %s", id, d.State, d.ErrorCode, state)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return d
}

// committed reads a group's committed offset of partition 0 of topic (-1
// when none).
func committed(t *testing.T, cl *kgo.Client, group, topic string) int64 {
	t.Helper()
	offset, _ := fetchOffset(t, cl, group, topic, false)
	return offset
}

// fetchOffset is OffsetFetch of partition 0 of topic, with KIP-447's
// require_stable or not: the offset and the partition's error code.
func fetchOffset(t *testing.T, cl *kgo.Client, group, topic string, requireStable bool) (int64, int16) {
	t.Helper()
	offset, code, err := tryFetchOffset(t, cl, group, topic, requireStable)
	if err != nil {
		t.Fatal(err)
	}
	return offset, code
}

func tryFetchOffset(t *testing.T, cl *kgo.Client, group, topic string, requireStable bool) (int64, int16, error) {
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group, req.RequireStable = group, requireStable
	req.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: topic, Partitions: []int32{0}}}
	req.Groups = []kmsg.OffsetFetchRequestGroup{{Group: group, Topics: []kmsg.OffsetFetchRequestGroupTopic{{Topic: topic, Partitions: []int32{0}}}}}
	resp, err := req.RequestWith(ctx(t), cl)
	if err != nil {
		return 0, 0, fmt.Errorf("OffsetFetch %s: %w", group, err)
	}
	if resp.Version >= 8 {
		if len(resp.Groups) != 1 || resp.Groups[0].ErrorCode != 0 || len(resp.Groups[0].Topics) != 1 {
			return 0, 0, fmt.Errorf("OffsetFetch %s: %+v", group, resp)
		}
		p := resp.Groups[0].Topics[0].Partitions[0]
		return p.Offset, p.ErrorCode, nil
	}
	if resp.ErrorCode != 0 || len(resp.Topics) != 1 {
		return 0, 0, fmt.Errorf("OffsetFetch %s: %+v", group, resp)
	}
	p := resp.Topics[0].Partitions[0]
	return p.Offset, p.ErrorCode, nil
}

package kafka

import (
	"context"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/cluster"
	"github.com/longboat/longboat/internal/group"
	"github.com/longboat/longboat/internal/meta"
	"github.com/longboat/longboat/internal/quota"
)

// request_percentage (KIP-124) limits the time the broker spends handling
// a client's requests, as a percentage of one thread. Kafka counts the
// request handler thread's time, which stops where a request parks in a
// purgatory (waiting for replication, a long poll, a rebalance) or is
// forwarded to the controller. Here a request is handled by goroutines
// that block instead, so its time is its handling's wall time less the
// time it waited: for Raft commits and reads, for the group and
// transaction coordinators (whose work is mostly such waits), and for a
// Fetch's long poll. A request only carries a clock when its client has
// a request_percentage quota, so clients without one pay nothing.

// requestClock adds up the time a request spent waiting. Waits of one
// request can overlap (a Produce waits on several partitions' commits):
// the clock counts the time at least one is open.
type requestClock struct {
	mu     sync.Mutex
	open   int
	since  time.Time
	waited time.Duration
}

type clockKey struct{}

func withClock(ctx context.Context) (context.Context, *requestClock) {
	c := &requestClock{}
	return context.WithValue(ctx, clockKey{}, c), c
}

func noWait() {}

// waiting starts a wait of the request ctx belongs to and returns its end.
func waiting(ctx context.Context) func() {
	c, _ := ctx.Value(clockKey{}).(*requestClock)
	if c == nil {
		return noWait
	}
	c.mu.Lock()
	if c.open == 0 {
		c.since = time.Now()
	}
	c.open++
	c.mu.Unlock()
	return func() {
		c.mu.Lock()
		if c.open--; c.open == 0 {
			c.waited += time.Since(c.since)
		}
		c.mu.Unlock()
	}
}

func (c *requestClock) total() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.open > 0 {
		return c.waited + time.Since(c.since)
	}
	return c.waited
}

// timeRequest gives a request a clock when its client has a
// request_percentage quota and the API is not exempt: WriteTxnMarkers is
// brokers' traffic, which Kafka exempts as cluster actions.
func (s *Server) timeRequest(ctx context.Context, req *request) context.Context {
	if req.key == writeTxnMarkersKey {
		return ctx
	}
	cl := quotaClient(req)
	if _, _, ok := s.node.Meta().ClientQuotaFor(quota.RequestPercentage, cl.User, cl.ClientID); !ok {
		return ctx
	}
	ctx, req.clock = withClock(ctx)
	return ctx
}

var writeTxnMarkersKey = (&kmsg.WriteTxnMarkersRequest{}).Key()

// requestThrottle records the request's handling time, since it was read,
// against its client's request_percentage and, past the quota, mutes the
// connection for the delay, which it returns (0 within the quota or
// without one).
func (s *Server) requestThrottle(req *request) time.Duration {
	if req.clock == nil {
		return 0
	}
	busy := time.Since(req.read) - req.clock.total()
	d := s.quotas.Record(s.node.Meta(), quota.Request, quotaClient(req), max(0, busy.Seconds())*100, time.Now())
	if d > 0 {
		s.muted(req, quota.Request, d)
	}
	return d
}

// throttleResponse applies request_percentage to a response that no other
// quota shapes (Produce and Fetch combine it with their byte rates): the
// larger throttle of the two goes out.
func (s *Server) throttleResponse(req *request, resp kmsg.Response) {
	d := s.requestThrottle(req)
	if d <= 0 {
		return
	}
	if t, ok := resp.(kmsg.SetThrottleResponse); ok {
		cur, _ := resp.(kmsg.ThrottleResponse).Throttle()
		t.SetThrottle(max(cur, throttleMillis(d)))
	}
}

// waitingNode, waitingGroups and waitingTxns count the handlers' calls
// that wait on Raft or on a coordinator's Raft writes and rebalances as
// the request's waits; the coordinators' reads are counted as handling.
type waitingNode struct{ Node }

func (n waitingNode) SyncMeta(ctx context.Context) error {
	defer waiting(ctx)()
	return n.Node.SyncMeta(ctx)
}

func (n waitingNode) ProposeMeta(ctx context.Context, c meta.Command) ([]byte, error) {
	defer waiting(ctx)()
	return n.Node.ProposeMeta(ctx, c)
}

func (n waitingNode) ReadIndex(ctx context.Context, shard uint64) error {
	defer waiting(ctx)()
	return n.Node.ReadIndex(ctx, shard)
}

func (n waitingNode) AdvanceLogStart(ctx context.Context, shard uint64, offset int64) (int64, int16, error) {
	defer waiting(ctx)()
	return n.Node.AdvanceLogStart(ctx, shard, offset)
}

func (n waitingNode) ReplicaLag(ctx context.Context, shard uint64) (int64, error) {
	defer waiting(ctx)()
	return n.Node.ReplicaLag(ctx, shard)
}

func (n waitingNode) ProposeGroup(ctx context.Context, shard uint64, cmd []byte) error {
	defer waiting(ctx)()
	return n.Node.ProposeGroup(ctx, shard, cmd)
}

func (n waitingNode) NextProducerID(ctx context.Context) (int64, error) {
	defer waiting(ctx)()
	return n.Node.NextProducerID(ctx)
}

func (n waitingNode) MetaQuorum(ctx context.Context) (cluster.MetaQuorum, error) {
	defer waiting(ctx)()
	return n.Node.MetaQuorum(ctx)
}

type waitingGroups struct{ Groups }

func (g waitingGroups) JoinGroup(ctx context.Context, shard uint64, req *kmsg.JoinGroupRequest, cl group.Client, topics group.TopicMetadata) *kmsg.JoinGroupResponse {
	defer waiting(ctx)()
	return g.Groups.JoinGroup(ctx, shard, req, cl, topics)
}

func (g waitingGroups) SyncGroup(ctx context.Context, shard uint64, req *kmsg.SyncGroupRequest) *kmsg.SyncGroupResponse {
	defer waiting(ctx)()
	return g.Groups.SyncGroup(ctx, shard, req)
}

func (g waitingGroups) LeaveGroup(ctx context.Context, shard uint64, req *kmsg.LeaveGroupRequest) *kmsg.LeaveGroupResponse {
	defer waiting(ctx)()
	return g.Groups.LeaveGroup(ctx, shard, req)
}

func (g waitingGroups) OffsetCommit(ctx context.Context, shard uint64, req *kmsg.OffsetCommitRequest) *kmsg.OffsetCommitResponse {
	defer waiting(ctx)()
	return g.Groups.OffsetCommit(ctx, shard, req)
}

func (g waitingGroups) FetchOffsets(ctx context.Context, shard uint64, name string, topics map[string][]int32) (map[string]map[int32]group.OffsetRecord, int16) {
	defer waiting(ctx)()
	return g.Groups.FetchOffsets(ctx, shard, name, topics)
}

func (g waitingGroups) Delete(ctx context.Context, shard uint64, name string) int16 {
	defer waiting(ctx)()
	return g.Groups.Delete(ctx, shard, name)
}

func (g waitingGroups) DeleteOffsets(ctx context.Context, shard uint64, name string, parts map[string][]int32) (map[string]map[int32]int16, int16) {
	defer waiting(ctx)()
	return g.Groups.DeleteOffsets(ctx, shard, name, parts)
}

func (g waitingGroups) TxnOffsetCommit(ctx context.Context, shard uint64, req *kmsg.TxnOffsetCommitRequest) *kmsg.TxnOffsetCommitResponse {
	defer waiting(ctx)()
	return g.Groups.TxnOffsetCommit(ctx, shard, req)
}

func (g waitingGroups) ConsumerGroupHeartbeat(ctx context.Context, shard uint64, h group.ConsumerHeartbeat, cl group.Client, topics group.TopicMetadata) group.ConsumerHeartbeatAnswer {
	defer waiting(ctx)()
	return g.Groups.ConsumerGroupHeartbeat(ctx, shard, h, cl, topics)
}

type waitingTxns struct{ Txns }

func (t waitingTxns) InitProducerID(ctx context.Context, txnID string, timeoutMs int32, pid int64, epoch int16) (int64, int16, int16) {
	defer waiting(ctx)()
	return t.Txns.InitProducerID(ctx, txnID, timeoutMs, pid, epoch)
}

func (t waitingTxns) AddPartitions(ctx context.Context, txnID string, pid int64, epoch int16, parts map[string][]int32, verifyOnly bool) map[string]map[int32]int16 {
	defer waiting(ctx)()
	return t.Txns.AddPartitions(ctx, txnID, pid, epoch, parts, verifyOnly)
}

func (t waitingTxns) AddOffsets(ctx context.Context, txnID string, pid int64, epoch int16, group string) int16 {
	defer waiting(ctx)()
	return t.Txns.AddOffsets(ctx, txnID, pid, epoch, group)
}

func (t waitingTxns) EndTxn(ctx context.Context, txnID string, pid int64, epoch int16, commit bool) int16 {
	defer waiting(ctx)()
	return t.Txns.EndTxn(ctx, txnID, pid, epoch, commit)
}

func (t waitingTxns) VerifyOffsets(ctx context.Context, txnID string, pid int64, epoch int16, group string) int16 {
	defer waiting(ctx)()
	return t.Txns.VerifyOffsets(ctx, txnID, pid, epoch, group)
}

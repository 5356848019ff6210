package kafka

import (
	"context"
	"time"

	"github.com/lni/dragonboat/v4"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/cluster"
	"github.com/longboat/longboat/internal/group"
	"github.com/longboat/longboat/internal/meta"
	"github.com/longboat/longboat/internal/partition"
)

// Node is what the handlers use of the broker's cluster node
// (*cluster.Node): the __meta view and proposals, the partition shards'
// leadership and replicas, and the producer-id and group-shard lookups.
type Node interface {
	ID() uint64
	Meta() *meta.State
	// SyncMeta waits until the local __meta view holds everything committed
	// when it was called.
	SyncMeta(ctx context.Context) error
	ProposeMeta(ctx context.Context, c meta.Command) ([]byte, error)

	Leader(shard uint64) (leader uint64, term uint64, ok bool)
	IsLeader(shard uint64) (term uint64, leader bool)
	// ISR is a partition's in-sync replicas as its leader last knew them.
	ISR(shard uint64, replicas []uint64) []uint64
	// Partition returns the local replica of a partition shard; the
	// handlers use it only through Replica.
	Partition(shard uint64) (*partition.StateMachine, bool)
	Propose(shard uint64, cmd []byte, timeout time.Duration) (*dragonboat.RequestState, error)
	ReadIndex(ctx context.Context, shard uint64) error
	AdvanceLogStart(ctx context.Context, shard uint64, offset int64) (int64, int16, error)

	// The log directory, its volume and how far each replica lags, for
	// DescribeLogDirs.
	LogDir() (string, error)
	LogDirVolume() (total, usable int64, err error)
	ReplicaLag(ctx context.Context, shard uint64) (int64, error)
	// OfflineReplicas are the partition replicas here a storage fault took
	// offline, with the fault, by shard.
	OfflineReplicas() map[uint64]error
	// PartitionDir is where a partition shard's replica keeps its log.
	PartitionDir(shard uint64) string
	// DiskBelowFloor: the data dir's free space is under
	// --min-free-disk-bytes, and Produce to the leaders here is refused.
	DiskBelowFloor() bool
	// DownBrokers are the registered peers whose /livez does not answer.
	DownBrokers() map[uint64]bool
	TransferLeadership(shard, to uint64) error

	GroupShardFor(name string) (uint64, bool)
	// GroupStateMachine returns the local replica of a group shard, which
	// serves __consumer_offsets.
	GroupStateMachine(shard uint64) (*group.StateMachine, bool)
	GroupShardIDs() []uint64
	// ProposeGroup commits a command to a group shard (transaction markers
	// on __consumer_offsets).
	ProposeGroup(ctx context.Context, shard uint64, cmd []byte) error
	NextProducerID(ctx context.Context) (int64, error)
	// MetaQuorum is __meta's Raft group as its leader sees it.
	MetaQuorum(ctx context.Context) (cluster.MetaQuorum, error)
}

// Replica is what the handlers read of a partition's local replica
// (*partition.StateMachine).
type Replica interface {
	HighWatermark() int64
	LogStartOffset() int64
	// Appended is closed at the next append, for long-polling fetches.
	Appended() <-chan struct{}
	Read(offset int64, maxBytes int) ([]byte, error)
	// ReadBelow is Read without the batches at or past limit (the last
	// stable offset, for read_committed).
	ReadBelow(offset int64, maxBytes int, limit int64) ([]byte, error)
	LastStableOffset() int64
	// AbortedTransactions lists the aborted transactions overlapping
	// [from, upper), for a read_committed fetch.
	AbortedTransactions(from, upper int64) []partition.AbortedTxn
	OffsetForTimestamp(ts int64) (offset, timestamp int64, found bool, err error)
	MaxTimestamp() (offset, timestamp int64, found bool, err error)
	OffsetForLeaderEpoch(epoch, current int32) (int32, int64)
	ActiveProducers() []partition.ProducerState
}

// Groups is what the group APIs use of the group coordinator
// (*group.Coordinator).
type Groups interface {
	JoinGroup(ctx context.Context, shard uint64, req *kmsg.JoinGroupRequest, cl group.Client, topics group.TopicMetadata) *kmsg.JoinGroupResponse
	SyncGroup(ctx context.Context, shard uint64, req *kmsg.SyncGroupRequest) *kmsg.SyncGroupResponse
	Heartbeat(ctx context.Context, shard uint64, req *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse
	LeaveGroup(ctx context.Context, shard uint64, req *kmsg.LeaveGroupRequest) *kmsg.LeaveGroupResponse
	OffsetCommit(ctx context.Context, shard uint64, req *kmsg.OffsetCommitRequest) *kmsg.OffsetCommitResponse
	FetchOffsets(ctx context.Context, shard uint64, name string, topics map[string][]int32) (map[string]map[int32]group.OffsetRecord, int16)
	Describe(ctx context.Context, shard uint64, name string) (group.Description, int16)
	List(ctx context.Context, shards []uint64) ([]group.Listed, int16)
	Delete(ctx context.Context, shard uint64, name string) int16
	DeleteOffsets(ctx context.Context, shard uint64, name string, parts map[string][]int32) (map[string]map[int32]int16, int16)
	TxnOffsetCommit(ctx context.Context, shard uint64, req *kmsg.TxnOffsetCommitRequest) *kmsg.TxnOffsetCommitResponse
	// The KIP-848 consumer protocol.
	ConsumerGroupHeartbeat(ctx context.Context, shard uint64, h group.ConsumerHeartbeat, cl group.Client, topics group.TopicMetadata) group.ConsumerHeartbeatAnswer
	DescribeConsumerGroup(ctx context.Context, shard uint64, name string) (group.ConsumerDescription, int16)
	ValidateOffsetFetch(ctx context.Context, shard uint64, name string, memberID *string, epoch int32) int16
}

// Txns is what the transaction APIs use of the transaction coordinator
// (*txn.Coordinator). Codes are Kafka's current ones (PRODUCER_FENCED);
// the handlers translate them for older versions.
type Txns interface {
	InitProducerID(ctx context.Context, txnID string, timeoutMs int32, pid int64, epoch int16) (int64, int16, int16)
	AddPartitions(ctx context.Context, txnID string, pid int64, epoch int16, parts map[string][]int32, verifyOnly bool) map[string]map[int32]int16
	AddOffsets(ctx context.Context, txnID string, pid int64, epoch int16, group string) int16
	EndTxn(ctx context.Context, txnID string, pid int64, epoch int16, commit bool) int16
	VerifyOffsets(ctx context.Context, txnID string, pid int64, epoch int16, group string) int16
	Describe(ctx context.Context, txnID string) (group.TxnRecord, int16)
	List(ctx context.Context) ([]group.TxnRecord, int16)
}

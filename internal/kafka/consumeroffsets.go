package kafka

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"hash/crc32"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/group"
	"github.com/longboat/longboat/internal/meta"
	"github.com/longboat/longboat/internal/topicconfig"
)

// __consumer_offsets is not a topic in __meta: partition i is the i-th group
// shard (meta.State.GroupShards[i], whose Index is i), led by that shard's
// leader, and its records are what the shard's state machine holds, served
// as Kafka's log cleaner would leave the topic (see group.LogRecord).
const consumerOffsetsTopic = meta.GroupShardsTopic

// Record formats Kafka 3.x and 4.x write to __consumer_offsets: key
// versions name the record type; value versions are the ones Kafka writes
// when no expire timestamp is given.
const (
	offsetCommitKeyVersion    = 1
	groupMetadataKeyVersion   = 2
	offsetCommitValueVersion  = 3
	groupMetadataValueVersion = 3
)

// batchRecords bounds the records of one batch served from __consumer_offsets.
const batchRecords = 500

// internalTopics returns the topics the broker serves from its own state
// rather than from __meta, shaped as __meta topics so that every API
// describing topics can list them (and mark them internal).
func internalTopics(st *meta.State) []*meta.Topic {
	if len(st.GroupShards) == 0 {
		return nil
	}
	return []*meta.Topic{{
		Name:       consumerOffsetsTopic,
		ID:         consumerOffsetsID(st),
		Partitions: st.GroupShards,
		Configs:    map[string]string{topicconfig.CleanupPolicy: "compact"},
	}}
}

// consumerOffsetsID derives the topic id from the cluster id, so that every
// broker names the same one without storing it.
func consumerOffsetsID(st *meta.State) [16]byte {
	sum := sha256.Sum256([]byte(consumerOffsetsTopic + "/" + st.ClusterID))
	var id [16]byte
	copy(id[:], sum[:])
	id[6] = id[6]&0x0f | 0x40
	id[8] = id[8]&0x3f | 0x80
	return id
}

// internalTopic finds an internal topic by name or, when name is nil, id.
func internalTopic(st *meta.State, name *string, id [16]byte) (*meta.Topic, bool) {
	for _, t := range internalTopics(st) {
		if (name != nil && *name == t.Name) || (name == nil && id == t.ID) {
			return t, true
		}
	}
	return nil, false
}

// internalTopicName is the name of the internal topic with this id, or "".
func internalTopicName(st *meta.State, id [16]byte) string {
	if t, ok := internalTopic(st, nil, id); ok {
		return t.Name
	}
	return ""
}

// topicOrInternal looks a topic up in __meta, then among internal topics.
func topicOrInternal(st *meta.State, name string) (*meta.Topic, bool) {
	if t, ok := st.Topics[name]; ok {
		return t, true
	}
	return internalTopic(st, &name, [16]byte{})
}

// refuseInternalAppend answers a Produce to an internal topic as Kafka
// does; true when it did.
func refuseInternalAppend(topic string, rp *kmsg.ProduceResponseTopicPartition) bool {
	if topic != consumerOffsetsTopic {
		return false
	}
	msg := "Cannot append to internal topic " + topic
	rp.ErrorCode, rp.ErrorMessage = kerr.InvalidTopicException.Code, &msg
	return true
}

// localGroupShard resolves partition idx of __consumer_offsets to the
// group shard replica this broker must lead to serve it.
func (s *Server) localGroupShard(st *meta.State, idx int32, currentEpoch int32) (*group.StateMachine, uint64, uint64, int16) {
	if idx < 0 || int(idx) >= len(st.GroupShards) {
		return nil, 0, 0, kerr.UnknownTopicOrPartition.Code
	}
	shard := st.GroupShards[idx].ShardID
	term, leader := s.node.IsLeader(shard)
	if !leader {
		return nil, 0, 0, kerr.NotLeaderForPartition.Code
	}
	smr, ok := s.node.GroupStateMachine(shard)
	if !ok {
		return nil, 0, 0, kerr.NotLeaderForPartition.Code
	}
	if code := checkLeaderEpoch(currentEpoch, term); code != 0 {
		return nil, 0, 0, code
	}
	return smr, shard, term, 0
}

// fetchInternal serves a Fetch partition of an internal topic and adds it
// to rt, counting its bytes in total and its wake-up signal in waitOn;
// false when the topic is not internal.
func (s *Server) fetchInternal(ctx context.Context, st *meta.State, name string, body *kmsg.FetchRequest, tp kmsg.FetchRequestTopicPartition,
	budget int, total *int, waitOn *[]<-chan struct{}, rt *kmsg.FetchResponseTopic) bool {
	if name != consumerOffsetsTopic {
		return false
	}
	rp := kmsg.NewFetchResponseTopicPartition()
	rp.Partition = tp.Partition
	rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = -1, -1, -1
	rp.RecordBatches = []byte{}
	defer func() { rt.Partitions = append(rt.Partitions, rp) }()
	smr, shard, _, code := s.localGroupShard(st, tp.Partition, epochIf(body.Version >= 9, tp.CurrentLeaderEpoch))
	if code != 0 {
		rp.ErrorCode = code
		return true
	}
	signal := smr.Appended()
	if tp.FetchOffset > smr.LogEnd() && s.catchUp(ctx, shard) != nil {
		rp.ErrorCode = kerr.NotLeaderForPartition.Code
		return true
	}
	if tp.FetchOffset < 0 || tp.FetchOffset > smr.LogEnd() {
		rp.ErrorCode = kerr.OffsetOutOfRange.Code
		return true
	}
	limit := min(int(tp.PartitionMaxBytes), budget-*total)
	var end int64
	rp.RecordBatches, end = readConsumerOffsets(smr, tp.FetchOffset, limit, *total == 0)
	rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = end, end, 0
	*total += len(rp.RecordBatches)
	if len(rp.RecordBatches) == 0 {
		*waitOn = append(*waitOn, signal)
	}
	return true
}

// readConsumerOffsets encodes the partition's records from offset on, in
// batches, up to limit bytes; the first partition of a response with data
// gets at least one record (KIP-74). It returns the end offset read with.
func readConsumerOffsets(smr *group.StateMachine, offset int64, limit int, first bool) ([]byte, int64) {
	var (
		out  []byte
		recs []encodedRecord
		size int
	)
	end := smr.ReadLog(offset, func(r group.LogRecord) bool {
		e := encodeOffsetsRecord(r)
		if size+e.size() > limit && (len(recs) > 0 || !first || len(out) > 0) {
			return false
		}
		size += e.size()
		recs = append(recs, e)
		if len(recs) == batchRecords {
			out, recs = appendBatch(out, recs), recs[:0]
		}
		return true
	})
	if len(recs) > 0 {
		out = appendBatch(out, recs)
	}
	return out, end
}

// listInternalOffsets answers a ListOffsets partition of an internal topic;
// false when the topic is not internal.
func (s *Server) listInternalOffsets(ctx context.Context, st *meta.State, topic string, version int16, tp kmsg.ListOffsetsRequestTopicPartition, rt *kmsg.ListOffsetsResponseTopic) bool {
	if topic != consumerOffsetsTopic {
		return false
	}
	rp := kmsg.NewListOffsetsResponseTopicPartition()
	rp.Partition = tp.Partition
	rp.Timestamp, rp.Offset = -1, -1
	defer func() {
		if version == 0 && rp.Offset >= 0 {
			rp.OldStyleOffsets = []int64{rp.Offset}
		}
		rt.Partitions = append(rt.Partitions, rp)
	}()
	smr, shard, term, code := s.localGroupShard(st, tp.Partition, epochIf(version >= 4, tp.CurrentLeaderEpoch))
	if code == 0 && s.catchUp(ctx, shard) != nil {
		code = kerr.NotLeaderForPartition.Code
	}
	if code != 0 {
		rp.ErrorCode = code
		return true
	}
	rp.LeaderEpoch = int32(term)
	switch tp.Timestamp {
	case tsLatest:
		rp.Offset = smr.LogEnd()
	case tsEarliest, tsEarliestLocal:
		rp.Offset = 0 // compaction keeps the log start
	case tsLatestTiered:
	case tsMaxTimestamp:
		smr.ReadLog(0, func(r group.LogRecord) bool {
			if r.TimestampMs > rp.Timestamp {
				rp.Offset, rp.Timestamp = r.Offset, r.TimestampMs
			}
			return true
		})
	default:
		smr.ReadLog(0, func(r group.LogRecord) bool {
			if r.TimestampMs >= tp.Timestamp {
				rp.Offset, rp.Timestamp = r.Offset, r.TimestampMs
				return false
			}
			return true
		})
	}
	return true
}

// encodedRecord is one record in Kafka's key and value formats; a nil
// value is a tombstone.
type encodedRecord struct {
	offset, timestamp int64
	key, value        []byte
}

// size bounds the record's encoded size (varint headers at their widest).
func (e encodedRecord) size() int { return len(e.key) + len(e.value) + 32 }

func encodeOffsetsRecord(r group.LogRecord) encodedRecord {
	e := encodedRecord{offset: r.Offset, timestamp: r.TimestampMs}
	if r.Key.Offset {
		k := kmsg.OffsetCommitKey{Version: offsetCommitKeyVersion, Group: r.Key.Group, Topic: r.Key.Topic, Partition: r.Key.Partition}
		e.key = k.AppendTo(nil)
	} else {
		k := kmsg.GroupMetadataKey{Version: groupMetadataKeyVersion, Group: r.Key.Group}
		e.key = k.AppendTo(nil)
	}
	switch {
	case r.Committed != nil:
		v := kmsg.NewOffsetCommitValue()
		v.Version, v.Offset, v.LeaderEpoch = offsetCommitValueVersion, r.Committed.Offset, r.Committed.LeaderEpoch
		v.Metadata, v.CommitTimestamp = r.Committed.Metadata, r.Committed.CommitMs
		e.value = v.AppendTo(nil)
	case r.Group != nil:
		e.value = groupMetadataValue(r).AppendTo(nil)
	}
	return e
}

func groupMetadataValue(r group.LogRecord) *kmsg.GroupMetadataValue {
	g := r.Group
	v := kmsg.NewGroupMetadataValue()
	v.Version, v.ProtocolType, v.Generation, v.CurrentStateTimestamp = groupMetadataValueVersion, g.ProtocolType, g.Generation, r.TimestampMs
	// An empty group has neither protocol nor leader: Kafka writes nulls.
	if g.Protocol != "" {
		v.Protocol = &g.Protocol
	}
	if g.Leader != "" {
		v.Leader = &g.Leader
	}
	for _, m := range g.Members {
		vm := kmsg.NewGroupMetadataValueMember()
		vm.MemberID, vm.InstanceID, vm.ClientID, vm.ClientHost = m.ID, m.InstanceID, m.ClientID, m.ClientHost
		vm.RebalanceTimeoutMillis, vm.SessionTimeoutMillis = m.RebalanceTimeoutMs, m.SessionTimeoutMs
		if len(m.Protocols) > 0 {
			vm.Subscription = m.Protocols[0].Metadata
		}
		vm.Assignment = m.Assignment
		v.Members = append(v.Members, vm)
	}
	return &v
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Offsets of the v2 record batch header (KIP-98).
const (
	batchOffLeaderEpoch = 12 // the first byte Length counts
	batchOffCRC         = 17
	batchOffAttributes  = 21
	batchHeaderSize     = 61
)

// appendBatch appends one v2 record batch of recs (ascending, possibly
// sparse offsets) to dst: uncompressed, CreateTime, no producer.
func appendBatch(dst []byte, recs []encodedRecord) []byte {
	base, first := recs[0].offset, recs[0].timestamp
	maxTs := first
	var body []byte
	for _, r := range recs {
		maxTs = max(maxTs, r.timestamp)
		body = appendRecord(body, r, base, first)
	}
	b := kmsg.RecordBatch{
		FirstOffset:          base,
		Length:               int32(batchHeaderSize - batchOffLeaderEpoch + len(body)),
		PartitionLeaderEpoch: -1,
		Magic:                2,
		LastOffsetDelta:      int32(recs[len(recs)-1].offset - base),
		FirstTimestamp:       first,
		MaxTimestamp:         maxTs,
		ProducerID:           -1,
		ProducerEpoch:        -1,
		FirstSequence:        -1,
		NumRecords:           int32(len(recs)),
		Records:              body,
	}
	start := len(dst)
	dst = b.AppendTo(dst)
	batch := dst[start:]
	binary.BigEndian.PutUint32(batch[batchOffCRC:], crc32.Checksum(batch[batchOffAttributes:], castagnoli))
	return dst
}

// appendRecord appends one record: Kafka's varints are zigzag, as Go's.
func appendRecord(dst []byte, r encodedRecord, base, firstTs int64) []byte {
	var body []byte
	body = append(body, 0) // attributes
	body = binary.AppendVarint(body, r.timestamp-firstTs)
	body = binary.AppendVarint(body, r.offset-base)
	body = binary.AppendVarint(body, int64(len(r.key)))
	body = append(body, r.key...)
	if r.value == nil {
		body = binary.AppendVarint(body, -1)
	} else {
		body = binary.AppendVarint(body, int64(len(r.value)))
		body = append(body, r.value...)
	}
	body = binary.AppendVarint(body, 0) // headers
	dst = binary.AppendVarint(dst, int64(len(body)))
	return append(dst, body...)
}

package group

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TxnOffsetCommit stores a transaction's offsets for a group as pending:
// OffsetFetch does not see them until the transaction coordinator ends the
// transaction (TxnCommand End). The transaction itself (producer id, epoch,
// the group added with AddOffsetsToTxn) is checked by the caller. A member
// id or generation given (v3+, KIP-447) must be the group's current ones,
// so a zombie of an older generation cannot commit.
func (c *Coordinator) TxnOffsetCommit(ctx context.Context, shard uint64, req *kmsg.TxnOffsetCommitRequest) *kmsg.TxnOffsetCommitResponse {
	if req.Group == "" {
		return TxnOffsetCommitAnswer(req, kerr.InvalidGroupID.Code)
	}
	var generation int32
	code := c.withGroup(ctx, shard, req.Group, true, func(g *group) int16 {
		if req.Version < 3 {
			return 0 // no member fields before KIP-447
		}
		if req.InstanceID != nil {
			if m := g.memberByInstance(*req.InstanceID); m != nil && m.ID != req.MemberID {
				return kerr.FencedInstanceID.Code
			}
		}
		if req.MemberID != "" {
			if _, ok := g.members[req.MemberID]; !ok {
				return kerr.UnknownMemberID.Code
			}
		}
		if req.Generation >= 0 {
			if req.Generation != g.generation {
				return kerr.IllegalGeneration.Code
			}
			generation = g.generation
		}
		return 0
	})
	if code != 0 {
		return TxnOffsetCommitAnswer(req, code)
	}
	sm, ok := c.shards.GroupStateMachine(shard)
	if !ok {
		return TxnOffsetCommitAnswer(req, kerr.NotCoordinator.Code)
	}
	now := time.Now().UnixMilli()
	o := TxnOffsets{Ends: sm.TxnEnds(req.ProducerID) + 1, Group: req.Group, ProducerID: req.ProducerID, Epoch: req.ProducerEpoch, Offsets: map[string]map[int32]OffsetRecord{}, Generation: generation}
	tooLarge := func(p kmsg.TxnOffsetCommitRequestTopicPartition) bool {
		return p.Metadata != nil && len(*p.Metadata) > c.cfg.OffsetMetadataMaxBytes
	}
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			if tooLarge(p) {
				continue
			}
			md := ""
			if p.Metadata != nil {
				md = *p.Metadata
			}
			if o.Offsets[t.Topic] == nil {
				o.Offsets[t.Topic] = map[int32]OffsetRecord{}
			}
			o.Offsets[t.Topic][p.Partition] = OffsetRecord{Offset: p.Offset, LeaderEpoch: p.LeaderEpoch, Metadata: md, CommitMs: now}
		}
	}
	if len(o.Offsets) > 0 {
		err := c.shards.ProposeGroup(ctx, shard, Command{Txn: &TxnCommand{Offsets: &o}}.Encode())
		switch {
		case errors.Is(err, ErrFenced):
			code = kerr.IllegalGeneration.Code
		case errors.Is(err, ErrTxnEnded):
			// Retried by clients (Kafka's answer while a coordinator
			// loads), so the commit is checked again against the
			// producer's transaction as it now is.
			code = kerr.CoordinatorLoadInProgress.Code
		case err != nil:
			c.log.Warn().Err(err).Str("group", req.Group).Msg("transactional offset commit")
			code = kerr.NotCoordinator.Code
		}
	}
	return txnOffsetCommitAnswer(req, func(p kmsg.TxnOffsetCommitRequestTopicPartition) int16 {
		if tooLarge(p) {
			return kerr.OffsetMetadataTooLarge.Code
		}
		return code
	})
}

// TxnOffsetCommitAnswer answers every partition of a commit with one code.
func TxnOffsetCommitAnswer(req *kmsg.TxnOffsetCommitRequest, code int16) *kmsg.TxnOffsetCommitResponse {
	return txnOffsetCommitAnswer(req, func(kmsg.TxnOffsetCommitRequestTopicPartition) int16 { return code })
}

func txnOffsetCommitAnswer(req *kmsg.TxnOffsetCommitRequest, code func(kmsg.TxnOffsetCommitRequestTopicPartition) int16) *kmsg.TxnOffsetCommitResponse {
	resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
	for _, t := range req.Topics {
		rt := kmsg.NewTxnOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, code(p)
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

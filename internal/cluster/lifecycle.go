package cluster

import (
	"context"
	"fmt"
	"time"

	"github.com/longboat/longboat/internal/meta"
	"github.com/longboat/longboat/internal/metrics"
	"github.com/longboat/longboat/internal/partition"
	"github.com/longboat/longboat/internal/topicconfig"
)

// AdvanceLogStart commits a move of a partition's log start offset up to
// offset through the shard's Raft log, so that every replica applies the
// same one, and returns the log start offset after it or a Kafka error
// code from the state machine (OFFSET_OUT_OF_RANGE past the high
// watermark). The caller must lead the shard.
func (n *Node) AdvanceLogStart(ctx context.Context, shardID uint64, offset int64) (int64, int16, error) {
	start := time.Now()
	n.touch(shardID)
	res, err := n.nh.SyncPropose(ctx, n.nh.GetNoOPSession(shardID), partition.EncodeAdvanceStart(offset))
	if err != nil {
		return 0, 0, fmt.Errorf("advance log start of shard %d to %d: %w", shardID, offset, err)
	}
	n.metrics.ProposalDuration.WithLabelValues(metrics.GroupPartition).Observe(time.Since(start).Seconds())
	lso, code := partition.AdvanceResult(res)
	return lso, code, nil
}

// lifecycleLoop applies topic configs to the local replicas (segment.bytes,
// segment.ms) and, on the partitions this broker leads, proposes the log
// start offset that retention.ms and retention.bytes call for. Only the
// leader decides, on its own clock; the decision travels through Raft, so
// every replica deletes the same records.
func (n *Node) lifecycleLoop() {
	defer n.wg.Done()
	t := time.NewTicker(n.cfg.RetentionCheckInterval)
	defer t.Stop()
	retention := true
	applied := map[uint64]segmentsApplied{}
	for {
		changed := n.meta.Changed()
		n.applyLifecycle(retention, applied)
		select {
		case <-n.stop:
			return
		case <-t.C:
			retention = true
		case <-changed:
			// A config change takes effect on segments at once; retention
			// waits for its interval.
			retention = false
		}
	}
}

// segmentsApplied is the topic record (never modified once published: an
// AlterConfigs replaces it) whose segment settings were last applied to a
// replica.
type segmentsApplied struct {
	p     *partition.StateMachine
	topic *meta.Topic
}

// applyLifecycle runs on every __meta change, and most changes (leader
// reports above all: a thousand on a new topic of a thousand partitions)
// touch no topic config; so a replica whose topic record is the one last
// applied to it is skipped, unless this is the periodic retention pass,
// which applies everything again.
func (n *Node) applyLifecycle(retention bool, applied map[uint64]segmentsApplied) {
	if retention {
		clear(applied) // also forgets the replicas of deleted topics
	}
	st := n.Meta()
	logCfgs := map[string]topicconfig.Log{}
	for _, ref := range st.PartitionsOf(n.cfg.NodeID) {
		shard := ref.Partition.ShardID
		p, ok := n.Partition(shard)
		if !ok {
			continue
		}
		topic := st.Topics[ref.Topic]
		now := segmentsApplied{p: p, topic: topic}
		if !retention && applied[shard] == now {
			continue
		}
		cfg, ok := logCfgs[ref.Topic]
		if !ok {
			cfg = topicconfig.ForLog(topic.Configs, n.cfg.LogDefaults())
			logCfgs[ref.Topic] = cfg
		}
		if err := p.SetSegmentLimits(cfg.SegmentBytes, cfg.SegmentMs); err != nil {
			n.log.Warn().Err(err).Str("topic", ref.Topic).Int32("partition", ref.Partition.Index).Msg("apply segment settings")
		} else {
			applied[shard] = now
		}
		if _, leader := n.IsLeader(shard); !leader || !retention {
			continue
		}
		log := n.log.With().Str("topic", ref.Topic).Int32("partition", ref.Partition.Index).Logger()
		target, due, err := p.RetentionOffset(time.Now().UnixMilli(), cfg.RetentionMs, cfg.RetentionBytes)
		if err != nil {
			log.Warn().Err(err).Msg("retention check")
			continue
		}
		if !due {
			continue
		}
		before := p.LogSize()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		lso, code, err := n.AdvanceLogStart(ctx, ref.Partition.ShardID, target)
		cancel()
		if err != nil || code != 0 {
			log.Warn().Err(err).Int16("code", code).Int64("offset", target).Msg("propose retention; the next pass retries")
			continue
		}
		log.Info().Int64("log_start_offset", lso).Int64("bytes_before", before).Int64("bytes_after", p.LogSize()).Msg("retention advanced the log start offset")
	}
}

package cluster

import (
	"context"
	"maps"
	"time"

	"github.com/rs/zerolog"

	"github.com/longboat/longboat/internal/meta"
	"github.com/longboat/longboat/internal/partition"
	"github.com/longboat/longboat/internal/topicconfig"
)

// partitionReplicas returns the started local replica of a partition shard.
type partitionReplicas interface {
	partition(shardID uint64) (*partition.StateMachine, bool)
}

// lifecycle applies topic configs to the local replicas (segment.bytes,
// segment.ms) and, on the partitions this broker leads, proposes the log
// start offset that retention.ms and retention.bytes call for. Only the
// leader decides, on its own clock; the decision travels through Raft, so
// every replica deletes the same records.
type lifecycle struct {
	self     uint64
	interval time.Duration // of the retention pass
	defaults topicconfig.BrokerDefaults
	meta     metaWatch
	replicas partitionReplicas
	leaders  leadership
	advance  func(ctx context.Context, shardID uint64, offset int64) (int64, int16, error)
	log      zerolog.Logger
}

func (l *lifecycle) run(ctx context.Context) {
	t := time.NewTicker(l.interval)
	defer t.Stop()
	retention := true
	applied := map[uint64]segmentsApplied{}
	var dynamic map[string]string // the cluster's broker configs last applied
	for {
		changed := l.meta.Changed()
		if st := l.meta.State(); !maps.Equal(dynamic, st.BrokerConfigs) {
			// A topic default changed: every topic without its own value
			// may have new segment settings.
			clear(applied)
			dynamic = st.BrokerConfigs
		}
		l.apply(ctx, retention, applied)
		select {
		case <-ctx.Done():
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

// apply runs on every __meta change, and most changes (leader reports
// above all: a thousand on a new topic of a thousand partitions) touch no
// topic config; so a replica whose topic record is the one last applied to
// it is skipped, unless this is the periodic retention pass, which applies
// everything again.
func (l *lifecycle) apply(ctx context.Context, retention bool, applied map[uint64]segmentsApplied) {
	if retention {
		clear(applied) // also forgets the replicas of deleted topics
	}
	st := l.meta.State()
	logCfgs := map[string]topicconfig.Log{}
	for _, ref := range st.PartitionsOf(l.self) {
		shard := ref.Partition.ShardID
		p, ok := l.replicas.partition(shard)
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
			cfg = topicconfig.ForLog(topic.Configs, l.defaults.WithDynamic(st.BrokerConfigs))
			logCfgs[ref.Topic] = cfg
		}
		if err := p.SetSegmentLimits(cfg.SegmentBytes, cfg.SegmentMs); err != nil {
			l.log.Warn().Err(err).Str("topic", ref.Topic).Int32("partition", ref.Partition.Index).Msg("apply segment settings")
		} else {
			applied[shard] = now
		}
		if _, leader := l.leaders.isLeader(shard); !leader || !retention {
			continue
		}
		log := l.log.With().Str("topic", ref.Topic).Int32("partition", ref.Partition.Index).Logger()
		target, due, err := p.RetentionOffset(time.Now().UnixMilli(), cfg.RetentionMs, cfg.RetentionBytes)
		if err != nil {
			log.Warn().Err(err).Msg("retention check")
			continue
		}
		if !due {
			continue
		}
		before := p.LogSize()
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		lso, code, err := l.advance(pctx, ref.Partition.ShardID, target)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil || code != 0 {
			log.Warn().Err(err).Int16("code", code).Int64("offset", target).Msg("propose retention; the next pass retries")
			continue
		}
		log.Info().Int64("log_start_offset", lso).Int64("bytes_before", before).Int64("bytes_after", p.LogSize()).Msg("retention advanced the log start offset")
	}
}

package cluster

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/longboat/longboat/internal/metrics"
	"github.com/longboat/longboat/internal/partition"
	"github.com/longboat/longboat/internal/storage"
	"github.com/longboat/longboat/internal/topicconfig"
)

// cleaner compacts the local replicas of topics whose cleanup.policy has
// compact (Kafka's LogCleaner): every replica on its own, off the produce
// path, with threads workers sharing the dedupe buffer and the I/O limit.
// A pass over every compacted replica runs again at once while passes
// find work, and after backoff when none did.
type cleaner struct {
	self     uint64
	threads  int
	buffer   int64 // bytes of key map, split between the threads
	backoff  time.Duration
	throttle *storage.Throttle
	defaults topicconfig.BrokerDefaults
	meta     metaWatch
	replicas partitionReplicas
	metrics  *metrics.Cleaner
	log      zerolog.Logger

	maps []*storage.OffsetMap // one per thread, grown on demand up to buffer/threads
	seen map[[2]string]bool   // metric labels set by the last round
}

// cleanJob is one compacted replica to look at.
type cleanJob struct {
	topic string
	index int32
	p     *partition.StateMachine
	cfg   topicconfig.Log
}

func (c *cleaner) run(ctx context.Context) {
	c.maps = make([]*storage.OffsetMap, c.threads)
	for i := range c.maps {
		c.maps[i] = storage.NewOffsetMap(c.buffer / int64(c.threads))
	}
	c.seen = map[[2]string]bool{}
	for {
		cleaned := c.round(ctx)
		wait := c.backoff
		if cleaned {
			wait = 0
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// round looks at every compacted replica once and reports whether any
// pass rewrote segments.
func (c *cleaner) round(ctx context.Context) bool {
	jobs := c.jobs()
	ch := make(chan cleanJob)
	var mu sync.Mutex
	cleaned := false
	var wg sync.WaitGroup
	for i := 0; i < c.threads; i++ {
		wg.Add(1)
		go func(m *storage.OffsetMap) {
			defer wg.Done()
			for j := range ch {
				if c.clean(ctx, j, m) {
					mu.Lock()
					cleaned = true
					mu.Unlock()
				}
			}
		}(c.maps[i])
	}
	labels := map[[2]string]bool{}
	for _, j := range jobs {
		labels[[2]string{j.topic, strconv.Itoa(int(j.index))}] = true
		select {
		case ch <- j:
		case <-ctx.Done():
		}
	}
	close(ch)
	wg.Wait()
	// Forget the replicas that went (topic deleted, replica moved away).
	for l := range c.seen {
		if !labels[l] {
			c.metrics.DirtyRatio.DeleteLabelValues(l[0], l[1])
			c.metrics.LastClean.DeleteLabelValues(l[0], l[1])
		}
	}
	c.seen = labels
	return cleaned && ctx.Err() == nil
}

// jobs lists this broker's replicas of compacted topics.
func (c *cleaner) jobs() []cleanJob {
	st := c.meta.State()
	cfgs := map[string]topicconfig.Log{}
	var out []cleanJob
	for _, ref := range st.PartitionsOf(c.self) {
		topic, ok := st.Topics[ref.Topic]
		if !ok {
			continue
		}
		cfg, ok := cfgs[ref.Topic]
		if !ok {
			cfg = topicconfig.ForLog(topic.Configs, c.defaults.WithDynamic(st.BrokerConfigs))
			cfgs[ref.Topic] = cfg
		}
		if !cfg.Compact {
			continue
		}
		p, ok := c.replicas.partition(ref.Partition.ShardID)
		if !ok {
			continue
		}
		out = append(out, cleanJob{topic: ref.Topic, index: ref.Partition.Index, p: p, cfg: cfg})
	}
	return out
}

// clean runs one pass over a replica and reports whether it rewrote segments.
func (c *cleaner) clean(ctx context.Context, j cleanJob, m *storage.OffsetMap) bool {
	part := strconv.Itoa(int(j.index))
	start := time.Now()
	res, err := j.p.Clean(ctx, storage.CleanConfig{
		NowMs:              start.UnixMilli(),
		MinCleanableRatio:  j.cfg.MinCleanableRatio,
		MinCompactionLagMs: j.cfg.MinCompactionLagMs,
		MaxCompactionLagMs: j.cfg.MaxCompactionLagMs,
		DeleteRetentionMs:  j.cfg.DeleteRetentionMs,
		SegmentBytes:       j.cfg.SegmentBytes,
	}, m, c.throttle)
	log := c.log.With().Str("topic", j.topic).Int32("partition", j.index).Logger()
	if err != nil {
		if ctx.Err() == nil {
			c.metrics.Errors.Inc()
			log.Warn().Err(err).Msg("log cleaner pass failed; the next pass starts over")
		}
		return false
	}
	if !res.Cleaned {
		c.metrics.DirtyRatio.WithLabelValues(j.topic, part).Set(res.DirtyRatio)
		return false
	}
	c.metrics.Runs.Inc()
	c.metrics.BytesCleaned.Add(float64(res.BytesBefore))
	c.metrics.BytesFreed.Add(float64(res.BytesBefore - res.BytesAfter))
	c.metrics.DirtyRatio.WithLabelValues(j.topic, part).Set(0)
	c.metrics.LastClean.WithLabelValues(j.topic, part).Set(float64(time.Now().UnixNano()) / 1e9)
	elapsed := time.Since(start)
	log.Info().Float64("dirty_ratio", res.DirtyRatio).Int64("cleaned_to", res.CleanedTo).
		Int64("bytes_before", res.BytesBefore).Int64("bytes_after", res.BytesAfter).
		Int64("records_removed", res.RecordsRemoved).Dur("took", elapsed).
		Float64("mb_per_s", float64(res.BytesRead)/1e6/max(elapsed.Seconds(), 1e-9)).Msg("log cleaner pass")
	return true
}

package metrics

import "github.com/prometheus/client_golang/prometheus"

// Cleaner is the log cleaner's instruments, updated by its passes over
// the local replicas of compacted topics.
type Cleaner struct {
	Runs         prometheus.Counter
	Errors       prometheus.Counter
	BytesCleaned prometheus.Counter
	BytesFreed   prometheus.Counter
	DirtyRatio   *prometheus.GaugeVec // topic, partition
	LastClean    *prometheus.GaugeVec // topic, partition
}

// RegisterCleaner adds the log cleaner's metrics.
func (m *Metrics) RegisterCleaner() *Cleaner {
	tp := []string{"topic", "partition"}
	c := &Cleaner{
		Runs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "longboat_log_cleaner_runs_total",
			Help: "Cleaning passes that rewrote segments of a compacted partition replica.",
		}),
		Errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "longboat_log_cleaner_errors_total",
			Help: "Cleaning passes that failed (the next pass starts over; a log that changed under a pass counts too).",
		}),
		BytesCleaned: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "longboat_log_cleaner_bytes_cleaned_total",
			Help: "Bytes of segments the cleaner rewrote (their size before cleaning).",
		}),
		BytesFreed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "longboat_log_cleaner_bytes_freed_total",
			Help: "Bytes the cleaner removed: rewritten segments' size before minus after.",
		}),
		DirtyRatio: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "longboat_log_cleaner_dirty_ratio",
			Help: "Share of a compacted replica's cleanable bytes not yet cleaned, as of the cleaner's last look (0 right after a pass).",
		}, tp),
		LastClean: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "longboat_log_cleaner_last_clean_timestamp_seconds",
			Help: "Unix time of the last cleaning pass that rewrote a compacted replica (time() minus this is the time since); unset until the first.",
		}, tp),
	}
	m.Registry.MustRegister(c.Runs, c.Errors, c.BytesCleaned, c.BytesFreed, c.DirtyRatio, c.LastClean)
	return c
}

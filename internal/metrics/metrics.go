// Package metrics defines the broker's Prometheus metrics. Counters and
// histograms are updated on the request path; gauges describing cluster
// state are computed at scrape time from a Source.
package metrics

import (
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics is one broker's registry and its request-path instruments.
type Metrics struct {
	Registry *prometheus.Registry

	Requests         *prometheus.CounterVec   // api, error
	RequestDuration  *prometheus.HistogramVec // api
	BytesIn          *prometheus.CounterVec   // topic
	BytesOut         *prometheus.CounterVec   // topic
	RecordsProduced  *prometheus.CounterVec   // topic
	RecordsFetched   *prometheus.CounterVec   // topic
	ProposalDuration *prometheus.HistogramVec // group_kind
	StorageErrors    *prometheus.CounterVec   // topic, partition
	ProduceStage     *prometheus.HistogramVec // stage
	RaftLogFsync     prometheus.Histogram

	stages map[string]prometheus.Observer // ProduceStage's children by stage
}

// Produce stages label longboat_produce_stage_seconds, in the order a
// request goes through them.
const (
	StageDecode   = "decode"
	StageValidate = "validate"
	StagePropose  = "propose"
	StageCommit   = "commit"
	StageApply    = "apply"
	StageRespond  = "respond"
	StageWrite    = "write"
)

// Stage is ProduceStage's histogram of one stage. A request observes
// several stages per partition; a label lookup each (hashing the value,
// a lock) cost more than the observations themselves.
func (m *Metrics) Stage(name string) prometheus.Observer {
	if o, ok := m.stages[name]; ok {
		return o
	}
	return m.ProduceStage.WithLabelValues(name)
}

// stageBuckets resolve the sub-millisecond stages as well as the waits.
var stageBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}

// Group kinds label Raft metrics: the __meta shard or a partition shard.
const (
	GroupMeta      = "meta"
	GroupPartition = "partition"
)

// New builds the registry with the Go runtime and process collectors.
func New(version string) *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "longboat_kafka_requests_total",
			Help: "Kafka requests handled, by API and top-level error code name (NONE when the request or every partition in it succeeded).",
		}, []string{"api", "error"}),
		RequestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "longboat_kafka_request_duration_seconds",
			Help:    "Time from a request's arrival to its response being ready, by API (long-poll waits included).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"api"}),
		BytesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "longboat_kafka_bytes_in_total",
			Help: "Record-batch bytes accepted by Produce, by topic.",
		}, []string{"topic"}),
		BytesOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "longboat_kafka_bytes_out_total",
			Help: "Record-batch bytes returned by Fetch, by topic.",
		}, []string{"topic"}),
		RecordsProduced: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "longboat_kafka_records_produced_total",
			Help: "Records committed through Produce, by topic.",
		}, []string{"topic"}),
		RecordsFetched: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "longboat_kafka_records_fetched_total",
			Help: "Records returned by Fetch (whole batches), by topic.",
		}, []string{"topic"}),
		ProposalDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "longboat_raft_proposal_duration_seconds",
			Help:    "Time from proposing a Raft entry to its commit and apply, by group kind.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"group_kind"}),
		StorageErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "longboat_storage_errors_total",
			Help: "Storage faults (I/O errors, a full disk, a corrupt log) that took this broker's replica of a partition offline, by topic and partition.",
		}, []string{"topic", "partition"}),
		ProduceStage: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "longboat_produce_stage_seconds",
			Help: "Time a Produce request spends in each stage on the broker it reached, by stage: decode (frame read to handler start), " +
				"validate (record checks and recompression, per partition), propose (handing the entry to Raft, per partition), " +
				"commit (Raft replication, log fsync on a quorum and apply on this leader, per partition), apply (one batch of committed entries written to a partition log, on every replica; part of commit on the leader), respond (last result to response encoded), " +
				"write (response encoded to written, after the connection's earlier responses).",
			Buckets: stageBuckets,
		}, []string{"stage"}),
		RaftLogFsync: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "longboat_raft_log_fsync_seconds",
			Help:    "Duration of each fsync of the Raft log (tan log store only), which a proposal waits for on the leader and on each follower before it commits.",
			Buckets: stageBuckets,
		}),
	}
	m.stages = map[string]prometheus.Observer{}
	for _, st := range []string{StageDecode, StageValidate, StagePropose, StageCommit, StageApply, StageRespond, StageWrite} {
		m.stages[st] = m.ProduceStage.WithLabelValues(st)
	}
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "longboat_build_info",
		Help:        "Always 1; labels name the build.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()},
	})
	build.Set(1)
	m.Registry.MustRegister(m.Requests, m.RequestDuration, m.BytesIn, m.BytesOut, m.RecordsProduced,
		m.RecordsFetched, m.ProposalDuration, m.StorageErrors, m.ProduceStage, m.RaftLogFsync, build,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

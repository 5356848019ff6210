package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// PartitionState is one hosted partition replica at scrape time.
type PartitionState struct {
	Topic         string
	Partition     int32
	Leader        bool  // this broker leads it
	HighWatermark int64 // reported by the leader only
	LogSizeBytes  int64
	// UnderReplicated: led here with an ISR smaller than the replica set.
	UnderReplicated bool
}

// State is what the broker knows about the cluster at scrape time.
type State struct {
	Ready             bool
	MetaLeader        bool // this broker leads __meta
	ClusterPartitions int  // partitions in __meta (reported by the __meta leader)
	OfflinePartitions int  // partitions with no live leader (reported by the __meta leader)
	OfflineReplicas   int  // replicas here a storage fault took offline
	// DiskFreeBytes is what an unprivileged writer may still use on the data
	// dir's file system; DiskBelowFloor: under --min-free-disk-bytes, so
	// Produce to the leaders here is refused.
	DiskFreeBytes  int64
	DiskBelowFloor bool
	// RaftRefusedForDisk counts the Raft messages and snapshot chunks for
	// partition replicas here that were dropped because free space was short.
	RaftRefusedForDisk int64
	Partitions         []PartitionState
	Connections        map[string]int64 // by listener
	LeaderChanges      map[string]int64 // by group kind, since start
	MaxTerm            map[string]uint64
	// GroupLags are reported by each group's coordinator only.
	GroupLags []GroupLag
}

// GroupLag is one consumer group's lag on one partition: the high
// watermark minus the committed offset.
type GroupLag struct {
	Group, Topic string
	Partition    int32
	Lag          int64
}

// Source gives the scrape-time state.
type Source interface {
	MetricsState() State
}

type stateCollector struct {
	src Source

	ready, metaLeader, clusterParts, offline, replicas, leaders, underRep *prometheus.Desc
	offlineReplicas, diskFree, diskLow, diskRefused                       *prometheus.Desc
	hw, logSize, conns, leaderChanges, maxTerm, groupLag                  *prometheus.Desc
}

// RegisterState adds the scrape-time cluster gauges.
func (m *Metrics) RegisterState(src Source) {
	tp := []string{"topic", "partition"}
	m.Registry.MustRegister(&stateCollector{
		src:             src,
		ready:           prometheus.NewDesc("longboat_ready", "1 when /readyz would answer 200.", nil, nil),
		metaLeader:      prometheus.NewDesc("longboat_raft_meta_is_leader", "1 when this broker leads the __meta shard.", nil, nil),
		clusterParts:    prometheus.NewDesc("longboat_cluster_partitions", "Partitions in the cluster; reported by the __meta leader only.", nil, nil),
		offline:         prometheus.NewDesc("longboat_offline_partitions", "Partitions with no live leader; reported by the __meta leader only.", nil, nil),
		replicas:        prometheus.NewDesc("longboat_partition_replicas", "Partition replicas hosted by this broker.", nil, nil),
		leaders:         prometheus.NewDesc("longboat_partition_leaders", "Partitions this broker leads.", nil, nil),
		underRep:        prometheus.NewDesc("longboat_under_replicated_partitions", "Partitions led here whose ISR is smaller than their replica set: a follower has not caught up within --replica-lag-time-max, or its broker stopped answering.", nil, nil),
		hw:              prometheus.NewDesc("longboat_partition_high_watermark", "High watermark (next offset) of partitions led here.", tp, nil),
		logSize:         prometheus.NewDesc("longboat_log_size_bytes", "Bytes of this broker's replica of each partition's log.", tp, nil),
		conns:           prometheus.NewDesc("longboat_connections", "Open Kafka connections by listener.", []string{"listener"}, nil),
		leaderChanges:   prometheus.NewDesc("longboat_raft_leadership_changes_total", "Leadership changes this broker observed (a new leader elected or transferred to), by group kind.", []string{"group_kind"}, nil),
		maxTerm:         prometheus.NewDesc("longboat_raft_max_term", "Highest Raft term among the shards this broker hosts, by group kind.", []string{"group_kind"}, nil),
		offlineReplicas: prometheus.NewDesc("longboat_offline_replicas", "Partition replicas on this broker that a storage fault took offline; each is retried until it opens again.", nil, nil),
		diskFree:        prometheus.NewDesc("longboat_disk_free_bytes", "Bytes still usable on the data directory's file system.", nil, nil),
		diskLow:         prometheus.NewDesc("longboat_disk_below_floor", "1 while free space is under --min-free-disk-bytes: Produce to the leaders here answers KAFKA_STORAGE_ERROR.", nil, nil),
		diskRefused:     prometheus.NewDesc("longboat_raft_messages_refused_for_disk_total", "Raft entries, snapshots and snapshot chunks for partition replicas here that were dropped because free space was under half of --min-free-disk-bytes (entries) or under it (snapshots): those replicas fall behind and catch up once space returns.", nil, nil),
		groupLag:        prometheus.NewDesc("longboat_consumer_group_lag", "Records between a group's committed offset and the partition's high watermark; exported by the group's coordinator.", []string{"group", "topic", "partition"}, nil),
	})
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.ready, c.metaLeader, c.clusterParts, c.offline, c.replicas, c.leaders, c.underRep, c.hw, c.logSize, c.conns, c.leaderChanges, c.maxTerm, c.groupLag, c.offlineReplicas, c.diskFree, c.diskLow, c.diskRefused} {
		ch <- d
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.src.MetricsState()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(c.ready, b2f(st.Ready))
	gauge(c.metaLeader, b2f(st.MetaLeader))
	if st.MetaLeader {
		gauge(c.clusterParts, float64(st.ClusterPartitions))
		gauge(c.offline, float64(st.OfflinePartitions))
	}
	led, under := 0, 0
	for _, p := range st.Partitions {
		part := strconv.Itoa(int(p.Partition))
		if p.Leader {
			led++
			gauge(c.hw, float64(p.HighWatermark), p.Topic, part)
		}
		if p.UnderReplicated {
			under++
		}
		gauge(c.logSize, float64(p.LogSizeBytes), p.Topic, part)
	}
	gauge(c.replicas, float64(len(st.Partitions)))
	gauge(c.offlineReplicas, float64(st.OfflineReplicas))
	gauge(c.diskFree, float64(st.DiskFreeBytes))
	gauge(c.diskLow, b2f(st.DiskBelowFloor))
	ch <- prometheus.MustNewConstMetric(c.diskRefused, prometheus.CounterValue, float64(st.RaftRefusedForDisk))
	gauge(c.leaders, float64(led))
	gauge(c.underRep, float64(under))
	for l, n := range st.Connections {
		gauge(c.conns, float64(n), l)
	}
	for kind, n := range st.LeaderChanges {
		ch <- prometheus.MustNewConstMetric(c.leaderChanges, prometheus.CounterValue, float64(n), kind)
	}
	for kind, t := range st.MaxTerm {
		gauge(c.maxTerm, float64(t), kind)
	}
	for _, l := range st.GroupLags {
		gauge(c.groupLag, float64(l.Lag), l.Group, l.Topic, strconv.Itoa(int(l.Partition)))
	}
}

package console

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

type brokerRow struct {
	ID         int32
	Address    string
	Rack       string
	MetaLeader bool
	This       bool
	Down       bool
	Leaders    int
	Replicas   int
}

type partitionHealth struct {
	Topic     string
	Partition int32
	Leader    int32
	Replicas  []int32
	ISR       []int32
}

type overviewData struct {
	ClusterID       string
	MetaLeader      int32
	Ready           bool
	Brokers         []brokerRow
	Topics          int
	Partitions      int
	UnderReplicated []partitionHealth
	Offline         []partitionHealth
	Rate            rate
}

// overview is the cluster at a glance, with the same counts and the same
// under-replicated rule as `longboat cluster status`.
func (c *Console) overview(ctx context.Context, _ *http.Request) (string, any, error) {
	md, err := c.adm.Metadata(ctx)
	if err != nil {
		return "", nil, fmt.Errorf("metadata: %w", err)
	}
	down := c.cfg.Local.DownBrokers()
	d := overviewData{ClusterID: md.Cluster, MetaLeader: md.Controller, Ready: c.cfg.Local.Ready(), Rate: lastRate(c.samples.all())}
	byID := map[int32]*brokerRow{}
	for _, b := range md.Brokers {
		r := brokerRow{ID: b.NodeID, Address: fmt.Sprintf("%s:%d", b.Host, b.Port), MetaLeader: b.NodeID == md.Controller,
			This: b.NodeID == c.cfg.Local.NodeID(), Down: down[uint64(b.NodeID)]}
		if b.Rack != nil {
			r.Rack = *b.Rack
		}
		d.Brokers = append(d.Brokers, r)
	}
	sort.Slice(d.Brokers, func(i, j int) bool { return d.Brokers[i].ID < d.Brokers[j].ID })
	for i := range d.Brokers {
		byID[d.Brokers[i].ID] = &d.Brokers[i]
	}
	for _, td := range md.Topics.Sorted() {
		d.Topics++
		for _, pd := range td.Partitions.Sorted() {
			d.Partitions++
			if b := byID[pd.Leader]; b != nil {
				b.Leaders++
			}
			for _, r := range pd.Replicas {
				if b := byID[r]; b != nil {
					b.Replicas++
				}
			}
			h := partitionHealth{Topic: td.Topic, Partition: pd.Partition, Leader: pd.Leader, Replicas: pd.Replicas, ISR: pd.ISR}
			switch {
			case pd.Leader < 0:
				d.Offline = append(d.Offline, h)
			case len(pd.ISR) < len(pd.Replicas) || anyDown(pd.Replicas, down):
				d.UnderReplicated = append(d.UnderReplicated, h)
			}
		}
	}
	return "Cluster", d, nil
}

func anyDown(replicas []int32, down map[uint64]bool) bool {
	for _, r := range replicas {
		if down[uint64(r)] {
			return true
		}
	}
	return false
}

type topicRow struct {
	Topic             string
	Internal          bool
	Partitions        int
	ReplicationFactor int
	UnderReplicated   int
	Offline           int
	Records           int64 // sum over partitions of log end - log start
	SizeHere          int64
	HostedHere        int
}

// topics lists every topic with the counts `longboat topics list` prints,
// plus its health and its size on this broker.
func (c *Console) topics(ctx context.Context, _ *http.Request) (string, any, error) {
	tds, err := c.adm.ListTopics(ctx)
	if err != nil {
		return "", nil, fmt.Errorf("list topics: %w", err)
	}
	starts, ends, err := c.offsets(ctx, tds.TopicsSet())
	if err != nil {
		return "", nil, err
	}
	down := c.cfg.Local.DownBrokers()
	rows := []topicRow{}
	for _, td := range tds.Sorted() {
		r := topicRow{Topic: td.Topic, Internal: td.IsInternal, Partitions: len(td.Partitions), ReplicationFactor: td.Partitions.NumReplicas()}
		for _, pd := range td.Partitions {
			switch {
			case pd.Leader < 0:
				r.Offline++
			case len(pd.ISR) < len(pd.Replicas) || anyDown(pd.Replicas, down):
				r.UnderReplicated++
			}
			s, sok := starts.Lookup(td.Topic, pd.Partition)
			e, eok := ends.Lookup(td.Topic, pd.Partition)
			if sok && eok && s.Err == nil && e.Err == nil {
				r.Records += e.Offset - s.Offset
			}
			if n, ok := c.cfg.Local.LogSize(td.Topic, pd.Partition); ok {
				r.SizeHere += n
				r.HostedHere++
			}
		}
		rows = append(rows, r)
	}
	return "Topics", rows, nil
}

type partitionRow struct {
	Partition int32
	Leader    int32
	Epoch     int32
	Replicas  []int32
	ISR       []int32
	LogStart  int64
	LogEnd    int64
	Size      int64
	Hosted    bool
	Error     string
}

type configRow struct {
	Name, Value, Source string
	Sensitive, Set      bool
}

type topicData struct {
	Topic      string
	ID         string
	Partitions []partitionRow
	Configs    []configRow
}

// topic is one topic's partitions (the columns of `longboat topics
// describe`) and every config with its source.
func (c *Console) topic(ctx context.Context, r *http.Request) (string, any, error) {
	name := r.PathValue("topic")
	tds, err := c.adm.ListTopics(ctx, name)
	if err != nil {
		return "", nil, fmt.Errorf("describe topic: %w", err)
	}
	td, ok := tds[name]
	if !ok || td.Err != nil {
		return "", nil, notFound("topic %q: %v", name, firstErr(td.Err, "no such topic"))
	}
	starts, ends, err := c.offsets(ctx, tds.TopicsSet())
	if err != nil {
		return "", nil, err
	}
	d := topicData{Topic: name, ID: td.ID.String()}
	for _, pd := range td.Partitions.Sorted() {
		p := partitionRow{Partition: pd.Partition, Leader: pd.Leader, Epoch: pd.LeaderEpoch, Replicas: pd.Replicas, ISR: pd.ISR, LogStart: -1, LogEnd: -1}
		if o, ok := starts.Lookup(name, pd.Partition); ok && o.Err == nil {
			p.LogStart = o.Offset
		}
		if o, ok := ends.Lookup(name, pd.Partition); ok && o.Err == nil {
			p.LogEnd = o.Offset
		}
		p.Size, p.Hosted = c.cfg.Local.LogSize(name, pd.Partition)
		if pd.Err != nil {
			p.Error = pd.Err.Error()
		}
		d.Partitions = append(d.Partitions, p)
	}
	rcs, err := c.adm.DescribeTopicConfigs(ctx, name)
	if err != nil {
		return "", nil, fmt.Errorf("describe configs: %w", err)
	}
	for _, rc := range rcs {
		if rc.Err != nil {
			return "", nil, fmt.Errorf("describe configs: %w", rc.Err)
		}
		for _, cfg := range rc.Configs {
			row := configRow{Name: cfg.Key, Source: cfg.Source.String(), Sensitive: cfg.Sensitive,
				Set: cfg.Source == kmsg.ConfigSourceDynamicTopicConfig}
			if cfg.Value != nil && !cfg.Sensitive {
				row.Value = *cfg.Value
			}
			d.Configs = append(d.Configs, row)
		}
	}
	sort.Slice(d.Configs, func(i, j int) bool { return d.Configs[i].Name < d.Configs[j].Name })
	return "Topic " + name, d, nil
}

func firstErr(err error, otherwise string) string {
	if err != nil {
		return err.Error()
	}
	return otherwise
}

type groupRow struct {
	Group        string
	State        string
	ProtocolType string
	Members      int
	Coordinator  int32
	TotalLag     int64
	Error        string
}

// groups lists every group with its total lag, summed as `longboat groups
// describe` sums it.
func (c *Console) groups(ctx context.Context, _ *http.Request) (string, any, error) {
	lags, err := c.lag(ctx)
	if err != nil {
		return "", nil, err
	}
	rows := []groupRow{}
	for _, l := range lags.Sorted() {
		r := groupRow{Group: l.Group, State: l.State, ProtocolType: l.ProtocolType, Members: len(l.Members), Coordinator: l.Coordinator.NodeID}
		if e := l.Error(); e != nil {
			r.Error = e.Error()
		} else {
			r.TotalLag = totalLag(l)
		}
		rows = append(rows, r)
	}
	return "Consumer groups", rows, nil
}

func totalLag(l kadm.DescribedGroupLag) int64 {
	var n int64
	for _, ml := range l.Lag.Sorted() {
		if ml.Lag > 0 {
			n += ml.Lag
		}
	}
	return n
}

type memberRow struct {
	MemberID, InstanceID, ClientID, Host string
	Assigned                             []string
}

type lagRow struct {
	Topic     string
	Partition int32
	Committed int64
	LogEnd    int64
	Lag       int64
	Member    string
	Error     string
}

type groupData struct {
	Group        string
	State        string
	ProtocolType string
	Protocol     string
	Coordinator  int32
	Members      []memberRow
	Lags         []lagRow
	TotalLag     int64
	Chart        chart
}

// group is one group's members and its lag per partition, the rows of
// `longboat groups describe`, and a chart of its total lag.
func (c *Console) group(ctx context.Context, r *http.Request) (string, any, error) {
	name := r.PathValue("group")
	lags, err := c.lag(ctx, name)
	if err != nil {
		return "", nil, err
	}
	l, ok := lags[name]
	if !ok || (l.State == "Dead" && len(l.Lag) == 0) {
		return "", nil, notFound("group %q does not exist", name)
	}
	if e := l.Error(); e != nil {
		return "", nil, fmt.Errorf("group %q: %w", name, e)
	}
	d := groupData{Group: name, State: l.State, ProtocolType: l.ProtocolType, Protocol: l.Protocol, Coordinator: l.Coordinator.NodeID,
		TotalLag: totalLag(l)}
	// The chart ends with the lag this page shows, so it agrees with the
	// table even between samples.
	d.Chart = lagChart(append(c.samples.all(), sample{At: time.Now(), GroupLag: map[string]int64{name: d.TotalLag}}), name)
	for _, m := range l.Members {
		mr := memberRow{MemberID: m.MemberID, ClientID: m.ClientID, Host: m.ClientHost}
		if m.InstanceID != nil {
			mr.InstanceID = *m.InstanceID
		}
		if a, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range a.Topics {
				mr.Assigned = append(mr.Assigned, fmt.Sprintf("%s %v", t.Topic, t.Partitions))
			}
		}
		d.Members = append(d.Members, mr)
	}
	for _, ml := range l.Lag.Sorted() {
		row := lagRow{Topic: ml.Topic, Partition: ml.Partition, Committed: ml.Commit.At, LogEnd: ml.End.Offset, Lag: ml.Lag}
		if ml.Member != nil {
			row.Member = ml.Member.MemberID
		}
		if ml.Err != nil {
			row.Error = ml.Err.Error()
		}
		d.Lags = append(d.Lags, row)
	}
	return "Group " + name, d, nil
}

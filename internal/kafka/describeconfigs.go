package kafka

import (
	"context"
	"sort"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/topicconfig"
)

func init() { handles(1, 4, (*Server).describeConfigs) }

func (s *Server) describeConfigs(ctx context.Context, _ *request, body *kmsg.DescribeConfigsRequest) kmsg.Response {
	resp := body.ResponseKind().(*kmsg.DescribeConfigsResponse)
	st := s.linearMeta(ctx)
	for _, r := range body.Resources {
		rr := kmsg.NewDescribeConfigsResponseResource()
		rr.ResourceType, rr.ResourceName = r.ResourceType, r.ResourceName
		var entries []configEntry
		switch r.ResourceType {
		case kmsg.ConfigResourceTypeTopic:
			t, ok := topicOrInternal(st, r.ResourceName)
			if !ok {
				rr.ErrorCode = kerr.UnknownTopicOrPartition.Code
				break
			}
			for _, e := range topicconfig.Resolve(t.Configs, s.cfg.LogDefaults()) {
				entries = append(entries, configEntry{e.Name, e.Value, e.Source})
			}
		case kmsg.ConfigResourceTypeBroker:
			if r.ResourceName != "" && r.ResourceName != strconv.FormatUint(s.cfg.NodeID, 10) {
				rr.ErrorCode = kerr.InvalidRequest.Code
				msg := "describe broker configs on the broker itself"
				rr.ErrorMessage = &msg
				break
			}
			entries = s.brokerConfigs()
		default:
			rr.ErrorCode = kerr.InvalidRequest.Code
			msg := "only topic and broker configs can be described"
			rr.ErrorMessage = &msg
		}
		sort.Slice(entries, func(i, j int) bool { return entries[i].name < entries[j].name })
		want := map[string]bool{}
		for _, k := range r.ConfigNames {
			want[k] = true
		}
		for _, e := range entries {
			if r.ConfigNames != nil && !want[e.name] {
				continue
			}
			c := kmsg.NewDescribeConfigsResponseResourceConfig()
			c.Name = e.name
			v := e.value
			c.Value = &v
			c.Source = kmsg.ConfigSource(e.source)
			c.IsDefault = e.source == topicconfig.SourceDefault
			rr.Configs = append(rr.Configs, c)
		}
		resp.Resources = append(resp.Resources, rr)
	}
	return resp
}

type configEntry struct {
	name, value string
	source      int8
}

func (s *Server) brokerConfigs() []configEntry {
	b := func(v bool) string { return strconv.FormatBool(v) }
	return []configEntry{
		{"auto.create.topics.enable", b(s.cfg.AutoCreateTopics), topicconfig.SourceStaticBroker},
		{"broker.id", strconv.FormatUint(s.cfg.NodeID, 10), topicconfig.SourceStaticBroker},
		{"default.replication.factor", strconv.Itoa(s.cfg.DefaultReplicationFactor), topicconfig.SourceStaticBroker},
		{"log.retention.bytes", strconv.FormatInt(s.cfg.RetentionBytes, 10), topicconfig.SourceStaticBroker},
		{"log.retention.check.interval.ms", strconv.FormatInt(s.cfg.RetentionCheckInterval.Milliseconds(), 10), topicconfig.SourceStaticBroker},
		{"log.retention.ms", strconv.FormatInt(s.cfg.RetentionMs, 10), topicconfig.SourceStaticBroker},
		{"log.roll.ms", strconv.FormatInt(s.cfg.SegmentMs, 10), topicconfig.SourceStaticBroker},
		{"log.segment.bytes", strconv.FormatInt(s.cfg.SegmentBytes, 10), topicconfig.SourceStaticBroker},
		{"num.partitions", strconv.Itoa(s.cfg.DefaultPartitions), topicconfig.SourceStaticBroker},
		{"socket.request.max.bytes", strconv.Itoa(s.cfg.MaxRequestBytes), topicconfig.SourceStaticBroker},
	}
}

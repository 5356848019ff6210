package kafka

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/group"
	"github.com/longboat/longboat/internal/meta"
	"github.com/longboat/longboat/internal/topicconfig"
)

// Group configs (Kafka 4.0's GROUP config resource, kafka-configs.sh
// --entity-type groups) hold a consumer group's own KIP-848 session timeout
// and heartbeat interval in __meta, over the broker's
// --group-consumer-session-timeout and --group-consumer-heartbeat-interval.
// Any group name may have them, whether or not the group exists yet.

func (s *Server) groupConfigDefaults() group.ConfigDefaults {
	return group.ConfigDefaults{Heartbeat: s.cfg.GroupConsumerHeartbeat, Session: s.cfg.GroupConsumerSession}
}

// groupConfigEntries lists a group's configs for DescribeConfigs: its own
// values as GROUP_CONFIG, the broker's as DEFAULT_CONFIG, as Kafka does.
func (s *Server) groupConfigEntries(configs map[string]string) []topicconfig.Entry {
	var out []topicconfig.Entry
	for _, e := range s.groupConfigDefaults().Entries(configs) {
		source := int8(topicconfig.SourceDefault)
		if e.Set {
			source = topicconfig.SourceGroup
		}
		out = append(out, topicconfig.Entry{Name: e.Name, Value: e.Value, Source: source, Type: topicconfig.TypeInt, Doc: e.Doc})
	}
	return out
}

// alterGroupConfigs is IncrementalAlterConfigs on a group: SET and DELETE,
// validated on the configs the change would leave, then through __meta.
func (s *Server) alterGroupConfigs(ctx context.Context, r kmsg.IncrementalAlterConfigsRequestResource, validateOnly bool) (int16, string) {
	if r.ResourceName == "" {
		return kerr.InvalidRequest.Code, "a group config resource needs the group's name"
	}
	alter := &meta.AlterGroupConfigs{Group: r.ResourceName, Set: map[string]string{}}
	result := maps.Clone(s.linearMeta(ctx).GroupConfigs[r.ResourceName])
	if result == nil {
		result = map[string]string{}
	}
	seen := map[string]bool{}
	for _, c := range r.Configs {
		if seen[c.Name] {
			return kerr.InvalidRequest.Code, fmt.Sprintf("config %q given more than once", c.Name)
		}
		seen[c.Name] = true
		if !slices.Contains(group.ConfigNames(), c.Name) {
			return kerr.InvalidConfig.Code, "Unknown group config name: " + c.Name
		}
		switch c.Op {
		case kmsg.IncrementalAlterConfigOpSet:
			if c.Value == nil {
				return kerr.InvalidConfig.Code, fmt.Sprintf("config %q: SET needs a value", c.Name)
			}
			alter.Set[c.Name], result[c.Name] = *c.Value, *c.Value
		case kmsg.IncrementalAlterConfigOpDelete:
			alter.Delete = append(alter.Delete, c.Name)
			delete(result, c.Name)
		case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
			return kerr.InvalidConfig.Code, fmt.Sprintf("Can't %s to key %s because its type is not LIST.", c.Op, c.Name)
		default:
			return kerr.InvalidRequest.Code, fmt.Sprintf("config %q: unknown operation %d", c.Name, c.Op)
		}
	}
	if err := s.groupConfigDefaults().Validate(result); err != nil {
		return kerr.InvalidConfig.Code, err.Error()
	}
	if code, msg := s.commitConfigs(ctx, meta.Command{AlterGroupConfigs: alter}, validateOnly); code != 0 || validateOnly {
		return code, msg
	}
	s.log.Info().Str("group", alter.Group).Interface("set", alter.Set).Strs("deleted", alter.Delete).Msg("group configs altered")
	return 0, ""
}

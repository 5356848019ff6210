package kafka

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/acl"
	"github.com/longboat/longboat/internal/meta"
	"github.com/longboat/longboat/internal/topicconfig"
)

func init() { handles(0, 2, (*Server).alterConfigs) }

// alterConfigs (AlterConfigs, key 33) replaces a topic's own configs with
// exactly those given; the rest fall back to the defaults.
func (s *Server) alterConfigs(ctx context.Context, req *request, body *kmsg.AlterConfigsRequest) kmsg.Response {
	resp := body.ResponseKind().(*kmsg.AlterConfigsResponse)
	for _, r := range body.Resources {
		rr := kmsg.NewAlterConfigsResponseResource()
		rr.ResourceType, rr.ResourceName = r.ResourceType, r.ResourceName
		ac := &meta.AlterTopicConfigs{Topic: r.ResourceName, Set: map[string]string{}, Replace: true}
		code, msg := s.authorizeConfigs(req, acl.OpAlterConfigs, r.ResourceType, r.ResourceName), ""
		for _, c := range r.Configs {
			if code != 0 {
				break
			}
			if _, dup := ac.Set[c.Name]; dup {
				code, msg = kerr.InvalidRequest.Code, fmt.Sprintf("config %q given more than once", c.Name)
				break
			}
			if c.Value == nil {
				code, msg = kerr.InvalidConfig.Code, fmt.Sprintf("config %q has a null value", c.Name)
				break
			}
			ac.Set[c.Name] = *c.Value
		}
		if code == 0 {
			code, msg = s.applyTopicConfigs(ctx, r.ResourceType, ac, body.ValidateOnly)
		}
		rr.ErrorCode = code
		if msg != "" {
			rr.ErrorMessage = &msg
		}
		resp.Resources = append(resp.Resources, rr)
	}
	return resp
}

// applyTopicConfigs validates a config change of one resource and, unless
// validateOnly, commits it through __meta.
func (s *Server) applyTopicConfigs(ctx context.Context, kind kmsg.ConfigResourceType, ac *meta.AlterTopicConfigs, validateOnly bool) (int16, string) {
	switch kind {
	case kmsg.ConfigResourceTypeTopic:
	case kmsg.ConfigResourceTypeBroker:
		return s.applyBrokerConfigs(ctx, ac, validateOnly)
	default:
		return kerr.InvalidRequest.Code, "only topic and broker configs can be altered with AlterConfigs; group configs with IncrementalAlterConfigs"
	}
	t, ok := s.linearMeta(ctx).Topics[ac.Topic]
	if !ok {
		return kerr.UnknownTopicOrPartition.Code, fmt.Sprintf("unknown topic %q", ac.Topic)
	}
	set, err := topicconfig.Validate(ac.Set, s.cfg.LogDefaults())
	if err != nil {
		return kerr.InvalidConfig.Code, err.Error()
	}
	for _, name := range ac.Delete {
		if !topicconfig.Known(name) {
			return kerr.InvalidConfig.Code, topicconfig.UnknownError(name).Error()
		}
	}
	ac.Set = set
	if err := topicconfig.ValidateTogether(resultingConfigs(t.Configs, ac)); err != nil {
		return kerr.InvalidConfig.Code, err.Error()
	}
	if code, msg := s.commitConfigs(ctx, meta.Command{AlterTopicConfigs: ac}, validateOnly); code != 0 || validateOnly {
		return code, msg
	}
	s.log.Info().Str("topic", ac.Topic).Interface("set", ac.Set).Strs("deleted", ac.Delete).Bool("replace", ac.Replace).Msg("topic configs altered")
	return 0, ""
}

// applyBrokerConfigs changes the cluster-wide dynamic broker configs, those
// of Kafka's default broker entity (resource name ""): the broker configs
// behind topic defaults (log.retention.ms, message.max.bytes, ...), which
// then apply to every topic that sets none of its own. Per-broker values
// are refused: a partition's replicas must apply the same retention,
// compaction and limits whichever broker leads it. The other broker
// configs are longboat serve flags.
func (s *Server) applyBrokerConfigs(ctx context.Context, ac *meta.AlterTopicConfigs, validateOnly bool) (int16, string) {
	if ac.Topic != "" {
		return kerr.InvalidRequest.Code, fmt.Sprintf("broker %s: per-broker dynamic configs are not supported: topic defaults are set for the whole cluster "+
			"(resource name \"\", kafka-configs.sh --entity-default), the other broker configs are longboat serve flags", ac.Topic)
	}
	set, err := topicconfig.ValidateDynamic(ac.Set, s.cfg.LogDefaults())
	if err != nil {
		return kerr.InvalidConfig.Code, err.Error()
	}
	for _, name := range ac.Delete {
		if _, ok := topicconfig.LookupBroker(name); !ok {
			return kerr.InvalidConfig.Code, topicconfig.NotDynamicError(name).Error()
		}
	}
	alter := &meta.AlterBrokerConfigs{Set: set, Delete: ac.Delete, Replace: ac.Replace}
	if code, msg := s.commitConfigs(ctx, meta.Command{AlterBrokerConfigs: alter}, validateOnly); code != 0 || validateOnly {
		return code, msg
	}
	s.log.Info().Interface("set", set).Strs("deleted", ac.Delete).Bool("replace", ac.Replace).Msg("cluster-wide broker configs altered")
	return 0, ""
}

// commitConfigs commits a validated config change through __meta, unless
// validateOnly.
func (s *Server) commitConfigs(ctx context.Context, cmd meta.Command, validateOnly bool) (int16, string) {
	if validateOnly {
		return 0, ""
	}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := s.node.ProposeMeta(pctx, cmd); err != nil {
		return metaErrorCode(err)
	}
	return 0, ""
}

// resultingConfigs is what a topic's own configs become once ac applies.
func resultingConfigs(own map[string]string, ac *meta.AlterTopicConfigs) map[string]string {
	out := maps.Clone(ac.Set)
	if !ac.Replace {
		for name, v := range own {
			if _, set := out[name]; !set && !slices.Contains(ac.Delete, name) {
				out[name] = v
			}
		}
	}
	return out
}

package kafka

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/acl"
	"github.com/longboat/longboat/internal/meta"
	"github.com/longboat/longboat/internal/topicconfig"
)

func init() { handles(0, 1, (*Server).incrementalAlterConfigs) }

// incrementalAlterConfigs (IncrementalAlterConfigs, key 44) sets or
// deletes single topic configs or cluster-wide dynamic broker configs;
// APPEND and SUBTRACT apply to the list configs (cleanup.policy, the
// throttled replica lists).
func (s *Server) incrementalAlterConfigs(ctx context.Context, req *request, body *kmsg.IncrementalAlterConfigsRequest) kmsg.Response {
	resp := body.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	for _, r := range body.Resources {
		rr := kmsg.NewIncrementalAlterConfigsResponseResource()
		rr.ResourceType, rr.ResourceName = r.ResourceType, r.ResourceName
		code, msg := s.authorizeConfigs(req, acl.OpAlterConfigs, r.ResourceType, r.ResourceName), ""
		if code == 0 {
			code, msg = s.incrementalChange(ctx, r, body.ValidateOnly)
		}
		rr.ErrorCode = code
		if msg != "" {
			rr.ErrorMessage = &msg
		}
		resp.Resources = append(resp.Resources, rr)
	}
	return resp
}

func (s *Server) incrementalChange(ctx context.Context, r kmsg.IncrementalAlterConfigsRequestResource, validateOnly bool) (int16, string) {
	if r.ResourceType == kmsg.ConfigResourceTypeGroupConfig {
		return s.alterGroupConfigs(ctx, r, validateOnly)
	}
	ac := &meta.AlterTopicConfigs{Topic: r.ResourceName, Set: map[string]string{}}
	st := s.linearMeta(ctx)
	var entries []topicconfig.Entry
	lookup := topicconfig.Lookup
	if r.ResourceType == kmsg.ConfigResourceTypeBroker {
		entries, lookup = topicconfig.BrokerEntries(s.logDefaults(st)), topicconfig.LookupBroker
	} else if t, ok := st.Topics[r.ResourceName]; ok {
		entries = topicconfig.Resolve(t.Configs, s.logDefaults(st))
	}
	current := map[string]string{}
	for _, e := range entries {
		current[e.Name] = e.Value
	}
	seen := map[string]bool{}
	for _, c := range r.Configs {
		if seen[c.Name] {
			return kerr.InvalidRequest.Code, fmt.Sprintf("config %q given more than once", c.Name)
		}
		seen[c.Name] = true
		value := ""
		if c.Value != nil {
			value = *c.Value
		}
		switch c.Op {
		case kmsg.IncrementalAlterConfigOpSet:
			if c.Value == nil {
				return kerr.InvalidConfig.Code, fmt.Sprintf("config %q: SET needs a value", c.Name)
			}
			ac.Set[c.Name] = value
		case kmsg.IncrementalAlterConfigOpDelete:
			ac.Delete = append(ac.Delete, c.Name)
		case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
			d, ok := lookup(c.Name)
			if !ok {
				return kerr.InvalidConfig.Code, topicconfig.UnknownError(c.Name).Error()
			}
			if d.Type != topicconfig.TypeList {
				return kerr.InvalidConfig.Code, fmt.Sprintf("Can't %s to key %s because its type is not LIST.", c.Op, c.Name)
			}
			ac.Set[c.Name] = editList(current[c.Name], value, c.Op == kmsg.IncrementalAlterConfigOpAppend)
		default:
			return kerr.InvalidRequest.Code, fmt.Sprintf("config %q: unknown operation %d", c.Name, c.Op)
		}
	}
	return s.applyTopicConfigs(ctx, r.ResourceType, ac, validateOnly)
}

// editList appends the comma-separated items of change to list, or removes
// them from it.
func editList(list, change string, add bool) string {
	var items []string
	for _, it := range strings.Split(list, ",") {
		if it = strings.TrimSpace(it); it != "" {
			items = append(items, it)
		}
	}
	for _, it := range strings.Split(change, ",") {
		it = strings.TrimSpace(it)
		switch {
		case it == "":
		case add && !slices.Contains(items, it):
			items = append(items, it)
		case !add:
			items = slices.DeleteFunc(items, func(x string) bool { return x == it })
		}
	}
	return strings.Join(items, ",")
}

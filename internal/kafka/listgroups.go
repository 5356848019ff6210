package kafka

import (
	"context"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/acl"
)

func init() { handles(0, 5, (*Server).listGroups) }

// listGroups lists the groups this broker coordinates (clients ask every
// broker), filtered by state (v4+) and type (v5+: classic or consumer).
func (s *Server) listGroups(ctx context.Context, req *request, body *kmsg.ListGroupsRequest) kmsg.Response {
	resp := body.ResponseKind().(*kmsg.ListGroupsResponse)
	states := map[string]bool{}
	for _, st := range body.StatesFilter {
		states[strings.ToLower(st)] = true
	}
	types := map[string]bool{}
	for _, t := range body.TypesFilter {
		types[strings.ToLower(t)] = true
	}
	shards := s.node.GroupShardIDs()
	if len(shards) == 0 {
		// The group shards are not created yet: as Kafka's coordinator
		// before it is active, say so (retriable) rather than list nothing.
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp
	}
	// DESCRIBE on the cluster lists every group; otherwise only the groups
	// the principal may describe, as Kafka.
	everyGroup := s.authorizeCluster(req, acl.OpDescribe)
	groups, code := s.groups.List(ctx, shards)
	if code != 0 {
		resp.ErrorCode = code
		return resp
	}
	for _, g := range groups {
		if !everyGroup && !s.authorizeGroup(req, acl.OpDescribe, g.Name) {
			continue
		}
		if len(states) > 0 && !states[strings.ToLower(g.State)] {
			continue
		}
		if len(types) > 0 && !types[g.Type] {
			continue
		}
		lg := kmsg.NewListGroupsResponseGroup()
		lg.Group, lg.ProtocolType, lg.GroupState, lg.GroupType = g.Name, g.ProtocolType, g.State, g.Type
		resp.Groups = append(resp.Groups, lg)
	}
	return resp
}

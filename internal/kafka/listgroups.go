package kafka

import (
	"context"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// listGroups lists the groups this broker coordinates (clients ask every
// broker), filtered by state (v4+) and type (v5+: all are classic).
func (s *Server) listGroups(ctx context.Context, body *kmsg.ListGroupsRequest) kmsg.Response {
	resp := body.ResponseKind().(*kmsg.ListGroupsResponse)
	states := map[string]bool{}
	for _, st := range body.StatesFilter {
		states[strings.ToLower(st)] = true
	}
	types := map[string]bool{}
	for _, t := range body.TypesFilter {
		types[strings.ToLower(t)] = true
	}
	if len(types) > 0 && !types["classic"] {
		return resp
	}
	for _, g := range s.groups.List(ctx, s.node.GroupShardIDs()) {
		if len(states) > 0 && !states[strings.ToLower(g.State)] {
			continue
		}
		lg := kmsg.NewListGroupsResponseGroup()
		lg.Group, lg.ProtocolType, lg.GroupState, lg.GroupType = g.Name, g.ProtocolType, g.State, "classic"
		resp.Groups = append(resp.Groups, lg)
	}
	return resp
}

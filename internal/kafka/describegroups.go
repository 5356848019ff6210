package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func (s *Server) describeGroups(ctx context.Context, body *kmsg.DescribeGroupsRequest) kmsg.Response {
	resp := body.ResponseKind().(*kmsg.DescribeGroupsResponse)
	for _, name := range body.Groups {
		g := kmsg.NewDescribeGroupsResponseGroup()
		g.Group = name
		g.AuthorizedOperations = -2147483648
		shard, code := s.groupShard(name)
		if code == 0 {
			d, c := s.groups.Describe(ctx, shard, name)
			code = c
			g.State, g.ProtocolType, g.Protocol = d.State, d.ProtocolType, d.Protocol
			for _, m := range d.Members {
				gm := kmsg.NewDescribeGroupsResponseGroupMember()
				gm.MemberID, gm.InstanceID, gm.ClientID, gm.ClientHost = m.ID, m.InstanceID, m.ClientID, m.ClientHost
				gm.MemberAssignment = m.Assignment
				if len(m.Protocols) > 0 {
					gm.ProtocolMetadata = m.Protocols[0].Metadata
				}
				g.Members = append(g.Members, gm)
			}
		}
		g.ErrorCode = code
		resp.Groups = append(resp.Groups, g)
	}
	return resp
}

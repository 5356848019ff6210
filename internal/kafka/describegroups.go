package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/acl"
	"github.com/longboat/longboat/internal/group"
)

func init() { handles(0, 6, (*Server).describeGroups) }

func (s *Server) describeGroups(ctx context.Context, req *request, body *kmsg.DescribeGroupsRequest) kmsg.Response {
	resp := body.ResponseKind().(*kmsg.DescribeGroupsResponse)
	for _, name := range body.Groups {
		g := kmsg.NewDescribeGroupsResponseGroup()
		g.Group = name
		g.AuthorizedOperations = -2147483648
		if body.IncludeAuthorizedOperations {
			g.AuthorizedOperations = s.authorizedOperations(req, acl.ResourceGroup, name, groupOps)
		}
		shard, code := s.authorizedGroupShard(req, acl.OpDescribe, name)
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
		if code == 0 && g.State == group.StateDead && body.Version >= 6 {
			// KIP-1043: from v6 an unknown group is an error, not just Dead.
			code = kerr.GroupIDNotFound.Code
			msg := "group " + name + " does not exist"
			g.ErrorMessage = &msg
		}
		g.ErrorCode = code
		resp.Groups = append(resp.Groups, g)
	}
	return resp
}

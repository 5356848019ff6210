package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/acl"
)

func init() { handles(0, 2, (*Server).deleteGroups) }

func (s *Server) deleteGroups(ctx context.Context, req *request, body *kmsg.DeleteGroupsRequest) kmsg.Response {
	resp := body.ResponseKind().(*kmsg.DeleteGroupsResponse)
	for _, name := range body.Groups {
		g := kmsg.NewDeleteGroupsResponseGroup()
		g.Group = name
		shard, code := s.authorizedGroupShard(req, acl.OpDelete, name)
		if code == 0 {
			code = s.groups.Delete(ctx, shard, name)
		}
		g.ErrorCode = code
		resp.Groups = append(resp.Groups, g)
	}
	return resp
}

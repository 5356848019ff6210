package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/acl"
)

func init() { handles(0, 5, (*Server).leaveGroup) }

func (s *Server) leaveGroup(ctx context.Context, req *request, body *kmsg.LeaveGroupRequest) kmsg.Response {
	shard, code := s.authorizedGroupShard(req, acl.OpRead, body.Group)
	if code != 0 {
		resp := body.ResponseKind().(*kmsg.LeaveGroupResponse)
		resp.ErrorCode = code
		return resp
	}
	return s.groups.LeaveGroup(ctx, shard, body)
}

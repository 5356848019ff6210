package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { handles(0, 5, (*Server).leaveGroup) }

func (s *Server) leaveGroup(ctx context.Context, _ *request, body *kmsg.LeaveGroupRequest) kmsg.Response {
	shard, code := s.groupShard(body.Group)
	if code != 0 {
		resp := body.ResponseKind().(*kmsg.LeaveGroupResponse)
		resp.ErrorCode = code
		return resp
	}
	return s.groups.LeaveGroup(ctx, shard, body)
}

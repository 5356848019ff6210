package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { handles(0, 5, (*Server).syncGroup) }

func (s *Server) syncGroup(ctx context.Context, _ *request, body *kmsg.SyncGroupRequest) kmsg.Response {
	shard, code := s.groupShard(body.Group)
	if code != 0 {
		resp := body.ResponseKind().(*kmsg.SyncGroupResponse)
		resp.ErrorCode = code
		return resp
	}
	return s.groups.SyncGroup(ctx, shard, body)
}

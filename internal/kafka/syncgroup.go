package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/acl"
)

func init() { handles(0, 5, (*Server).syncGroup) }

func (s *Server) syncGroup(ctx context.Context, req *request, body *kmsg.SyncGroupRequest) kmsg.Response {
	shard, code := s.authorizedGroupShard(req, acl.OpRead, body.Group)
	if code != 0 {
		resp := body.ResponseKind().(*kmsg.SyncGroupResponse)
		resp.ErrorCode = code
		return resp
	}
	return s.groups.SyncGroup(ctx, shard, body)
}

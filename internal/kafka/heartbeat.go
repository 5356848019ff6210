package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/acl"
)

func init() { handles(0, 4, (*Server).heartbeat) }

func (s *Server) heartbeat(ctx context.Context, req *request, body *kmsg.HeartbeatRequest) kmsg.Response {
	shard, code := s.authorizedGroupShard(req, acl.OpRead, body.Group)
	if code != 0 {
		resp := body.ResponseKind().(*kmsg.HeartbeatResponse)
		resp.ErrorCode = code
		return resp
	}
	return s.groups.Heartbeat(ctx, shard, body)
}

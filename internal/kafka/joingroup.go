package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/acl"
	"github.com/longboat/longboat/internal/group"
)

func init() { handles(0, 9, (*Server).joinGroup) }

func (s *Server) joinGroup(ctx context.Context, req *request, body *kmsg.JoinGroupRequest) kmsg.Response {
	shard, code := s.authorizedGroupShard(req, acl.OpRead, body.Group)
	if code != 0 {
		resp := body.ResponseKind().(*kmsg.JoinGroupResponse)
		resp.ErrorCode, resp.Generation = code, -1
		return resp
	}
	return s.groups.JoinGroup(ctx, shard, body, group.Client{ID: req.clientID, Host: req.remoteHost}, metaTopics{s.node.Meta()})
}

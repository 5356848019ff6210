package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/group"
)

func init() { handles(2, 9, (*Server).offsetCommit) }

func (s *Server) offsetCommit(ctx context.Context, _ *request, body *kmsg.OffsetCommitRequest) kmsg.Response {
	shard, code := s.groupShard(body.Group)
	if code != 0 {
		return group.OffsetCommitAnswer(body, code)
	}
	return s.groups.OffsetCommit(ctx, shard, body)
}

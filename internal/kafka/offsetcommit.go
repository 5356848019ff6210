package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/acl"
	"github.com/longboat/longboat/internal/group"
)

func init() { handlesInOrder(2, 9, (*Server).offsetCommit) }

func (s *Server) offsetCommit(ctx context.Context, req *request, body *kmsg.OffsetCommitRequest) kmsg.Response {
	shard, code := s.authorizedGroupShard(req, acl.OpRead, body.Group)
	if code != 0 {
		return group.OffsetCommitAnswer(body, code)
	}
	// Topics the principal may not READ are answered
	// TOPIC_AUTHORIZATION_FAILED and the rest committed, as Kafka.
	allowed := *body
	allowed.Topics = nil
	denied := *body
	denied.Topics = nil
	for _, t := range body.Topics {
		if s.authorizeTopic(req, acl.OpRead, t.Topic) {
			allowed.Topics = append(allowed.Topics, t)
		} else {
			denied.Topics = append(denied.Topics, t)
		}
	}
	if len(denied.Topics) == 0 {
		return s.groups.OffsetCommit(ctx, shard, body)
	}
	resp := group.OffsetCommitAnswer(&denied, kerr.TopicAuthorizationFailed.Code)
	if len(allowed.Topics) > 0 {
		resp.Topics = append(s.groups.OffsetCommit(ctx, shard, &allowed).Topics, resp.Topics...)
	}
	return resp
}

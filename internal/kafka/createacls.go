package kafka

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/acl"
	"github.com/longboat/longboat/internal/meta"
)

// Kafka 4.1: v0 was removed (KIP-896).
func init() { handles(1, 3, (*Server).createACLs) }

// createACLs stores valid bindings in __meta, all in one command; an
// invalid one gets INVALID_REQUEST and the others are created.
func (s *Server) createACLs(ctx context.Context, req *request, body *kmsg.CreateACLsRequest) kmsg.Response {
	resp := body.ResponseKind().(*kmsg.CreateACLsResponse)
	results := make([]kmsg.CreateACLsResponseResult, len(body.Creations))
	var valid []acl.Binding
	var validAt []int
	allowed := s.authorizeCluster(req, acl.OpAlter)
	for i, c := range body.Creations {
		results[i] = kmsg.NewCreateACLsResponseResult()
		b := acl.Binding{ResourceType: acl.ResourceType(c.ResourceType), Name: c.ResourceName, Pattern: acl.PatternType(c.ResourcePatternType),
			Principal: c.Principal, Host: c.Host, Operation: acl.Operation(c.Operation), Permission: acl.Permission(c.PermissionType)}
		if !allowed {
			results[i].ErrorCode = kerr.ClusterAuthorizationFailed.Code
			continue
		}
		if err := b.Validate(); err != nil {
			msg := err.Error()
			results[i].ErrorCode, results[i].ErrorMessage = kerr.InvalidRequest.Code, &msg
			continue
		}
		valid = append(valid, b)
		validAt = append(validAt, i)
	}
	if len(valid) > 0 {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := s.node.ProposeMeta(pctx, meta.Command{CreateACLs: valid})
		cancel()
		if err != nil {
			code, msg := metaErrorCode(err)
			for _, i := range validAt {
				results[i].ErrorCode, results[i].ErrorMessage = code, &msg
			}
		} else {
			s.log.Info().Str("principal", req.principal).Int("acls", len(valid)).Msg("ACLs created")
		}
	}
	resp.Results = results
	return resp
}

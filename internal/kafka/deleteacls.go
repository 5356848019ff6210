package kafka

import (
	"context"
	"encoding/json"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/acl"
	"github.com/longboat/longboat/internal/meta"
)

// Kafka 4.1: v0 was removed (KIP-896).
func init() { handles(1, 3, (*Server).deleteACLs) }

// deleteACLs removes what the valid filters match in one __meta command,
// whose result names the bindings each filter removed.
func (s *Server) deleteACLs(ctx context.Context, req *request, body *kmsg.DeleteACLsRequest) kmsg.Response {
	resp := body.ResponseKind().(*kmsg.DeleteACLsResponse)
	resp.Results = make([]kmsg.DeleteACLsResponseResult, len(body.Filters))
	allowed := s.authorizeCluster(req, acl.OpAlter)
	var valid []acl.Filter
	var validAt []int
	for i, f := range body.Filters {
		resp.Results[i] = kmsg.NewDeleteACLsResponseResult()
		af := acl.Filter{ResourceType: acl.ResourceType(f.ResourceType), Name: f.ResourceName, Pattern: acl.PatternType(f.ResourcePatternType),
			Principal: f.Principal, Host: f.Host, Operation: acl.Operation(f.Operation), Permission: acl.Permission(f.PermissionType)}
		if !allowed {
			resp.Results[i].ErrorCode = kerr.ClusterAuthorizationFailed.Code
			continue
		}
		if err := af.Validate(); err != nil {
			msg := err.Error()
			resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = kerr.InvalidRequest.Code, &msg
			continue
		}
		valid = append(valid, af)
		validAt = append(validAt, i)
	}
	if len(valid) == 0 {
		return resp
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	data, err := s.node.ProposeMeta(pctx, meta.Command{DeleteACLs: &meta.DeleteACLs{Filters: valid}})
	cancel()
	var removed [][]acl.Binding
	if err == nil {
		err = json.Unmarshal(data, &removed)
	}
	if err != nil || len(removed) != len(valid) {
		code, msg := kerr.UnknownServerError.Code, "the metadata quorum answered no list of deleted ACLs"
		if err != nil {
			code, msg = metaErrorCode(err)
		}
		for _, i := range validAt {
			resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = code, &msg
		}
		return resp
	}
	n := 0
	for j, i := range validAt {
		for _, b := range removed[j] {
			m := kmsg.NewDeleteACLsResponseResultMatchingACL()
			m.ResourceType, m.ResourceName, m.ResourcePatternType = kmsg.ACLResourceType(b.ResourceType), b.Name, kmsg.ACLResourcePatternType(b.Pattern)
			m.Principal, m.Host = b.Principal, b.Host
			m.Operation, m.PermissionType = kmsg.ACLOperation(b.Operation), kmsg.ACLPermissionType(b.Permission)
			resp.Results[i].MatchingACLs = append(resp.Results[i].MatchingACLs, m)
			n++
		}
	}
	s.log.Info().Str("principal", req.principal).Int("acls", n).Msg("ACLs deleted")
	return resp
}

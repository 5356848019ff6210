package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/acl"
)

// Kafka 4.1: v0 was removed (KIP-896).
func init() { handles(1, 3, (*Server).describeACLs) }

// describeACLs lists the bindings the filter matches, grouped by resource
// pattern, from a linearizable __meta view (the same on every broker).
func (s *Server) describeACLs(ctx context.Context, req *request, body *kmsg.DescribeACLsRequest) kmsg.Response {
	resp := body.ResponseKind().(*kmsg.DescribeACLsResponse)
	if !s.authorizeCluster(req, acl.OpDescribe) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp
	}
	f := acl.Filter{ResourceType: acl.ResourceType(body.ResourceType), Name: body.ResourceName, Pattern: acl.PatternType(body.ResourcePatternType),
		Principal: body.Principal, Host: body.Host, Operation: acl.Operation(body.Operation), Permission: acl.Permission(body.PermissionType)}
	if err := f.Validate(); err != nil {
		msg := err.Error()
		resp.ErrorCode, resp.ErrorMessage = kerr.InvalidRequest.Code, &msg
		return resp
	}
	type pattern struct {
		rt   acl.ResourceType
		name string
		pt   acl.PatternType
	}
	at := map[pattern]int{}
	for _, b := range s.linearMeta(ctx).ACLs {
		if !f.Matches(b) {
			continue
		}
		p := pattern{b.ResourceType, b.Name, b.Pattern}
		i, ok := at[p]
		if !ok {
			r := kmsg.NewDescribeACLsResponseResource()
			r.ResourceType, r.ResourceName, r.ResourcePatternType = kmsg.ACLResourceType(p.rt), p.name, kmsg.ACLResourcePatternType(p.pt)
			i = len(resp.Resources)
			at[p] = i
			resp.Resources = append(resp.Resources, r)
		}
		a := kmsg.NewDescribeACLsResponseResourceACL()
		a.Principal, a.Host, a.Operation, a.PermissionType = b.Principal, b.Host, kmsg.ACLOperation(b.Operation), kmsg.ACLPermissionType(b.Permission)
		resp.Resources[i].ACLs = append(resp.Resources[i].ACLs, a)
	}
	return resp
}

package kafka

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/acl"
	"github.com/longboat/longboat/internal/sasl"
)

func init() { handles(0, 0, (*Server).describeUserScramCredentials) }

// Kafka's ScramMechanism numbers in the SCRAM credential APIs.
var scramMechanismIDs = map[int8]string{1: sasl.ScramSHA256, 2: sasl.ScramSHA512}

func scramMechanismID(name string) int8 {
	for id, n := range scramMechanismIDs {
		if n == name {
			return id
		}
	}
	return 0
}

// describeUserScramCredentials lists mechanisms and iterations, never
// salts or keys, as Kafka does.
func (s *Server) describeUserScramCredentials(ctx context.Context, req *request, body *kmsg.DescribeUserSCRAMCredentialsRequest) kmsg.Response {
	resp := kmsg.NewPtrDescribeUserSCRAMCredentialsResponse()
	resp.SetVersion(req.version)
	if !s.authorizeCluster(req, acl.OpDescribe) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp
	}
	users := s.linearMeta(ctx).ScramUsers
	var names []string
	seen := map[string]int{}
	if body.Users == nil { // null: every user
		names = slices.Sorted(func(yield func(string) bool) {
			for n := range users {
				if !yield(n) {
					return
				}
			}
		})
	} else {
		for _, u := range body.Users {
			if seen[u.Name]++; seen[u.Name] == 1 {
				names = append(names, u.Name)
			}
		}
	}
	for _, name := range names {
		r := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
		r.User = name
		creds, ok := users[name]
		switch {
		case seen[name] > 1:
			r.ErrorCode = kerr.DuplicateResource.Code
			msg := "Cannot describe SCRAM credentials for the same user twice in a single request: " + name
			r.ErrorMessage = &msg
		case !ok:
			r.ErrorCode = kerr.ResourceNotFound.Code
			msg := "Attempt to describe a user credential that does not exist: " + name
			r.ErrorMessage = &msg
		default:
			for _, m := range sasl.ScramMechanisms {
				if c, ok := creds[m]; ok {
					ci := kmsg.NewDescribeUserSCRAMCredentialsResponseResultCredentialInfo()
					ci.Mechanism, ci.Iterations = scramMechanismID(m), int32(c.Iterations)
					r.CredentialInfos = append(r.CredentialInfos, ci)
				}
			}
		}
		resp.Results = append(resp.Results, r)
	}
	return resp
}

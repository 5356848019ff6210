package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/acl"
)

func init() { handles(0, 6, (*Server).findCoordinator) }

// findCoordinator names the broker leading the shard of a group or a
// transactional id, on the listener the request arrived on. v4+ asks for several keys at once.
func (s *Server) findCoordinator(_ context.Context, req *request, body *kmsg.FindCoordinatorRequest) kmsg.Response {
	resp := body.ResponseKind().(*kmsg.FindCoordinatorResponse)
	keys := body.CoordinatorKeys
	if body.Version < 4 {
		keys = []string{body.CoordinatorKey}
	}
	for _, key := range keys {
		c := kmsg.NewFindCoordinatorResponseCoordinator()
		c.Key, c.NodeID = key, -1
		var code int16
		var msg string
		switch {
		case body.CoordinatorType == 0 && !s.authorizeGroup(req, acl.OpDescribe, key):
			code = kerr.GroupAuthorizationFailed.Code
		case body.CoordinatorType == 1 && !s.authorizeTxnID(req, acl.OpDescribe, key):
			code = kerr.TransactionalIDAuthorizationFailed.Code
		default:
			code, msg = s.locateCoordinator(req.listener, body.CoordinatorType, key, &c)
		}
		c.ErrorCode = code
		if msg != "" {
			c.ErrorMessage = &msg
		}
		resp.Coordinators = append(resp.Coordinators, c)
	}
	if body.Version < 4 {
		c := resp.Coordinators[0]
		resp.ErrorCode, resp.ErrorMessage, resp.NodeID, resp.Host, resp.Port = c.ErrorCode, c.ErrorMessage, c.NodeID, c.Host, c.Port
		resp.Coordinators = nil
	}
	return resp
}

func (s *Server) locateCoordinator(listener string, keyType int8, key string, c *kmsg.FindCoordinatorResponseCoordinator) (int16, string) {
	switch {
	case keyType != 0 && keyType != 1:
		return kerr.InvalidRequest.Code, "only group (0) and transaction (1) coordinators exist"
	case key == "" && keyType == 1:
		return kerr.InvalidRequest.Code, "empty transactional id"
	case key == "":
		return kerr.InvalidGroupID.Code, "empty group id"
	}
	// A transactional id's coordinator leads the group shard it hashes to,
	// found exactly as a group's.
	shard, ok := s.node.GroupShardFor(key)
	if !ok {
		return kerr.CoordinatorNotAvailable.Code, "the group shards are not created yet"
	}
	leader, _, ok := s.node.Leader(shard)
	if !ok {
		return kerr.CoordinatorNotAvailable.Code, "the group's shard has no leader"
	}
	b, ok := s.node.Meta().Brokers[leader]
	if !ok {
		return kerr.CoordinatorNotAvailable.Code, "the coordinator is not registered"
	}
	ep, ok := b.Endpoint(listener)
	if !ok {
		return kerr.CoordinatorNotAvailable.Code, "the coordinator has no listener " + listener
	}
	c.NodeID, c.Host, c.Port = int32(leader), ep.Host, ep.Port
	return 0, ""
}

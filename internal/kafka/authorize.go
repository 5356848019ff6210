package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/acl"
	"github.com/longboat/longboat/internal/config"
)

// newAuthorizer returns the --authorizer acl authorizer, or nil for none
// (every request allowed).
func newAuthorizer(cfg *config.Config) *acl.Authorizer {
	a := cfg.Authorization
	if a.Authorizer != config.AuthorizerACL {
		return nil
	}
	return acl.New(a.SuperUsers, a.AllowEveryoneIfNoACLFound)
}

// authorize tells whether the request's principal, from its host, may do
// op on the resource, under the ACLs this broker has applied from __meta
// (a change made through another broker counts here once applied, as
// Kafka's authorizer follows its metadata log).
func (s *Server) authorize(req *request, op acl.Operation, rt acl.ResourceType, name string) bool {
	if s.authz == nil {
		return true
	}
	return s.authz.Authorize(s.node.Meta().ACLs, acl.Request{Principal: req.principal, Host: req.remoteHost}, op, rt, name)
}

func (s *Server) authorizeTopic(req *request, op acl.Operation, topic string) bool {
	return s.authorize(req, op, acl.ResourceTopic, topic)
}

func (s *Server) authorizeGroup(req *request, op acl.Operation, group string) bool {
	return s.authorize(req, op, acl.ResourceGroup, group)
}

func (s *Server) authorizeCluster(req *request, op acl.Operation) bool {
	return s.authorize(req, op, acl.ResourceCluster, acl.ClusterName)
}

func (s *Server) authorizeTxnID(req *request, op acl.Operation, id string) bool {
	return s.authorize(req, op, acl.ResourceTransactionalID, id)
}

// The operations each resource type supports, for authorized_operations.
var (
	topicOps   = []acl.Operation{acl.OpRead, acl.OpWrite, acl.OpCreate, acl.OpDelete, acl.OpAlter, acl.OpDescribe, acl.OpDescribeConfigs, acl.OpAlterConfigs}
	groupOps   = []acl.Operation{acl.OpRead, acl.OpDelete, acl.OpDescribe}
	clusterOps = []acl.Operation{acl.OpCreate, acl.OpAlter, acl.OpDescribe, acl.OpClusterAction, acl.OpDescribeConfigs, acl.OpAlterConfigs, acl.OpIdempotentWrite}
)

// authorizedOperations is the authorized_operations bit field of a
// resource for the request's principal; without an authorizer every
// operation the resource type supports, as Kafka answers.
func (s *Server) authorizedOperations(req *request, rt acl.ResourceType, name string, ops []acl.Operation) int32 {
	if s.authz == nil {
		var bits int32
		for _, op := range ops {
			bits |= 1 << op
		}
		return bits
	}
	return s.authz.AuthorizedOperations(s.node.Meta().ACLs, acl.Request{Principal: req.principal, Host: req.remoteHost}, rt, name, ops)
}

// authorizeConfigs checks op (DESCRIBE_CONFIGS or ALTER_CONFIGS) on a
// config resource: a topic's on the topic, a broker's on the cluster, as
// Kafka; 0 when allowed, else the error code.
func (s *Server) authorizeConfigs(req *request, op acl.Operation, kind kmsg.ConfigResourceType, name string) int16 {
	switch kind {
	case kmsg.ConfigResourceTypeTopic:
		if !s.authorizeTopic(req, op, name) {
			return kerr.TopicAuthorizationFailed.Code
		}
	case kmsg.ConfigResourceTypeGroupConfig:
		if !s.authorizeGroup(req, op, name) {
			return kerr.GroupAuthorizationFailed.Code
		}
	default:
		if !s.authorizeCluster(req, op) {
			return kerr.ClusterAuthorizationFailed.Code
		}
	}
	return 0
}

// authorizedGroupShard is groupShard after op on the group is authorized
// (GROUP_AUTHORIZATION_FAILED otherwise, before anything about the group
// is looked up).
func (s *Server) authorizedGroupShard(req *request, op acl.Operation, name string) (uint64, int16) {
	if !s.authorizeGroup(req, op, name) {
		return 0, kerr.GroupAuthorizationFailed.Code
	}
	return s.groupShard(name)
}

// authorizeIdempotent: a producer id without a transactional id needs
// IDEMPOTENT_WRITE on the cluster or WRITE on some topic (KIP-679).
func (s *Server) authorizeIdempotent(req *request) bool {
	if s.authz == nil || s.authorizeCluster(req, acl.OpIdempotentWrite) {
		return true
	}
	return s.authz.AuthorizeAny(s.node.Meta().ACLs, acl.Request{Principal: req.principal, Host: req.remoteHost}, acl.OpWrite, acl.ResourceTopic)
}

// deniedTxnPartitions answers AddPartitionsToTxn as Kafka when the
// principal may not WRITE the transactional id (every partition) or some
// topic (those TOPIC_AUTHORIZATION_FAILED, the rest OPERATION_NOT_ATTEMPTED);
// nil when everything is allowed.
func (s *Server) deniedTxnPartitions(req *request, txnID string, parts map[string][]int32) map[string]map[int32]int16 {
	txnDenied := !s.authorizeTxnID(req, acl.OpWrite, txnID)
	denied := map[string]bool{}
	for t := range parts {
		if !txnDenied && !s.authorizeTopic(req, acl.OpWrite, t) {
			denied[t] = true
		}
	}
	if !txnDenied && len(denied) == 0 {
		return nil
	}
	codes := map[string]map[int32]int16{}
	for t, ps := range parts {
		codes[t] = map[int32]int16{}
		for _, p := range ps {
			switch {
			case txnDenied:
				codes[t][p] = kerr.TransactionalIDAuthorizationFailed.Code
			case denied[t]:
				codes[t][p] = kerr.TopicAuthorizationFailed.Code
			default:
				codes[t][p] = kerr.OperationNotAttempted.Code
			}
		}
	}
	return codes
}

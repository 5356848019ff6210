package kafka

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/acl"
	"github.com/longboat/longboat/internal/meta"
)

func init() { handles(0, 2, (*Server).describeCluster) }

// Endpoint types of DescribeCluster (KIP-919).
const (
	endpointBrokers     = 1
	endpointControllers = 2
)

// describeCluster (DescribeCluster, key 60) lists the registered brokers
// with their address on the listener the request arrived on. A broker
// describes brokers only: as in Kafka, asking it for controllers is
// MISMATCHED_ENDPOINT_TYPE and an unknown type UNSUPPORTED_ENDPOINT_TYPE
// (v0 has no type: it always asks for brokers). No broker is ever fenced here (a registered
// broker stays listed), so v2's IncludeFencedBrokers adds none and every
// broker has IsFenced false.
func (s *Server) describeCluster(_ context.Context, req *request, body *kmsg.DescribeClusterRequest) kmsg.Response {
	resp := body.ResponseKind().(*kmsg.DescribeClusterResponse)
	resp.ClusterAuthorizedOperations = -2147483648
	if body.EndpointType != endpointBrokers {
		resp.ErrorCode = kerr.UnsupportedEndpointType.Code
		if body.EndpointType == endpointControllers {
			resp.ErrorCode = kerr.MismatchedEndpointType.Code
		}
		msg := fmt.Sprintf("endpoint type %d: this broker describes brokers (type %d) only", body.EndpointType, endpointBrokers)
		resp.ErrorMessage = &msg
		return resp
	}
	if body.IncludeClusterAuthorizedOperations {
		resp.ClusterAuthorizedOperations = s.authorizedOperations(req, acl.ResourceCluster, acl.ClusterName, clusterOps)
	}
	st := s.node.Meta()
	resp.ClusterID = st.ClusterID
	resp.EndpointType = endpointBrokers
	resp.ControllerID = -1
	if id, _, ok := s.node.Leader(meta.ShardID); ok {
		resp.ControllerID = int32(id)
	}
	s.fillBrokers(st, req.listener, func(id int32, host string, port int32) {
		b := kmsg.NewDescribeClusterResponseBroker()
		b.NodeID, b.Host, b.Port = id, host, port
		resp.Brokers = append(resp.Brokers, b)
	})
	return resp
}

package kafka

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/meta"
)

func (s *Server) describeCluster(req *request, body *kmsg.DescribeClusterRequest) kmsg.Response {
	resp := body.ResponseKind().(*kmsg.DescribeClusterResponse)
	st := s.node.Meta()
	resp.ClusterID = st.ClusterID
	resp.EndpointType = 1 // brokers
	resp.ControllerID = -1
	if id, _, ok := s.node.Leader(meta.ShardID); ok {
		resp.ControllerID = int32(id)
	}
	s.fillBrokers(st, req.listener, func(id int32, host string, port int32) {
		b := kmsg.NewDescribeClusterResponseBroker()
		b.NodeID, b.Host, b.Port = id, host, port
		resp.Brokers = append(resp.Brokers, b)
	})
	resp.ClusterAuthorizedOperations = -2147483648
	return resp
}

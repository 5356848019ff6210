package kafka

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/acl"
	"github.com/longboat/longboat/internal/cluster"
)

func init() { handles(0, 2, (*Server).describeQuorum) }

// metadataTopic is the partition KRaft keeps cluster metadata in, which
// DescribeQuorum names; here __meta's Raft group is that quorum.
const metadataTopic = "__cluster_metadata"

// describeQuorum (DescribeQuorum, key 55) describes __meta's Raft group as
// Kafka describes its metadata quorum (kafka-metadata-quorum.sh, Admin's
// describeMetadataQuorum): the leader and its term as leader epoch, the
// leader's applied index as high watermark and each member's, __meta's
// voters as the voters and its non-voting members as the observers. Any
// broker answers with the leader's view, as Kafka's brokers forward the
// request to the active controller.
func (s *Server) describeQuorum(ctx context.Context, req *request, body *kmsg.DescribeQuorumRequest) kmsg.Response {
	resp := body.ResponseKind().(*kmsg.DescribeQuorumResponse)
	top := func(code int16, msg string) kmsg.Response {
		resp.ErrorCode = code
		if req.version >= 2 {
			resp.ErrorMessage = &msg
		}
		return resp
	}
	if !s.authorizeCluster(req, acl.OpDescribe) {
		return top(kerr.ClusterAuthorizationFailed.Code, "DESCRIBE on the cluster is needed")
	}
	if len(body.Topics) != 1 || body.Topics[0].Topic != metadataTopic ||
		len(body.Topics[0].Partitions) != 1 || body.Topics[0].Partitions[0].Partition != 0 {
		return top(kerr.UnknownTopicOrPartition.Code, "the metadata quorum is partition 0 of "+metadataTopic)
	}
	rt := kmsg.NewDescribeQuorumResponseTopic()
	rt.Topic = metadataTopic
	rp := kmsg.NewDescribeQuorumResponseTopicPartition()
	q, err := s.node.MetaQuorum(ctx)
	if err != nil {
		rp.ErrorCode, rp.LeaderID = kerr.NotLeaderForPartition.Code, -1
		if !errors.Is(err, cluster.ErrNoMetaLeader) {
			rp.ErrorCode = kerr.RequestTimedOut.Code
		}
		if req.version >= 2 {
			msg := err.Error()
			rp.ErrorMessage = &msg
		}
		rt.Partitions = append(rt.Partitions, rp)
		resp.Topics = append(resp.Topics, rt)
		return resp
	}
	rp.LeaderID, rp.LeaderEpoch, rp.HighWatermark = int32(q.Leader), int32(q.Term), q.Applied
	st := s.node.Meta()
	for _, m := range q.Members {
		rs := kmsg.NewDescribeQuorumResponseTopicPartitionReplicaState()
		rs.ReplicaID, rs.LogEndOffset = int32(m.ID), m.Applied
		if !m.Answered.IsZero() {
			rs.LastFetchTimestamp = m.Answered.UnixMilli()
		}
		if !m.CaughtUp.IsZero() {
			rs.LastCaughtUpTimestamp = m.CaughtUp.UnixMilli()
		}
		if !m.Voter {
			rp.Observers = append(rp.Observers, rs)
			continue
		}
		rp.CurrentVoters = append(rp.CurrentVoters, rs)
		node := kmsg.NewDescribeQuorumResponseNode()
		node.NodeID = int32(m.ID)
		if b, ok := st.Brokers[m.ID]; ok {
			for _, e := range b.Endpoints {
				l := kmsg.NewDescribeQuorumResponseNodeListener()
				l.Name, l.Host, l.Port = e.Name, e.Host, uint16(e.Port)
				node.Listeners = append(node.Listeners, l)
			}
		}
		resp.Nodes = append(resp.Nodes, node)
	}
	rt.Partitions = append(rt.Partitions, rp)
	resp.Topics = append(resp.Topics, rt)
	return resp
}

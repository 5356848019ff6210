package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/acl"
	"github.com/longboat/longboat/internal/group"
	"github.com/longboat/longboat/internal/meta"
)

// ConsumerGroupDescribe (KIP-848), Kafka 4.1's v0..v1 (v1 adds the member
// type, KIP-1099: 0 for a classic-protocol member of a mixed group, 1 for
// a consumer-protocol one).
func init() { handles(0, 1, (*Server).consumerGroupDescribe) }

func (s *Server) consumerGroupDescribe(ctx context.Context, req *request, body *kmsg.ConsumerGroupDescribeRequest) kmsg.Response {
	resp := body.ResponseKind().(*kmsg.ConsumerGroupDescribeResponse)
	st := s.node.Meta()
	for _, name := range body.Groups {
		g := kmsg.NewConsumerGroupDescribeResponseGroup()
		g.Group = name
		shard, code := s.authorizedGroupShard(req, acl.OpDescribe, name)
		if code == 0 {
			var d group.ConsumerDescription
			d, code = s.groups.DescribeConsumerGroup(ctx, shard, name)
			g.State, g.Epoch, g.AssignmentEpoch, g.AssignorName = d.State, d.Epoch, d.AssignmentEpoch, d.Assignor
			for _, m := range d.Members {
				gm := kmsg.NewConsumerGroupDescribeResponseGroupMember()
				gm.MemberID, gm.InstanceID, gm.RackID, gm.MemberEpoch = m.ID, m.InstanceID, m.RackID, m.Epoch
				gm.ClientID, gm.ClientHost, gm.SubscribedTopics = m.ClientID, m.ClientHost, m.Topics
				if gm.SubscribedTopics == nil {
					gm.SubscribedTopics = []string{}
				}
				if m.Regex != "" {
					regex := m.Regex
					gm.SubscribedTopicRegex = &regex
				}
				gm.Assignment, gm.TargetAssignment = describedAssignment(st, m.Assigned), describedAssignment(st, m.Target)
				gm.MemberType = 1
				if m.Classic != nil {
					gm.MemberType = 0
				}
				g.Members = append(g.Members, gm)
			}
		}
		if code == kerr.GroupIDNotFound.Code {
			msg := "group " + name + " is not a consumer group or does not exist"
			g.ErrorMessage = &msg
		}
		g.ErrorCode = code
		resp.Groups = append(resp.Groups, g)
	}
	return resp
}

// describedAssignment turns an assignment by topic name into the
// response's, by topic id (topics deleted since are left out).
func describedAssignment(st *meta.State, a group.Assignment) kmsg.Assignment {
	out := kmsg.NewAssignment()
	for _, name := range sortedKeys(a) {
		t, ok := st.Topics[name]
		if !ok {
			continue
		}
		tp := kmsg.NewAssignmentTopicPartition()
		tp.TopicID, tp.Topic, tp.Partitions = t.ID, name, a[name]
		out.TopicPartitions = append(out.TopicPartitions, tp)
	}
	if out.TopicPartitions == nil {
		out.TopicPartitions = []kmsg.AssignmentTopicPartition{}
	}
	return out
}

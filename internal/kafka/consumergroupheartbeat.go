package kafka

import (
	"context"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/acl"
	"github.com/longboat/longboat/internal/group"
	"github.com/longboat/longboat/internal/meta"
)

// ConsumerGroupHeartbeat (KIP-848), Kafka 4.1's v0..v1: v1 has the client
// name its member and adds regex subscriptions.
func init() { handles(0, 1, (*Server).consumerGroupHeartbeat) }

func (s *Server) consumerGroupHeartbeat(ctx context.Context, req *request, body *kmsg.ConsumerGroupHeartbeatRequest) kmsg.Response {
	resp := body.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
	shard, code := s.authorizedGroupShard(req, acl.OpRead, body.Group)
	if code != 0 {
		resp.ErrorCode = code
		return resp
	}
	// As Kafka: subscribing by name needs DESCRIBE on each topic.
	var denied []string
	for _, name := range body.SubscribedTopicNames {
		if !s.authorizeTopic(req, acl.OpDescribe, name) {
			denied = append(denied, name)
		}
	}
	if len(denied) > 0 {
		msg := "Unauthorized topics: " + strings.Join(denied, ", ")
		resp.ErrorCode, resp.ErrorMessage = kerr.TopicAuthorizationFailed.Code, &msg
		return resp
	}
	st := s.node.Meta()
	h := group.ConsumerHeartbeat{
		Version: body.Version, Group: body.Group, MemberID: body.MemberID, MemberEpoch: body.MemberEpoch,
		InstanceID: body.InstanceID, RackID: body.RackID, RebalanceTimeoutMs: body.RebalanceTimeoutMillis,
		Topics: body.SubscribedTopicNames, Regex: body.SubscribedTopicRegex, Assignor: body.ServerAssignor,
	}
	if body.Topics != nil {
		h.Owned = group.Assignment{}
		for _, t := range body.Topics {
			// A topic deleted since (unknown id) is owned by nobody now.
			if topic, ok := st.TopicByID(t.TopicID); ok {
				h.Owned[topic.Name] = append(h.Owned[topic.Name], t.Partitions...)
			}
		}
	}
	ans := s.groups.ConsumerGroupHeartbeat(ctx, shard, h, group.Client{ID: req.clientID, Host: req.remoteHost}, metaTopics{st})
	resp.ErrorCode, resp.MemberEpoch, resp.HeartbeatIntervalMillis = ans.Code, ans.Epoch, ans.IntervalMs
	if ans.Message != "" {
		resp.ErrorMessage = &ans.Message
	}
	if ans.Code != 0 {
		return resp
	}
	resp.MemberID = &ans.MemberID
	if ans.Assignment != nil {
		a := kmsg.NewConsumerGroupHeartbeatResponseAssignment()
		a.Topics = []kmsg.ConsumerGroupHeartbeatResponseAssignmentTopic{}
		for _, name := range sortedKeys(ans.Assignment) {
			t, ok := st.Topics[name]
			if !ok {
				continue
			}
			at := kmsg.NewConsumerGroupHeartbeatResponseAssignmentTopic()
			at.TopicID, at.Partitions = t.ID, ans.Assignment[name]
			a.Topics = append(a.Topics, at)
		}
		resp.Assignment = &a
	}
	return resp
}

// metaTopics is the __meta view as the group coordinator reads topics.
type metaTopics struct{ st *meta.State }

func (m metaTopics) Partitions(topic string) (int32, bool) {
	t, ok := m.st.Topics[topic]
	if !ok {
		return 0, false
	}
	return int32(len(t.Partitions)), true
}

func (m metaTopics) Names() []string { return m.st.TopicNames() }

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

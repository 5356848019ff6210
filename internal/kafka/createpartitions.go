package kafka

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/acl"
	"github.com/longboat/longboat/internal/meta"
)

func init() { handles(0, 3, (*Server).createPartitions) }

func (s *Server) createPartitions(ctx context.Context, req *request, body *kmsg.CreatePartitionsRequest) kmsg.Response {
	resp := body.ResponseKind().(*kmsg.CreatePartitionsResponse)
	timeout := requestTimeout(body.TimeoutMillis, 30*time.Second)
	mut := s.mutations(req, body.Version >= 3)
	for _, t := range body.Topics {
		rt := kmsg.NewCreatePartitionsResponseTopic()
		rt.Topic = t.Topic
		code, msg := kerr.TopicAuthorizationFailed.Code, ""
		if s.authorizeTopic(req, acl.OpAlter, t.Topic) {
			code, msg = s.createPartitionsFor(ctx, t, body.ValidateOnly, timeout, mut)
		}
		rt.ErrorCode = code
		if msg != "" {
			rt.ErrorMessage = &msg
		}
		resp.Topics = append(resp.Topics, rt)
	}
	resp.ThrottleMillis = mut.throttle()
	return resp
}

func (s *Server) createPartitionsFor(ctx context.Context, t kmsg.CreatePartitionsRequestTopic, validateOnly bool, timeout time.Duration, mut *mutations) (int16, string) {
	st := s.linearMeta(ctx)
	mt, ok := st.Topics[t.Topic]
	switch {
	case !ok:
		return kerr.UnknownTopicOrPartition.Code, "unknown topic"
	case int(t.Count) <= len(mt.Partitions):
		return kerr.InvalidPartitions.Code, fmt.Sprintf("topic has %d partitions; the new count must be larger", len(mt.Partitions))
	case int(t.Count)-len(mt.Partitions) > meta.MaxNewPartitions:
		return kerr.PolicyViolation.Code, fmt.Sprintf("at most %d partitions can be added at once", meta.MaxNewPartitions)
	case len(t.Assignment) > 0 && len(t.Assignment) != int(t.Count)-len(mt.Partitions):
		return kerr.InvalidReplicaAssignment.Code, fmt.Sprintf("adding %d partitions but %d assignments given", int(t.Count)-len(mt.Partitions), len(t.Assignment))
	}
	var placement *meta.Placement
	if len(t.Assignment) > 0 {
		placement = &meta.Placement{}
		for i, a := range t.Assignment {
			ids, err := replicaIDs(a.Replicas)
			if err != nil {
				return kerr.InvalidReplicaAssignment.Code, fmt.Sprintf("assignment %d: %v", i, err)
			}
			placement.Replicas = append(placement.Replicas, ids)
		}
		if code, msg := st.CheckAssignment(placement.Replicas, len(mt.Partitions[0].Replicas)); code != meta.ErrNone {
			return int16(code), msg
		}
	}
	if validateOnly {
		return 0, ""
	}
	if code, msg := mut.take(int(t.Count) - len(mt.Partitions)); code != 0 {
		return code, msg
	}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if _, err := s.node.ProposeMeta(pctx, meta.Command{CreatePartitions: &meta.CreatePartitions{Topic: t.Topic, Count: t.Count, Placement: placement}}); err != nil {
		return metaErrorCode(err)
	}
	s.waitLeaders(pctx, t.Topic, timeout)
	return 0, ""
}

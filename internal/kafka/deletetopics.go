package kafka

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/meta"
)

func (s *Server) deleteTopics(ctx context.Context, body *kmsg.DeleteTopicsRequest) kmsg.Response {
	resp := body.ResponseKind().(*kmsg.DeleteTopicsResponse)
	timeout := requestTimeout(body.TimeoutMillis, 30*time.Second)
	// v0-5 name topics in TopicNames; v6 in Topics, by name or by id.
	type target struct {
		name *string
		id   [16]byte
	}
	var targets []target
	for i := range body.TopicNames {
		targets = append(targets, target{name: &body.TopicNames[i]})
	}
	for _, t := range body.Topics {
		targets = append(targets, target{name: t.Topic, id: t.TopicID})
	}
	for _, tg := range targets {
		rt := kmsg.NewDeleteTopicsResponseTopic()
		rt.Topic, rt.TopicID = tg.name, tg.id
		st := s.linearMeta(ctx)
		if refuseInternalDelete(st, tg.name, tg.id, &rt) {
			resp.Topics = append(resp.Topics, rt)
			continue
		}
		var name string
		switch {
		case tg.name != nil:
			name = *tg.name
		default:
			if t, ok := st.TopicByID(tg.id); ok {
				name = t.Name
				rt.Topic = &t.Name
			}
		}
		t, ok := st.Topics[name]
		if !ok {
			rt.ErrorCode = kerr.UnknownTopicOrPartition.Code
			if tg.name == nil {
				rt.ErrorCode = kerr.UnknownTopicID.Code
			}
			resp.Topics = append(resp.Topics, rt)
			continue
		}
		rt.TopicID = t.ID
		pctx, cancel := context.WithTimeout(ctx, timeout)
		_, err := s.node.ProposeMeta(pctx, meta.Command{DeleteTopic: &name})
		cancel()
		if err != nil {
			code, msg := metaErrorCode(err)
			rt.ErrorCode, rt.ErrorMessage = code, &msg
		} else {
			s.log.Info().Str("topic", name).Msg("topic deleted")
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

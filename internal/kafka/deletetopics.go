package kafka

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/acl"
	"github.com/longboat/longboat/internal/meta"
)

func init() { handles(1, 6, (*Server).deleteTopics) }

func (s *Server) deleteTopics(ctx context.Context, req *request, body *kmsg.DeleteTopicsRequest) kmsg.Response {
	resp := body.ResponseKind().(*kmsg.DeleteTopicsResponse)
	timeout := requestTimeout(body.TimeoutMillis, 30*time.Second)
	reply := func(name *string, id [16]byte, code int16, msg string) {
		rt := kmsg.NewDeleteTopicsResponseTopic()
		rt.Topic, rt.TopicID, rt.ErrorCode = name, id, code
		if msg != "" {
			rt.ErrorMessage = &msg
		}
		resp.Topics = append(resp.Topics, rt)
	}
	targets := deleteTargets(body, reply)
	mut := s.mutations(req, body.Version >= 5)
	for _, tg := range targets {
		if !tg.byID && !s.authorizeTopic(req, acl.OpDelete, tg.name) {
			reply(&tg.name, tg.id, kerr.TopicAuthorizationFailed.Code, "")
			continue
		}
		st := s.linearMeta(ctx)
		if it, ok := internalTopic(st, tg.namePtr(), tg.id); ok {
			// Kafka's tools refuse this; here the topic is the group shards
			// themselves, so the broker refuses it too.
			reply(&it.Name, it.ID, kerr.InvalidRequest.Code, "Topic "+it.Name+" is a kafka internal topic and is not allowed to be marked for deletion.")
			continue
		}
		var t *meta.Topic
		ok := false
		if tg.byID {
			t, ok = st.TopicByID(tg.id)
		} else {
			t, ok = st.Topics[tg.name]
		}
		if !ok {
			if tg.byID {
				reply(nil, tg.id, kerr.UnknownTopicID.Code, "")
			} else {
				reply(&tg.name, tg.id, kerr.UnknownTopicOrPartition.Code, "")
			}
			continue
		}
		if tg.byID && !s.authorizeTopic(req, acl.OpDelete, t.Name) {
			reply(nil, tg.id, kerr.TopicAuthorizationFailed.Code, "")
			continue
		}
		name := t.Name
		if code, msg := mut.take(len(t.Partitions)); code != 0 {
			reply(&name, t.ID, code, msg)
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, timeout)
		_, err := s.node.ProposeMeta(pctx, meta.Command{DeleteTopic: &name})
		cancel()
		if err != nil {
			code, msg := metaErrorCode(err)
			reply(&name, t.ID, code, msg)
			continue
		}
		s.log.Info().Str("topic", name).Msg("topic deleted")
		reply(&name, t.ID, 0, "")
	}
	resp.ThrottleMillis = mut.throttle()
	return resp
}

// deleteTarget is one topic a DeleteTopics request names, by name or by id.
type deleteTarget struct {
	name string
	id   [16]byte
	byID bool
}

// namePtr is the target's name, or nil when it is named by id.
func (tg deleteTarget) namePtr() *string {
	if tg.byID {
		return nil
	}
	return &tg.name
}

// deleteTargets reads the topics to delete: v0-5 name them in TopicNames,
// v6 in Topics, each by name or by id. As Kafka does, an entry with both or
// neither, and every repeat of a name or an id, is answered INVALID_REQUEST
// at once and not deleted. An empty name counts as none, so an entry with
// an id and an empty name is looked up by the id.
func deleteTargets(body *kmsg.DeleteTopicsRequest, reply func(*string, [16]byte, int16, string)) []deleteTarget {
	var targets []deleteTarget
	for _, name := range body.TopicNames {
		targets = append(targets, deleteTarget{name: name})
	}
	for _, t := range body.Topics {
		hasName := t.Topic != nil && *t.Topic != ""
		hasID := t.TopicID != [16]byte{}
		switch {
		case hasName && hasID:
			reply(t.Topic, t.TopicID, kerr.InvalidRequest.Code, "You may not specify both topic name and topic id.")
		case hasID:
			targets = append(targets, deleteTarget{id: t.TopicID, byID: true})
		case hasName:
			targets = append(targets, deleteTarget{name: *t.Topic})
		default:
			reply(nil, [16]byte{}, kerr.InvalidRequest.Code, "Neither topic name nor id were specified.")
		}
	}
	count := map[deleteTarget]int{}
	for _, tg := range targets {
		count[tg]++
	}
	unique := targets[:0]
	for _, tg := range targets {
		switch n := count[tg]; {
		case n == 1:
			unique = append(unique, tg)
		case n > 1 && tg.byID:
			reply(nil, tg.id, kerr.InvalidRequest.Code, "Duplicate topic id.")
		case n > 1:
			name := tg.name
			reply(&name, tg.id, kerr.InvalidRequest.Code, "Duplicate topic name.")
		}
		if count[tg] > 1 {
			count[tg] = 0 // answer a repeated entry once
		}
	}
	return unique
}

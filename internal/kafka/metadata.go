package kafka

import (
	"context"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/meta"
)

func (s *Server) metadata(ctx context.Context, req *request, body *kmsg.MetadataRequest) kmsg.Response {
	resp := body.ResponseKind().(*kmsg.MetadataResponse)
	st := s.linearMeta(ctx)

	if s.cfg.AutoCreateTopics && (body.Version < 4 || body.AllowAutoTopicCreation) {
		s.autoCreate(ctx, st, body.Topics)
		st = s.node.Meta()
	}
	s.fillBrokers(st, req.listener, func(id int32, host string, port int32) {
		b := kmsg.NewMetadataResponseBroker()
		b.NodeID, b.Host, b.Port = id, host, port
		resp.Brokers = append(resp.Brokers, b)
	})
	resp.ClusterID = &st.ClusterID
	resp.ControllerID = -1
	if id, _, ok := s.node.Leader(meta.ShardID); ok {
		resp.ControllerID = int32(id)
	}

	all := body.Topics == nil || (body.Version == 0 && len(body.Topics) == 0)
	if all {
		for _, name := range st.TopicNames() {
			resp.Topics = append(resp.Topics, s.topicMetadata(st, st.Topics[name]))
		}
		resp.Topics = append(resp.Topics, s.allInternalMetadata(st)...)
		return resp
	}
	for _, rt := range body.Topics {
		if mt, ok := s.internalMetadata(st, rt.Topic, rt.TopicID); ok {
			resp.Topics = append(resp.Topics, mt)
			continue
		}
		var t *meta.Topic
		ok := false
		switch {
		case rt.Topic != nil:
			t, ok = st.Topics[*rt.Topic]
		case rt.TopicID != [16]byte{}:
			t, ok = st.TopicByID(rt.TopicID)
		}
		if ok {
			resp.Topics = append(resp.Topics, s.topicMetadata(st, t))
			continue
		}
		mt := kmsg.NewMetadataResponseTopic()
		mt.Topic, mt.TopicID = rt.Topic, rt.TopicID
		mt.ErrorCode = kerr.UnknownTopicOrPartition.Code
		if rt.Topic != nil && !validTopicName(*rt.Topic) {
			mt.ErrorCode = kerr.InvalidTopicException.Code
		} else if rt.Topic == nil {
			mt.ErrorCode = kerr.UnknownTopicID.Code
		}
		resp.Topics = append(resp.Topics, mt)
	}
	return resp
}

// fillBrokers lists registered brokers with their address on the listener
// the request arrived on, so each client gets addresses it can reach.
func (s *Server) fillBrokers(st *meta.State, listener string, add func(id int32, host string, port int32)) {
	for _, id := range st.BrokerIDs() {
		if ep, ok := st.Brokers[id].Endpoint(listener); ok {
			add(int32(id), ep.Host, ep.Port)
		}
	}
}

func (s *Server) topicMetadata(st *meta.State, t *meta.Topic) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	name := t.Name
	mt.Topic = &name
	mt.TopicID = t.ID
	for _, p := range t.Partitions {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition = p.Index
		mp.Leader = -1
		leader, term, ok := s.node.Leader(p.ShardID)
		if !ok && slices.Contains(p.Replicas, s.node.ID()) {
			// Mid-election the replica here knows no leader. Kafka's
			// metadata keeps naming a leader then, and some clients
			// (sarama) fail a record at once on LEADER_NOT_AVAILABLE
			// instead of retrying. Name this broker, alive and a
			// candidate: a produce here gets a retriable
			// NOT_LEADER_OR_FOLLOWER until the election ends, whereas the
			// last leader may be the dead broker the election replaces.
			leader, ok = s.node.ID(), true
		}
		if ok {
			mp.Leader = int32(leader)
			mp.LeaderEpoch = int32(term)
		} else {
			mp.ErrorCode = kerr.LeaderNotAvailable.Code
		}
		for _, r := range p.Replicas {
			mp.Replicas = append(mp.Replicas, int32(r))
		}
		// Raft elects only a voter whose log holds every committed entry, so
		// the voter set plays the ISR's role; follower lag is not tracked yet.
		mp.ISR = mp.Replicas
		mt.Partitions = append(mt.Partitions, mp)
	}
	return mt
}

// autoCreate creates requested topics that do not exist, with the broker
// defaults (auto.create.topics.enable).
func (s *Server) autoCreate(ctx context.Context, st *meta.State, topics []kmsg.MetadataRequestTopic) {
	for _, rt := range topics {
		if rt.Topic == nil || !validTopicName(*rt.Topic) || isInternalTopic(*rt.Topic) {
			continue
		}
		if _, ok := st.Topics[*rt.Topic]; ok {
			continue
		}
		ct := s.newCreateTopic(st, *rt.Topic, -1, -1, nil)
		if _, err := s.node.ProposeMeta(ctx, meta.Command{CreateTopic: ct}); err == nil {
			s.waitLeaders(ctx, *rt.Topic, 5*time.Second)
		}
	}
}

// linearMeta returns this broker's __meta view after a ReadIndex, so that a
// topic created or a config altered through any broker is visible here and
// every broker gives the same answer; on a timeout it answers from the local
// view.
func (s *Server) linearMeta(ctx context.Context) *meta.State {
	syncCtx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	_ = s.node.SyncMeta(syncCtx)
	return s.node.Meta()
}

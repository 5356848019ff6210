package kafka

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/acl"
	"github.com/longboat/longboat/internal/cluster"
	"github.com/longboat/longboat/internal/meta"
)

func init() { handles(0, 13, (*Server).metadata) }

func (s *Server) metadata(ctx context.Context, req *request, body *kmsg.MetadataRequest) kmsg.Response {
	resp := body.ResponseKind().(*kmsg.MetadataResponse)
	st := s.linearMeta(ctx)

	byID := slices.ContainsFunc(body.Topics, func(rt kmsg.MetadataRequestTopic) bool { return rt.TopicID != [16]byte{} })
	if s.cfg.AutoCreateTopics && !byID && (body.Version < 4 || body.AllowAutoTopicCreation) {
		// Auto-creation needs CREATE on the cluster or the topic, as
		// Kafka; without it an unknown topic stays unknown.
		clusterCreate := s.authorizeCluster(req, acl.OpCreate)
		s.autoCreate(ctx, st, body.Topics, func(name string) bool {
			return s.authorizeTopic(req, acl.OpDescribe, name) && (clusterCreate || s.authorizeTopic(req, acl.OpCreate, name))
		})
		st = s.node.Meta()
	}
	s.fillBrokers(st, req.listener, func(id int32, host string, port int32) {
		b := kmsg.NewMetadataResponseBroker()
		b.NodeID, b.Host, b.Port = id, host, port
		resp.Brokers = append(resp.Brokers, b)
	})
	resp.ClusterID = &st.ClusterID
	if body.IncludeClusterAuthorizedOperations {
		resp.AuthorizedOperations = s.authorizedOperations(req, acl.ResourceCluster, acl.ClusterName, clusterOps)
	}
	resp.ControllerID = -1
	if id, _, ok := s.node.Leader(meta.ShardID); ok {
		resp.ControllerID = int32(id)
	}

	withOps := body.IncludeTopicAuthorizedOperations
	describe := func(t *meta.Topic) kmsg.MetadataResponseTopic {
		mt := s.topicMetadata(t)
		if withOps {
			mt.AuthorizedOperations = s.authorizedOperations(req, acl.ResourceTopic, t.Name, topicOps)
		}
		return mt
	}
	all := body.Topics == nil || (body.Version == 0 && len(body.Topics) == 0)
	if all {
		// Only the topics the principal may describe, as Kafka.
		for _, name := range st.TopicNames() {
			if s.authorizeTopic(req, acl.OpDescribe, name) {
				resp.Topics = append(resp.Topics, describe(st.Topics[name]))
			}
		}
		for _, t := range internalTopics(st) {
			if s.authorizeTopic(req, acl.OpDescribe, t.Name) {
				resp.Topics = append(resp.Topics, describe(t))
			}
		}
		return resp
	}
	for _, rt := range body.Topics {
		if byID {
			// As Kafka does, a request naming any topic by id is answered
			// from its ids alone: the Java client sends each id with an
			// empty name, which is no topic's.
			if rt.TopicID == [16]byte{} {
				continue
			}
			t, ok := st.TopicByID(rt.TopicID)
			if !ok {
				t, ok = internalTopic(st, nil, rt.TopicID)
			}
			mt := kmsg.NewMetadataResponseTopic()
			mt.TopicID = rt.TopicID
			switch {
			case ok && !s.authorizeTopic(req, acl.OpDescribe, t.Name):
				mt.ErrorCode = kerr.TopicAuthorizationFailed.Code
			case ok:
				mt = describe(t)
			default:
				mt.ErrorCode = kerr.UnknownTopicID.Code
			}
			resp.Topics = append(resp.Topics, mt)
			continue
		}
		mt := kmsg.NewMetadataResponseTopic()
		mt.Topic = rt.Topic
		if rt.Topic != nil && !s.authorizeTopic(req, acl.OpDescribe, *rt.Topic) {
			// Whether it exists or not: an unauthorized principal learns
			// nothing of it.
			mt.ErrorCode = kerr.TopicAuthorizationFailed.Code
			resp.Topics = append(resp.Topics, mt)
			continue
		}
		if rt.Topic != nil {
			if t, ok := topicOrInternal(st, *rt.Topic); ok {
				resp.Topics = append(resp.Topics, describe(t))
				continue
			}
		}
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

func (s *Server) topicMetadata(t *meta.Topic) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	name := t.Name
	mt.Topic = &name
	mt.TopicID = t.ID
	mt.IsInternal = isInternalTopic(t.Name)
	for _, p := range t.Partitions {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition = p.Index
		pl := s.partitionLeadership(p)
		mp.Leader, mp.LeaderEpoch, mp.ErrorCode = pl.leader, pl.epoch, pl.errorCode
		mp.Replicas, mp.ISR = pl.replicas, pl.isr
		mt.Partitions = append(mt.Partitions, mp)
	}
	return mt
}

// leadership is what Metadata and DescribeTopicPartitions tell of a
// partition's leader and replicas.
type leadership struct {
	leader, epoch int32 // -1 when no leader is known
	errorCode     int16 // LEADER_NOT_AVAILABLE when no leader is known
	replicas, isr []int32
}

func (s *Server) partitionLeadership(p meta.Partition) leadership {
	pl := leadership{leader: -1, epoch: -1}
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
	if !ok {
		// A replica here outside the replica set (a reassignment's joining
		// or leaving one) that has not heard from a leader yet: name the
		// last leader __meta recorded, as brokers without a replica do.
		// Clients that find no listed leader fail the record at once
		// (kafka-go: "topic partition has no leader") instead of asking
		// again, which cost the scale demo a producer round mid-move.
		st := s.node.Meta()
		if l, found := st.Leaders[p.ShardID]; found && l.Replica != 0 && st.Brokers[l.Replica] != nil {
			leader, term, ok = l.Replica, l.Term, true
		}
	}
	if ok {
		pl.leader, pl.epoch = int32(leader), int32(term)
	} else {
		pl.errorCode = kerr.LeaderNotAvailable.Code
	}
	for _, r := range p.Replicas {
		pl.replicas = append(pl.replicas, int32(r))
	}
	// The leader tracks which followers have caught up within
	// --replica-lag-time-max; brokers that do not lead the partition
	// answer with what the leader last reported to them. Raft still elects
	// only a voter whose log holds every committed entry, whatever the ISR.
	for _, r := range s.node.ISR(p.ShardID, p.Replicas) {
		pl.isr = append(pl.isr, int32(r))
	}
	return pl
}

// isInternalTopic is Kafka's rule: the consumer offsets and transaction
// state topics are internal.
func isInternalTopic(name string) bool {
	return name == "__consumer_offsets" || name == "__transaction_state"
}

// autoCreateTimeout bounds the creation of one topic by Metadata. The
// request's context has no deadline, and dragonboat refuses a proposal
// without one (ErrDeadlineNotSet), so every auto-creation failed at once.
const autoCreateTimeout = 10 * time.Second

// autoCreate creates requested topics that do not exist, with the broker
// defaults (auto.create.topics.enable).
func (s *Server) autoCreate(ctx context.Context, st *meta.State, topics []kmsg.MetadataRequestTopic, allowed func(string) bool) {
	for _, rt := range topics {
		if rt.Topic == nil || !validTopicName(*rt.Topic) || isInternalTopic(*rt.Topic) || !allowed(*rt.Topic) {
			continue
		}
		if _, ok := st.Topics[*rt.Topic]; ok {
			continue
		}
		ct := s.newCreateTopic(st, *rt.Topic, -1, -1, nil)
		pctx, cancel := context.WithTimeout(ctx, autoCreateTimeout)
		_, err := s.node.ProposeMeta(pctx, meta.Command{CreateTopic: ct})
		var rej *cluster.ErrMetaRejected
		switch {
		case err == nil:
			s.log.Info().Str("topic", ct.Name).Int32("partitions", ct.Partitions).Int16("replication_factor", ct.ReplicationFactor).Msg("topic auto-created")
			s.waitLeaders(pctx, ct.Name, autoCreateTimeout)
		case errors.As(err, &rej) && rej.Code == kerr.TopicAlreadyExists.Code:
			// Another broker created it meanwhile.
		default:
			// The topic stays unknown and the client asks again.
			s.log.Warn().Err(err).Str("topic", ct.Name).Msg("auto-create topic failed")
		}
		cancel()
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

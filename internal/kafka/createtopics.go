package kafka

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/acl"
	"github.com/longboat/longboat/internal/meta"
	"github.com/longboat/longboat/internal/topicconfig"
)

// newCreateTopic builds the __meta command with broker defaults filled in
// (-1 partitions or replication factor means "broker default").
func (s *Server) newCreateTopic(st *meta.State, name string, partitions int32, rf int16, configs map[string]string) *meta.CreateTopic {
	if partitions == -1 {
		partitions = int32(s.cfg.DefaultPartitions)
	}
	if rf == -1 {
		rf = int16(min(s.cfg.DefaultReplicationFactor, max(len(st.Brokers), 1)))
	}
	ct := &meta.CreateTopic{Name: name, Partitions: partitions, ReplicationFactor: rf, Configs: configs}
	_, _ = rand.Read(ct.ID[:])
	ct.ID[6] = ct.ID[6]&0x0f | 0x40 // a version-4 UUID, as Kafka's topic ids are
	ct.ID[8] = ct.ID[8]&0x3f | 0x80
	return ct
}
func init() { handles(2, 7, (*Server).createTopics) }

func (s *Server) createTopics(ctx context.Context, req *request, body *kmsg.CreateTopicsRequest) kmsg.Response {
	resp := body.ResponseKind().(*kmsg.CreateTopicsResponse)
	timeout := requestTimeout(body.TimeoutMillis, 30*time.Second)
	seen := map[string]int{}
	for _, t := range body.Topics {
		seen[t.Topic]++
	}
	clusterCreate := s.authorizeCluster(req, acl.OpCreate)
	mut := s.mutations(req, body.Version >= 6)
	for _, t := range body.Topics {
		rt := kmsg.NewCreateTopicsResponseTopic()
		rt.Topic = t.Topic
		rt.NumPartitions, rt.ReplicationFactor = -1, -1
		if !clusterCreate && !s.authorizeTopic(req, acl.OpCreate, t.Topic) {
			msg := "Authorization failed."
			rt.ErrorCode, rt.ErrorMessage = kerr.TopicAuthorizationFailed.Code, &msg
			resp.Topics = append(resp.Topics, rt)
			continue
		}
		code, msg := s.createTopic(ctx, &t, body.ValidateOnly, seen[t.Topic] > 1, timeout, mut, &rt)
		rt.ErrorCode = code
		if msg != "" {
			rt.ErrorMessage = &msg
		}
		resp.Topics = append(resp.Topics, rt)
	}
	resp.ThrottleMillis = mut.throttle()
	return resp
}

func (s *Server) createTopic(ctx context.Context, t *kmsg.CreateTopicsRequestTopic, validateOnly, duplicate bool, timeout time.Duration, mut *mutations, rt *kmsg.CreateTopicsResponseTopic) (int16, string) {
	switch {
	case duplicate:
		return kerr.InvalidRequest.Code, "topic named more than once in the request"
	case t.Topic == consumerOffsetsTopic:
		return kerr.TopicAlreadyExists.Code, fmt.Sprintf("topic %q already exists", t.Topic)
	case !validTopicName(t.Topic):
		return kerr.InvalidTopicException.Code, "topic names are 1-249 characters of [a-zA-Z0-9._-], not . or .."
	case len(t.ReplicaAssignment) > 0 && (t.NumPartitions != -1 || t.ReplicationFactor != -1):
		return kerr.InvalidRequest.Code, "give either a replica assignment or a partition count and replication factor, not both (-1 for each with an assignment)"
	case len(t.ReplicaAssignment) > 0:
		return s.createAssignedTopic(ctx, t, validateOnly, timeout, mut, rt)
	case t.NumPartitions == 0 || t.NumPartitions < -1:
		return kerr.InvalidPartitions.Code, "number of partitions must be at least 1 (or -1 for the broker default)"
	case t.NumPartitions > meta.MaxNewPartitions:
		return kerr.PolicyViolation.Code, fmt.Sprintf("at most %d partitions can be created at once", meta.MaxNewPartitions)
	case t.ReplicationFactor == 0 || t.ReplicationFactor < -1:
		return kerr.InvalidReplicationFactor.Code, "replication factor must be at least 1 (or -1 for the broker default)"
	}
	return s.proposeTopic(ctx, t, t.NumPartitions, t.ReplicationFactor, nil, validateOnly, timeout, mut, rt)
}

// createAssignedTopic creates a topic whose replica sets the client gave,
// one per partition, numbered 0 to n-1 in any order (kafka-topics.sh
// --replica-assignment).
func (s *Server) createAssignedTopic(ctx context.Context, t *kmsg.CreateTopicsRequestTopic, validateOnly bool, timeout time.Duration, mut *mutations, rt *kmsg.CreateTopicsResponseTopic) (int16, string) {
	n := len(t.ReplicaAssignment)
	if n > meta.MaxNewPartitions {
		return kerr.PolicyViolation.Code, fmt.Sprintf("at most %d partitions can be created at once", meta.MaxNewPartitions)
	}
	sets := make([][]uint64, n)
	for _, a := range t.ReplicaAssignment {
		if a.Partition < 0 || int(a.Partition) >= n || sets[a.Partition] != nil {
			return kerr.InvalidReplicaAssignment.Code, fmt.Sprintf("the assignment's partitions must be 0 to %d, each once; got partition %d", n-1, a.Partition)
		}
		ids, err := replicaIDs(a.Replicas)
		if err != nil {
			return kerr.InvalidReplicaAssignment.Code, fmt.Sprintf("partition %d: %v", a.Partition, err)
		}
		sets[a.Partition] = ids
	}
	return s.proposeTopic(ctx, t, int32(n), int16(len(sets[0])), &meta.Placement{Replicas: sets}, validateOnly, timeout, mut, rt)
}

// replicaIDs turns a request's replica list into broker ids.
func replicaIDs(replicas []int32) ([]uint64, error) {
	ids := make([]uint64, len(replicas))
	for i, r := range replicas {
		if r < 0 {
			return nil, fmt.Errorf("invalid broker id %d", r)
		}
		ids[i] = uint64(r)
	}
	return ids, nil
}

// proposeTopic creates the topic through __meta (placement nil: __meta
// places it) once its configs are valid, or only checks it (validateOnly).
func (s *Server) proposeTopic(ctx context.Context, t *kmsg.CreateTopicsRequestTopic, partitions int32, rf int16, placement *meta.Placement, validateOnly bool, timeout time.Duration, mut *mutations, rt *kmsg.CreateTopicsResponseTopic) (int16, string) {
	configs, err := s.createConfigs(t.Configs)
	if err != nil {
		return kerr.InvalidConfig.Code, err.Error()
	}
	st := s.node.Meta()
	ct := s.newCreateTopic(st, t.Topic, partitions, rf, configs)
	ct.Placement = placement
	rt.NumPartitions, rt.ReplicationFactor = ct.Partitions, ct.ReplicationFactor
	rt.TopicID = ct.ID
	for _, e := range topicconfig.Resolve(configs, s.logDefaults(st)) {
		c := kmsg.NewCreateTopicsResponseTopicConfig()
		c.Name, c.Source = e.Name, e.Source
		c.Value = &e.Value
		rt.Configs = append(rt.Configs, c)
	}
	if validateOnly {
		switch {
		case st.Topics[t.Topic] != nil:
			return kerr.TopicAlreadyExists.Code, fmt.Sprintf("topic %q already exists", t.Topic)
		case placement != nil:
			if code, msg := st.CheckAssignment(placement.Replicas, int(ct.ReplicationFactor)); code != meta.ErrNone {
				return int16(code), msg
			}
		case int(ct.ReplicationFactor) > len(st.Brokers):
			return kerr.InvalidReplicationFactor.Code, s.tooFewBrokers(ct.ReplicationFactor, len(st.Brokers))
		}
		return 0, ""
	}
	if code, msg := mut.take(int(ct.Partitions)); code != 0 {
		return code, msg
	}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if _, err := s.node.ProposeMeta(pctx, meta.Command{CreateTopic: ct}); err != nil {
		code, msg := metaErrorCode(err)
		// __meta applied the refusal here, so this view counts at least
		// the brokers it counted.
		if n := len(s.node.Meta().Brokers); code == kerr.InvalidReplicationFactor.Code && int(ct.ReplicationFactor) > n {
			msg = s.tooFewBrokers(ct.ReplicationFactor, n)
		}
		return code, msg
	}
	s.log.Info().Str("topic", t.Topic).Int32("partitions", ct.Partitions).Int16("replication_factor", ct.ReplicationFactor).Msg("topic created")
	s.waitLeaders(pctx, t.Topic, timeout)
	return 0, ""
}

// tooFewBrokers explains a replication factor larger than the registered
// brokers. Right after a cluster starts that is usually brokers that have
// not registered yet (topics created by a script racing the start-up),
// which a retry fixes; the initial members say how many are expected.
func (s *Server) tooFewBrokers(rf int16, registered int) string {
	members := len(s.cfg.InitialMembers)
	if registered < members && int(rf) <= members {
		return fmt.Sprintf("replication factor %d needs %d brokers; %d of the %d initial members have registered so far: retry, or wait until every broker's /readyz answers 200", rf, rf, registered, members)
	}
	return fmt.Sprintf("replication factor %d exceeds the %d registered brokers", rf, registered)
}

// createConfigs validates the configs a topic is created with, as Kafka
// prints them back.
func (s *Server) createConfigs(req []kmsg.CreateTopicsRequestTopicConfig) (map[string]string, error) {
	given := map[string]string{}
	var nulls []string
	for _, c := range req {
		if c.Value == nil {
			nulls = append(nulls, c.Name)
			continue
		}
		given[c.Name] = *c.Value
	}
	if len(nulls) > 0 {
		//lint:ignore ST1005 Kafka's own message, which clients print as it is
		return nil, fmt.Errorf("Null value not supported for topic configs: %s", strings.Join(nulls, ","))
	}
	configs, err := topicconfig.Validate(given, s.cfg.LogDefaults())
	if err != nil {
		return nil, err
	}
	return configs, topicconfig.ValidateTogether(configs)
}

// waitLeaders waits until every partition of a topic is led by its
// preferred replica (the new leaders hand over at once), or failing that
// has some leader, so that a client producing right after CreateTopics
// meets neither LEADER_NOT_AVAILABLE nor a leader about to move. A leader
// counts once __meta records it: until then the brokers without a replica
// answer LEADER_NOT_AVAILABLE, which some clients take as final
// (librdkafka's offsets_for_times). It gives up quietly: clients retry
// anyway.
func (s *Server) waitLeaders(ctx context.Context, topic string, timeout time.Duration) {
	deadline := time.Now().Add(min(timeout, 10*time.Second))
	preferredBy := time.Now().Add(min(timeout, 5*time.Second))
	for time.Now().Before(deadline) && ctx.Err() == nil {
		st := s.node.Meta()
		t, ok := st.Topics[topic]
		if !ok {
			return
		}
		missing, notPreferred := 0, 0
		for _, p := range t.Partitions {
			leader, _, ok := s.node.Leader(p.ShardID)
			switch {
			case !ok || st.Leaders[p.ShardID].Replica != leader:
				missing++
			case leader != p.Replicas[0]:
				notPreferred++
			}
		}
		if missing == 0 && (notPreferred == 0 || time.Now().After(preferredBy)) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

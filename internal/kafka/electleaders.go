package kafka

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/acl"
	"github.com/longboat/longboat/internal/cluster"
	"github.com/longboat/longboat/internal/meta"
)

func init() { handles(0, 2, (*Server).electLeaders) }

// Kafka's election types (KIP-460).
const (
	electPreferred int8 = 0
	electUnclean   int8 = 1
)

// electionPoll is how often electLeaders checks whether the leaderships
// it asked for have moved; a transfer Raft dropped (one already under way,
// or no leader at that moment) is asked for again every electionRetry.
const (
	electionPoll  = 20 * time.Millisecond
	electionRetry = 500 * time.Millisecond
)

// election is one partition an ElectLeaders request names, and its
// outcome so far.
type election struct {
	p         meta.Partition
	result    *kmsg.ElectLeadersResponseTopicPartition
	hosted    bool // a replica is here, through which to ask for the transfer
	preferred uint64
}

// electLeaders (ElectLeaders, key 43) moves each partition's leadership to
// its preferred replica, the first in its replica list, by a Raft leader
// transfer, and answers once it has moved or the request's timeout passed.
// A broker without a replica of the partition cannot ask its Raft group;
// it waits for the partition leader's balancer, which moves leadership to
// a healthy preferred replica within a balance interval. Raft has no
// unclean election: a partition with a leader needs none, and one without
// has no quorum, which no election can replace.
func (s *Server) electLeaders(ctx context.Context, req *request, body *kmsg.ElectLeadersRequest) kmsg.Response {
	resp := body.ResponseKind().(*kmsg.ElectLeadersResponse)
	ctx, cancel := context.WithTimeout(ctx, requestTimeout(body.TimeoutMillis, 60*time.Second))
	defer cancel()
	st := s.linearMeta(ctx)
	kind := body.ElectionType // v0 has none: preferred
	if denied := !s.authorizeCluster(req, acl.OpAlter); denied || (kind != electPreferred && kind != electUnclean) {
		resp.ErrorCode = kerr.InvalidRequest.Code
		msg := "unknown election type"
		if denied {
			resp.ErrorCode, msg = kerr.ClusterAuthorizationFailed.Code, "Authorization failed."
		}
		for _, t := range body.Topics {
			rt := kmsg.NewElectLeadersResponseTopic()
			rt.Topic = t.Topic
			for _, idx := range t.Partitions {
				rp := kmsg.NewElectLeadersResponseTopicPartition()
				rp.Partition, rp.ErrorCode, rp.ErrorMessage = idx, resp.ErrorCode, &msg
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	}

	all := body.Topics == nil
	requested := body.Topics
	if all {
		for _, name := range st.TopicNames() {
			t := kmsg.NewElectLeadersRequestTopic()
			t.Topic = name
			for _, p := range st.Topics[name].Partitions {
				t.Partitions = append(t.Partitions, p.Index)
			}
			requested = append(requested, t)
		}
	}
	resp.Topics = make([]kmsg.ElectLeadersResponseTopic, len(requested))
	var pending []*election
	var down map[uint64]bool
	for i, t := range requested {
		rt := &resp.Topics[i]
		*rt = kmsg.NewElectLeadersResponseTopic()
		rt.Topic = t.Topic
		rt.Partitions = make([]kmsg.ElectLeadersResponseTopicPartition, len(t.Partitions))
		topic := st.Topics[t.Topic]
		for j, idx := range t.Partitions {
			rp := &rt.Partitions[j]
			*rp = kmsg.NewElectLeadersResponseTopicPartition()
			rp.Partition = idx
			if topic == nil || idx < 0 || int(idx) >= len(topic.Partitions) || len(topic.Partitions[idx].Replicas) == 0 {
				rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				continue
			}
			p := topic.Partitions[idx]
			leader, _, led := s.node.Leader(p.ShardID)
			if kind == electUnclean {
				rp.ErrorCode = kerr.ElectionNotNeeded.Code
				if !led {
					rp.ErrorCode = kerr.EligibleLeadersNotAvailable.Code
				}
				continue
			}
			e := &election{p: p, result: rp, preferred: p.Replicas[0]}
			if led && leader == e.preferred {
				rp.ErrorCode = kerr.ElectionNotNeeded.Code
				continue
			}
			if down == nil {
				down = s.node.DownBrokers()
			}
			if _, registered := st.Brokers[e.preferred]; !registered || down[e.preferred] {
				rp.ErrorCode = kerr.PreferredLeaderNotAvailable.Code
				continue
			}
			e.hosted = s.requestTransfer(e)
			pending = append(pending, e)
		}
	}
	s.awaitElections(ctx, pending)
	if all {
		// As Kafka does, an election over every partition leaves out
		// those that already had their preferred leader.
		for i := range resp.Topics {
			rt := &resp.Topics[i]
			kept := rt.Partitions[:0]
			for _, rp := range rt.Partitions {
				if rp.ErrorCode != kerr.ElectionNotNeeded.Code {
					kept = append(kept, rp)
				}
			}
			rt.Partitions = kept
		}
	}
	return resp
}

// requestTransfer asks the partition's Raft group, through the replica
// here, to hand leadership to the preferred replica; false when there is
// no replica here to ask through.
func (s *Server) requestTransfer(e *election) bool {
	err := s.node.TransferLeadership(e.p.ShardID, e.preferred)
	if errors.Is(err, cluster.ErrNotHosted) {
		return false
	}
	if err != nil {
		s.log.Debug().Err(err).Uint64("shard", e.p.ShardID).Msg("elect leaders: leader transfer; asking again")
	}
	return true
}

// awaitElections waits until each pending partition is led by its
// preferred replica, or ctx ends: those still waiting then get
// REQUEST_TIMED_OUT.
func (s *Server) awaitElections(ctx context.Context, pending []*election) {
	poll := time.NewTicker(electionPoll)
	defer poll.Stop()
	lastAsk := time.Now()
	for len(pending) > 0 {
		left := pending[:0]
		for _, e := range pending {
			if leader, _, ok := s.node.Leader(e.p.ShardID); !ok || leader != e.preferred {
				left = append(left, e)
			}
		}
		pending = left
		if len(pending) == 0 {
			return
		}
		if time.Since(lastAsk) >= electionRetry {
			lastAsk = time.Now()
			for _, e := range pending {
				if e.hosted {
					s.requestTransfer(e)
				}
			}
		}
		select {
		case <-ctx.Done():
			for _, e := range pending {
				e.result.ErrorCode = kerr.RequestTimedOut.Code
			}
			return
		case <-poll.C:
		}
	}
}

package kafka

import (
	"context"
	"errors"
	"time"

	"github.com/lni/dragonboat/v4"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/longboat/longboat/internal/cluster"
	"github.com/longboat/longboat/internal/meta"
)

// validTopicName applies Kafka's rules: 1..249 of [a-zA-Z0-9._-], not "." or "..".
func validTopicName(name string) bool {
	if name == "" || len(name) > 249 || name == "." || name == ".." {
		return false
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// led is a partition this broker leads: its local replica, its shard and
// the Raft term this broker leads it in.
type led struct {
	Replica
	shard uint64
	term  uint64
}

// localLeader resolves a topic-partition this broker must lead to serve it
// (produce, fetch, list offsets).
//
// currentEpoch is the request's CurrentLeaderEpoch (KIP-320), or -1 where
// the request version has none: a stale one is FENCED_LEADER_EPOCH, one
// ahead of this leader's term UNKNOWN_LEADER_EPOCH.
func (s *Server) localLeader(st *meta.State, topic string, idx int32, currentEpoch int32) (led, int16) {
	t, ok := st.Topics[topic]
	if !ok || idx < 0 || int(idx) >= len(t.Partitions) {
		return led{}, kerr.UnknownTopicOrPartition.Code
	}
	shard := t.Partitions[idx].ShardID
	term, leader := s.node.IsLeader(shard)
	if !leader {
		return led{}, kerr.NotLeaderForPartition.Code
	}
	p, ok := s.node.Partition(shard)
	if !ok {
		return led{}, kerr.NotLeaderForPartition.Code
	}
	if code := checkLeaderEpoch(currentEpoch, term); code != 0 {
		return led{}, code
	}
	return led{Replica: p, shard: shard, term: term}, 0
}

// epochIf is the request's CurrentLeaderEpoch where its version carries
// one, else -1 (unchecked).
func epochIf(versionHasIt bool, epoch int32) int32 {
	if versionHasIt {
		return epoch
	}
	return -1
}

// checkLeaderEpoch compares a request's CurrentLeaderEpoch (-1: not sent)
// with the leader's epoch: an older one is fenced, a newer one is not yet
// known here (KIP-320).
func checkLeaderEpoch(current int32, term uint64) int16 {
	switch {
	case current < 0:
		return 0
	case int64(current) < int64(term):
		return kerr.FencedLeaderEpoch.Code
	case int64(current) > int64(term):
		return kerr.UnknownLeaderEpoch.Code
	}
	return 0
}

// catchUp waits (briefly) until the local replica has applied everything its
// shard had committed. A new leader may still be applying entries an old
// leader committed; without this it could answer a stale end offset.
func (s *Server) catchUp(ctx context.Context, shard uint64) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return s.node.ReadIndex(ctx, shard)
}

// metaErrorCode maps a failed __meta proposal to a Kafka error code.
// Anything but a rejection or a timeout, a broker out of __meta for good
// (cluster.ErrNotMetaMember) among them, is NOT_CONTROLLER: it makes the
// client forget this broker as the controller and ask elsewhere, where
// REQUEST_TIMED_OUT would have it ask here again.
func metaErrorCode(err error) (int16, string) {
	var rej *cluster.ErrMetaRejected
	switch {
	case errors.As(err, &rej):
		return rej.Code, rej.Message
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, dragonboat.ErrTimeout):
		return kerr.RequestTimedOut.Code, "timed out waiting for the metadata quorum"
	default:
		return kerr.NotController.Code, err.Error()
	}
}

// minRequestTimeout is the shortest wait a request's timeout can ask for.
// dragonboat counts a proposal's timeout in Raft ticks and refuses one
// shorter than a tick, which a client would have seen as a retriable
// NOT_LEADER_OR_FOLLOWER forever; and an acks=all produce that waited a
// few milliseconds would only turn a commit into REQUEST_TIMED_OUT.
const minRequestTimeout = time.Second

// requestTimeout turns a request's timeout into a bounded duration.
func requestTimeout(ms int32, def time.Duration) time.Duration {
	d := time.Duration(ms) * time.Millisecond
	if d <= 0 {
		return def
	}
	if d < minRequestTimeout {
		return minRequestTimeout
	}
	if d > 60*time.Second {
		return 60 * time.Second
	}
	return d
}

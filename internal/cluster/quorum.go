package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/longboat/longboat/internal/meta"
)

// MetaQuorumPath serves __meta's Raft group as its leader sees it, for
// the brokers that do not lead it.
const MetaQuorumPath = "/v1/meta-quorum"

// maxQuorumBytes bounds a quorum read from the leader: a few hundred
// bytes per member.
const maxQuorumBytes = 1 << 20

// membershipTimeout bounds the read of __meta's membership, a ReadIndex
// on the leader.
const membershipTimeout = 5 * time.Second

// ErrNoMetaLeader is a quorum asked for while __meta has no leader, or
// while its leadership moves.
var ErrNoMetaLeader = errors.New("__meta has no leader")

// MetaQuorum is __meta's Raft group: Kafka's metadata quorum, which
// DescribeQuorum and kafka-metadata-quorum.sh describe.
type MetaQuorum struct {
	Leader  uint64         `json:"leader"`
	Term    uint64         `json:"term"`
	Applied int64          `json:"applied"` // the leader's applied index
	Members []QuorumMember `json:"members"` // voters, then non-voting members, by id
}

// QuorumMember is one member of __meta as the leader last learned of it
// (the ISR tracker asks every broker once a second).
type QuorumMember struct {
	ID       uint64    `json:"id"`
	Voter    bool      `json:"voter"`
	Applied  int64     `json:"applied"`            // -1: not known yet in this term
	Answered time.Time `json:"answered,omitzero"`  // when it last reported Applied
	CaughtUp time.Time `json:"caught_up,omitzero"` // when it last held all the leader had
}

// MetaQuorum describes __meta's Raft group from its leader: this broker's
// view when it leads __meta, else the leader's, asked over HTTP, so that
// every broker gives the same answer.
func (n *Node) MetaQuorum(ctx context.Context) (MetaQuorum, error) {
	if q, led, err := n.localMetaQuorum(ctx); led || err != nil {
		return q, err
	}
	leader, _, ok := n.Leader(meta.ShardID)
	if !ok || leader == n.cfg.NodeID {
		return MetaQuorum{}, ErrNoMetaLeader
	}
	url, err := n.peers.client.brokerURL(n.Meta().Brokers[leader], MetaQuorumPath)
	if err != nil {
		return MetaQuorum{}, fmt.Errorf("__meta's leader %d: %w", leader, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return MetaQuorum{}, err
	}
	resp, err := n.peers.client.Do(req)
	if err != nil {
		return MetaQuorum{}, fmt.Errorf("ask __meta's leader %d: %w", leader, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxQuorumBytes))
	if err != nil {
		return MetaQuorum{}, fmt.Errorf("read __meta's quorum from broker %d: %w", leader, err)
	}
	if resp.StatusCode == http.StatusMisdirectedRequest {
		return MetaQuorum{}, ErrNoMetaLeader // it lost the leadership meanwhile
	}
	if resp.StatusCode != http.StatusOK {
		return MetaQuorum{}, fmt.Errorf("__meta's quorum from broker %d: HTTP %d", leader, resp.StatusCode)
	}
	var q MetaQuorum
	if err := json.Unmarshal(body, &q); err != nil {
		return MetaQuorum{}, fmt.Errorf("__meta's quorum from broker %d: %w", leader, err)
	}
	return q, nil
}

// localMetaQuorum is the quorum as this broker sees it, when it leads
// __meta (led).
func (n *Node) localMetaQuorum(ctx context.Context) (q MetaQuorum, led bool, err error) {
	term, leader := n.IsLeader(meta.ShardID)
	if !leader {
		return q, false, nil
	}
	// dragonboat refuses a context without a deadline.
	mctx, cancel := context.WithTimeout(ctx, membershipTimeout)
	defer cancel()
	m, err := n.nh.SyncGetShardMembership(mctx, meta.ShardID)
	if err != nil {
		return q, true, fmt.Errorf("__meta's membership: %w", err)
	}
	progress, _ := n.isr.progress(meta.ShardID)
	now := time.Now()
	q = MetaQuorum{Leader: n.cfg.NodeID, Term: term, Applied: int64(n.Meta().Index)}
	add := func(ids []uint64, voter bool) {
		slices.Sort(ids)
		for _, id := range ids {
			m := QuorumMember{ID: id, Voter: voter, Applied: -1}
			if id == n.cfg.NodeID {
				m.Applied, m.Answered, m.CaughtUp = q.Applied, now, now
			} else if p, ok := progress[id]; ok {
				m.Applied, m.Answered, m.CaughtUp = p.Applied, p.Answered, p.CaughtUp
			}
			q.Members = append(q.Members, m)
		}
	}
	voters := make([]uint64, 0, len(m.Nodes))
	for id := range m.Nodes {
		voters = append(voters, id)
	}
	observers := make([]uint64, 0, len(m.NonVotings))
	for id := range m.NonVotings {
		observers = append(observers, id)
	}
	add(voters, true)
	add(observers, false)
	return q, true, nil
}

// ServeMetaQuorum answers MetaQuorumPath on __meta's leader, and 421
// Misdirected Request on another broker.
func (n *Node) ServeMetaQuorum(w http.ResponseWriter, r *http.Request) {
	q, led, err := n.localMetaQuorum(r.Context())
	switch {
	case err != nil:
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	case !led:
		http.Error(w, "not __meta's leader", http.StatusMisdirectedRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(q)
}

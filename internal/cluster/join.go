package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/lni/dragonboat/v4"

	"github.com/longboat/longboat/internal/meta"
)

// A broker started with --join is not an initial member: it asks an
// existing broker (POST /v1/join at its HTTP address) to add it to __meta
// as a non-voting member, then starts its __meta replica as one. A broker
// that joins changes no quorum until __meta's leader promotes it to keep
// --meta-voters voters (metavoters.go); its partition replicas are voters
// of their own shards as any broker's. Only a data directory without Raft data joins: a restart
// starts from what the directory holds and asks nobody.

// JoinRequest is the body of POST /v1/join.
type JoinRequest struct {
	NodeID      uint64 `json:"node_id"`
	RaftAddr    string `json:"raft_addr"`
	Incarnation string `json:"incarnation"`
}

// JoinAnswer is a successful join's answer.
type JoinAnswer struct {
	ClusterID string `json:"cluster_id"`
}

// ErrJoinRefused is a join the cluster will not take as asked; asking
// again does not help.
type ErrJoinRefused struct{ Reason string }

func (e *ErrJoinRefused) Error() string { return e.Reason }

// joinWindow is how long a joining broker keeps asking while the broker
// it was pointed to does not answer or has no __meta leader.
var joinWindow = 60 * time.Second

// AdmitBroker adds a broker to __meta as a non-voting member, once: asked
// again for a member it already added at the same Raft address, it
// answers the same. It refuses a node id registered from another data
// directory (a wiped broker must not come back as if it held its data),
// a voter's or a removed member's node id, and a Raft address another
// broker uses.
func (n *Node) AdmitBroker(ctx context.Context, req JoinRequest) (JoinAnswer, error) {
	if req.NodeID == 0 || req.RaftAddr == "" || req.Incarnation == "" {
		return JoinAnswer{}, &ErrJoinRefused{"a join names a node id, a Raft address and an incarnation"}
	}
	sctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := n.SyncMeta(sctx); err != nil {
		return JoinAnswer{}, fmt.Errorf("__meta not readable here: %w", err)
	}
	st := n.Meta()
	if st.ClusterID == "" {
		return JoinAnswer{}, errors.New("the cluster is still forming")
	}
	if b, ok := st.Brokers[req.NodeID]; ok && b.Incarnation != req.Incarnation {
		return JoinAnswer{}, &ErrJoinRefused{fmt.Sprintf("node %d is registered in cluster %s from another data directory (incarnation %s, this one is %s): a wiped or copied broker must not rejoin as if it held its data; start it with its own data directory, or give it a new node id",
			req.NodeID, st.ClusterID, b.Incarnation, req.Incarnation)}
	}
	for id, b := range st.Brokers {
		if id != req.NodeID && b.RaftAddr == req.RaftAddr {
			return JoinAnswer{}, &ErrJoinRefused{fmt.Sprintf("Raft address %s is node %d's; give node %d its own --raft-addr", req.RaftAddr, id, req.NodeID)}
		}
	}
	m, err := n.nh.SyncGetShardMembership(sctx, meta.ShardID)
	if err != nil {
		return JoinAnswer{}, fmt.Errorf("__meta membership: %w", err)
	}
	if _, ok := m.Removed[req.NodeID]; ok {
		return JoinAnswer{}, &ErrJoinRefused{fmt.Sprintf("node %d was removed from cluster %s and cannot come back under that id: give it a new node id", req.NodeID, st.ClusterID)}
	}
	if _, ok := m.Nodes[req.NodeID]; ok {
		return JoinAnswer{}, &ErrJoinRefused{fmt.Sprintf("node %d is a voter of __meta in cluster %s (an initial member, or a joined broker promoted since): it restarts from its own data directory; an empty one needs a new node id", req.NodeID, st.ClusterID)}
	}
	if addr, ok := m.NonVotings[req.NodeID]; ok {
		if addr != req.RaftAddr {
			return JoinAnswer{}, &ErrJoinRefused{fmt.Sprintf("node %d joined with Raft address %s, not %s: start it with --raft-addr %s", req.NodeID, addr, req.RaftAddr, addr)}
		}
		return JoinAnswer{ClusterID: st.ClusterID}, nil
	}
	for id, addr := range m.NonVotings {
		if addr == req.RaftAddr {
			return JoinAnswer{}, &ErrJoinRefused{fmt.Sprintf("Raft address %s is node %d's; give node %d its own --raft-addr", req.RaftAddr, id, req.NodeID)}
		}
	}
	actx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := n.nh.SyncRequestAddNonVoting(actx, meta.ShardID, req.NodeID, req.RaftAddr, m.ConfigChangeID); err != nil {
		return JoinAnswer{}, fmt.Errorf("add node %d to __meta: %w", req.NodeID, err)
	}
	return JoinAnswer{ClusterID: st.ClusterID}, nil
}

// metaVoters lists __meta's voters, or nil when the
// membership cannot be read within ctx.
func metaVoters(ctx context.Context, nh *dragonboat.NodeHost) []uint64 {
	m, err := nh.SyncGetShardMembership(ctx, meta.ShardID)
	if err != nil {
		return nil
	}
	return sortedIDs(m.Nodes)
}

// MetaMembership is __meta's voters and non-voting members.
type MetaMembership struct {
	Voters    []uint64 `json:"voters"`
	NonVoting []uint64 `json:"non_voting"`
}

// MetaMembership reads __meta's membership (a ReadIndex).
func (n *Node) MetaMembership(ctx context.Context) (MetaMembership, error) {
	m, err := n.nh.SyncGetShardMembership(ctx, meta.ShardID)
	if err != nil {
		return MetaMembership{}, fmt.Errorf("__meta membership: %w", err)
	}
	return MetaMembership{Voters: sortedIDs(m.Nodes), NonVoting: sortedIDs(m.NonVotings)}, nil
}

// askToJoin posts the join until the broker at addr admits or refuses it,
// or the window passes.
func askToJoin(ctx context.Context, client peerHTTP, addr string, req JoinRequest, window time.Duration, progress func(error)) (JoinAnswer, error) {
	body, _ := json.Marshal(req)
	deadline := time.Now().Add(window)
	for {
		a, err := postJoin(ctx, client.Client, client.url(addr, "/v1/join"), body)
		var refused *ErrJoinRefused
		switch {
		case err == nil:
			return a, nil
		case errors.As(err, &refused):
			return JoinAnswer{}, err
		case time.Now().After(deadline):
			return JoinAnswer{}, fmt.Errorf("--join %s: no broker admitted this one within %s: %w", addr, window, err)
		}
		progress(err)
		select {
		case <-ctx.Done():
			return JoinAnswer{}, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

func postJoin(ctx context.Context, client *http.Client, url string, body []byte) (JoinAnswer, error) {
	var a JoinAnswer
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return a, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return a, err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	switch resp.StatusCode {
	case http.StatusOK:
		if err := json.Unmarshal(msg, &a); err != nil {
			return a, fmt.Errorf("%s: %w", url, err)
		}
		return a, nil
	case http.StatusConflict:
		return a, &ErrJoinRefused{string(bytes.TrimSpace(msg))}
	}
	return a, fmt.Errorf("%s: %s: %s", url, resp.Status, bytes.TrimSpace(msg))
}

// joining is the identity check of a broker started with --join: the
// broker at --join must answer for a formed cluster; a directory with an
// identity must belong to it (as with initial members); an empty one must
// not be under a registered node id. A directory without Raft data is
// then admitted to __meta before the replica starts.
func (c identityCheck) joining(ctx context.Context, cur *identity) (identity, error) {
	dir, self := c.cfg.DataDir, c.cfg.NodeID
	hasRaft := hasRaftData(dir)
	if cur == nil && hasRaft {
		return identity{}, fmt.Errorf("data directory %s holds Raft data but no %s: it is not a broker's that joined this cluster; give node %d an empty data directory", dir, identityFile, self)
	}
	if cur != nil && hasRaft {
		// A restart: the directory is this broker's own, unless the
		// cluster says otherwise; a --join broker that does not answer
		// says nothing (as initial members' peers), so a joined broker
		// restarts while that one is down.
		if err := c.checkPeers(ctx, *cur, map[uint64]string{0: c.client.url(c.cfg.Join, "/v1/identity")}); err != nil {
			return identity{}, err
		}
		c.log.Info().Str("cluster_id", cur.ClusterID).Msg("joined broker restarting from its data directory")
		return *cur, nil
	}
	a, err := c.askJoinTarget(ctx)
	if err != nil {
		return identity{}, err
	}
	var id identity
	if cur != nil {
		if err := c.checkPeers(ctx, *cur, map[uint64]string{0: c.client.url(c.cfg.Join, "/v1/identity")}); err != nil {
			return identity{}, err
		}
		id = *cur
	} else {
		if inc, ok := a.Brokers[self]; ok {
			return identity{}, fmt.Errorf("this broker's data directory is empty but node %d is a member of cluster %s (incarnation %s): a wiped broker must not rejoin as if it held its data; give it a new node id (and remove the old one when that exists), or to start over, wipe every broker", self, a.ClusterID, inc)
		}
		// A joining broker runs Raft with the cluster's deployment id,
		// or its messages would be dropped.
		id = identity{NodeID: self, Incarnation: randomID(), DeploymentID: a.DeploymentID}
		if id.DeploymentID == 0 {
			id.DeploymentID = legacyDeploymentID
		}
	}
	if id.ClusterID == "" {
		id.ClusterID = a.ClusterID
		if err := writeIdentity(dir, id); err != nil {
			return identity{}, err
		}
	}
	req := JoinRequest{NodeID: self, RaftAddr: c.cfg.RaftAddr, Incarnation: id.Incarnation}
	// Admission waits for a ReadIndex and a membership change to commit.
	client := c.client.timeout(20 * time.Second)
	if _, err := askToJoin(ctx, client, c.cfg.Join, req, joinWindow, func(err error) {
		c.log.Info().Err(err).Str("join", c.cfg.Join).Msg("join: not admitted yet; asking again")
	}); err != nil {
		return identity{}, fmt.Errorf("join cluster %s through %s: %w", a.ClusterID, c.cfg.Join, err)
	}
	c.log.Info().Str("cluster_id", id.ClusterID).Str("incarnation", id.Incarnation).Str("join", c.cfg.Join).Msg("joined __meta as a non-voting member")
	return id, nil
}

// askJoinTarget waits for the --join broker's synced identity report of a
// formed cluster.
func (c identityCheck) askJoinTarget(ctx context.Context) (IdentityReport, error) {
	url := c.client.url(c.cfg.Join, "/v1/identity")
	deadline := time.Now().Add(joinWindow)
	for {
		a, err := fetchIdentity(ctx, c.client.Client, url)
		if err == nil && (!a.Synced || a.ClusterID == "") {
			err = fmt.Errorf("node %d has no synced __meta of a formed cluster yet", a.NodeID)
		}
		if err == nil {
			return a, nil
		}
		if time.Now().After(deadline) {
			return IdentityReport{}, fmt.Errorf("--join %s: %w; point --join at a running broker's HTTP address", c.cfg.Join, err)
		}
		c.log.Info().Err(err).Msg("join: waiting for the broker named by --join")
		select {
		case <-ctx.Done():
			return IdentityReport{}, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

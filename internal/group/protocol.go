package group

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Client identifies the connection a request came from.
type Client struct {
	ID   string
	Host string
}

// JoinGroup adds or refreshes a member and waits for the join phase to end.
func (c *Coordinator) JoinGroup(ctx context.Context, shard uint64, req *kmsg.JoinGroupRequest, cl Client) *kmsg.JoinGroupResponse {
	resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
	resp.Generation = -1
	fail := func(code int16) *kmsg.JoinGroupResponse {
		resp.ErrorCode = code
		return resp
	}
	if req.Group == "" {
		return fail(kerr.InvalidGroupID.Code)
	}
	if req.SessionTimeoutMillis < MinSessionTimeoutMs || req.SessionTimeoutMillis > MaxSessionTimeoutMs {
		return fail(kerr.InvalidSessionTimeout.Code)
	}
	protocols := make([]Protocol, 0, len(req.Protocols))
	for _, p := range req.Protocols {
		protocols = append(protocols, Protocol{Name: p.Name, Metadata: p.Metadata})
	}
	if req.ProtocolType == "" || len(protocols) == 0 {
		return fail(kerr.InconsistentGroupProtocol.Code)
	}
	var (
		memberID string
		wait     chan joinResult
	)
	code := c.withGroup(ctx, shard, req.Group, true, func(g *group) int16 {
		var code int16
		memberID, wait, code = c.join(g, req, protocols, cl)
		return code
	})
	if code != 0 {
		resp.MemberID = memberID
		return fail(code)
	}

	var res joinResult
	select {
	case res = <-wait:
	case <-ctx.Done():
		return fail(kerr.RebalanceInProgress.Code)
	}
	resp.ErrorCode = res.code
	resp.Generation = res.generation
	resp.ProtocolType = &req.ProtocolType
	resp.Protocol = &res.protocol
	resp.LeaderID = res.leader
	resp.MemberID = res.memberID
	for _, mr := range res.members {
		jm := kmsg.NewJoinGroupResponseMember()
		jm.MemberID, jm.InstanceID = mr.ID, mr.InstanceID
		jm.ProtocolMetadata = mr.Protocols[0].Metadata
		resp.Members = append(resp.Members, jm)
	}
	return resp
}

// join adds or refreshes the member a JoinGroup names and returns its id
// and the channel its join result arrives on, or an error code (with the
// id when the client must learn it: MemberIDRequired, UnknownMemberID).
// c.mu is held.
func (c *Coordinator) join(g *group, req *kmsg.JoinGroupRequest, protocols []Protocol, cl Client) (string, chan joinResult, int16) {
	if len(g.members) > 0 && (g.protocolType != req.ProtocolType || !g.supports(protocols)) {
		return "", nil, kerr.InconsistentGroupProtocol.Code
	}
	now := time.Now()
	memberID := req.MemberID
	var m *member
	switch {
	case req.InstanceID != nil:
		// Static member: the instance id owns a member id; a new join
		// without one replaces (fences) the previous holder.
		if old := g.memberByInstance(*req.InstanceID); old != nil {
			if memberID != "" && memberID != old.ID {
				return "", nil, kerr.FencedInstanceID.Code
			}
			if memberID == "" {
				memberID = newMemberID(cl.ID)
				delete(g.members, old.ID)
				if old.join != nil {
					old.join <- joinResult{code: kerr.FencedInstanceID.Code, generation: -1, memberID: old.ID}
				}
				if g.leader == old.ID {
					g.leader = memberID
				}
				old.ID = memberID
				old.join = nil
				g.members[memberID] = old
			}
			m = g.members[memberID]
		} else if memberID == "" {
			memberID = newMemberID(cl.ID)
		}
	case memberID == "":
		memberID = newMemberID(cl.ID)
		if req.Version >= 4 {
			// KIP-394: hand out the id and make the client come back with it.
			g.pending[memberID] = now
			return memberID, nil, kerr.MemberIDRequired.Code
		}
	default:
		_, isPending := g.pending[memberID]
		if _, known := g.members[memberID]; !known && !isPending {
			return memberID, nil, kerr.UnknownMemberID.Code
		}
		delete(g.pending, memberID)
	}
	if m == nil {
		m = g.members[memberID]
	}
	if m == nil {
		m = &member{MemberRecord: MemberRecord{ID: memberID}}
		g.members[memberID] = m
	}
	if m.join != nil {
		// A second join from the same member replaces the first.
		m.join <- joinResult{code: kerr.RebalanceInProgress.Code, generation: -1, memberID: memberID}
	}
	m.InstanceID, m.ClientID, m.ClientHost = req.InstanceID, cl.ID, cl.Host
	m.SessionTimeoutMs = req.SessionTimeoutMillis
	m.RebalanceTimeoutMs = req.RebalanceTimeoutMillis
	if req.Version == 0 {
		m.RebalanceTimeoutMs = req.SessionTimeoutMillis
	}
	m.Protocols = protocols
	m.join = make(chan joinResult, 1)
	wait := m.join
	g.protocolType = req.ProtocolType
	switch g.state {
	case StateEmpty:
		g.delayUntil = now.Add(c.cfg.InitialRebalanceDelay)
		c.prepareRebalance(g, now, "first member joined")
	case StateStable, StateCompletingRebalance:
		c.prepareRebalance(g, now, "member joined")
	}
	if g.state == StatePreparingRebalance && c.allJoined(g) && !now.Before(g.delayUntil) {
		c.completeJoin(g, now)
	}
	return memberID, wait, 0
}

// SyncGroup takes the leader's assignment and hands each member its own.
func (c *Coordinator) SyncGroup(ctx context.Context, shard uint64, req *kmsg.SyncGroupRequest) *kmsg.SyncGroupResponse {
	resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
	var (
		g     *group
		wait  chan syncResult
		store *StoreGroup
	)
	code := c.withGroup(ctx, shard, req.Group, false, func(live *group) int16 {
		g = live
		if g == nil {
			return kerr.UnknownMemberID.Code
		}
		m, code := g.checkMember(req.MemberID, req.InstanceID, req.Generation)
		if code == 0 && ((req.ProtocolType != nil && *req.ProtocolType != g.protocolType) || (req.Protocol != nil && *req.Protocol != g.protocol)) {
			code = kerr.InconsistentGroupProtocol.Code
		}
		if code == 0 && g.state == StatePreparingRebalance {
			code = kerr.RebalanceInProgress.Code
		}
		if code != 0 {
			return code
		}
		// Copies: a rebalance rewrites the group's fields once c.mu is
		// released, while the response is still being encoded.
		protocolType, protocol := g.protocolType, g.protocol
		resp.ProtocolType, resp.Protocol = &protocolType, &protocol
		if g.state == StateStable {
			resp.MemberAssignment = m.Assignment
			return 0
		}
		m.sync = make(chan syncResult, 1)
		wait = m.sync
		if req.MemberID == g.leader {
			store = g.assign(req.GroupAssignment)
		}
		return 0
	})
	if code != 0 {
		resp.ErrorCode = code
		return resp
	}
	if wait == nil {
		return resp
	}
	if store != nil {
		err := c.shards.ProposeGroup(ctx, shard, Command{StoreGroup: store}.Encode())
		c.locked(func() { c.assigned(g, store.Generation, err) })
	}
	select {
	case res := <-wait:
		resp.ErrorCode, resp.MemberAssignment = res.code, res.assignment
	case <-ctx.Done():
		resp.ErrorCode = kerr.RebalanceInProgress.Code
	}
	return resp
}

// assign records the leader's assignment on every member and returns the
// membership to persist. c.mu is held.
func (g *group) assign(assignments []kmsg.SyncGroupRequestGroupAssignment) *StoreGroup {
	assigned := map[string][]byte{}
	for _, a := range assignments {
		assigned[a.MemberID] = a.MemberAssignment
	}
	sg := &StoreGroup{Group: g.name, ProtocolType: g.protocolType, Protocol: g.protocol, Generation: g.generation, Leader: g.leader}
	for id, m := range g.members {
		m.Assignment = assigned[id]
		mr := m.MemberRecord
		mr.Protocols = []Protocol{{Name: g.protocol, Metadata: m.metadata(g.protocol)}}
		sg.Members = append(sg.Members, mr)
	}
	return sg
}

// assigned ends a rebalance once the leader's assignment for generation
// is persisted (err nil) or failed to be, unless the group moved on in the
// meantime. c.mu is held.
func (c *Coordinator) assigned(g *group, generation int32, err error) {
	if c.groups[g.name] != g || g.generation != generation || g.state != StateCompletingRebalance {
		return
	}
	if err != nil {
		c.log.Warn().Err(err).Str("group", g.name).Msg("persist assignment")
		c.prepareRebalance(g, time.Now(), "assignment not persisted")
		return
	}
	g.state = StateStable
	for _, m := range g.members {
		if m.sync != nil {
			m.sync <- syncResult{assignment: m.Assignment}
			m.sync = nil
		}
	}
	c.log.Info().Str("group", g.name).Int32("generation", g.generation).Msg("rebalance: assignment synced")
}

// Heartbeat keeps a member's session alive and tells it about rebalances.
func (c *Coordinator) Heartbeat(ctx context.Context, shard uint64, req *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse {
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	resp.ErrorCode = c.withGroup(ctx, shard, req.Group, false, func(g *group) int16 {
		if g == nil {
			return kerr.UnknownMemberID.Code
		}
		m, code := g.checkMember(req.MemberID, req.InstanceID, req.Generation)
		if m != nil {
			m.deadline = time.Now().Add(time.Duration(m.SessionTimeoutMs) * time.Millisecond)
		}
		if code == 0 && g.state == StatePreparingRebalance {
			code = kerr.RebalanceInProgress.Code
		}
		return code
	})
	return resp
}

// LeaveGroup removes members (one by id before v3, a batch after).
func (c *Coordinator) LeaveGroup(ctx context.Context, shard uint64, req *kmsg.LeaveGroupRequest) *kmsg.LeaveGroupResponse {
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	resp.ErrorCode = c.withGroup(ctx, shard, req.Group, false, func(g *group) int16 {
		if g == nil {
			return kerr.UnknownMemberID.Code
		}
		c.leave(g, req, resp)
		return resp.ErrorCode
	})
	return resp
}

// leave removes the members a LeaveGroup names, answering each in resp.
// c.mu is held.
func (c *Coordinator) leave(g *group, req *kmsg.LeaveGroupRequest, resp *kmsg.LeaveGroupResponse) {
	leaves := req.Members
	if req.Version < 3 {
		leaves = []kmsg.LeaveGroupRequestMember{{MemberID: req.MemberID}}
	}
	left := 0
	for _, l := range leaves {
		out := kmsg.NewLeaveGroupResponseMember()
		out.MemberID, out.InstanceID = l.MemberID, l.InstanceID
		id := l.MemberID
		if l.InstanceID != nil {
			if m := g.memberByInstance(*l.InstanceID); m == nil {
				out.ErrorCode = kerr.UnknownMemberID.Code
			} else if id != "" && id != m.ID {
				out.ErrorCode = kerr.FencedInstanceID.Code
			} else {
				id = m.ID
			}
		}
		if out.ErrorCode == 0 {
			m, ok := g.members[id]
			if !ok {
				out.ErrorCode = kerr.UnknownMemberID.Code
			} else {
				if m.join != nil {
					m.join <- joinResult{code: kerr.UnknownMemberID.Code, generation: -1, memberID: id}
				}
				if m.sync != nil {
					m.sync <- syncResult{code: kerr.UnknownMemberID.Code}
				}
				delete(g.members, id)
				left++
			}
		}
		resp.Members = append(resp.Members, out)
	}
	if req.Version < 3 {
		resp.ErrorCode = resp.Members[0].ErrorCode
		resp.Members = nil
	}
	if left > 0 {
		now := time.Now()
		switch g.state {
		case StateStable, StateCompletingRebalance:
			c.prepareRebalance(g, now, "member left")
		case StatePreparingRebalance:
			if len(g.members) == 0 {
				c.becomeEmpty(g)
			} else if c.allJoined(g) && !now.Before(g.delayUntil) {
				c.completeJoin(g, now)
			}
		}
	}
}

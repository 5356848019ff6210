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
	g, code := c.acquire(ctx, shard, req.Group, true)
	if code != 0 {
		return fail(code)
	}
	// c.mu is held from here.
	if len(g.members) > 0 && (g.protocolType != req.ProtocolType || !g.supports(protocols)) {
		c.mu.Unlock()
		return fail(kerr.InconsistentGroupProtocol.Code)
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
				c.mu.Unlock()
				return fail(kerr.FencedInstanceID.Code)
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
			c.mu.Unlock()
			resp.MemberID = memberID
			return fail(kerr.MemberIDRequired.Code)
		}
	default:
		_, isPending := g.pending[memberID]
		if _, known := g.members[memberID]; !known && !isPending {
			c.mu.Unlock()
			resp.MemberID = memberID
			return fail(kerr.UnknownMemberID.Code)
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
	c.mu.Unlock()

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

// SyncGroup takes the leader's assignment and hands each member its own.
func (c *Coordinator) SyncGroup(ctx context.Context, shard uint64, req *kmsg.SyncGroupRequest) *kmsg.SyncGroupResponse {
	resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
	g, code := c.acquire(ctx, shard, req.Group, false)
	if code != 0 {
		resp.ErrorCode = code
		return resp
	}
	if g == nil {
		c.mu.Unlock()
		resp.ErrorCode = kerr.UnknownMemberID.Code
		return resp
	}
	m, code := g.checkMember(req.MemberID, req.InstanceID, req.Generation)
	if code == 0 && ((req.ProtocolType != nil && *req.ProtocolType != g.protocolType) || (req.Protocol != nil && *req.Protocol != g.protocol)) {
		code = kerr.InconsistentGroupProtocol.Code
	}
	if code == 0 && g.state == StatePreparingRebalance {
		code = kerr.RebalanceInProgress.Code
	}
	if code != 0 {
		c.mu.Unlock()
		resp.ErrorCode = code
		return resp
	}
	resp.ProtocolType, resp.Protocol = &g.protocolType, &g.protocol
	if g.state == StateStable {
		resp.MemberAssignment = m.Assignment
		c.mu.Unlock()
		return resp
	}
	m.sync = make(chan syncResult, 1)
	wait := m.sync
	if req.MemberID == g.leader {
		assigned := map[string][]byte{}
		for _, a := range req.GroupAssignment {
			assigned[a.MemberID] = a.MemberAssignment
		}
		sg := StoreGroup{Group: g.name, ProtocolType: g.protocolType, Protocol: g.protocol, Generation: g.generation, Leader: g.leader}
		for id, mm := range g.members {
			mm.Assignment = assigned[id]
			mr := mm.MemberRecord
			mr.Protocols = []Protocol{{Name: g.protocol, Metadata: mm.metadata(g.protocol)}}
			sg.Members = append(sg.Members, mr)
		}
		generation := g.generation
		c.mu.Unlock()
		err := c.shards.ProposeGroup(ctx, shard, Command{StoreGroup: &sg}.Encode())
		c.mu.Lock()
		if g2 := c.groups[g.name]; g2 == g && g.generation == generation && g.state == StateCompletingRebalance {
			if err != nil {
				c.log.Warn().Err(err).Str("group", g.name).Msg("persist assignment")
				c.prepareRebalance(g, time.Now(), "assignment not persisted")
			} else {
				g.state = StateStable
				for _, mm := range g.members {
					if mm.sync != nil {
						mm.sync <- syncResult{assignment: mm.Assignment}
						mm.sync = nil
					}
				}
				c.log.Info().Str("group", g.name).Int32("generation", g.generation).Msg("rebalance: assignment synced")
			}
		}
	}
	c.mu.Unlock()
	select {
	case res := <-wait:
		resp.ErrorCode, resp.MemberAssignment = res.code, res.assignment
	case <-ctx.Done():
		resp.ErrorCode = kerr.RebalanceInProgress.Code
	}
	return resp
}

// Heartbeat keeps a member's session alive and tells it about rebalances.
func (c *Coordinator) Heartbeat(ctx context.Context, shard uint64, req *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse {
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	g, code := c.acquire(ctx, shard, req.Group, false)
	if code != 0 {
		resp.ErrorCode = code
		return resp
	}
	defer c.mu.Unlock()
	if g == nil {
		resp.ErrorCode = kerr.UnknownMemberID.Code
		return resp
	}
	m, code := g.checkMember(req.MemberID, req.InstanceID, req.Generation)
	if m != nil {
		m.deadline = time.Now().Add(time.Duration(m.SessionTimeoutMs) * time.Millisecond)
	}
	if code == 0 && g.state == StatePreparingRebalance {
		code = kerr.RebalanceInProgress.Code
	}
	resp.ErrorCode = code
	return resp
}

// LeaveGroup removes members (one by id before v3, a batch after).
func (c *Coordinator) LeaveGroup(ctx context.Context, shard uint64, req *kmsg.LeaveGroupRequest) *kmsg.LeaveGroupResponse {
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	g, code := c.acquire(ctx, shard, req.Group, false)
	if code != 0 {
		resp.ErrorCode = code
		return resp
	}
	defer c.mu.Unlock()
	if g == nil {
		resp.ErrorCode = kerr.UnknownMemberID.Code
		return resp
	}
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
	return resp
}

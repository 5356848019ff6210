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

// JoinGroup adds or refreshes a member and waits for the join phase to end;
// a consumer group with members takes the member as a classic member
// (topics: for its target assignment).
func (c *Coordinator) JoinGroup(ctx context.Context, shard uint64, req *kmsg.JoinGroupRequest, cl Client, topics TopicMetadata) *kmsg.JoinGroupResponse {
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
		g  *group
		j  joining
		cj classicJoined
	)
	code := c.withGroup(ctx, shard, req.Group, true, func(live *group) int16 {
		if cg := c.consumerFor(shard, req.Group); cg != nil {
			if len(cg.members) > 0 {
				var code int16
				cj, code = c.classicJoin(cg, req, protocols, cl, topics, resp)
				return code
			}
			// An empty consumer group: the classic group replaces it.
			delete(c.cgroups, req.Group)
		}
		var code int16
		g = live
		j, code = c.join(g, req, protocols, cl)
		return code
	})
	if code != 0 {
		if cj.resp == nil && resp.MemberID == "" {
			resp.MemberID = j.memberID
		}
		return fail(code)
	}
	if cj.resp != nil {
		if err := <-cj.stored; err != nil {
			c.log.Warn().Err(err).Str("group", req.Group).Msg("persist consumer group")
			c.locked(func() { delete(c.consumerGroups(), req.Group) })
			resp.Generation, resp.ProtocolType, resp.Protocol = -1, nil, nil
			return fail(kerr.NotCoordinator.Code)
		}
		return cj.resp
	}
	if j.stored != nil {
		err := <-j.stored
		c.locked(func() { c.staticStored(g, j, err) })
	}

	wait := j.wait
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
	resp.SkipAssignment = res.skipAssignment
	for _, mr := range res.members {
		jm := kmsg.NewJoinGroupResponseMember()
		jm.MemberID, jm.InstanceID = mr.ID, mr.InstanceID
		jm.ProtocolMetadata = mr.Protocols[0].Metadata
		resp.Members = append(resp.Members, jm)
	}
	return resp
}

// joining is where a JoinGroup stands once the coordinator took it.
type joining struct {
	memberID string
	wait     chan joinResult // the join's result arrives here
	// stored is set when a known static member replaced its previous
	// member id in a stable group: once the replacement is persisted, the
	// join is answered with the current generation and leader.
	stored <-chan error
	leader string // the leader before the replacement
	// skipAssignment: the join (v9+) may learn it leads, and then that
	// the group keeps its assignment (KIP-814).
	skipAssignment bool
}

// full tells whether a group cannot take another member (group.max.size).
func (c *Coordinator) full(g *group) bool {
	return c.cfg.MaxSize > 0 && len(g.members) >= c.cfg.MaxSize
}

// join adds or refreshes the member a JoinGroup names, or returns an error
// code (with the member id when the client must learn it:
// MemberIDRequired, UnknownMemberID). c.mu is held.
func (c *Coordinator) join(g *group, req *kmsg.JoinGroupRequest, protocols []Protocol, cl Client) (joining, int16) {
	if len(g.members) > 0 && (g.protocolType != req.ProtocolType || !g.supports(protocols)) {
		return joining{}, kerr.InconsistentGroupProtocol.Code
	}
	now := time.Now()
	j := joining{memberID: req.MemberID}
	var (
		m        *member
		replaced bool
	)
	switch {
	case req.InstanceID != nil:
		// Static member: the instance id owns a member id; a new join
		// without one replaces (fences) the previous holder.
		if old := g.memberByInstance(*req.InstanceID); old != nil {
			if j.memberID != "" && j.memberID != old.ID {
				return joining{}, kerr.FencedInstanceID.Code
			}
			if j.memberID == "" {
				// Kafka's static member ids start with the instance id;
				// clients rely on it (franz-go tells a restarted leader so).
				j.memberID, j.leader, replaced = newMemberID(*req.InstanceID), g.leader, true
				c.replaceStatic(g, old, j.memberID)
			}
			m = g.members[j.memberID]
		} else if j.memberID == "" {
			if c.full(g) {
				return joining{}, kerr.GroupMaxSizeReached.Code
			}
			j.memberID = newMemberID(*req.InstanceID)
		}
	case j.memberID == "":
		if c.full(g) {
			return joining{}, kerr.GroupMaxSizeReached.Code
		}
		j.memberID = newMemberID(cl.ID)
		if req.Version >= 4 {
			// KIP-394: hand out the id and make the client come back with it.
			g.pending[j.memberID] = now
			return j, kerr.MemberIDRequired.Code
		}
	default:
		_, isPending := g.pending[j.memberID]
		if _, known := g.members[j.memberID]; !known && !isPending {
			return j, kerr.UnknownMemberID.Code
		}
		delete(g.pending, j.memberID)
	}
	if m == nil {
		m = g.members[j.memberID]
	}
	if m == nil {
		if c.full(g) {
			return joining{}, kerr.GroupMaxSizeReached.Code
		}
		m = &member{MemberRecord: MemberRecord{ID: j.memberID}}
		g.members[j.memberID] = m
	}
	if m.join != nil {
		// A second join from the same member replaces the first.
		m.join <- joinResult{code: kerr.RebalanceInProgress.Code, generation: -1, memberID: j.memberID}
	}
	m.InstanceID, m.ClientID, m.ClientHost = req.InstanceID, cl.ID, cl.Host
	m.SessionTimeoutMs = req.SessionTimeoutMillis
	m.RebalanceTimeoutMs = req.RebalanceTimeoutMillis
	if req.Version == 0 {
		m.RebalanceTimeoutMs = req.SessionTimeoutMillis
	}
	m.Protocols = protocols
	m.join = make(chan joinResult, 1)
	m.deadline = now.Add(time.Duration(m.SessionTimeoutMs) * time.Millisecond)
	j.wait = m.join
	if replaced && g.state == StateStable && g.protocolType == req.ProtocolType && selectProtocol(g) == g.protocol {
		// Kafka's updateStaticMemberAndRebalance: the group keeps its
		// generation and assignment; only the member id changes, once
		// persisted so that a new coordinator fences the old id too.
		j.stored = c.persist(g.shard, g.term, Command{StoreGroup: g.record()})
		j.skipAssignment = req.Version >= 9
		return j, 0
	}
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
	return j, 0
}

// replaceStatic gives a static member's place to its new member id: the
// old id's waiting requests are fenced and it owns nothing any more.
// c.mu is held.
func (c *Coordinator) replaceStatic(g *group, old *member, memberID string) {
	delete(g.members, old.ID)
	if old.join != nil {
		old.join <- joinResult{code: kerr.FencedInstanceID.Code, generation: -1, memberID: old.ID}
		old.join = nil
	}
	if old.sync != nil {
		old.sync <- syncResult{code: kerr.FencedInstanceID.Code}
		old.sync = nil
	}
	if g.leader == old.ID {
		g.leader = memberID
	}
	c.log.Info().Str("group", g.name).Str("instance", *old.InstanceID).Str("old_member", old.ID).Str("member", memberID).Msg("static member replaced")
	old.ID = memberID
	g.members[memberID] = old
}

// staticStored answers the join of a static member that replaced its old
// id in a stable group, once the replacement is persisted (err nil), with
// the current generation, as Kafka does: before v9 with the leader as it
// was before, so that the member, even if it replaced the leader, syncs
// without assigning; from v9 with the current leader and, for the leader,
// the members and SkipAssignment (KIP-814). If the group moved on
// meanwhile, its rebalance answers the join; if the replacement was not
// persisted, the group rebalances. c.mu is held.
func (c *Coordinator) staticStored(g *group, j joining, err error) {
	m, ok := g.members[j.memberID]
	if c.groups[g.name] != g || !ok || m.join != j.wait || g.state != StateStable {
		return
	}
	if err != nil {
		c.prepareRebalance(g, time.Now(), "static member replacement not persisted")
		return
	}
	m.join = nil
	res := joinResult{generation: g.generation, protocol: g.protocol, leader: j.leader, memberID: j.memberID}
	if j.skipAssignment {
		res.leader = g.leader
		if g.leader == j.memberID {
			res.members, res.skipAssignment = g.record().Members, true
		}
	}
	j.wait <- res
}

// SyncGroup takes the leader's assignment and hands each member its own.
func (c *Coordinator) SyncGroup(ctx context.Context, shard uint64, req *kmsg.SyncGroupRequest) *kmsg.SyncGroupResponse {
	resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
	if req.Group == "" {
		resp.ErrorCode = kerr.InvalidGroupID.Code
		return resp
	}
	var (
		g          *group
		wait       chan syncResult
		generation int32
		stored     <-chan error
	)
	code := c.withGroup(ctx, shard, req.Group, false, func(live *group) int16 {
		if cg := c.consumerFor(shard, req.Group); cg != nil && len(cg.members) > 0 {
			return c.classicSync(cg, req, resp)
		}
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
			g.assign(req.GroupAssignment)
			generation = g.generation
			stored = c.persist(shard, g.term, Command{StoreGroup: g.record()})
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
	if stored != nil {
		err := <-stored
		c.locked(func() { c.assigned(g, generation, err) })
	}
	select {
	case res := <-wait:
		resp.ErrorCode, resp.MemberAssignment = res.code, res.assignment
	case <-ctx.Done():
		resp.ErrorCode = kerr.RebalanceInProgress.Code
	}
	return resp
}

// assign records the leader's assignment on every member. c.mu is held.
func (g *group) assign(assignments []kmsg.SyncGroupRequestGroupAssignment) {
	assigned := map[string][]byte{}
	for _, a := range assignments {
		assigned[a.MemberID] = a.MemberAssignment
	}
	for id, m := range g.members {
		m.Assignment = assigned[id]
	}
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
	if req.Group == "" {
		resp.ErrorCode = kerr.InvalidGroupID.Code
		return resp
	}
	resp.ErrorCode = c.withGroup(ctx, shard, req.Group, false, func(g *group) int16 {
		if cg := c.consumerFor(shard, req.Group); cg != nil && len(cg.members) > 0 {
			return c.classicHeartbeat(cg, req)
		}
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
	if req.Group == "" {
		resp.ErrorCode = kerr.InvalidGroupID.Code
		return resp
	}
	var stored <-chan error
	resp.ErrorCode = c.withGroup(ctx, shard, req.Group, false, func(g *group) int16 {
		if cg := c.consumerFor(shard, req.Group); cg != nil && len(cg.members) > 0 {
			stored = c.classicLeave(cg, req, resp)
			return resp.ErrorCode
		}
		if g == nil {
			return kerr.UnknownMemberID.Code
		}
		c.leave(g, req, resp)
		return resp.ErrorCode
	})
	if stored != nil {
		if err := <-stored; err != nil {
			c.log.Warn().Err(err).Str("group", req.Group).Msg("persist consumer group")
			c.locked(func() { delete(c.consumerGroups(), req.Group) })
			return leaveFailed(req, kerr.NotCoordinator.Code)
		}
	}
	return resp
}

// leave removes the members a LeaveGroup names, answering each in resp.
// c.mu is held.
func (c *Coordinator) leave(g *group, req *kmsg.LeaveGroupRequest, resp *kmsg.LeaveGroupResponse) {
	left := eachLeave(req, resp, func(l kmsg.LeaveGroupRequestMember) int16 {
		id := l.MemberID
		if l.InstanceID != nil {
			m := g.memberByInstance(*l.InstanceID)
			switch {
			case m == nil:
				return kerr.UnknownMemberID.Code
			case id != "" && id != m.ID:
				return kerr.FencedInstanceID.Code
			}
			id = m.ID
		}
		m, ok := g.members[id]
		if !ok {
			return kerr.UnknownMemberID.Code
		}
		if m.join != nil {
			m.join <- joinResult{code: kerr.UnknownMemberID.Code, generation: -1, memberID: id}
		}
		if m.sync != nil {
			m.sync <- syncResult{code: kerr.UnknownMemberID.Code}
		}
		delete(g.members, id)
		return 0
	})
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

// eachLeave runs leave on each member a LeaveGroup names (one by id
// before v3), answering each in resp with its code, and returns how many
// left.
func eachLeave(req *kmsg.LeaveGroupRequest, resp *kmsg.LeaveGroupResponse, leave func(kmsg.LeaveGroupRequestMember) int16) int {
	leaves := req.Members
	if req.Version < 3 {
		leaves = []kmsg.LeaveGroupRequestMember{{MemberID: req.MemberID}}
	}
	left := 0
	for _, l := range leaves {
		out := kmsg.NewLeaveGroupResponseMember()
		out.MemberID, out.InstanceID = l.MemberID, l.InstanceID
		if out.ErrorCode = leave(l); out.ErrorCode == 0 {
			left++
		}
		resp.Members = append(resp.Members, out)
	}
	if req.Version < 3 {
		resp.ErrorCode = resp.Members[0].ErrorCode
		resp.Members = nil
	}
	return left
}

// leaveFailed answers a LeaveGroup with code.
func leaveFailed(req *kmsg.LeaveGroupRequest, code int16) *kmsg.LeaveGroupResponse {
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	resp.ErrorCode = code
	return resp
}

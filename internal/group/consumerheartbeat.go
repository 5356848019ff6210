package group

import (
	"context"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Member epochs with a meaning of their own in a heartbeat.
const (
	epochJoin        = 0
	epochLeave       = -1
	epochLeaveStatic = -2
)

// ConsumerHeartbeat is a ConsumerGroupHeartbeat with topics by name; nil
// fields did not change since the member's previous heartbeat.
type ConsumerHeartbeat struct {
	Version            int16
	Group              string
	MemberID           string
	MemberEpoch        int32
	InstanceID         *string
	RackID             *string
	RebalanceTimeoutMs int32
	Topics             []string
	Regex              *string
	Assignor           *string
	// Owned is what the member owns now (nil: unchanged).
	Owned Assignment
}

// ConsumerHeartbeatAnswer is the heartbeat's response, topics by name.
type ConsumerHeartbeatAnswer struct {
	Code       int16
	Message    string
	MemberID   string
	Epoch      int32
	IntervalMs int32
	// Assignment is the member's whole assignment when it changed (nil:
	// unchanged, keep what you have).
	Assignment Assignment
}

// validate applies Kafka's request checks.
func (h *ConsumerHeartbeat) validate() (int16, string) {
	invalid := func(msg string) (int16, string) { return kerr.InvalidRequest.Code, msg }
	switch {
	case h.Group == "":
		return invalid("GroupId can't be empty.")
	case h.InstanceID != nil && *h.InstanceID == "":
		return invalid("InstanceId can't be empty.")
	case h.RackID != nil && *h.RackID == "":
		return invalid("RackId can't be empty.")
	case h.MemberID == "" && (h.Version >= 1 || h.MemberEpoch != epochJoin):
		return invalid("MemberId can't be empty.")
	case h.MemberEpoch < epochLeaveStatic:
		return invalid("MemberEpoch is invalid.")
	case h.MemberEpoch == epochLeaveStatic && h.InstanceID == nil:
		return invalid("InstanceId can't be null when leaving with epoch -2.")
	case h.MemberEpoch == epochJoin && h.RebalanceTimeoutMs <= 0:
		return invalid("RebalanceTimeoutMs must be provided in first request.")
	case h.MemberEpoch == epochJoin && h.Owned.count() > 0:
		return invalid("TopicPartitions must be empty when (re-)joining.")
	case h.MemberEpoch == epochJoin && h.Topics == nil && h.Regex == nil:
		return invalid("SubscribedTopicNames or SubscribedTopicRegex must be set in first request.")
	case h.Assignor != nil && !knownAssignor(*h.Assignor):
		return kerr.UnsupportedAssignor.Code, "ServerAssignor " + *h.Assignor + " is not supported. Supported assignors: uniform, range."
	}
	if h.Regex != nil && *h.Regex != "" {
		if _, err := compileRegex(*h.Regex); err != nil {
			return kerr.InvalidRegularExpression.Code, "SubscribedTopicRegex " + *h.Regex + " is not a valid regular expression: " + err.Error()
		}
	}
	return 0, ""
}

// ConsumerGroupHeartbeat runs one heartbeat of the KIP-848 protocol and
// answers once any change it made to the group is persisted.
func (c *Coordinator) ConsumerGroupHeartbeat(ctx context.Context, shard uint64, h ConsumerHeartbeat, cl Client, topics TopicMetadata) ConsumerHeartbeatAnswer {
	heartbeat, _ := c.consumerTimeouts(h.Group)
	ans := ConsumerHeartbeatAnswer{MemberID: h.MemberID, Epoch: h.MemberEpoch, IntervalMs: int32(heartbeat.Milliseconds())}
	if code, msg := h.validate(); code != 0 {
		ans.Code, ans.Message = code, msg
		return ans
	}
	var stored <-chan error
	code := c.withConsumer(ctx, shard, func(term uint64) int16 {
		cg, code, msg := c.liveConsumer(shard, h.Group, h.MemberEpoch == epochJoin, term)
		if code == 0 && cg == nil {
			code, msg = kerr.GroupIDNotFound.Code, "group "+h.Group+" does not exist"
		}
		if code != 0 {
			ans.Message = msg
			return code
		}
		changed, code, msg := c.heartbeat(cg, &h, cl, topics, &ans)
		if code != 0 {
			ans.Message = msg
			return code
		}
		switch {
		case cg.downgraded != nil:
			stored = cg.downgraded
		case changed:
			stored = c.storeConsumer(cg)
		}
		return 0
	})
	if code == 0 && stored != nil {
		if err := <-stored; err != nil {
			c.log.Warn().Err(err).Str("group", h.Group).Msg("persist consumer group")
			// What is live may not be what a next leader loads: reload.
			c.locked(func() {
				delete(c.consumerGroups(), h.Group)
				delete(c.groups, h.Group)
			})
			code = kerr.NotCoordinator.Code
		}
	}
	if code != 0 {
		return ConsumerHeartbeatAnswer{Code: code, Message: ans.Message, MemberID: h.MemberID, Epoch: h.MemberEpoch}
	}
	return ans
}

// heartbeat applies a valid heartbeat to a live group: joins, leaves,
// subscription changes, a new target, the member's reconciliation. It
// reports whether the group's persisted state changed. c.mu is held.
func (c *Coordinator) heartbeat(cg *cgroup, h *ConsumerHeartbeat, cl Client, topics TopicMetadata, ans *ConsumerHeartbeatAnswer) (bool, int16, string) {
	now := time.Now()
	if h.MemberEpoch == epochLeave || h.MemberEpoch == epochLeaveStatic {
		return c.consumerLeave(cg, h, ans)
	}
	// One heartbeat bumps the group epoch at most once, whatever changed.
	changed, bump := false, false
	m, ok := cg.members[h.MemberID]
	switch {
	case h.MemberEpoch == epochJoin:
		var code int16
		var msg string
		m, bump, code, msg = c.consumerJoin(cg, h, m, now)
		if code != 0 {
			return false, code, msg
		}
		changed = true
		ans.MemberID = m.ID
	case !ok:
		return false, kerr.UnknownMemberID.Code, "member " + h.MemberID + " is not in group " + cg.name
	case h.MemberEpoch != m.Epoch && !(h.MemberEpoch == m.PreviousEpoch && h.Owned != nil && h.Owned.minus(m.Assigned).empty()):
		// A member whose response was lost may come back with its previous
		// epoch while owning nothing it should not; anything else is fenced.
		return false, kerr.FencedMemberEpoch.Code, "member epoch " + strconv.Itoa(int(h.MemberEpoch)) + " is not the current one"
	case h.InstanceID != nil && (m.InstanceID == nil || *m.InstanceID != *h.InstanceID):
		return false, kerr.FencedInstanceID.Code, "instance id does not match the member's"
	}
	_, session := c.consumerTimeouts(cg.name)
	m.deadline = now.Add(session)
	m.ClientID, m.ClientHost = cl.ID, cl.Host
	if h.RackID != nil && (m.RackID == nil || *m.RackID != *h.RackID) {
		m.RackID, changed = h.RackID, true
	}
	if h.RebalanceTimeoutMs > 0 && h.RebalanceTimeoutMs != m.RebalanceTimeoutMs {
		m.RebalanceTimeoutMs, changed = h.RebalanceTimeoutMs, true
	}
	if h.Assignor != nil && *h.Assignor != m.Assignor {
		m.Assignor, changed, bump = *h.Assignor, true, true
	}
	if h.Topics != nil && !sameStrings(h.Topics, m.Topics) {
		m.Topics, changed, bump = append([]string(nil), h.Topics...), true, true
	}
	if h.Regex != nil && *h.Regex != m.Regex {
		m.Regex, changed, bump = *h.Regex, true, true
	}
	epoch, assignmentEpoch := cg.epoch, cg.assignmentEpoch
	if bump {
		cg.epoch++
	}
	cg.refreshTarget(topics, bump)
	if cg.epoch != epoch || cg.assignmentEpoch != assignmentEpoch {
		changed = true
	}
	before := m.Assigned.clone()
	if cg.reconcile(m, h.Owned, now) {
		changed = true
	}
	ans.Epoch = m.Epoch
	if h.MemberEpoch == epochJoin || !m.Assigned.equal(before) || (h.Owned != nil && !h.Owned.equal(m.Assigned)) {
		ans.Assignment = m.Assigned.clone()
		if ans.Assignment == nil {
			ans.Assignment = Assignment{}
		}
	}
	return changed, 0, ""
}

// consumerJoin admits a member joining with epoch 0: a new member, a known
// one starting over (it owns nothing now: its partitions are released), or
// a static instance taking back the place it left with epoch -2. It
// reports whether the group epoch must move (a new member). c.mu is held.
func (c *Coordinator) consumerJoin(cg *cgroup, h *ConsumerHeartbeat, m *cmember, now time.Time) (*cmember, bool, int16, string) {
	if h.InstanceID != nil {
		for id, old := range cg.members {
			if old.InstanceID == nil || *old.InstanceID != *h.InstanceID || id == h.MemberID {
				continue
			}
			if !old.Left {
				return nil, false, kerr.UnreleasedInstanceID.Code, "instance " + *h.InstanceID + " is held by another member"
			}
			// The static member comes back under a new member id with its
			// epoch and assignment, without a rebalance.
			delete(cg.members, id)
			if t, ok := cg.target[id]; ok {
				delete(cg.target, id)
				cg.target[h.MemberID] = t
			}
			old.ID, old.Left = h.MemberID, false
			cg.members[h.MemberID] = old
			c.log.Info().Str("group", cg.name).Str("instance", *h.InstanceID).Str("old_member", id).Str("member", h.MemberID).Msg("consumer group: static member rejoined")
			return old, false, 0, ""
		}
	}
	if m != nil {
		// Rejoining: whatever it held is released.
		m.Assigned, m.Revoking, m.state, m.Left = nil, nil, memberStable, false
		m.PreviousEpoch, m.Epoch = m.Epoch, 0
		m.InstanceID = h.InstanceID
		return m, false, 0, ""
	}
	if c.cfg.MaxSize > 0 && len(cg.members) >= c.cfg.MaxSize {
		return nil, false, kerr.GroupMaxSizeReached.Code, "the group reached its maximum size"
	}
	id := h.MemberID
	if id == "" { // v0: the coordinator names the member
		id = newMemberID(h.Group)
	}
	m = &cmember{ConsumerMember: ConsumerMember{ID: id, InstanceID: h.InstanceID, RebalanceTimeoutMs: h.RebalanceTimeoutMs}, state: memberStable}
	cg.members[id] = m
	return m, true, 0, ""
}

// consumerLeave removes a member (epoch -1), or keeps a static member's
// place and assignment for its instance to take back (epoch -2). c.mu is
// held.
func (c *Coordinator) consumerLeave(cg *cgroup, h *ConsumerHeartbeat, ans *ConsumerHeartbeatAnswer) (bool, int16, string) {
	m, ok := cg.members[h.MemberID]
	if !ok && h.InstanceID != nil {
		for _, o := range cg.members {
			if o.InstanceID != nil && *o.InstanceID == *h.InstanceID {
				if h.MemberID != "" && h.MemberID != o.ID {
					return false, kerr.FencedInstanceID.Code, "instance id belongs to another member"
				}
				m, ok = o, true
			}
		}
	}
	if !ok {
		return false, kerr.UnknownMemberID.Code, "member " + h.MemberID + " is not in group " + cg.name
	}
	ans.Epoch = h.MemberEpoch
	if h.MemberEpoch == epochLeaveStatic {
		m.Left = true
		return true, 0, ""
	}
	c.log.Info().Str("group", cg.name).Str("member", m.ID).Msg("consumer group: member left")
	if cg.downgraded = c.maybeDowngrade(cg, m.ID); cg.downgraded != nil {
		return true, 0, ""
	}
	cg.removeMember(m.ID)
	return true, 0, ""
}

func sameStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := make(map[string]int, len(a))
	for _, s := range a {
		seen[s]++
	}
	for _, s := range b {
		if seen[s] == 0 {
			return false
		}
		seen[s]--
	}
	return true
}

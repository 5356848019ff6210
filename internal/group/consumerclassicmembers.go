package group

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Classic-protocol members of a consumer group (a group upgraded while
// classic members were in it, or a classic member joining a consumer
// group with members), as Kafka's classicGroup*ToConsumerGroup: a
// JoinGroup updates the member's subscription, may move the target, and
// reconciles the member with what its subscription says it owns; the
// answer comes at once, generation = member epoch, with no leader (the
// member never assigns); SyncGroup hands out the member's assigned
// partitions; a Heartbeat answers REBALANCE_IN_PROGRESS when the member
// must rejoin to move on.

// classicJoined is a JoinGroup a consumer group took: its answer, sent
// once stored commits.
type classicJoined struct {
	resp   *kmsg.JoinGroupResponse
	stored <-chan error
}

// supportsClassic tells whether a joining classic member's protocols
// share one with every classic member (Kafka's supportsClassicProtocols).
func (cg *cgroup) supportsClassic(protocolType string, protocols []Protocol) bool {
	if protocolType != ProtocolTypeConsumer || len(protocols) == 0 {
		return false
	}
	for _, p := range protocols {
		all := true
		for _, m := range cg.members {
			if m.Classic != nil && !hasProtocol(m.Classic.Protocols, p.Name) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

func hasProtocol(ps []Protocol, name string) bool {
	for _, p := range ps {
		if p.Name == name {
			return true
		}
	}
	return false
}

// classicJoin runs a classic JoinGroup on a consumer group with members.
// c.mu is held.
func (c *Coordinator) classicJoin(cg *cgroup, req *kmsg.JoinGroupRequest, protocols []Protocol, cl Client, topics TopicMetadata, resp *kmsg.JoinGroupResponse) (classicJoined, int16) {
	memberID := req.MemberID
	unknown := memberID == ""
	if unknown {
		memberID = newMemberID(cl.ID)
	}
	_, known := cg.members[memberID]
	if !known && c.cfg.MaxSize > 0 && len(cg.members) >= c.cfg.MaxSize {
		return classicJoined{}, kerr.GroupMaxSizeReached.Code
	}
	if !cg.supportsClassic(req.ProtocolType, protocols) {
		return classicJoined{}, kerr.InconsistentGroupProtocol.Code
	}
	if unknown && req.InstanceID == nil && req.Version >= 4 {
		resp.MemberID = memberID
		return classicJoined{}, kerr.MemberIDRequired.Code
	}
	sub := kmsg.NewConsumerMemberMetadata()
	if err := sub.ReadFrom(protocols[0].Metadata); err != nil {
		return classicJoined{}, kerr.InconsistentGroupProtocol.Code
	}
	now := time.Now()
	bump := false
	m := cg.members[memberID]
	if req.InstanceID != nil {
		if old := cg.staticMember(*req.InstanceID); old != nil && old.ID != memberID {
			if !unknown {
				return classicJoined{}, kerr.FencedInstanceID.Code
			}
			// A restarted static member takes over its place and
			// assignment under the new id, without a rebalance.
			delete(cg.members, old.ID)
			if t, ok := cg.target[old.ID]; ok {
				delete(cg.target, old.ID)
				cg.target[memberID] = t
			}
			old.ID, old.Left = memberID, false
			cg.members[memberID] = old
			m = old
		}
	}
	switch {
	case m == nil:
		m = &cmember{ConsumerMember: ConsumerMember{ID: memberID, Epoch: 0}, state: memberStable}
		cg.members[memberID] = m
		bump = true
	case m.Classic == nil:
		return classicJoined{}, kerr.UnknownMemberID.Code
	}
	m.InstanceID, m.ClientID, m.ClientHost = req.InstanceID, cl.ID, cl.Host
	m.RebalanceTimeoutMs = req.RebalanceTimeoutMillis
	if req.Version == 0 {
		m.RebalanceTimeoutMs = req.SessionTimeoutMillis
	}
	if sub.Rack != nil {
		m.RackID = sub.Rack
	}
	m.Assignor = ""
	m.Classic = &ClassicMember{SessionTimeoutMs: req.SessionTimeoutMillis, Protocols: protocols}
	if !sameStrings(sub.Topics, m.Topics) {
		m.Topics, bump = append([]string{}, sub.Topics...), true
	}
	if bump {
		cg.epoch++
	}
	cg.refreshTarget(topics, bump)
	owned := Assignment{}
	for _, t := range sub.OwnedPartitions {
		owned = owned.union(Assignment{t.Topic: t.Partitions})
	}
	cg.reconcile(m, owned, now)
	m.deadline = now.Add(time.Duration(req.SessionTimeoutMillis) * time.Millisecond)
	// The member must sync within its rebalance timeout.
	m.classicDeadline = now.Add(time.Duration(m.RebalanceTimeoutMs) * time.Millisecond)
	protocolType, protocol := ProtocolTypeConsumer, protocols[0].Name
	resp.MemberID, resp.Generation = memberID, m.Epoch
	resp.ProtocolType, resp.Protocol = &protocolType, &protocol
	return classicJoined{resp: resp, stored: c.storeConsumer(cg)}, 0
}

// staticMember finds the member holding a static instance id.
func (cg *cgroup) staticMember(instance string) *cmember {
	for _, m := range cg.members {
		if m.InstanceID != nil && *m.InstanceID == instance {
			return m
		}
	}
	return nil
}

// classicMember validates the member a classic SyncGroup, Heartbeat or
// LeaveGroup names, as Kafka's validateConsumerGroupMember: by instance
// id when one is given (FENCED_INSTANCE_ID when it is another member's),
// and it must use the classic protocol (UNKNOWN_MEMBER_ID).
func (cg *cgroup) classicMember(memberID string, instance *string) (*cmember, int16) {
	var m *cmember
	if instance != nil {
		m = cg.staticMember(*instance)
		if m == nil {
			return nil, kerr.UnknownMemberID.Code
		}
		if memberID != "" && m.ID != memberID {
			return nil, kerr.FencedInstanceID.Code
		}
	} else {
		m = cg.members[memberID]
	}
	if m == nil || m.Classic == nil {
		return nil, kerr.UnknownMemberID.Code
	}
	return m, 0
}

// mustRejoin tells whether a classic member must rejoin to move on: the
// group epoch moved past its epoch, it has partitions to revoke, or
// partitions it waits for were released. c.mu is held.
func (cg *cgroup) mustRejoin(m *cmember) bool {
	if m.Epoch < cg.epoch || m.state == memberUnrevoked {
		return true
	}
	return m.state == memberUnreleased && !cg.target[m.ID].minus(m.Assigned).minus(cg.heldByOthers(m.ID)).empty()
}

// classicSync answers a classic SyncGroup on a consumer group: the
// member's assigned partitions in the classic consumer protocol's format.
// c.mu is held.
func (c *Coordinator) classicSync(cg *cgroup, req *kmsg.SyncGroupRequest, resp *kmsg.SyncGroupResponse) int16 {
	m, code := cg.classicMember(req.MemberID, req.InstanceID)
	if code != 0 {
		return code
	}
	if req.Generation != m.Epoch {
		return kerr.IllegalGeneration.Code
	}
	protocol := m.Classic.Protocols[0]
	if (req.ProtocolType != nil && *req.ProtocolType != ProtocolTypeConsumer) || (req.Protocol != nil && *req.Protocol != protocol.Name) {
		return kerr.InconsistentGroupProtocol.Code
	}
	// A member revoking finishes that first and rejoins by itself.
	if cg.epoch > m.Epoch && m.state != memberUnrevoked {
		m.classicDeadline = time.Now().Add(time.Duration(m.RebalanceTimeoutMs) * time.Millisecond)
		return kerr.RebalanceInProgress.Code
	}
	now := time.Now()
	m.classicDeadline = time.Time{}
	m.deadline = now.Add(time.Duration(m.Classic.SessionTimeoutMs) * time.Millisecond)
	protocolType, name := ProtocolTypeConsumer, protocol.Name
	resp.ProtocolType, resp.Protocol = &protocolType, &name
	resp.MemberAssignment = encodeAssignment(m.Assigned, protocol.Metadata)
	return 0
}

// classicHeartbeat keeps a classic member's session and tells it to
// rejoin when it must (REBALANCE_IN_PROGRESS), giving it its rebalance
// timeout to do so. c.mu is held.
func (c *Coordinator) classicHeartbeat(cg *cgroup, req *kmsg.HeartbeatRequest) int16 {
	m, code := cg.classicMember(req.MemberID, req.InstanceID)
	if code != 0 {
		return code
	}
	if req.Generation != m.Epoch {
		return kerr.IllegalGeneration.Code
	}
	now := time.Now()
	m.deadline = now.Add(time.Duration(m.Classic.SessionTimeoutMs) * time.Millisecond)
	if !cg.mustRejoin(m) {
		return 0
	}
	if m.classicDeadline.IsZero() {
		m.classicDeadline = now.Add(time.Duration(m.RebalanceTimeoutMs) * time.Millisecond)
	}
	return kerr.RebalanceInProgress.Code
}

// classicLeave removes the classic members a LeaveGroup names from a
// consumer group, answering each in resp; it returns where the group's
// new state is persisted, nil when no member left. c.mu is held.
func (c *Coordinator) classicLeave(cg *cgroup, req *kmsg.LeaveGroupRequest, resp *kmsg.LeaveGroupResponse) <-chan error {
	left := eachLeave(req, resp, func(l kmsg.LeaveGroupRequestMember) int16 {
		m, code := cg.classicMember(l.MemberID, l.InstanceID)
		if code != 0 {
			return code
		}
		cg.removeMember(m.ID)
		c.log.Info().Str("group", cg.name).Str("member", m.ID).Msg("consumer group: classic member left")
		return 0
	})
	if left == 0 {
		return nil
	}
	return c.storeConsumer(cg)
}

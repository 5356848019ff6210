package group

import (
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Online migration between the classic and the consumer protocol, as
// Kafka 4's group.consumer.migration.policy: a classic group with members
// becomes a consumer group when a ConsumerGroupHeartbeat member joins (its
// classic members stay, driven through JoinGroup/SyncGroup/Heartbeat with
// the consumer group's assignment), and a consumer group whose last
// consumer-protocol member leaves while classic members remain becomes a
// classic group again, which then rebalances.

// Migration policies (group.consumer.migration.policy).
const (
	MigrationBidirectional = "bidirectional"
	MigrationUpgrade       = "upgrade"
	MigrationDowngrade     = "downgrade"
	MigrationDisabled      = "disabled"
)

// ValidMigrationPolicy tells whether a policy is one of Kafka's.
func ValidMigrationPolicy(p string) bool {
	switch p {
	case MigrationBidirectional, MigrationUpgrade, MigrationDowngrade, MigrationDisabled:
		return true
	}
	return false
}

func (cfg Config) upgradeEnabled() bool {
	return cfg.MigrationPolicy == MigrationBidirectional || cfg.MigrationPolicy == MigrationUpgrade
}

func (cfg Config) downgradeEnabled() bool {
	return cfg.MigrationPolicy == MigrationBidirectional || cfg.MigrationPolicy == MigrationDowngrade
}

// ClassicMember is what a consumer group keeps of a member that uses the
// classic protocol: its session timeout and the protocols of its last
// JoinGroup (the first is the one its JoinGroup answer names).
type ClassicMember struct {
	SessionTimeoutMs int32      `json:"session_timeout_ms"`
	Protocols        []Protocol `json:"protocols"`
}

// upgradable tells why a live classic group with members cannot become a
// consumer group, as Kafka's validateOnlineUpgrade ("" when it can).
func (c *Coordinator) upgradable(g *group) string {
	switch {
	case !c.cfg.upgradeEnabled():
		return "the online upgrade is disabled"
	case g.protocolType != ProtocolTypeConsumer:
		return "the group does not use the consumer embedded protocol"
	case c.cfg.MaxSize > 0 && len(g.members) > c.cfg.MaxSize:
		return "the group size exceeds the consumer group maximum size"
	}
	return ""
}

// upgrade turns a live classic group with members into a consumer group:
// the group epoch is the generation, each member keeps the partitions of
// its last assignment as its target, at that epoch. Joins and syncs in
// flight are told to rejoin (they will reach the consumer group). The
// caller persists the result with the joining member. c.mu is held.
func (c *Coordinator) upgrade(g *group) (*cgroup, int16, string) {
	if why := c.upgradable(g); why != "" {
		c.log.Info().Str("group", g.name).Str("reason", why).Msg("classic group not upgraded to a consumer group")
		return nil, kerr.GroupIDNotFound.Code, fmt.Sprintf("cannot upgrade classic group %s to a consumer group: %s", g.name, why)
	}
	cg := &cgroup{name: g.name, shard: g.shard, term: g.term, epoch: g.generation, assignmentEpoch: g.generation,
		assignor: AssignorUniform, target: map[string]Assignment{}, members: map[string]*cmember{}}
	now := time.Now()
	for id, m := range g.members {
		meta := m.metadata(g.protocol)
		if meta == nil && len(m.Protocols) > 0 {
			meta = m.Protocols[0].Metadata
		}
		sub := kmsg.NewConsumerMemberMetadata()
		if err := sub.ReadFrom(meta); err != nil {
			return nil, kerr.GroupIDNotFound.Code, "cannot upgrade classic group " + g.name + ": malformed consumer protocol subscription"
		}
		assigned := Assignment{}
		if len(m.Assignment) > 0 {
			asg := kmsg.NewConsumerMemberAssignment()
			if err := asg.ReadFrom(m.Assignment); err != nil {
				return nil, kerr.GroupIDNotFound.Code, "cannot upgrade classic group " + g.name + ": malformed consumer protocol assignment"
			}
			for _, t := range asg.Topics {
				assigned = assigned.union(Assignment{t.Topic: t.Partitions})
			}
		}
		cm := &cmember{ConsumerMember: ConsumerMember{
			ID: id, InstanceID: m.InstanceID, RackID: sub.Rack, ClientID: m.ClientID, ClientHost: m.ClientHost,
			RebalanceTimeoutMs: m.RebalanceTimeoutMs, Epoch: g.generation, PreviousEpoch: g.generation,
			Topics: append([]string{}, sub.Topics...), Assigned: assigned,
			Classic: &ClassicMember{SessionTimeoutMs: m.SessionTimeoutMs, Protocols: append([]Protocol(nil), m.Protocols...)},
		}, state: memberStable, deadline: now.Add(time.Duration(m.SessionTimeoutMs) * time.Millisecond)}
		cg.members[id] = cm
		cg.target[id] = assigned.clone()
	}
	c.abandon(g, kerr.RebalanceInProgress.Code)
	delete(c.groups, g.name)
	c.consumerGroups()[g.name] = cg
	c.log.Info().Str("group", g.name).Int32("epoch", cg.epoch).Int("classic_members", len(cg.members)).Msg("classic group upgraded to a consumer group")
	return cg, 0, ""
}

// maybeDowngrade turns a consumer group into a classic group when leaving
// is its last consumer-protocol member and classic members remain, as
// Kafka's validateOnlineDowngrade: the classic group starts Stable at the
// group epoch with each member's target as its assignment, is persisted,
// and rebalances. It returns where the StoreGroup's outcome arrives, nil
// when the group stays a consumer group. c.mu is held.
func (c *Coordinator) maybeDowngrade(cg *cgroup, leaving string) <-chan error {
	if lm, ok := cg.members[leaving]; !ok || lm.Classic != nil || len(cg.members) < 2 {
		return nil
	}
	for id, m := range cg.members {
		if id != leaving && m.Classic == nil {
			return nil
		}
	}
	switch {
	case !c.cfg.downgradeEnabled():
		c.log.Info().Str("group", cg.name).Msg("consumer group not downgraded to a classic group: the online downgrade is disabled")
		return nil
	case c.cfg.MaxSize > 0 && len(cg.members)-1 > c.cfg.MaxSize:
		c.log.Info().Str("group", cg.name).Msg("consumer group not downgraded to a classic group: too many members")
		return nil
	}
	now := time.Now()
	g := &group{name: cg.name, shard: cg.shard, term: cg.term, state: StateStable, protocolType: ProtocolTypeConsumer,
		generation: cg.epoch, members: map[string]*member{}, pending: map[string]time.Time{}}
	for id, m := range cg.members {
		if id == leaving {
			continue
		}
		g.members[id] = &member{MemberRecord: MemberRecord{
			ID: id, InstanceID: m.InstanceID, ClientID: m.ClientID, ClientHost: m.ClientHost,
			SessionTimeoutMs: m.Classic.SessionTimeoutMs, RebalanceTimeoutMs: m.RebalanceTimeoutMs,
			Protocols: append([]Protocol(nil), m.Classic.Protocols...),
		}, deadline: now.Add(time.Duration(m.Classic.SessionTimeoutMs) * time.Millisecond)}
	}
	g.protocol = selectProtocol(g)
	for id, m := range g.members {
		m.Assignment = encodeAssignment(cg.target[id], m.metadata(g.protocol))
	}
	delete(c.cgroups, cg.name)
	c.groups[cg.name] = g
	stored := c.persist(g.shard, g.term, Command{StoreGroup: g.record()})
	cg.downgraded = stored
	c.log.Info().Str("group", cg.name).Int32("generation", g.generation).Int("members", len(g.members)).Msg("consumer group downgraded to a classic group")
	c.prepareRebalance(g, now, "downgraded from a consumer group")
	return stored
}

// encodeAssignment writes partitions in the classic consumer protocol's
// assignment format, at the version of the member's subscription.
func encodeAssignment(a Assignment, subscription []byte) []byte {
	asg := kmsg.NewConsumerMemberAssignment()
	sub := kmsg.NewConsumerMemberMetadata()
	if sub.ReadFrom(subscription) == nil {
		asg.Version = min(sub.Version, 3)
	}
	for _, t := range sortedTopics(a) {
		at := kmsg.NewConsumerMemberAssignmentTopic()
		at.Topic, at.Partitions = t, append([]int32(nil), a[t]...)
		asg.Topics = append(asg.Topics, at)
	}
	return asg.AppendTo(nil)
}

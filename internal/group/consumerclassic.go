package group

import (
	"context"
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// How the classic group APIs see a consumer group: one name is one group
// of one type. A classic JoinGroup to a consumer group with members makes
// it a member using the classic protocol (consumerclassicmembers.go); a
// ConsumerGroupHeartbeat to a classic group with members upgrades it when
// the migration policy allows (migration.go), else GROUP_ID_NOT_FOUND; an
// empty group of either type converts to the other on its first member.

// consumerFor returns the consumer group a classic API's request names,
// or nil when it is not one. c.mu is held.
func (c *Coordinator) consumerFor(shard uint64, name string) *cgroup {
	term, ok := c.loaded[shard]
	if !ok {
		return nil
	}
	cg, code, _ := c.liveConsumer(shard, name, false, term)
	if code != 0 {
		return nil
	}
	return cg
}

// ProtocolTypeConsumer is the protocol type of consumer groups.
const ProtocolTypeConsumer = "consumer"

// classicDescription describes a consumer group as DescribeGroups does in
// Kafka: protocol type "consumer", each member's subscription and
// assignment in the classic consumer protocol's encoding. c.mu is held.
func (cg *cgroup) classicDescription() Description {
	d := Description{State: cg.state(), ProtocolType: ProtocolTypeConsumer, Protocol: cg.assignor}
	for _, m := range cg.members {
		if m.Classic != nil {
			// A classic member: its own subscription, as it sent it.
			p := m.Classic.Protocols[0]
			d.Members = append(d.Members, MemberRecord{
				ID: m.ID, InstanceID: m.InstanceID, ClientID: m.ClientID, ClientHost: m.ClientHost,
				SessionTimeoutMs: m.Classic.SessionTimeoutMs, RebalanceTimeoutMs: m.RebalanceTimeoutMs,
				Protocols:  []Protocol{{Name: p.Name, Metadata: p.Metadata}},
				Assignment: encodeAssignment(m.Assigned, p.Metadata),
			})
			continue
		}
		meta := kmsg.NewConsumerMemberMetadata()
		meta.Topics = append([]string(nil), m.Topics...)
		asg := kmsg.NewConsumerMemberAssignment()
		for _, t := range sortedTopics(m.Assigned) {
			at := kmsg.NewConsumerMemberAssignmentTopic()
			at.Topic, at.Partitions = t, append([]int32(nil), m.Assigned[t]...)
			asg.Topics = append(asg.Topics, at)
		}
		d.Members = append(d.Members, MemberRecord{
			ID: m.ID, InstanceID: m.InstanceID, ClientID: m.ClientID, ClientHost: m.ClientHost,
			RebalanceTimeoutMs: m.RebalanceTimeoutMs,
			Protocols:          []Protocol{{Name: cg.assignor, Metadata: meta.AppendTo(nil)}},
			Assignment:         asg.AppendTo(nil),
		})
	}
	sort.Slice(d.Members, func(i, j int) bool { return d.Members[i].ID < d.Members[j].ID })
	return d
}

// ValidateOffsetFetch checks the member id and epoch an OffsetFetch (v9+)
// carries against a consumer group, as Kafka's: none (an admin client) is
// fine; otherwise the member must exist (UNKNOWN_MEMBER_ID) at that epoch
// (STALE_MEMBER_EPOCH for an older one, FENCED_MEMBER_EPOCH for a newer).
// Classic groups are not checked.
func (c *Coordinator) ValidateOffsetFetch(ctx context.Context, shard uint64, name string, memberID *string, epoch int32) int16 {
	if (memberID == nil || *memberID == "") && epoch < 0 {
		return 0
	}
	return c.withConsumer(ctx, shard, func(term uint64) int16 {
		cg, code, _ := c.liveConsumer(shard, name, false, term)
		if code != 0 || cg == nil {
			return 0
		}
		id := ""
		if memberID != nil {
			id = *memberID
		}
		return cg.consumerCommit(9, id, epoch)
	})
}

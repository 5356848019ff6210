package group

import (
	"context"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
)

// ConsumerDescription is a consumer group as ConsumerGroupDescribe reports
// it.
type ConsumerDescription struct {
	State           string
	Epoch           int32
	AssignmentEpoch int32
	Assignor        string
	Members         []ConsumerMemberDescription
}

// ConsumerMemberDescription is one member: what it owns (Assigned) and its
// share of the target assignment.
type ConsumerMemberDescription struct {
	ConsumerMember
	Target Assignment
}

// DescribeConsumerGroup reports a consumer group; GROUP_ID_NOT_FOUND for
// an unknown group or a classic one, as Kafka's.
func (c *Coordinator) DescribeConsumerGroup(ctx context.Context, shard uint64, name string) (ConsumerDescription, int16) {
	if name == "" {
		return ConsumerDescription{}, kerr.InvalidGroupID.Code
	}
	var d ConsumerDescription
	code := c.withConsumer(ctx, shard, func(term uint64) int16 {
		cg, code, _ := c.liveConsumer(shard, name, false, term)
		if code != 0 || cg == nil {
			return kerr.GroupIDNotFound.Code
		}
		d = ConsumerDescription{State: cg.state(), Epoch: cg.epoch, AssignmentEpoch: cg.assignmentEpoch, Assignor: cg.assignor}
		for _, m := range cg.members {
			cm := m.ConsumerMember
			cm.Topics = append([]string(nil), m.Topics...)
			cm.Assigned, cm.Revoking = m.Assigned.clone(), m.Revoking.clone()
			d.Members = append(d.Members, ConsumerMemberDescription{ConsumerMember: cm, Target: cg.target[m.ID].clone()})
		}
		return 0
	})
	sort.Slice(d.Members, func(i, j int) bool { return d.Members[i].ID < d.Members[j].ID })
	return d, code
}

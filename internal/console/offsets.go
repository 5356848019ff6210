package console

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
)

// offsets lists the log start and end of the given partitions. A partition
// with a replica on this broker is read from that replica; only the others
// are asked for with ListOffsets. ListOffsets confirms leadership with a
// Raft read index per partition, which on a cluster of a thousand idle
// (quiesced) partitions takes seconds; a replica's own offsets may trail
// the leader's by the last commit, which a console can show.
func (c *Console) offsets(ctx context.Context, parts kadm.TopicsSet) (starts, ends kadm.ListedOffsets, err error) {
	starts, ends = kadm.ListedOffsets{}, kadm.ListedOffsets{}
	remote := kadm.TopicsSet{}
	for topic, ps := range parts {
		for p := range ps {
			s, e, ok := c.cfg.Local.Offsets(topic, p)
			if !ok {
				remote.Add(topic, p)
				continue
			}
			add(starts, kadm.ListedOffset{Topic: topic, Partition: p, Offset: s, Timestamp: -1, LeaderEpoch: -1})
			add(ends, kadm.ListedOffset{Topic: topic, Partition: p, Offset: e, Timestamp: -1, LeaderEpoch: -1})
		}
	}
	if len(remote) == 0 {
		return starts, ends, nil
	}
	for _, l := range []struct {
		list func(context.Context, ...string) (kadm.ListedOffsets, error)
		into kadm.ListedOffsets
	}{{c.adm.ListStartOffsets, starts}, {c.adm.ListEndOffsets, ends}} {
		got, err := l.list(ctx, remote.Topics()...)
		// A partition whose leader did not answer stays out of the result
		// and shows as unknown; anything else fails the page.
		if se := (*kadm.ShardErrors)(nil); err != nil && !errors.As(err, &se) {
			return nil, nil, fmt.Errorf("list offsets: %w", err)
		}
		got.Each(func(o kadm.ListedOffset) {
			if _, asked := remote[o.Topic][o.Partition]; asked {
				add(l.into, o)
			}
		})
	}
	return starts, ends, nil
}

func add(l kadm.ListedOffsets, o kadm.ListedOffset) {
	ps := l[o.Topic]
	if ps == nil {
		ps = map[int32]kadm.ListedOffset{}
		l[o.Topic] = ps
	}
	ps[o.Partition] = o
}

// lag is kadm's Client.Lag with the log offsets taken as offsets takes
// them; the lag itself is computed by kadm, as for the CLI.
func (c *Console) lag(ctx context.Context, groups ...string) (kadm.DescribedGroupLags, error) {
	described, err := c.adm.DescribeGroups(ctx, groups...)
	if se := (*kadm.ShardErrors)(nil); err != nil && !errors.As(err, &se) {
		return nil, fmt.Errorf("describe groups: %w", err)
	}
	lags := kadm.DescribedGroupLags{}
	var ok []string
	for _, g := range described {
		lags[g.Group] = kadm.DescribedGroupLag{Group: g.Group, Coordinator: g.Coordinator, State: g.State,
			ProtocolType: g.ProtocolType, Protocol: g.Protocol, Members: g.Members, DescribeErr: g.Err}
		if g.Err == nil {
			ok = append(ok, g.Group)
		}
	}
	if len(ok) == 0 {
		return lags, nil
	}
	fetched := c.adm.FetchManyOffsets(ctx, ok...)
	// As kadm does: every partition of every topic a group is assigned,
	// wants to consume or has committed to.
	parts := described.AssignedPartitions()
	parts.Merge(fetched.CommittedPartitions())
	topics := append(parts.Topics(), described.JoinTopics()...)
	var starts, ends kadm.ListedOffsets
	if len(topics) > 0 {
		tds, err := c.adm.ListTopics(ctx, topics...)
		if err != nil {
			return nil, fmt.Errorf("topics the groups consume: %w", err)
		}
		if starts, ends, err = c.offsets(ctx, tds.TopicsSet()); err != nil {
			return nil, err
		}
	}
	if err != nil {
		return nil, err
	}
	for _, name := range ok {
		l := lags[name]
		f := fetched[name]
		if f.Err != nil {
			l.FetchErr = f.Err
			lags[name] = l
			continue
		}
		l.Lag = kadm.CalculateGroupLagWithStartOffsets(described[name], f.Fetched, starts, ends)
		lags[name] = l
	}
	return lags, nil
}

package compat

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// franz-go's topic-id, config, records and group rows: kadm where it has
// the call, kmsg requests through kgo where kadm addresses topics by name
// only.

func (c *franzClient) describeTopicByID(ctx context.Context, id string) (string, map[int32]int32, error) {
	tid, err := parseTopicID(id)
	if err != nil {
		return "", nil, err
	}
	cl, err := kgo.NewClient(c.opts()...)
	if err != nil {
		return "", nil, err
	}
	defer cl.Close()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.TopicID = tid
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return "", nil, err
	}
	if len(resp.Topics) != 1 {
		return "", nil, fmt.Errorf("metadata for topic id %s: %d topics in the answer", id, len(resp.Topics))
	}
	t := resp.Topics[0]
	if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
		return "", nil, fmt.Errorf("metadata for topic id %s: %w", id, err)
	}
	out := map[int32]int32{}
	for _, p := range t.Partitions {
		out[p.Partition] = p.Leader
	}
	if t.Topic == nil {
		return "", out, fmt.Errorf("metadata for topic id %s: no topic name", id)
	}
	return *t.Topic, out, nil
}

func (c *franzClient) deleteTopicByID(ctx context.Context, id string) error {
	tid, err := parseTopicID(id)
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(c.opts()...)
	if err != nil {
		return err
	}
	defer cl.Close()
	req := kmsg.NewPtrDeleteTopicsRequest()
	req.TimeoutMillis = 30000
	rt := kmsg.NewDeleteTopicsRequestTopic()
	rt.TopicID = tid
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return err
	}
	if len(resp.Topics) != 1 {
		return fmt.Errorf("delete topic id %s: %d topics in the answer", id, len(resp.Topics))
	}
	if err := kerr.ErrorForCode(resp.Topics[0].ErrorCode); err != nil {
		return fmt.Errorf("delete topic id %s: %w", id, err)
	}
	return nil
}

func (c *franzClient) alterTopicConfig(ctx context.Context, topic, key, value string) error {
	adm, done, err := c.admin()
	if err != nil {
		return err
	}
	defer done()
	resp, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: key, Value: &value}}, topic)
	if err != nil {
		return err
	}
	r, err := resp.On(topic, nil)
	if err == nil {
		err = r.Err
	}
	return err
}

func (c *franzClient) alterQuota(ctx context.Context, clientID, key string, value float64, remove bool) error {
	adm, done, err := c.admin()
	if err != nil {
		return err
	}
	defer done()
	resp, err := adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{
		Entity: kadm.ClientQuotaEntity{{Type: "client-id", Name: &clientID}},
		Ops:    []kadm.AlterClientQuotaOp{{Key: key, Value: value, Remove: remove}},
	}})
	if err == nil && len(resp) == 1 {
		err = resp[0].Err
	}
	return err
}

func (c *franzClient) describeQuotas(ctx context.Context, clientID string) (map[string]float64, error) {
	adm, done, err := c.admin()
	if err != nil {
		return nil, err
	}
	defer done()
	return describedQuotas(ctx, adm, clientID)
}

func (c *franzClient) describeQuorum(ctx context.Context) (quorum, error) {
	cl, err := kgo.NewClient(c.opts()...)
	if err != nil {
		return quorum{}, err
	}
	defer cl.Close()
	return describedQuorum(ctx, cl)
}

func (c *franzClient) describeTopicConfig(ctx context.Context, topic, key string) (string, error) {
	adm, done, err := c.admin()
	if err != nil {
		return "", err
	}
	defer done()
	return describedConfig(ctx, adm, topic, key)
}

func (c *franzClient) deleteRecords(ctx context.Context, topic string, partition int32, before int64) error {
	adm, done, err := c.admin()
	if err != nil {
		return err
	}
	defer done()
	os := kadm.Offsets{}
	os.Add(kadm.Offset{Topic: topic, Partition: partition, At: before, LeaderEpoch: -1})
	resp, err := adm.DeleteRecords(ctx, os)
	if err != nil {
		return err
	}
	r, ok := resp.Lookup(topic, partition)
	if !ok {
		return fmt.Errorf("delete records: no answer for %s/%d", topic, partition)
	}
	if r.Err != nil {
		return r.Err
	}
	if r.LowWatermark != before {
		return fmt.Errorf("delete records below %d: low watermark %d", before, r.LowWatermark)
	}
	return nil
}

func (c *franzClient) listGroups(ctx context.Context) ([]string, error) {
	adm, done, err := c.admin()
	if err != nil {
		return nil, err
	}
	defer done()
	ls, err := adm.ListGroups(ctx)
	if err != nil {
		return nil, err
	}
	return ls.Groups(), nil
}

func (c *franzClient) describeGroup(ctx context.Context, group string) (groupDescription, error) {
	adm, done, err := c.admin()
	if err != nil {
		return groupDescription{}, err
	}
	defer done()
	ds, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return groupDescription{}, err
	}
	d, ok := ds[group]
	if !ok || d.Err != nil {
		return groupDescription{}, fmt.Errorf("describe group %s: %v", group, d.Err)
	}
	out := groupDescription{State: d.State}
	for _, m := range d.Members {
		gm := groupMember{ClientID: m.ClientID, Assigned: map[string][]int32{}}
		if ca, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range ca.Topics {
				gm.Assigned[t.Topic] = append(gm.Assigned[t.Topic], t.Partitions...)
			}
		}
		out.Members = append(out.Members, gm)
	}
	return out, nil
}

func (c *franzClient) groupOffsets(ctx context.Context, group, topic string) (map[int32]int64, error) {
	adm, done, err := c.admin()
	if err != nil {
		return nil, err
	}
	defer done()
	offs, err := adm.FetchOffsets(ctx, group)
	if err == nil {
		err = offs.Error()
	}
	if err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	offs.Each(func(o kadm.OffsetResponse) {
		if o.Topic == topic {
			out[o.Partition] = o.At
		}
	})
	return out, nil
}

func (c *franzClient) alterGroupOffsets(ctx context.Context, group, topic string, offsets map[int32]int64) error {
	adm, done, err := c.admin()
	if err != nil {
		return err
	}
	defer done()
	os := kadm.Offsets{}
	for p, o := range offsets {
		os.Add(kadm.Offset{Topic: topic, Partition: p, At: o, LeaderEpoch: -1})
	}
	return adm.CommitAllOffsets(ctx, group, os)
}

func (c *franzClient) deleteGroup(ctx context.Context, group string) error {
	adm, done, err := c.admin()
	if err != nil {
		return err
	}
	defer done()
	r, err := adm.DeleteGroup(ctx, group)
	if err == nil {
		err = r.Err
	}
	return err
}

package compat

import (
	"context"
	"errors"
	"fmt"

	"github.com/IBM/sarama"
)

// sarama's config, records and group rows, through ClusterAdmin and, for
// altering a group's offsets, which ClusterAdmin lacks, an OffsetManager.

func (c *saramaClient) describeTopicByID(context.Context, string) (string, map[int32]int32, error) {
	return "", nil, unsupported("sarama's Metadata request always sends a zero topic id: it addresses topics by name only")
}

func (c *saramaClient) deleteTopicByID(context.Context, string) error {
	return unsupported("sarama's DeleteTopics request always sends a zero topic id: it addresses topics by name only")
}

func (c *saramaClient) alterTopicConfig(_ context.Context, topic, key, value string) error {
	adm, err := c.admin()
	if err != nil {
		return err
	}
	defer adm.Close()
	return adm.IncrementalAlterConfig(sarama.TopicResource, topic,
		map[string]sarama.IncrementalAlterConfigsEntry{key: {Operation: sarama.IncrementalAlterConfigsOperationSet, Value: &value}}, false)
}

func (c *saramaClient) alterQuota(_ context.Context, clientID, key string, value float64, remove bool) error {
	adm, err := c.admin()
	if err != nil {
		return err
	}
	defer adm.Close()
	return adm.AlterClientQuotas([]sarama.QuotaEntityComponent{{EntityType: sarama.QuotaEntityClientID, MatchType: sarama.QuotaMatchExact, Name: clientID}},
		sarama.ClientQuotasOp{Key: key, Value: value, Remove: remove}, false)
}

func (c *saramaClient) describeQuorum(context.Context) (quorum, error) {
	return quorum{}, unsupported("sarama's ClusterAdmin has no DescribeQuorum call")
}

func (c *saramaClient) describeQuotas(_ context.Context, clientID string) (map[string]float64, error) {
	adm, err := c.admin()
	if err != nil {
		return nil, err
	}
	defer adm.Close()
	entries, err := adm.DescribeClientQuotas([]sarama.QuotaFilterComponent{{EntityType: sarama.QuotaEntityClientID, MatchType: sarama.QuotaMatchExact, Match: clientID}}, true)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, e := range entries {
		for k, v := range e.Values {
			out[k] = v
		}
	}
	return out, nil
}

func (c *saramaClient) describeTopicConfig(_ context.Context, topic, key string) (string, error) {
	adm, err := c.admin()
	if err != nil {
		return "", err
	}
	defer adm.Close()
	//lint:ignore SA1019 the one-resource call is what most sarama programs use
	entries, err := adm.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic, ConfigNames: []string{key}})
	if err != nil {
		return "", err
	}
	for _, e := range entries {
		if e.Name == key {
			return e.Value, nil
		}
	}
	return "", fmt.Errorf("%s: no config %s described", topic, key)
}

func (c *saramaClient) deleteRecords(_ context.Context, topic string, partition int32, before int64) error {
	adm, err := c.admin()
	if err != nil {
		return err
	}
	defer adm.Close()
	return adm.DeleteRecords(topic, map[int32]int64{partition: before})
}

func (c *saramaClient) listGroups(context.Context) ([]string, error) {
	adm, err := c.admin()
	if err != nil {
		return nil, err
	}
	defer adm.Close()
	groups, err := adm.ListConsumerGroups()
	return sortedKeys(groups), err
}

func (c *saramaClient) describeGroup(_ context.Context, group string) (groupDescription, error) {
	adm, err := c.admin()
	if err != nil {
		return groupDescription{}, err
	}
	defer adm.Close()
	ds, err := adm.DescribeConsumerGroups([]string{group})
	if err != nil {
		return groupDescription{}, err
	}
	if len(ds) != 1 || ds[0].Err != sarama.ErrNoError {
		return groupDescription{}, fmt.Errorf("describe group %s: %d groups, %+v", group, len(ds), ds)
	}
	out := groupDescription{State: ds[0].State}
	for _, m := range ds[0].Members {
		a, err := m.GetMemberAssignment()
		if err != nil {
			return out, fmt.Errorf("member %s's assignment: %w", m.ClientId, err)
		}
		out.Members = append(out.Members, groupMember{ClientID: m.ClientId, Assigned: a.Topics})
	}
	return out, nil
}

func (c *saramaClient) groupOffsets(_ context.Context, group, topic string) (map[int32]int64, error) {
	adm, err := c.admin()
	if err != nil {
		return nil, err
	}
	defer adm.Close()
	resp, err := adm.ListConsumerGroupOffsets(group, nil)
	if err != nil {
		return nil, err
	}
	if resp.Err != sarama.ErrNoError {
		return nil, resp.Err
	}
	out := map[int32]int64{}
	for p, b := range resp.Blocks[topic] {
		if b.Err != sarama.ErrNoError {
			return nil, fmt.Errorf("%s/%d: %w", topic, p, b.Err)
		}
		if b.Offset >= 0 {
			out[p] = b.Offset
		}
	}
	return out, nil
}

func (c *saramaClient) alterGroupOffsets(_ context.Context, group, topic string, offsets map[int32]int64) error {
	cl, err := sarama.NewClient(c.addrs, c.config())
	if err != nil {
		return err
	}
	defer cl.Close()
	om, err := sarama.NewOffsetManagerFromClient(group, cl)
	if err != nil {
		return err
	}
	var poms []sarama.PartitionOffsetManager
	for p, o := range offsets {
		pom, err := om.ManagePartition(topic, p)
		if err != nil {
			om.Close()
			return err
		}
		// Marking only moves forward, resetting only back: one applies.
		pom.MarkOffset(o, "")
		pom.ResetOffset(o, "")
		poms = append(poms, pom)
	}
	om.Commit()
	// Closing the manager releases the partition managers, whose Close
	// then returns the commit's errors.
	om.Close()
	var errs []error
	for _, pom := range poms {
		errs = append(errs, pom.Close())
	}
	return errors.Join(errs...)
}

func (c *saramaClient) deleteGroup(_ context.Context, group string) error {
	adm, err := c.admin()
	if err != nil {
		return err
	}
	defer adm.Close()
	return adm.DeleteConsumerGroup(group)
}

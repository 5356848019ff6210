package compat

import (
	"context"
	"errors"
	"fmt"

	"github.com/segmentio/kafka-go"
)

// kafka-go's config and group rows, through its Client.

func (c *kafkaGoClient) describeTopicByID(context.Context, string) (string, map[int32]int32, error) {
	return "", nil, unsupported("kafka-go's Metadata request and response carry no topic ids")
}

func (c *kafkaGoClient) deleteTopicByID(context.Context, string) error {
	return unsupported("kafka-go's DeleteTopics request addresses topics by name only")
}

func (c *kafkaGoClient) deleteRecords(context.Context, string, int32, int64) error {
	return unsupported("kafka-go has no DeleteRecords call")
}

func (c *kafkaGoClient) alterTopicConfig(ctx context.Context, topic, key, value string) error {
	resp, err := c.client().IncrementalAlterConfigs(ctx, &kafka.IncrementalAlterConfigsRequest{
		Resources: []kafka.IncrementalAlterConfigsRequestResource{{ResourceType: kafka.ResourceTypeTopic, ResourceName: topic,
			Configs: []kafka.IncrementalAlterConfigsRequestConfig{{Name: key, Value: value, ConfigOperation: kafka.ConfigOperationSet}}}}})
	if err != nil {
		return err
	}
	for _, r := range resp.Resources {
		if r.Error != nil {
			return r.Error
		}
	}
	return nil
}

func (c *kafkaGoClient) alterQuota(ctx context.Context, clientID, key string, value float64, remove bool) error {
	resp, err := c.client().AlterClientQuotas(ctx, &kafka.AlterClientQuotasRequest{Entries: []kafka.AlterClientQuotaEntry{{
		Entities: []kafka.AlterClientQuotaEntity{{EntityType: "client-id", EntityName: clientID}},
		Ops:      []kafka.AlterClientQuotaOps{{Key: key, Value: value, Remove: remove}},
	}}})
	if err != nil {
		return err
	}
	for _, e := range resp.Entries {
		if e.Error != nil {
			return e.Error
		}
	}
	return nil
}

func (c *kafkaGoClient) describeQuorum(context.Context) (quorum, error) {
	return quorum{}, unsupported("kafka-go's Client has no DescribeQuorum call")
}

func (c *kafkaGoClient) describeQuotas(ctx context.Context, clientID string) (map[string]float64, error) {
	resp, err := c.client().DescribeClientQuotas(ctx, &kafka.DescribeClientQuotasRequest{
		Components: []kafka.DescribeClientQuotasRequestComponent{{EntityType: "client-id", MatchType: 0, Match: clientID}}, Strict: true})
	if err != nil {
		return nil, err
	}
	if resp.Error != nil {
		return nil, resp.Error
	}
	out := map[string]float64{}
	for _, e := range resp.Entries {
		for _, v := range e.Values {
			out[v.Key] = v.Value
		}
	}
	return out, nil
}

func (c *kafkaGoClient) describeTopicConfig(ctx context.Context, topic, key string) (string, error) {
	resp, err := c.client().DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{
		Resources: []kafka.DescribeConfigRequestResource{{ResourceType: kafka.ResourceTypeTopic, ResourceName: topic, ConfigNames: []string{key}}}})
	if err != nil {
		return "", err
	}
	for _, r := range resp.Resources {
		if r.Error != nil {
			return "", r.Error
		}
		for _, e := range r.ConfigEntries {
			if e.ConfigName == key {
				return e.ConfigValue, nil
			}
		}
	}
	return "", fmt.Errorf("%s: no config %s described", topic, key)
}

func (c *kafkaGoClient) listGroups(ctx context.Context) ([]string, error) {
	resp, err := c.client().ListGroups(ctx, &kafka.ListGroupsRequest{})
	if err == nil {
		err = resp.Error
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, g := range resp.Groups {
		out = append(out, g.GroupID)
	}
	return out, nil
}

func (c *kafkaGoClient) describeGroup(ctx context.Context, group string) (groupDescription, error) {
	resp, err := c.client().DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
	if err != nil {
		return groupDescription{}, err
	}
	if len(resp.Groups) != 1 || resp.Groups[0].Error != nil {
		return groupDescription{}, fmt.Errorf("describe group %s: %+v", group, resp.Groups)
	}
	g := resp.Groups[0]
	out := groupDescription{State: g.GroupState}
	for _, m := range g.Members {
		gm := groupMember{ClientID: m.ClientID, Assigned: map[string][]int32{}}
		for _, t := range m.MemberAssignments.Topics {
			for _, p := range t.Partitions {
				gm.Assigned[t.Topic] = append(gm.Assigned[t.Topic], int32(p))
			}
		}
		out.Members = append(out.Members, gm)
	}
	return out, nil
}

func (c *kafkaGoClient) groupOffsets(ctx context.Context, group, topic string) (map[int32]int64, error) {
	// kafka-go's OffsetFetch (v1) names the partitions: the group topic's three.
	resp, err := c.client().OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: {0, 1, 2}}})
	if err == nil {
		err = resp.Error
	}
	if err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	for _, p := range resp.Topics[topic] {
		if p.Error != nil {
			return nil, fmt.Errorf("%s/%d: %w", topic, p.Partition, p.Error)
		}
		if p.CommittedOffset >= 0 {
			out[int32(p.Partition)] = p.CommittedOffset
		}
	}
	return out, nil
}

func (c *kafkaGoClient) alterGroupOffsets(ctx context.Context, group, topic string, offsets map[int32]int64) error {
	var commits []kafka.OffsetCommit
	for p, o := range offsets {
		commits = append(commits, kafka.OffsetCommit{Partition: int(p), Offset: o})
	}
	// Generation -1 and no member id: a commit from outside the group.
	resp, err := c.client().OffsetCommit(ctx, &kafka.OffsetCommitRequest{GroupID: group, GenerationID: -1, Topics: map[string][]kafka.OffsetCommit{topic: commits}})
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range resp.Topics[topic] {
		errs = append(errs, p.Error)
	}
	return errors.Join(errs...)
}

func (c *kafkaGoClient) deleteGroup(ctx context.Context, group string) error {
	resp, err := c.client().DeleteGroups(ctx, &kafka.DeleteGroupsRequest{GroupIDs: []string{group}})
	if err != nil {
		return err
	}
	return resp.Errors[group]
}

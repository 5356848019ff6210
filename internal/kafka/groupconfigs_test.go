package kafka_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// testGroupConfigs sets a group's KIP-848 heartbeat interval and session
// timeout as kafka-configs.sh --entity-type groups does (Kafka 4.0's GROUP
// config resource), reads them back, and sees a consumer-protocol member
// of that group told the group's interval while another group keeps the
// broker's; invalid values are refused with INVALID_CONFIG and change
// nothing.
func (e *adminEnv) testGroupConfigs(t *testing.T) {
	ctx := ctxT(t, 30*time.Second)
	const grp = "gc-orders"
	alter := func(ops ...kmsg.IncrementalAlterConfigsRequestResourceConfig) int16 {
		t.Helper()
		req := kmsg.NewPtrIncrementalAlterConfigsRequest()
		r := kmsg.NewIncrementalAlterConfigsRequestResource()
		r.ResourceType, r.ResourceName, r.Configs = kmsg.ConfigResourceTypeGroupConfig, grp, ops
		req.Resources = append(req.Resources, r)
		resp, err := req.RequestWith(ctx, e.cl)
		if err != nil || len(resp.Resources) != 1 {
			t.Fatalf("alter: %v", err)
		}
		return resp.Resources[0].ErrorCode
	}
	op := func(name string, o kmsg.IncrementalAlterConfigOp, value string) kmsg.IncrementalAlterConfigsRequestResourceConfig {
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Op, c.Value = name, o, &value
		return c
	}
	describe := func(name string) map[string][2]any {
		t.Helper()
		req := kmsg.NewPtrDescribeConfigsRequest()
		r := kmsg.NewDescribeConfigsRequestResource()
		r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeGroupConfig, name
		req.Resources = append(req.Resources, r)
		resp, err := req.RequestWith(ctx, e.cl)
		if err != nil || len(resp.Resources) != 1 || resp.Resources[0].ErrorCode != 0 {
			t.Fatalf("describe %s: %v %+v", name, err, resp)
		}
		out := map[string][2]any{}
		for _, c := range resp.Resources[0].Configs {
			out[c.Name] = [2]any{*c.Value, c.Source}
		}
		return out
	}
	// heartbeat joins a new member and returns the interval it is told.
	joins := 0
	heartbeat := func(group string) int32 {
		t.Helper()
		joins++
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.Group, req.MemberID, req.MemberEpoch = group, fmt.Sprintf("member-%s-%010d", group, joins), 0
		req.RebalanceTimeoutMillis, req.SubscribedTopicNames = 30000, []string{}
		req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		resp, err := req.RequestWith(ctx, e.cl)
		if err != nil || resp.ErrorCode != 0 {
			t.Fatalf("ConsumerGroupHeartbeat of %s: %v, error %d", group, err, resp.ErrorCode)
		}
		return resp.HeartbeatIntervalMillis
	}

	if got := describe(grp); got["consumer.heartbeat.interval.ms"] != [2]any{"5000", kmsg.ConfigSource(5)} || got["consumer.session.timeout.ms"] != [2]any{"45000", kmsg.ConfigSource(5)} {
		t.Fatalf("before any change: %v", got)
	}
	if code := alter(op("consumer.heartbeat.interval.ms", kmsg.IncrementalAlterConfigOpSet, "7000"),
		op("consumer.session.timeout.ms", kmsg.IncrementalAlterConfigOpSet, "50000")); code != 0 {
		t.Fatalf("set: %s", kerr.ErrorForCode(code))
	}
	want := map[string][2]any{"consumer.heartbeat.interval.ms": {"7000", kmsg.ConfigSource(8)}, "consumer.session.timeout.ms": {"50000", kmsg.ConfigSource(8)}}
	if got := describe(grp); got["consumer.heartbeat.interval.ms"] != want["consumer.heartbeat.interval.ms"] || got["consumer.session.timeout.ms"] != want["consumer.session.timeout.ms"] {
		t.Fatalf("after the change: %v", got)
	}
	// The group's coordinator may be another broker, whose __meta replica
	// applies the change a moment later.
	deadline := time.Now().Add(5 * time.Second)
	for ms := heartbeat(grp); ms != 7000; ms = heartbeat(grp) {
		if time.Now().After(deadline) {
			t.Fatalf("a member of %s is told to heartbeat every %d ms, want the group's 7000", grp, ms)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if ms := heartbeat("gc-other"); ms != 5000 {
		t.Errorf("a member of gc-other is told %d ms, want the broker's 5000", ms)
	}
	for _, bad := range [][]kmsg.IncrementalAlterConfigsRequestResourceConfig{
		{op("consumer.heartbeat.interval.ms", kmsg.IncrementalAlterConfigOpSet, "20000")}, // above 15000
		{op("consumer.session.timeout.ms", kmsg.IncrementalAlterConfigOpSet, "1000")},     // below 45000
		{op("consumer.heartbeat.interval.ms", kmsg.IncrementalAlterConfigOpSet, "soon")},
		{op("share.session.timeout.ms", kmsg.IncrementalAlterConfigOpSet, "50000")},
		{op("consumer.session.timeout.ms", kmsg.IncrementalAlterConfigOpAppend, "1")},
	} {
		if code := alter(bad...); code != kerr.InvalidConfig.Code {
			t.Errorf("%s=%s: error %d, want INVALID_CONFIG", bad[0].Name, *bad[0].Value, code)
		}
	}
	if got := describe(grp); got["consumer.heartbeat.interval.ms"] != want["consumer.heartbeat.interval.ms"] {
		t.Fatalf("after the refused changes: %v", got)
	}
	if code := alter(op("consumer.heartbeat.interval.ms", kmsg.IncrementalAlterConfigOpDelete, "")); code != 0 {
		t.Fatalf("delete: %s", kerr.ErrorForCode(code))
	}
	if got := describe(grp); got["consumer.heartbeat.interval.ms"] != [2]any{"5000", kmsg.ConfigSource(5)} {
		t.Fatalf("after the delete: %v", got)
	}
}

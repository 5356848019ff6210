package kafka_test

import (
	"crypto/rand"
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestDynamicBrokerConfigs sets the cluster-wide dynamic broker configs
// behind topic defaults, as kafka-configs.sh --entity-type brokers
// --entity-default does, and checks that every broker describes them and
// that topics without their own value follow them.
func TestDynamicBrokerConfigs(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	e := newAdminEnv(t, nil)
	ctx := ctxT(t, 60*time.Second)
	e.createTopic(t, "dyn", 1)
	if _, err := e.adm.CreateTopic(ctx, 1, 3, map[string]*string{"retention.ms": sp("1234"), "max.message.bytes": sp("100000")}, "dyn-own"); err != nil {
		t.Fatal(err)
	}
	alter := func(cfgs ...kadm.AlterConfig) error {
		resp, err := e.adm.AlterBrokerConfigs(ctx, cfgs)
		if err == nil && len(resp) == 1 && resp[0].Err != nil {
			err = resp[0].Err
		}
		return err
	}
	set := func(name, v string) kadm.AlterConfig {
		return kadm.AlterConfig{Op: kadm.SetConfig, Name: name, Value: sp(v)}
	}
	if err := alter(set("log.retention.ms", "3600000"), set("message.max.bytes", "2048")); err != nil {
		t.Fatalf("alter the cluster default: %v", err)
	}

	// Every broker describes the new defaults on the topics without their
	// own, and as its own broker configs, no longer read-only.
	for _, cfg := range e.c.Configs {
		topic := describeOn(t, e, int(cfg.NodeID), kmsg.ConfigResourceTypeTopic, "dyn")
		if c := topic["retention.ms"]; value(c) != "3600000" || c.Source != kmsg.ConfigSourceDynamicDefaultBrokerConfig ||
			len(c.ConfigSynonyms) < 2 || c.ConfigSynonyms[0].Name != "log.retention.ms" || c.ConfigSynonyms[0].Source != kmsg.ConfigSourceDynamicDefaultBrokerConfig {
			t.Errorf("broker %d: dyn retention.ms = %q (%v, synonyms %+v)", cfg.NodeID, value(c), c.Source, c.ConfigSynonyms)
		}
		own := describeOn(t, e, int(cfg.NodeID), kmsg.ConfigResourceTypeTopic, "dyn-own")
		if c := own["retention.ms"]; value(c) != "1234" || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
			t.Errorf("broker %d: dyn-own retention.ms = %q (%v)", cfg.NodeID, value(c), c.Source)
		}
		broker := describeOn(t, e, int(cfg.NodeID), kmsg.ConfigResourceTypeBroker, strconv.FormatUint(cfg.NodeID, 10))
		if c := broker["message.max.bytes"]; value(c) != "2048" || c.Source != kmsg.ConfigSourceDynamicDefaultBrokerConfig || c.ReadOnly {
			t.Errorf("broker %d: message.max.bytes = %q (%v, read-only %v)", cfg.NodeID, value(c), c.Source, c.ReadOnly)
		}
		if c := broker["listeners"]; !c.ReadOnly {
			t.Errorf("broker %d: listeners is not read-only", cfg.NodeID)
		}
	}
	// The default broker entity lists only the dynamic configs.
	defaults := describeOn(t, e, int(e.c.Configs[1].NodeID), kmsg.ConfigResourceTypeBroker, "")
	if len(defaults) != 2 || value(defaults["log.retention.ms"]) != "3600000" || value(defaults["message.max.bytes"]) != "2048" {
		t.Errorf("default broker entity: %+v", defaults)
	}

	// A topic without its own max.message.bytes refuses a larger batch now;
	// one with its own takes it.
	value4k := make([]byte, 4096) // random: the client compresses
	rand.Read(value4k)
	big := &kgo.Record{Topic: "dyn", Value: value4k}
	if err := e.cl.ProduceSync(ctx, big).FirstErr(); !errors.Is(err, kerr.MessageTooLarge) {
		t.Errorf("4 KiB record to dyn under message.max.bytes=2048: %v, want MESSAGE_TOO_LARGE", err)
	}
	big = &kgo.Record{Topic: "dyn-own", Value: value4k}
	if err := e.cl.ProduceSync(ctx, big).FirstErr(); err != nil {
		t.Errorf("4 KiB record to dyn-own (max.message.bytes=100000): %v", err)
	}

	// Refused, and nothing changes: one broker's value, a flag, a bad
	// value; validate-only checks without changing.
	if resp, err := e.adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{set("log.retention.ms", "1")}, int32(e.c.Configs[0].NodeID)); err != nil || !errors.Is(resp[0].Err, kerr.InvalidRequest) {
		t.Errorf("per-broker alter: %v %+v", err, resp)
	}
	for _, bad := range []kadm.AlterConfig{set("num.io.threads", "4"), set("log.retention.ms", "-5"), set("log.cleanup.policy", "shred")} {
		if err := alter(bad); !errors.Is(err, kerr.InvalidConfig) {
			t.Errorf("alter %s=%s: %v, want INVALID_CONFIG", bad.Name, *bad.Value, err)
		}
	}
	if resp, err := e.adm.ValidateAlterBrokerConfigs(ctx, []kadm.AlterConfig{set("log.retention.ms", "60000")}); err != nil || resp[0].Err != nil {
		t.Errorf("validate only: %v %+v", err, resp)
	}
	// APPEND to a list config, then DELETE one value back to its flag.
	if err := alter(kadm.AlterConfig{Op: kadm.AppendConfig, Name: "log.cleanup.policy", Value: sp("compact")},
		kadm.AlterConfig{Op: kadm.DeleteConfig, Name: "log.retention.ms"}); err != nil {
		t.Fatalf("append and delete: %v", err)
	}
	topic := describeOn(t, e, int(e.c.Configs[2].NodeID), kmsg.ConfigResourceTypeTopic, "dyn")
	if c := topic["cleanup.policy"]; value(c) != "delete,compact" || c.Source != kmsg.ConfigSourceDynamicDefaultBrokerConfig {
		t.Errorf("cleanup.policy after APPEND compact: %q (%v)", value(c), c.Source)
	}
	if c := topic["retention.ms"]; value(c) == "3600000" || c.Source == kmsg.ConfigSourceDynamicDefaultBrokerConfig {
		t.Errorf("retention.ms after DELETE: %q (%v)", value(c), c.Source)
	}
	// The legacy AlterConfigs replaces the whole set.
	req := kmsg.NewPtrAlterConfigsRequest()
	r := kmsg.NewAlterConfigsRequestResource()
	r.ResourceType = kmsg.ConfigResourceTypeBroker
	c := kmsg.NewAlterConfigsRequestResourceConfig()
	c.Name, c.Value = "log.segment.bytes", sp("2097152")
	r.Configs = append(r.Configs, c)
	req.Resources = append(req.Resources, r)
	if resp, err := req.RequestWith(ctx, e.cl); err != nil || resp.Resources[0].ErrorCode != 0 {
		t.Fatalf("AlterConfigs: %v %+v", err, resp)
	}
	defaults = describeOn(t, e, int(e.c.Configs[0].NodeID), kmsg.ConfigResourceTypeBroker, "")
	names := make([]string, 0, len(defaults))
	for n := range defaults {
		names = append(names, n)
	}
	if slices.Sort(names); !slices.Equal(names, []string{"log.segment.bytes"}) {
		t.Errorf("after AlterConfigs: dynamic configs %v, want only log.segment.bytes", names)
	}
}

// describeOn describes one resource's configs on one broker.
func describeOn(t *testing.T, e *adminEnv, broker int, kind kmsg.ConfigResourceType, name string) map[string]kmsg.DescribeConfigsResponseResourceConfig {
	t.Helper()
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.IncludeSynonyms = true
	r := kmsg.NewDescribeConfigsRequestResource()
	r.ResourceType, r.ResourceName = kind, name
	req.Resources = append(req.Resources, r)
	resp, err := req.RequestWith(ctxT(t, 10*time.Second), e.cl.Broker(broker))
	if err != nil || len(resp.Resources) != 1 || resp.Resources[0].ErrorCode != 0 {
		t.Fatalf("describe %v %q on broker %d: %v %+v", kind, name, broker, err, resp)
	}
	out := map[string]kmsg.DescribeConfigsResponseResourceConfig{}
	for _, c := range resp.Resources[0].Configs {
		out[c.Name] = c
	}
	return out
}

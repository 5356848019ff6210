package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/config"
	"github.com/longboat/longboat/internal/topicconfig"
)

// TestTopicConfigs drives every Kafka topic config through CreateTopics,
// AlterConfigs, IncrementalAlterConfigs and DescribeConfigs, the topics
// Kafka Connect, Kafka Streams, Schema Registry and Debezium create, and
// retention on compacted topics. Its brokers check retention every 200 ms
// and allow 4 KiB segments.
func TestTopicConfigs(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	e := newAdminEnv(t, func(cfg *config.Config) {
		cfg.RetentionCheckInterval = 200 * time.Millisecond
		cfg.MinSegmentBytes = 4096
	}, kgo.ProducerBatchCompression(kgo.NoCompression()))
	t.Run("EveryConfigRoundTrips", e.testEveryConfigRoundTrips)
	t.Run("InvalidValuesRefused", e.testInvalidValuesRefused)
	t.Run("ListAppendSubtract", e.testListAppendSubtract)
	t.Run("ConnectStreamsRegistryDebezium", e.testFrameworkTopics)
	t.Run("BrokerConfigs", e.testBrokerConfigs)
	t.Run("CompactOnlyKeepsRecordsPastRetention", e.testCompactOnlyRetention)
}

func sp(s string) *string { return &s }

// setValues is a valid value for every topic config, different from
// Kafka's default where the config allows another, and the value
// DescribeConfigs must print back for it.
var setValues = map[string][2]string{
	"cleanup.policy":                          {" compact , delete", "compact,delete"},
	"compression.gzip.level":                  {"5", "5"},
	"compression.lz4.level":                   {"3", "3"},
	"compression.type":                        {"zstd", "zstd"},
	"compression.zstd.level":                  {"-5", "-5"},
	"delete.retention.ms":                     {"3600000", "3600000"},
	"file.delete.delay.ms":                    {"1000", "1000"},
	"flush.messages":                          {"1", "1"},
	"flush.ms":                                {"500", "500"},
	"follower.replication.throttled.replicas": {"0:1, 0:2", "0:1,0:2"},
	"index.interval.bytes":                    {"8192", "8192"},
	"leader.replication.throttled.replicas":   {"*", "*"},
	"local.retention.bytes":                   {"1000000", "1000000"},
	"local.retention.ms":                      {"3600000", "3600000"},
	"max.compaction.lag.ms":                   {"7200000", "7200000"},
	"max.message.bytes":                       {"2097152", "2097152"},
	"message.downconversion.enable":           {"false", "false"},
	"message.timestamp.after.max.ms":          {"60000", "60000"},
	"message.timestamp.before.max.ms":         {"86400000", "86400000"},
	"message.timestamp.type":                  {"LogAppendTime", "LogAppendTime"},
	"min.cleanable.dirty.ratio":               {"0.25", "0.25"},
	"min.compaction.lag.ms":                   {"1000", "1000"},
	"min.insync.replicas":                     {"2", "2"},
	"preallocate":                             {"TRUE", "true"},
	"remote.log.copy.disable":                 {"true", "true"},
	"remote.log.delete.on.disable":            {"true", "true"},
	"remote.storage.enable":                   {"false", "false"}, // true needs tiered storage
	"retention.bytes":                         {"1073741824", "1073741824"},
	"retention.ms":                            {"86400000", "86400000"},
	"segment.bytes":                           {"2097152", "2097152"},
	"segment.index.bytes":                     {"1048576", "1048576"},
	"segment.jitter.ms":                       {"100", "100"},
	"segment.ms":                              {"3600000", "3600000"},
	"unclean.leader.election.enable":          {"true", "true"},
}

// describeConfigs asks for a topic's or broker's configs with synonyms and
// documentation.
func (e *adminEnv) describeConfigs(t *testing.T, kind kmsg.ConfigResourceType, name string) map[string]kmsg.DescribeConfigsResponseResourceConfig {
	t.Helper()
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.IncludeSynonyms, req.IncludeDocumentation = true, true
	r := kmsg.NewDescribeConfigsRequestResource()
	r.ResourceType, r.ResourceName = kind, name
	req.Resources = append(req.Resources, r)
	resp, err := req.RequestWith(ctxT(t, 10*time.Second), e.cl)
	if err != nil {
		t.Fatalf("describe %s: %v", name, err)
	}
	if len(resp.Resources) != 1 || resp.Resources[0].ErrorCode != 0 {
		t.Fatalf("describe %s: %+v", name, resp.Resources)
	}
	out := map[string]kmsg.DescribeConfigsResponseResourceConfig{}
	for _, c := range resp.Resources[0].Configs {
		out[c.Name] = c
	}
	return out
}

func value(c kmsg.DescribeConfigsResponseResourceConfig) string { return deref(c.Value) }

func deref(v *string) string {
	if v == nil {
		return "<null>"
	}
	return *v
}

// checkDescribed compares a topic's described configs with own (the
// values set on it, as printed back) and Kafka's defaults for the rest.
func checkDescribed(t *testing.T, got map[string]kmsg.DescribeConfigsResponseResourceConfig, own map[string]string) {
	t.Helper()
	all := topicconfig.All()
	if len(got) != len(all) {
		t.Errorf("%d configs described, want %d", len(got), len(all))
	}
	for _, d := range all {
		c, ok := got[d.Name]
		want, set := own[d.Name]
		src := kmsg.ConfigSourceDynamicTopicConfig
		if !set {
			want, src = d.Default, kmsg.ConfigSourceDefaultConfig
		}
		switch {
		case !ok:
			t.Errorf("%s not described", d.Name)
		case value(c) != want || c.Source != src:
			t.Errorf("%s = %q (%v), want %q (%v)", d.Name, value(c), c.Source, want, src)
		case c.ConfigType != kmsg.ConfigType(d.Type) || c.ReadOnly || c.IsSensitive:
			t.Errorf("%s: type %v read-only %v sensitive %v, want %v, writable, not sensitive", d.Name, c.ConfigType, c.ReadOnly, c.IsSensitive, kmsg.ConfigType(d.Type))
		case c.Documentation == nil || *c.Documentation == "":
			t.Errorf("%s: no documentation", d.Name)
		case set && (len(c.ConfigSynonyms) == 0 || c.ConfigSynonyms[0].Name != d.Name || deref(c.ConfigSynonyms[0].Value) != want):
			t.Errorf("%s: synonyms %+v, want the topic's own value first", d.Name, c.ConfigSynonyms)
		case d.Broker != "" && (len(c.ConfigSynonyms) == 0 || c.ConfigSynonyms[len(c.ConfigSynonyms)-1].Name != d.Broker):
			t.Errorf("%s: synonyms %+v, want the broker's %s last", d.Name, c.ConfigSynonyms, d.Broker)
		}
	}
}

func (e *adminEnv) testEveryConfigRoundTrips(t *testing.T) {
	ctx := ctxT(t, time.Minute)
	req := map[string]*string{}
	want := map[string]string{}
	for _, d := range topicconfig.All() {
		v, ok := setValues[d.Name]
		if !ok {
			t.Fatalf("no test value for %s", d.Name)
		}
		if v[1] == d.Default && d.Name != "remote.storage.enable" {
			t.Errorf("test value of %s is Kafka's default", d.Name)
		}
		req[d.Name], want[d.Name] = sp(v[0]), v[1]
	}
	resp, err := e.adm.CreateTopic(ctx, 2, 3, req, "all-configs")
	if err != nil || resp.Err != nil {
		t.Fatalf("create with every config: %v %v %s", err, resp.Err, resp.ErrMessage)
	}
	for name, w := range want {
		if c := resp.Configs[name]; c.MaybeValue() != w || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
			t.Errorf("CreateTopics answered %s = %q (%v), want %q", name, c.MaybeValue(), c.Source, w)
		}
	}
	checkDescribed(t, e.describeConfigs(t, kmsg.ConfigResourceTypeTopic, "all-configs"), want)

	// IncrementalAlterConfigs DELETE of every one: all back to Kafka's defaults.
	var del []kadm.AlterConfig
	for name := range want {
		del = append(del, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: name})
	}
	if ar, err := e.adm.AlterTopicConfigs(ctx, del, "all-configs"); err != nil || ar[0].Err != nil {
		t.Fatalf("delete every config: %v %+v", err, ar)
	}
	checkDescribed(t, e.describeConfigs(t, kmsg.ConfigResourceTypeTopic, "all-configs"), nil)

	// AlterConfigs (the whole set at once), then IncrementalAlterConfigs SET one by one.
	var state []kadm.AlterConfig
	for name := range want {
		state = append(state, kadm.AlterConfig{Name: name, Value: req[name]})
	}
	if ar, err := e.adm.AlterTopicConfigsState(ctx, state, "all-configs"); err != nil || ar[0].Err != nil {
		t.Fatalf("AlterConfigs with every config: %v %+v", err, ar)
	}
	checkDescribed(t, e.describeConfigs(t, kmsg.ConfigResourceTypeTopic, "all-configs"), want)
	if ar, err := e.adm.AlterTopicConfigsState(ctx, nil, "all-configs"); err != nil || ar[0].Err != nil {
		t.Fatalf("AlterConfigs with none: %v %+v", err, ar)
	}
	checkDescribed(t, e.describeConfigs(t, kmsg.ConfigResourceTypeTopic, "all-configs"), nil)
	for name := range want {
		if ar, err := e.adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: name, Value: req[name]}}, "all-configs"); err != nil || ar[0].Err != nil {
			t.Fatalf("SET %s: %v %+v", name, err, ar)
		}
	}
	checkDescribed(t, e.describeConfigs(t, kmsg.ConfigResourceTypeTopic, "all-configs"), want)
}

func (e *adminEnv) testInvalidValuesRefused(t *testing.T) {
	ctx := ctxT(t, time.Minute)
	if resp, err := e.adm.CreateTopic(ctx, 1, 3, map[string]*string{"retention.ms": sp("60000")}, "bad-target"); err != nil || resp.Err != nil {
		t.Fatalf("create: %v %v", err, resp.Err)
	}
	for _, c := range []struct{ name, value, msg string }{
		{"retention.ms", "-2", "Invalid value -2 for configuration retention.ms: Value must be at least -1"},
		{"retention.ms", "soon", "Invalid value soon for configuration retention.ms: Not a number of type LONG"},
		{"segment.bytes", "1024", "Invalid value 1024 for configuration segment.bytes: Value must be at least 4096"},
		{"cleanup.policy", "compacted", "Invalid value compacted for configuration cleanup.policy: String must be one of: compact, delete"},
		{"compression.type", "brotli", "Invalid value brotli for configuration compression.type: String must be one of: uncompressed, zstd, lz4, snappy, gzip, producer"},
		{"min.insync.replicas", "0", "Invalid value 0 for configuration min.insync.replicas: Value must be at least 1"},
		{"message.timestamp.type", "Now", "Invalid value Now for configuration message.timestamp.type: String must be one of: CreateTime, LogAppendTime"},
		{"min.cleanable.dirty.ratio", "1.5", "Invalid value 1.5 for configuration min.cleanable.dirty.ratio: Value must be no more than 1"},
		{"preallocate", "yes", "Invalid value yes for configuration preallocate: Expected value to be either true or false"},
		{"unclean.leader.election.enable", "1", "Invalid value 1 for configuration unclean.leader.election.enable: Expected value to be either true or false"},
		{"max.message.bytes", "99999999999", "Invalid value 99999999999 for configuration max.message.bytes: Not a number of type INT"},
		{"remote.storage.enable", "true", "Tiered Storage functionality is disabled in the broker. Topic cannot be configured with remote log storage."},
		{"min.compaction.lag.ms", "86400000", "conflict topic config setting min.compaction.lag.ms (86400000) > max.compaction.lag.ms (3600000)"},
		{"no.such.config", "1", "Unknown topic config name: no.such.config"},
		{"message.format.version", "3.0-IV1", "Unknown topic config name: message.format.version"},
	} {
		configs := map[string]*string{c.name: sp(c.value)}
		if c.name == "min.compaction.lag.ms" {
			configs["max.compaction.lag.ms"] = sp("3600000")
		}
		topic := "bad-" + strings.ReplaceAll(c.name, ".", "-")
		resp, err := e.adm.CreateTopic(ctx, 1, 3, configs, topic)
		if err == nil {
			err = resp.Err
		}
		if !errors.Is(err, kerr.InvalidConfig) || resp.ErrMessage != c.msg {
			t.Errorf("create with %s=%s: %v %q, want INVALID_CONFIG %q", c.name, c.value, err, resp.ErrMessage, c.msg)
		}
		if td, err := e.adm.ListTopics(ctx, topic); err != nil || td.Has(topic) {
			t.Errorf("%s exists after a refused create: %v", topic, err)
		}
		var alter []kadm.AlterConfig
		for name, v := range configs {
			alter = append(alter, kadm.AlterConfig{Op: kadm.SetConfig, Name: name, Value: v})
		}
		ar, err := e.adm.AlterTopicConfigs(ctx, alter, "bad-target")
		if err != nil || !errors.Is(ar[0].Err, kerr.InvalidConfig) || ar[0].ErrMessage != c.msg {
			t.Errorf("IncrementalAlterConfigs %s=%s: %v %+v, want INVALID_CONFIG %q", c.name, c.value, err, ar, c.msg)
		}
		ar, err = e.adm.AlterTopicConfigsState(ctx, alter, "bad-target")
		if err != nil || !errors.Is(ar[0].Err, kerr.InvalidConfig) || ar[0].ErrMessage != c.msg {
			t.Errorf("AlterConfigs %s=%s: %v %+v, want INVALID_CONFIG %q", c.name, c.value, err, ar, c.msg)
		}
	}
	// Nothing changed on the target.
	checkDescribed(t, e.describeConfigs(t, kmsg.ConfigResourceTypeTopic, "bad-target"), map[string]string{"retention.ms": "60000"})
	// A null value is refused at creation, as Kafka refuses it.
	resp, err := e.adm.CreateTopic(ctx, 1, 3, map[string]*string{"retention.ms": nil}, "bad-null")
	if err == nil {
		err = resp.Err
	}
	if !errors.Is(err, kerr.InvalidConfig) || resp.ErrMessage != "Null value not supported for topic configs: retention.ms" {
		t.Errorf("create with a null value: %v %q", err, resp.ErrMessage)
	}
}

func (e *adminEnv) testListAppendSubtract(t *testing.T) {
	ctx := ctxT(t, time.Minute)
	if resp, err := e.adm.CreateTopic(ctx, 1, 3, nil, "lists"); err != nil || resp.Err != nil {
		t.Fatalf("create: %v %v", err, resp.Err)
	}
	step := func(op kadm.IncrementalOp, name, v, want string) {
		t.Helper()
		ar, err := e.adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: op, Name: name, Value: sp(v)}}, "lists")
		if err != nil || ar[0].Err != nil {
			t.Fatalf("%v %s %s: %v %+v", op, name, v, err, ar)
		}
		if got := value(e.describeConfigs(t, kmsg.ConfigResourceTypeTopic, "lists")[name]); got != want {
			t.Errorf("after %v %s %s: %q, want %q", op, name, v, got, want)
		}
	}
	// APPEND starts from the value in effect: Kafka's default delete.
	step(kadm.AppendConfig, "cleanup.policy", "compact", "delete,compact")
	step(kadm.AppendConfig, "cleanup.policy", "compact", "delete,compact")
	step(kadm.SubtractConfig, "cleanup.policy", "delete", "compact")
	step(kadm.SubtractConfig, "cleanup.policy", "compact", "")
	step(kadm.AppendConfig, "leader.replication.throttled.replicas", "0:1", "0:1")
	step(kadm.AppendConfig, "leader.replication.throttled.replicas", "0:2", "0:1,0:2")
	step(kadm.SubtractConfig, "leader.replication.throttled.replicas", "0:1", "0:2")
	for _, bad := range []kadm.AlterConfig{
		{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: sp("shrink")},
		{Op: kadm.AppendConfig, Name: "leader.replication.throttled.replicas", Value: sp("x")},
	} {
		if ar, err := e.adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{bad}, "lists"); err != nil || !errors.Is(ar[0].Err, kerr.InvalidConfig) {
			t.Errorf("APPEND %s %s: %v %+v, want INVALID_CONFIG", bad.Name, *bad.Value, err, ar)
		}
	}
	ar, err := e.adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SubtractConfig, Name: "retention.ms", Value: sp("1")}}, "lists")
	if err != nil || !errors.Is(ar[0].Err, kerr.InvalidConfig) || ar[0].ErrMessage != "Can't SUBTRACT to key retention.ms because its type is not LIST." {
		t.Errorf("SUBTRACT on a LONG: %v %+v", err, ar)
	}
}

// frameworkTopic is a topic a framework creates for itself, as it creates it.
type frameworkTopic struct {
	who, topic string
	partitions int32
	configs    map[string]string
}

// testFrameworkTopics creates the topics Kafka Connect, Kafka Streams,
// Schema Registry and Debezium create, with their configs, and checks them
// as those frameworks do: Connect refuses to start unless its internal
// topics describe cleanup.policy as exactly compact.
func (e *adminEnv) testFrameworkTopics(t *testing.T) {
	ctx := ctxT(t, 2*time.Minute)
	for _, ft := range []frameworkTopic{
		{"Kafka Connect config.storage.topic", "connect-configs", 1, map[string]string{"cleanup.policy": "compact"}},
		{"Kafka Connect offset.storage.topic", "connect-offsets", 25, map[string]string{"cleanup.policy": "compact"}},
		{"Kafka Connect status.storage.topic", "connect-status", 5, map[string]string{"cleanup.policy": "compact"}},
		{"Kafka Streams key-value changelog", "app-store-changelog", 3, map[string]string{
			"cleanup.policy": "compact", "message.timestamp.type": "CreateTime"}},
		{"Kafka Streams versioned changelog", "app-versioned-changelog", 3, map[string]string{
			"cleanup.policy": "compact", "message.timestamp.type": "CreateTime", "min.compaction.lag.ms": "90000000"}},
		{"Kafka Streams windowed changelog", "app-window-changelog", 3, map[string]string{
			"cleanup.policy": "compact,delete", "message.timestamp.type": "CreateTime", "retention.ms": "172800000"}},
		{"Kafka Streams repartition topic", "app-agg-repartition", 3, map[string]string{
			"cleanup.policy": "delete", "message.timestamp.type": "CreateTime", "segment.bytes": "52428800", "retention.ms": "-1"}},
		{"Schema Registry _schemas", "_schemas", 1, map[string]string{"cleanup.policy": "compact"}},
		{"Debezium schema history", "dbhistory.inventory", 1, map[string]string{
			"cleanup.policy": "delete", "retention.ms": "9223372036854775807", "retention.bytes": "-1"}},
	} {
		req := map[string]*string{}
		for k, v := range ft.configs {
			req[k] = sp(v)
		}
		resp, err := e.adm.CreateTopic(ctx, ft.partitions, -1, req, ft.topic)
		if err != nil || resp.Err != nil {
			t.Errorf("%s: create %s: %v %v %s", ft.who, ft.topic, err, resp.Err, resp.ErrMessage)
			continue
		}
		if resp.NumPartitions != ft.partitions || resp.ReplicationFactor != 3 {
			t.Errorf("%s: %d partitions RF %d, want %d RF 3", ft.who, resp.NumPartitions, resp.ReplicationFactor, ft.partitions)
		}
		got := e.describeConfigs(t, kmsg.ConfigResourceTypeTopic, ft.topic)
		checkDescribed(t, got, ft.configs)
		if policy := value(got["cleanup.policy"]); strings.HasPrefix(ft.who, "Kafka Connect") && policy != "compact" {
			t.Errorf("%s: cleanup.policy %q: Connect refuses anything but compact", ft.who, policy)
		}
	}
	td, err := e.adm.ListTopics(ctx, "connect-offsets", "connect-status")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(td["connect-offsets"].Partitions); n != 25 {
		t.Errorf("connect-offsets has %d partitions in Metadata, want 25", n)
	}
	if n := len(td["connect-status"].Partitions); n != 5 {
		t.Errorf("connect-status has %d partitions in Metadata, want 5", n)
	}
}

func (e *adminEnv) testBrokerConfigs(t *testing.T) {
	got := e.describeConfigs(t, kmsg.ConfigResourceTypeBroker, "1")
	cfg := e.c.Configs[0]
	for name, want := range map[string]string{
		"broker.id":                       "1",
		"node.id":                         "1",
		"log.dirs":                        cfg.DataDir,
		"num.partitions":                  fmt.Sprint(cfg.DefaultPartitions),
		"default.replication.factor":      fmt.Sprint(cfg.DefaultReplicationFactor),
		"auto.create.topics.enable":       fmt.Sprint(cfg.AutoCreateTopics),
		"log.retention.check.interval.ms": "200",
		"log.cleaner.threads":             fmt.Sprint(cfg.CleanerThreads),
		"log.cleaner.backoff.ms":          fmt.Sprint(cfg.CleanerBackoff.Milliseconds()),
		"log.cleaner.dedupe.buffer.size":  fmt.Sprint(cfg.CleanerDedupeBufferSize),
		"log.retention.ms":                fmt.Sprint(cfg.RetentionMs),
		"log.retention.bytes":             fmt.Sprint(cfg.RetentionBytes),
		"log.segment.bytes":               fmt.Sprint(cfg.SegmentBytes),
		"log.roll.ms":                     fmt.Sprint(cfg.SegmentMs),
		"listeners":                       "PLAINTEXT://" + cfg.Listeners[0].Addr(),
		"socket.request.max.bytes":        fmt.Sprint(cfg.MaxRequestBytes),
		"transaction.max.timeout.ms":      fmt.Sprint(cfg.TransactionMaxTimeout.Milliseconds()),
		"replica.lag.time.max.ms":         fmt.Sprint(cfg.ReplicaLagTimeMax.Milliseconds()),
		"offsets.retention.minutes":       fmt.Sprint(int64(cfg.OffsetsRetention / time.Minute)),
		"max.connections":                 fmt.Sprint(cfg.MaxConnections),
	} {
		c, ok := got[name]
		_, dynamic := topicconfig.LookupBroker(name)
		if !ok || value(c) != want || c.Source != kmsg.ConfigSourceStaticBrokerConfig || c.ReadOnly == dynamic {
			t.Errorf("broker %s = %q (%v, read-only %v, present %v), want %q from a static broker config, read-only unless a topic default", name, value(c), c.Source, c.ReadOnly, ok, want)
		}
	}
	// Every broker config behind a topic default is there; those without a
	// flag have Kafka's default.
	for _, d := range topicconfig.All() {
		if d.Broker == "" {
			continue
		}
		c, ok := got[d.Broker]
		if !ok || c.ConfigType != kmsg.ConfigType(d.Type) || c.Documentation == nil {
			t.Errorf("broker config %s (for %s): present %v, %+v", d.Broker, d.Name, ok, c)
			continue
		}
		if c.Source == kmsg.ConfigSourceDefaultConfig && value(c) != d.Default {
			t.Errorf("broker %s = %q by default, want Kafka's %q", d.Broker, value(c), d.Default)
		}
	}
	if c := got["log.cleanup.policy"]; value(c) != "delete" || c.Source != kmsg.ConfigSourceDefaultConfig {
		t.Errorf("log.cleanup.policy = %q (%v)", value(c), c.Source)
	}
	// Topic defaults are the cluster's (TestDynamicBrokerConfigs): one
	// broker's is refused.
	ar, err := e.adm.AlterBrokerConfigs(ctxT(t, 10*time.Second), []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "log.retention.ms", Value: sp("1")}}, 1)
	if err == nil && (len(ar) != 1 || ar[0].Err == nil) {
		t.Errorf("broker config altered: %+v", ar)
	}
}

// testCompactOnlyRetention: with retention.ms and retention.bytes far
// exceeded, the delete topics are trimmed and the compact-only one keeps
// every record, until its policy becomes delete.
func (e *adminEnv) testCompactOnlyRetention(t *testing.T) {
	ctx := ctxT(t, 2*time.Minute)
	limits := map[string]string{"retention.ms": "1000", "retention.bytes": "1", "segment.bytes": "4096"}
	policies := map[string]string{"keep-compact": "compact", "trim-delete": "delete", "trim-both": "compact,delete"}
	produced := map[string][]string{}
	for topic, policy := range policies {
		req := map[string]*string{"cleanup.policy": sp(policy)}
		for k, v := range limits {
			req[k] = sp(v)
		}
		if policy == "compact" {
			// Records an hour old stay out of the cleaner's reach: this
			// checks what retention does, and every record must read back.
			req["min.compaction.lag.ms"] = sp("86400000")
		}
		if resp, err := e.adm.CreateTopic(ctx, 1, 3, req, topic); err != nil || resp.Err != nil {
			t.Fatalf("create %s: %v %v", topic, err, resp.Err)
		}
		old := time.Now().Add(-time.Hour)
		for i := 0; i < 100; i += 10 {
			var rs []*kgo.Record
			for j := i; j < i+10; j++ {
				v := fmt.Sprintf("%s-%03d;%s", topic, j, strings.Repeat("x", 200))
				rs = append(rs, &kgo.Record{Topic: topic, Key: []byte(fmt.Sprint(j % 7)), Value: []byte(v), Timestamp: old})
				produced[topic] = append(produced[topic], v)
			}
			if err := e.cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
				t.Fatalf("produce to %s: %v", topic, err)
			}
		}
	}
	start := func(topic string) int64 {
		t.Helper()
		offs, err := e.adm.ListStartOffsets(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		o, ok := offs.Lookup(topic, 0)
		if !ok || o.Err != nil {
			t.Fatalf("start offset of %s: %+v", topic, o)
		}
		return o.Offset
	}
	waitTrimmed := func(topic string) {
		t.Helper()
		for start(topic) == 0 {
			if ctx.Err() != nil {
				t.Fatalf("%s never trimmed by retention", topic)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitTrimmed("trim-delete")
	waitTrimmed("trim-both")
	time.Sleep(time.Second) // five more retention passes on every broker
	if s := start("keep-compact"); s != 0 {
		t.Fatalf("compact-only topic trimmed to %d by retention", s)
	}
	if got := consumeValues(t, e.c.Addrs(), "keep-compact", len(produced["keep-compact"])); !slices.Equal(got, produced["keep-compact"]) {
		t.Fatalf("compact-only topic reads back %d records, want the %d produced, in order", len(got), len(produced["keep-compact"]))
	}
	// Its policy alone protected it.
	if ar, err := e.adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: sp("delete")}}, "keep-compact"); err != nil || ar[0].Err != nil {
		t.Fatalf("append delete: %v %+v", err, ar)
	}
	waitTrimmed("keep-compact")
}

// consumeValues reads partition 0 of topic from the start until n records.
func consumeValues(t *testing.T, addrs []string, topic string, n int) []string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []string
	for len(out) < n && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { out = append(out, string(r.Value)) })
	}
	return out
}

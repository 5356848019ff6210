package topicconfig

import (
	"reflect"
	"sort"
	"strings"
	"testing"
)

func TestResolveSources(t *testing.T) {
	b := BrokerDefaults{RetentionMs: 604800000, RetentionBytes: 1 << 30, SegmentBytes: 1073741824, SegmentMs: 604800000}
	got := map[string]Entry{}
	for _, e := range Resolve(map[string]string{"retention.ms": "1000"}, b) {
		got[e.Name] = e
	}
	if len(got) != len(defs) {
		t.Fatalf("%d entries, want %d", len(got), len(defs))
	}
	want := map[string]Entry{
		"retention.ms": {"retention.ms", "1000", SourceDynamicTopic, TypeLong, byName["retention.ms"].Doc,
			[]Synonym{{"retention.ms", "1000", SourceDynamicTopic}, {"log.retention.ms", "604800000", SourceDefault}}},
		"retention.bytes": {"retention.bytes", "1073741824", SourceStaticBroker, TypeLong, byName["retention.bytes"].Doc,
			[]Synonym{{"log.retention.bytes", "1073741824", SourceStaticBroker}, {"log.retention.bytes", "-1", SourceDefault}}},
		// The broker sets Kafka's default: reported as the default.
		"segment.bytes": {"segment.bytes", "1073741824", SourceDefault, TypeInt, byName["segment.bytes"].Doc,
			[]Synonym{{"log.segment.bytes", "1073741824", SourceDefault}}},
		"cleanup.policy": {"cleanup.policy", "delete", SourceDefault, TypeList, byName["cleanup.policy"].Doc,
			[]Synonym{{"log.cleanup.policy", "delete", SourceDefault}}},
		// No broker synonym in Kafka: no synonyms.
		"remote.storage.enable": {"remote.storage.enable", "false", SourceDefault, TypeBoolean, byName["remote.storage.enable"].Doc, nil},
		"min.cleanable.dirty.ratio": {"min.cleanable.dirty.ratio", "0.5", SourceDefault, TypeDouble, byName["min.cleanable.dirty.ratio"].Doc,
			[]Synonym{{"log.cleaner.min.cleanable.ratio", "0.5", SourceDefault}}},
	}
	for name, w := range want {
		if !reflect.DeepEqual(got[name], w) {
			t.Errorf("%s = %+v\nwant %+v", name, got[name], w)
		}
	}
	l := ForLog(map[string]string{"message.timestamp.type": "LogAppendTime", "segment.ms": "5"}, b)
	if !l.LogAppendTime || l.SegmentMs != 5 || l.RetentionBytes != 1<<30 || l.RetentionMs != 604800000 || l.MaxMessageBytes != 1048588 {
		t.Errorf("ForLog = %+v", l)
	}
}

// TestForLogRetentionNeedsDelete: only the delete policy trims by
// retention; a compacted topic keeps every record since nothing compacts it.
func TestForLogRetentionNeedsDelete(t *testing.T) {
	b := BrokerDefaults{RetentionMs: 1000, RetentionBytes: 5000, SegmentBytes: 1 << 20, SegmentMs: 1000}
	for _, c := range []struct {
		policy      string
		ms, bytes   int64
		description string
	}{
		{"delete", 60000, 5000, "delete"},
		{"compact,delete", 60000, 5000, "compact and delete"},
		{"delete,compact", 60000, 5000, "delete and compact"},
		{"compact", -1, -1, "compact only"},
		{"", -1, -1, "no policy"},
	} {
		l := ForLog(map[string]string{"cleanup.policy": c.policy, "retention.ms": "60000"}, b)
		if l.RetentionMs != c.ms || l.RetentionBytes != c.bytes {
			t.Errorf("%s: retention %d ms %d bytes, want %d %d", c.description, l.RetentionMs, l.RetentionBytes, c.ms, c.bytes)
		}
	}
	if l := ForLog(map[string]string{"retention.bytes": "-7"}, b); l.RetentionBytes != -1 {
		t.Errorf("retention.bytes -7 applies as %d, want -1 (no limit)", l.RetentionBytes)
	}
}

func TestValidate(t *testing.T) {
	b := BrokerDefaults{}
	for _, c := range []struct {
		name, value string
		want        string // canonical value, or the start of the error
		ok          bool
	}{
		{"retention.ms", "-1", "-1", true},
		{"retention.ms", " 100 ", "100", true},
		{"retention.ms", "-2", "Invalid value -2 for configuration retention.ms: Value must be at least -1", false},
		{"retention.ms", "soon", "Invalid value soon for configuration retention.ms: Not a number of type LONG", false},
		{"retention.bytes", "-5", "-5", true},
		{"retention.bytes", "x", "Invalid value x for configuration retention.bytes: Not a number of type LONG", false},
		{"segment.bytes", "1048576", "1048576", true},
		{"segment.bytes", "1048575", "Invalid value 1048575 for configuration segment.bytes: Value must be at least 1048576", false},
		{"segment.bytes", "2147483648", "Invalid value 2147483648 for configuration segment.bytes: Not a number of type INT", false},
		{"segment.ms", "0", "Invalid value 0 for configuration segment.ms: Value must be at least 1", false},
		{"cleanup.policy", "delete", "delete", true},
		{"cleanup.policy", "compact", "compact", true},
		{"cleanup.policy", " compact , delete ", "compact,delete", true},
		{"cleanup.policy", "", "", true},
		{"cleanup.policy", "compacted", "Invalid value compacted for configuration cleanup.policy: String must be one of: compact, delete", false},
		{"cleanup.policy", "delete,", "Invalid value  for configuration cleanup.policy", false},
		{"cleanup.policy", "Compact", "Invalid value Compact", false},
		{"message.timestamp.type", "LogAppendTime", "LogAppendTime", true},
		{"message.timestamp.type", "Now", "Invalid value Now for configuration message.timestamp.type: String must be one of: CreateTime, LogAppendTime", false},
		{"compression.type", "zstd", "zstd", true},
		{"compression.type", "brotli", "Invalid value brotli for configuration compression.type: String must be one of: uncompressed, zstd, lz4, snappy, gzip, producer", false},
		{"compression.gzip.level", "-1", "-1", true},
		{"compression.gzip.level", "9", "9", true},
		{"compression.gzip.level", "0", "Invalid value 0 for configuration compression.gzip.level: Value must be between 1 and 9 or -1", false},
		{"compression.lz4.level", "18", "Invalid value 18 for configuration compression.lz4.level: Value must be no more than 17", false},
		{"compression.zstd.level", "-131072", "-131072", true},
		{"compression.zstd.level", "23", "Invalid value 23 for configuration compression.zstd.level: Value must be no more than 22", false},
		{"min.insync.replicas", "2", "2", true},
		{"min.insync.replicas", "0", "Invalid value 0 for configuration min.insync.replicas: Value must be at least 1", false},
		{"max.message.bytes", "99999999999", "Invalid value 99999999999 for configuration max.message.bytes: Not a number of type INT", false},
		{"min.cleanable.dirty.ratio", "0.1", "0.1", true},
		{"min.cleanable.dirty.ratio", "1", "1.0", true},
		{"min.cleanable.dirty.ratio", "1.5", "Invalid value 1.5 for configuration min.cleanable.dirty.ratio: Value must be no more than 1", false},
		{"min.cleanable.dirty.ratio", "-0.1", "Invalid value -0.1 for configuration min.cleanable.dirty.ratio: Value must be at least 0", false},
		{"min.cleanable.dirty.ratio", "half", "Invalid value half for configuration min.cleanable.dirty.ratio: Not a number of type DOUBLE", false},
		{"preallocate", "TRUE", "true", true},
		{"preallocate", "yes", "Invalid value yes for configuration preallocate: Expected value to be either true or false", false},
		{"unclean.leader.election.enable", "false", "false", true},
		{"remote.storage.enable", "false", "false", true},
		{"remote.storage.enable", "true", errRemoteStorage, false},
		{"local.retention.ms", "-2", "-2", true},
		{"local.retention.ms", "-3", "Invalid value -3 for configuration local.retention.ms: Value must be at least -2", false},
		{"leader.replication.throttled.replicas", "*", "*", true},
		{"leader.replication.throttled.replicas", "0:1, 1:2", "0:1,1:2", true},
		{"follower.replication.throttled.replicas", "0-1", "Invalid value 0-1 for configuration follower.replication.throttled.replicas: follower.replication.throttled.replicas must be the literal '*'", false},
		{"message.timestamp.after.max.ms", "0", "0", true},
		{"message.timestamp.before.max.ms", "-1", "Invalid value -1 for configuration message.timestamp.before.max.ms: Value must be at least 0", false},
		{"no.such.config", "1", "Unknown topic config name: no.such.config", false},
		{"message.format.version", "3.0", "Unknown topic config name: message.format.version", false}, // removed in Kafka 4
	} {
		got, err := Validate(map[string]string{c.name: c.value}, b)
		switch {
		case c.ok && err != nil:
			t.Errorf("%s=%q refused: %v", c.name, c.value, err)
		case c.ok && got[c.name] != c.want:
			t.Errorf("%s=%q accepted as %q, want %q", c.name, c.value, got[c.name], c.want)
		case !c.ok && err == nil:
			t.Errorf("%s=%q accepted as %q", c.name, c.value, got[c.name])
		case !c.ok && !strings.HasPrefix(err.Error(), c.want):
			t.Errorf("%s=%q: %q, want it to start %q", c.name, c.value, err, c.want)
		}
	}
	// The broker may lower the segment.bytes minimum (tests do).
	if _, err := Validate(map[string]string{"segment.bytes": "4096"}, BrokerDefaults{MinSegmentBytes: 4096}); err != nil {
		t.Errorf("segment.bytes 4096 with a 4096 minimum: %v", err)
	}
}

func TestValidateTogether(t *testing.T) {
	if err := ValidateTogether(map[string]string{"min.compaction.lag.ms": "10", "max.compaction.lag.ms": "10"}); err != nil {
		t.Errorf("equal lags refused: %v", err)
	}
	err := ValidateTogether(map[string]string{"min.compaction.lag.ms": "10", "max.compaction.lag.ms": "5"})
	if err == nil || err.Error() != "conflict topic config setting min.compaction.lag.ms (10) > max.compaction.lag.ms (5)" {
		t.Errorf("min > max lag: %v", err)
	}
}

// TestDefsAreKafkas: every default passes its own rule unchanged, names
// are sorted and unique, and every config says what it does here.
func TestDefsAreKafkas(t *testing.T) {
	names := make([]string, len(defs))
	for i, d := range defs {
		names[i] = d.Name
		got, err := Validate(map[string]string{d.Name: d.Default}, BrokerDefaults{})
		if err != nil || got[d.Name] != d.Default {
			t.Errorf("%s: default %q validates as %q, %v", d.Name, d.Default, got[d.Name], err)
		}
		if d.Doc == "" || d.Effect == "" || d.Type == 0 {
			t.Errorf("%s: doc, effect or type missing: %+v", d.Name, d)
		}
	}
	if !sort.StringsAreSorted(names) || len(byName) != len(defs) {
		t.Errorf("defs not sorted or not unique: %v", names)
	}
}

// TestBrokerCompressionAndCleanupPolicy: --compression-type and
// --log-cleanup-policy become the defaults of topics without their own,
// shown as the static broker synonym, and a topic's value wins.
func TestBrokerCompressionAndCleanupPolicy(t *testing.T) {
	b := BrokerDefaults{RetentionMs: 1000, SegmentBytes: 1 << 30, SegmentMs: 1000, CompressionType: "zstd", CleanupPolicy: "compact"}
	l := ForLog(nil, b)
	if l.Compression != "zstd" || !l.Compact || l.RetentionMs != -1 || l.ZstdLevel != 3 || l.Lz4Level != 9 || l.GzipLevel != -1 {
		t.Fatalf("ForLog with broker defaults: %+v", l)
	}
	l = ForLog(map[string]string{Compression: "producer", CleanupPolicy: "delete", "compression.zstd.level": "7"}, b)
	if l.Compression != "producer" || l.Compact || l.RetentionMs != 1000 || l.ZstdLevel != 7 {
		t.Fatalf("ForLog with the topic's own: %+v", l)
	}
	got := map[string]Entry{}
	for _, e := range Resolve(nil, b) {
		got[e.Name] = e
	}
	want := map[string][]Synonym{
		Compression:   {{"compression.type", "zstd", SourceStaticBroker}, {"compression.type", "producer", SourceDefault}},
		CleanupPolicy: {{"log.cleanup.policy", "compact", SourceStaticBroker}, {"log.cleanup.policy", "delete", SourceDefault}},
	}
	for name, syn := range want {
		if e := got[name]; e.Source != SourceStaticBroker || !reflect.DeepEqual(e.Synonyms, syn) {
			t.Fatalf("%s: %+v, want static broker with %+v", name, e, syn)
		}
	}
	if err := (BrokerDefaults{CompressionType: "brotli"}).ValidateBroker(); err == nil {
		t.Fatal("compression type brotli accepted")
	}
	if err := (BrokerDefaults{CleanupPolicy: "compact,delete", CompressionType: "lz4"}).ValidateBroker(); err != nil {
		t.Fatal(err)
	}
}

// TestDynamicDefaults: the cluster's dynamic broker configs come after a
// topic's own value and before the broker's flags, in what the log applies
// and in what DescribeConfigs shows.
func TestDynamicDefaults(t *testing.T) {
	b := BrokerDefaults{RetentionMs: 1000, RetentionBytes: -1, SegmentBytes: 1 << 30, SegmentMs: 5000, CompressionType: "gzip"}.
		WithDynamic(map[string]string{"log.retention.ms": "2000", "compression.type": "zstd", "message.max.bytes": "2048"})
	l := ForLog(nil, b)
	if l.RetentionMs != 2000 || l.Compression != "zstd" || l.MaxMessageBytes != 2048 || l.SegmentMs != 5000 {
		t.Errorf("ForLog without own configs: %+v", l)
	}
	if l := ForLog(map[string]string{"retention.ms": "3000", "compression.type": "lz4"}, b); l.RetentionMs != 3000 || l.Compression != "lz4" {
		t.Errorf("ForLog with own configs: %+v", l)
	}
	for _, e := range Resolve(nil, b) {
		if e.Name != RetentionMs {
			continue
		}
		want := []Synonym{{"log.retention.ms", "2000", SourceDynamicDefaultBroker}, {"log.retention.ms", "1000", SourceStaticBroker}, {"log.retention.ms", "604800000", SourceDefault}}
		if e.Value != "2000" || e.Source != SourceDynamicDefaultBroker || !reflect.DeepEqual(e.Synonyms, want) {
			t.Errorf("retention.ms: %+v", e)
		}
	}
	if _, err := ValidateDynamic(map[string]string{"listeners": "x"}, b); err == nil || !strings.Contains(err.Error(), "Cannot update these configs dynamically") {
		t.Errorf("a flag as a dynamic config: %v", err)
	}
	if got, err := ValidateDynamic(map[string]string{"log.cleanup.policy": " compact "}, b); err != nil || got["log.cleanup.policy"] != "compact" {
		t.Errorf("log.cleanup.policy: %v %v", got, err)
	}
}

// Package topicconfig knows the topic configs of Kafka 4.1: their names,
// types, defaults and broker synonyms, how a value is validated, which of
// them Longboat applies, and how a topic's own settings, the broker's log.*
// flags and Kafka's defaults combine into the values the log applies and
// DescribeConfigs reports.
package topicconfig

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Sources as DescribeConfigs reports them (Kafka's ConfigSource).
const (
	SourceDynamicTopic         = 1
	SourceDynamicDefaultBroker = 3
	SourceStaticBroker         = 4
	SourceDefault              = 5
	SourceGroup                = 8
)

// Type is Kafka's ConfigType as DescribeConfigs reports it.
type Type int8

// Kafka's ConfigType ids.
const (
	TypeBoolean  Type = 1
	TypeString   Type = 2
	TypeInt      Type = 3
	TypeShort    Type = 4
	TypeLong     Type = 5
	TypeDouble   Type = 6
	TypeList     Type = 7
	TypeClass    Type = 8
	TypePassword Type = 9
)

func (t Type) String() string {
	switch t {
	case TypeBoolean:
		return "boolean"
	case TypeString:
		return "string"
	case TypeInt:
		return "int"
	case TypeShort:
		return "short"
	case TypeLong:
		return "long"
	case TypeDouble:
		return "double"
	case TypeList:
		return "list"
	case TypeClass:
		return "class"
	case TypePassword:
		return "password"
	}
	return "unknown"
}

// Names of the configs other packages refer to.
const (
	RetentionMs     = "retention.ms"
	RetentionBytes  = "retention.bytes"
	SegmentBytes    = "segment.bytes"
	SegmentMs       = "segment.ms"
	MaxMessageBytes = "max.message.bytes"
	CleanupPolicy   = "cleanup.policy"
	TimestampType   = "message.timestamp.type"
	MinInsync       = "min.insync.replicas"
	Compression     = "compression.type"
	// A CreateTime record's timestamp may be at most this much older or
	// newer than the broker's clock (else INVALID_TIMESTAMP).
	TimestampBeforeMaxMs = "message.timestamp.before.max.ms"
	TimestampAfterMaxMs  = "message.timestamp.after.max.ms"
)

// Def is one topic config as Kafka defines it and as Longboat treats it.
type Def struct {
	Name    string
	Type    Type
	Default string // Kafka's default, as DescribeConfigs prints it
	Broker  string // the broker config that sets the default (Kafka's synonym); "" when none
	Doc     string // one line for DescribeConfigs' documentation
	// Applied tells whether the value changes what Longboat does; Effect
	// says how, or why it does not.
	Applied bool
	Effect  string
	rule    rule
}

// Valid is Kafka's "Valid Values" text for the config.
func (d *Def) Valid() string { return d.rule.valid }

// All returns every topic config, sorted by name.
func All() []Def { return slices.Clone(defs) }

// Lookup finds a topic config by name.
func Lookup(name string) (Def, bool) {
	d, ok := byName[name]
	if !ok {
		return Def{}, false
	}
	return *d, true
}

// Known tells whether name is a topic config.
func Known(name string) bool {
	_, ok := byName[name]
	return ok
}

// UnknownError is Kafka's answer to a name it does not define.
func UnknownError(name string) error {
	//lint:ignore ST1005 Kafka's own message, which clients print as it is
	return fmt.Errorf("Unknown topic config name: %s", name)
}

// BrokerDefaults are the broker's log.* settings, which replace Kafka's
// default for every topic that does not set its own value, and the bound
// the broker puts on segment.bytes.
type BrokerDefaults struct {
	RetentionMs     int64 // log.retention.ms
	RetentionBytes  int64 // log.retention.bytes
	SegmentBytes    int64 // log.segment.bytes
	SegmentMs       int64 // log.roll.ms
	MinSegmentBytes int64 // smallest segment.bytes a topic may set; 0 means Kafka's
	// CleanupPolicy (log.cleanup.policy) and CompressionType
	// (compression.type); "" means Kafka's default.
	CleanupPolicy   string
	CompressionType string
	// Dynamic are the cluster-wide dynamic broker configs (__meta's), by
	// broker config name (log.retention.ms, ...): they come before the
	// flags above. Read only.
	Dynamic map[string]string
}

// WithDynamic returns b with the cluster's dynamic broker configs, which
// replace its flags' values for every topic that sets none of its own.
func (b BrokerDefaults) WithDynamic(dynamic map[string]string) BrokerDefaults {
	b.Dynamic = dynamic
	return b
}

// dynamic returns the cluster's dynamic default for a topic config.
func (b BrokerDefaults) dynamic(d *Def) (string, bool) {
	if d.Broker == "" || len(b.Dynamic) == 0 {
		return "", false
	}
	v, ok := b.Dynamic[d.Broker]
	return v, ok
}

// LookupBroker finds the topic config whose default a broker config sets.
func LookupBroker(name string) (Def, bool) {
	d, ok := byBroker[name]
	if !ok {
		return Def{}, false
	}
	return *d, true
}

// NotDynamicError is Kafka's answer to a broker config that cannot change
// at runtime, and why.
func NotDynamicError(name string) error {
	//lint:ignore ST1005 Kafka's own message, which clients print as it is
	return fmt.Errorf("Cannot update these configs dynamically: [%s] (only the broker configs behind topic defaults are dynamic here; the others are longboat serve flags)", name)
}

// ValidateDynamic checks cluster-wide dynamic broker configs about to be
// set, with the rules of the topic configs they are the defaults of, and
// returns them as Kafka prints them back. Only those broker configs can
// change at runtime; the rest are flags.
func ValidateDynamic(set map[string]string, b BrokerDefaults) (map[string]string, error) {
	names := slices.Sorted(maps.Keys(set))
	out := make(map[string]string, len(set))
	for _, name := range names {
		d, ok := byBroker[name]
		if !ok {
			return nil, NotDynamicError(name)
		}
		v, err := d.rule.check(name, strings.TrimSpace(set[name]), b)
		if err != nil {
			return nil, err
		}
		out[name] = v
	}
	return out, nil
}

// ValidateBroker checks the broker's string defaults with the topic
// configs' rules, for flag validation at start.
func (b BrokerDefaults) ValidateBroker() error {
	set := map[string]string{}
	if b.CleanupPolicy != "" {
		set[CleanupPolicy] = b.CleanupPolicy
	}
	if b.CompressionType != "" {
		set[Compression] = b.CompressionType
	}
	_, err := Validate(set, b)
	return err
}

func (b BrokerDefaults) minSegmentBytes() int64 {
	if b.MinSegmentBytes <= 0 {
		return KafkaMinSegmentBytes
	}
	return b.MinSegmentBytes
}

// Validate checks configs about to be set on a topic, one by one, and
// returns them as Kafka prints them back (trimmed, parsed, formatted).
// The error is Kafka's INVALID_CONFIG message for the first bad one.
func Validate(set map[string]string, b BrokerDefaults) (map[string]string, error) {
	names := make([]string, 0, len(set))
	for name := range set {
		names = append(names, name)
	}
	sort.Strings(names)
	out := make(map[string]string, len(set))
	for _, name := range names {
		d, ok := byName[name]
		if !ok {
			return nil, UnknownError(name)
		}
		v, err := d.rule.check(name, strings.TrimSpace(set[name]), b)
		if err != nil {
			return nil, err
		}
		out[name] = v
	}
	return out, nil
}

// ValidateTogether checks the rules that tie configs to each other on a
// topic's own configs as they would be after a change.
func ValidateTogether(own map[string]string) error {
	lag := func(name string) int64 {
		v, ok := own[name]
		if !ok {
			v = byName[name].Default
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		return n
	}
	if minLag, maxLag := lag("min.compaction.lag.ms"), lag("max.compaction.lag.ms"); minLag > maxLag {
		return fmt.Errorf("conflict topic config setting min.compaction.lag.ms (%d) > max.compaction.lag.ms (%d)", minLag, maxLag)
	}
	return nil
}

// Synonym is one source a config's value could come from, as
// DescribeConfigs lists them: the one in effect first.
type Synonym struct {
	Name, Value string
	Source      int8
}

// Entry is one effective config value and where it comes from.
type Entry struct {
	Name, Value string
	Source      int8
	Type        Type
	Doc         string
	Synonyms    []Synonym
}

// Resolve returns every topic config of a topic, sorted by name: its own
// value, else the cluster's dynamic broker config, else the broker's flag
// where the broker sets one that differs from Kafka's default, else
// Kafka's default.
func Resolve(topic map[string]string, b BrokerDefaults) []Entry {
	broker := b.values()
	out := make([]Entry, 0, len(defs))
	for i := range defs {
		d := &defs[i]
		e := Entry{Name: d.Name, Value: d.Default, Source: SourceDefault, Type: d.Type, Doc: d.Doc}
		if d.Broker != "" {
			e.Synonyms = []Synonym{{d.Broker, d.Default, SourceDefault}}
		}
		if v, ok := broker[d.Name]; ok && v != d.Default {
			e.Value, e.Source = v, SourceStaticBroker
			e.Synonyms = append([]Synonym{{d.Broker, v, SourceStaticBroker}}, e.Synonyms...)
		}
		if v, ok := b.dynamic(d); ok {
			e.Value, e.Source = v, SourceDynamicDefaultBroker
			e.Synonyms = append([]Synonym{{d.Broker, v, SourceDynamicDefaultBroker}}, e.Synonyms...)
		}
		if v, ok := topic[d.Name]; ok {
			e.Value, e.Source = v, SourceDynamicTopic
			e.Synonyms = append([]Synonym{{d.Name, v, SourceDynamicTopic}}, e.Synonyms...)
		}
		out = append(out, e)
	}
	return out
}

// BrokerEntries returns the broker configs behind the topic defaults
// (log.retention.ms, log.cleanup.policy, ...), sorted by topic config:
// the cluster's dynamic value, else the broker's flag where it has one,
// else Kafka's default.
func BrokerEntries(b BrokerDefaults) []Entry {
	broker := b.values()
	var out []Entry
	for i := range defs {
		d := &defs[i]
		if d.Broker == "" {
			continue
		}
		e := Entry{Name: d.Broker, Value: d.Default, Source: SourceDefault, Type: d.Type, Doc: d.Doc}
		if v, ok := broker[d.Name]; ok {
			e.Value, e.Source = v, SourceStaticBroker
			e.Synonyms = []Synonym{{d.Broker, v, SourceStaticBroker}}
		}
		if v, ok := b.dynamic(d); ok {
			e.Value, e.Source = v, SourceDynamicDefaultBroker
			e.Synonyms = append([]Synonym{{d.Broker, v, SourceDynamicDefaultBroker}}, e.Synonyms...)
		}
		e.Synonyms = append(e.Synonyms, Synonym{d.Broker, d.Default, SourceDefault})
		out = append(out, e)
	}
	return out
}

// Log is what the partition log applies.
type Log struct {
	RetentionMs     int64 // -1: no time limit
	RetentionBytes  int64 // -1: no size limit
	SegmentBytes    int64
	SegmentMs       int64
	MaxMessageBytes int
	LogAppendTime   bool
	// TimestampBeforeMaxMs and TimestampAfterMaxMs bound CreateTime
	// timestamps around the broker's clock.
	TimestampBeforeMaxMs, TimestampAfterMaxMs int64
	// MinInsync is min.insync.replicas: an acks=all produce is refused
	// with NOT_ENOUGH_REPLICAS while the leader counts fewer replicas in
	// sync (itself included).
	MinInsync int
	// Compact: cleanup.policy lists compact, so the log cleaner keeps the
	// last record of each key and Produce refuses records without a key.
	Compact bool
	// The cleaner's settings (delete.retention.ms, min.cleanable.dirty.ratio,
	// min.compaction.lag.ms, max.compaction.lag.ms).
	DeleteRetentionMs                      int64
	MinCleanableRatio                      float64
	MinCompactionLagMs, MaxCompactionLagMs int64
	// Compression is compression.type: producer keeps each batch's codec,
	// any other value is the codec the broker stores batches with, at the
	// compression.*.level levels.
	Compression                    string
	GzipLevel, Lz4Level, ZstdLevel int
}

// ForLog resolves the settings the log applies (on every produce, so
// without building the described entries). Values were validated when they
// were set, so a parse failure cannot happen; it falls back to 0.
//
// Retention deletes only under the delete policy: a topic that is only
// compacted keeps the latest record of each key for as long as the topic
// lives (compact,delete applies both). A compacted topic's segments roll
// at max.compaction.lag.ms too when that is shorter than segment.ms, as
// Kafka rolls them, so the cleaner can reach records in the active one.
func ForLog(topic map[string]string, b BrokerDefaults) Log {
	broker := map[string]string{CleanupPolicy: b.CleanupPolicy, Compression: b.CompressionType}
	str := func(name string) string {
		if v, ok := topic[name]; ok {
			return v
		}
		if v, ok := b.dynamic(byName[name]); ok {
			return v
		}
		if v := broker[name]; v != "" {
			return v
		}
		return byName[name].Default
	}
	num := func(name string, broker int64) int64 {
		v, ok := topic[name]
		if !ok {
			v, ok = b.dynamic(byName[name])
		}
		if !ok {
			return broker
		}
		x, _ := strconv.ParseInt(v, 10, 64)
		return x
	}
	maxMessage, _ := strconv.Atoi(str(MaxMessageBytes))
	l := Log{
		RetentionMs:     num(RetentionMs, b.RetentionMs),
		RetentionBytes:  max(num(RetentionBytes, b.RetentionBytes), -1),
		SegmentBytes:    num(SegmentBytes, b.SegmentBytes),
		SegmentMs:       num(SegmentMs, b.SegmentMs),
		MaxMessageBytes: maxMessage,
		LogAppendTime:   str(TimestampType) == "LogAppendTime",
	}
	l.TimestampBeforeMaxMs, _ = strconv.ParseInt(str(TimestampBeforeMaxMs), 10, 64)
	l.TimestampAfterMaxMs, _ = strconv.ParseInt(str(TimestampAfterMaxMs), 10, 64)
	policy := splitList(str(CleanupPolicy))
	if !slices.Contains(policy, "delete") {
		l.RetentionMs, l.RetentionBytes = -1, -1
	}
	l.Compact = slices.Contains(policy, "compact")
	l.MinInsync, _ = strconv.Atoi(str(MinInsync))
	l.DeleteRetentionMs, _ = strconv.ParseInt(str("delete.retention.ms"), 10, 64)
	l.MinCleanableRatio, _ = strconv.ParseFloat(str("min.cleanable.dirty.ratio"), 64)
	l.MinCompactionLagMs, _ = strconv.ParseInt(str("min.compaction.lag.ms"), 10, 64)
	l.MaxCompactionLagMs, _ = strconv.ParseInt(str("max.compaction.lag.ms"), 10, 64)
	l.Compression = str(Compression)
	l.GzipLevel, _ = strconv.Atoi(str("compression.gzip.level"))
	l.Lz4Level, _ = strconv.Atoi(str("compression.lz4.level"))
	l.ZstdLevel, _ = strconv.Atoi(str("compression.zstd.level"))
	if l.Compact {
		l.SegmentMs = min(l.SegmentMs, l.MaxCompactionLagMs)
	}
	return l
}

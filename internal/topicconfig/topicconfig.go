// Package topicconfig knows the topic configs Longboat accepts: Kafka's
// names and defaults, how a value is validated, and how a topic's own
// settings, the broker's log.* defaults and Kafka's defaults combine into
// the values the log applies and DescribeConfigs reports.
package topicconfig

import (
	"fmt"
	"sort"
	"strconv"
)

// Sources as DescribeConfigs reports them (Kafka's ConfigSource).
const (
	SourceDynamicTopic = 1
	SourceStaticBroker = 4
	SourceDefault      = 5
)

// Names of the configs the log itself applies.
const (
	RetentionMs     = "retention.ms"
	RetentionBytes  = "retention.bytes"
	SegmentBytes    = "segment.bytes"
	SegmentMs       = "segment.ms"
	MaxMessageBytes = "max.message.bytes"
	CleanupPolicy   = "cleanup.policy"
	TimestampType   = "message.timestamp.type"
	// MinInsync is stored and reported for tools that set it, but under
	// Raft a write (acks=1 or all) commits once a majority of the replica
	// set has it: the effective minimum is always RF/2+1 (2 of 3).
	MinInsync   = "min.insync.replicas"
	Compression = "compression.type"
	// A CreateTime record's timestamp may be at most this much older or
	// newer than the broker's clock (else INVALID_TIMESTAMP).
	TimestampBeforeMaxMs = "message.timestamp.before.max.ms"
	TimestampAfterMaxMs  = "message.timestamp.after.max.ms"
)

// kafkaDefaults are Apache Kafka's topic defaults.
var kafkaDefaults = map[string]string{
	CleanupPolicy:   "delete",
	Compression:     "producer",
	MaxMessageBytes: "1048588",
	TimestampType:   "CreateTime",
	MinInsync:       "1",
	RetentionBytes:  "-1",
	RetentionMs:     "604800000",
	SegmentBytes:    "1073741824",
	SegmentMs:       "604800000",
	// Kafka 4.0's defaults (KIP-937, KIP-1030): no limit into the past,
	// an hour into the future.
	TimestampBeforeMaxMs: "9223372036854775807",
	TimestampAfterMaxMs:  "3600000",
}

// MinSegmentBytes is the smallest segment.bytes accepted: small enough for
// tests that want many segments, large enough for any batch header.
const MinSegmentBytes = 1024

// BrokerDefaults are the broker's log.* settings, which replace Kafka's
// default for every topic that does not set its own value.
type BrokerDefaults struct {
	RetentionMs    int64 // log.retention.ms
	RetentionBytes int64 // log.retention.bytes
	SegmentBytes   int64 // log.segment.bytes
	SegmentMs      int64 // log.roll.ms
}

func (b BrokerDefaults) values() map[string]string {
	return map[string]string{
		RetentionMs:    strconv.FormatInt(b.RetentionMs, 10),
		RetentionBytes: strconv.FormatInt(b.RetentionBytes, 10),
		SegmentBytes:   strconv.FormatInt(b.SegmentBytes, 10),
		SegmentMs:      strconv.FormatInt(b.SegmentMs, 10),
	}
}

// Known tells whether name is a topic config Longboat accepts.
func Known(name string) bool {
	_, ok := kafkaDefaults[name]
	return ok
}

// Validate checks one topic config value; "" means valid.
func Validate(name, value string) string {
	if !Known(name) {
		return fmt.Sprintf("unknown or unsupported topic config %q", name)
	}
	switch name {
	case CleanupPolicy:
		if value != "delete" {
			return "cleanup.policy: only \"delete\" is supported (compaction is not built)"
		}
	case TimestampType:
		if value != "CreateTime" && value != "LogAppendTime" {
			return "message.timestamp.type must be CreateTime or LogAppendTime"
		}
	case Compression:
		switch value {
		case "producer", "uncompressed", "gzip", "snappy", "lz4", "zstd":
		default:
			return "compression.type must be producer, uncompressed, gzip, snappy, lz4 or zstd"
		}
	case RetentionMs, RetentionBytes:
		if n, err := strconv.ParseInt(value, 10, 64); err != nil || n < -1 {
			return fmt.Sprintf("%s must be an integer, -1 for unlimited", name)
		}
	case SegmentBytes:
		if n, err := strconv.ParseInt(value, 10, 32); err != nil || n < MinSegmentBytes {
			return fmt.Sprintf("segment.bytes must be an integer %d..2147483647", MinSegmentBytes)
		}
	case TimestampBeforeMaxMs, TimestampAfterMaxMs:
		if n, err := strconv.ParseInt(value, 10, 64); err != nil || n < 0 {
			return fmt.Sprintf("%s must be a non-negative integer", name)
		}
	case SegmentMs, MinInsync:
		if n, err := strconv.ParseInt(value, 10, 64); err != nil || n < 1 {
			return fmt.Sprintf("%s must be a positive integer", name)
		}
	default:
		if n, err := strconv.ParseInt(value, 10, 32); err != nil || n < 0 {
			return fmt.Sprintf("%s must be a non-negative integer", name)
		}
	}
	return ""
}

// Entry is one effective config value and where it comes from.
type Entry struct {
	Name, Value string
	Source      int8
}

// Resolve returns every accepted config of a topic, sorted by name: its
// own value, else the broker's default where the broker sets one that
// differs from Kafka's, else Kafka's default.
func Resolve(topic map[string]string, b BrokerDefaults) []Entry {
	broker := b.values()
	out := make([]Entry, 0, len(kafkaDefaults))
	for name, def := range kafkaDefaults {
		e := Entry{Name: name, Value: def, Source: SourceDefault}
		if v, ok := broker[name]; ok && v != def {
			e.Value, e.Source = v, SourceStaticBroker
		}
		if v, ok := topic[name]; ok {
			e.Value, e.Source = v, SourceDynamicTopic
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
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
}

// ForLog resolves the settings the log applies. Values were validated when
// they were set, so a parse failure cannot happen; it falls back to 0.
func ForLog(topic map[string]string, b BrokerDefaults) Log {
	v := map[string]string{}
	for _, e := range Resolve(topic, b) {
		v[e.Name] = e.Value
	}
	n := func(name string) int64 {
		x, _ := strconv.ParseInt(v[name], 10, 64)
		return x
	}
	return Log{
		RetentionMs:          n(RetentionMs),
		RetentionBytes:       n(RetentionBytes),
		SegmentBytes:         n(SegmentBytes),
		SegmentMs:            n(SegmentMs),
		MaxMessageBytes:      int(n(MaxMessageBytes)),
		LogAppendTime:        v[TimestampType] == "LogAppendTime",
		TimestampBeforeMaxMs: n(TimestampBeforeMaxMs),
		TimestampAfterMaxMs:  n(TimestampAfterMaxMs),
	}
}

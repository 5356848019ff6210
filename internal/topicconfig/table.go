package topicconfig

import "strconv"

// maxLong is Java's Long.MAX_VALUE, Kafka's "never" for several limits.
const maxLong = "9223372036854775807"

// KafkaMinSegmentBytes is the smallest segment.bytes Kafka 4 accepts.
const KafkaMinSegmentBytes = 1 << 20

// errRemoteStorage is Kafka's answer on a broker without tiered storage.
const errRemoteStorage = "Tiered Storage functionality is disabled in the broker. Topic cannot be configured with remote log storage."

// noTiered is why the tiered storage settings do nothing.
const noTiered = "tiered storage is not built: every segment stays local, so only retention.ms and retention.bytes apply"

// levelEffect is what the compression levels do.
const levelEffect = "the level the partition leader recompresses with when compression.type names this codec and a batch arrives in another"

// defs are the topic configs of Kafka 4.1 (LogConfig), sorted by name,
// with what Longboat does with each.
var defs = []Def{
	{
		Name: CleanupPolicy, Type: TypeList, Default: "delete", Broker: "log.cleanup.policy",
		rule: listOf("compact", "delete"), Applied: true,
		Effect: "delete: retention.ms and retention.bytes remove old segments; compact: each replica's log cleaner keeps the last record of each key in its sealed segments (a compressed batch is decompressed and its survivors recompressed with its codec; transactional batches are kept whole), and Produce refuses records without a key, in compressed batches too (INVALID_RECORD); compact,delete: both; empty: nothing is removed",
		Doc:    "What happens to old segments: delete removes them by retention, compact keeps the latest record per key; both may be listed.",
	},
	{
		Name: "compression.gzip.level", Type: TypeInt, Default: "-1", Broker: "compression.gzip.level",
		rule: gzipLevel(), Applied: true, Effect: levelEffect,
		Doc: "Compression level when compression.type is gzip.",
	},
	{
		Name: "compression.lz4.level", Type: TypeInt, Default: "9", Broker: "compression.lz4.level",
		rule: ints(1, 17), Applied: true, Effect: levelEffect + " (levels 3..17 use lz4's high-compression mode, whose deepest level here is 9; 1 and 2 its fast mode)",
		Doc: "Compression level when compression.type is lz4.",
	},
	{
		Name: Compression, Type: TypeString, Default: "producer", Broker: "compression.type",
		rule: oneOf("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"), Applied: true,
		Effect: "producer: batches are stored as the producer compressed them; any other value: the partition leader decompresses a batch in another codec and recompresses it with this one (uncompressed: stores it decompressed) before proposing it to Raft, so every replica stores the same bytes; offsets, timestamps, producer id, epoch, sequence and the transactional bit are kept, the CRC is recomputed, and the result must still fit max.message.bytes (else MESSAGE_TOO_LARGE)",
		Doc:    "The codec batches are stored with; producer keeps what the producer sent.",
	},
	{
		Name: "compression.zstd.level", Type: TypeInt, Default: "3", Broker: "compression.zstd.level",
		rule: ints(-131072, 22), Applied: true, Effect: levelEffect + " (mapped to the nearest of the Go encoder's four speeds)",
		Doc: "Compression level when compression.type is zstd.",
	},
	{
		Name: "delete.retention.ms", Type: TypeLong, Default: "86400000", Broker: "log.cleaner.delete.retention.ms",
		rule: longs(0), Applied: true, Effect: "the cleaner removes a tombstone (null value) once its batch's timestamp is this much older than the broker's clock and older values of its key are gone, and a transaction marker once its timestamp is this much older and no record of its transaction is left",
		Doc: "How long the cleaner keeps tombstones of a compacted topic.",
	},
	{
		Name: "file.delete.delay.ms", Type: TypeLong, Default: "60000", Broker: "log.segment.delete.delay.ms",
		rule: longs(0), Effect: "a segment wholly below the log start offset is deleted at once",
		Doc: "How long a deleted segment's files wait before they are removed from disk.",
	},
	{
		Name: "flush.messages", Type: TypeLong, Default: maxLong, Broker: "log.flush.interval.messages",
		rule: longs(1), Effect: "every write is fsynced by Raft before it is acknowledged",
		Doc: "Force an fsync after this many records.",
	},
	{
		Name: "flush.ms", Type: TypeLong, Default: maxLong, Broker: "log.flush.interval.ms",
		rule: longs(0), Effect: "every write is fsynced by Raft before it is acknowledged",
		Doc: "Force an fsync once data has waited this long.",
	},
	{
		Name: "follower.replication.throttled.replicas", Type: TypeList, Default: "",
		rule: throttledReplicas(), Effect: "replication throttling is not built",
		Doc: "Replicas (partition:broker, or *) whose follower-side replication is throttled.",
	},
	{
		Name: "index.interval.bytes", Type: TypeInt, Default: "4096", Broker: "log.index.interval.bytes",
		rule: ints(0), Effect: "the sparse offset index takes an entry every 4096 bytes on every topic",
		Doc: "How many log bytes between two offset index entries.",
	},
	{
		Name: "leader.replication.throttled.replicas", Type: TypeList, Default: "",
		rule: throttledReplicas(), Effect: "replication throttling is not built",
		Doc: "Replicas (partition:broker, or *) whose leader-side replication is throttled.",
	},
	{
		Name: "local.retention.bytes", Type: TypeLong, Default: "-2", Broker: "log.local.retention.bytes",
		rule: longs(-2), Effect: noTiered,
		Doc: "Size limit of the local part of a tiered log; -2 follows retention.bytes.",
	},
	{
		Name: "local.retention.ms", Type: TypeLong, Default: "-2", Broker: "log.local.retention.ms",
		rule: longs(-2), Effect: noTiered,
		Doc: "Age limit of the local part of a tiered log; -2 follows retention.ms.",
	},
	{
		Name: "max.compaction.lag.ms", Type: TypeLong, Default: maxLong, Broker: "log.cleaner.max.compaction.lag.ms",
		rule: longs(1), Applied: true, Effect: "the cleaner cleans dirty data this old whatever the dirty ratio, and the active segment of a compacted topic rolls at this age when it is below segment.ms",
		Doc: "The longest a record may wait before it becomes eligible for compaction.",
	},
	{
		Name: MaxMessageBytes, Type: TypeInt, Default: "1048588", Broker: "message.max.bytes",
		rule: ints(0), Applied: true, Effect: "Produce refuses a larger batch with MESSAGE_TOO_LARGE",
		Doc: "The largest record batch the topic accepts, after compression.",
	},
	{
		Name: "message.downconversion.enable", Type: TypeBoolean, Default: "true", Broker: "log.message.downconversion.enable",
		rule: boolean(), Effect: "deprecated no-op in Kafka 4 too: every supported Fetch version reads the stored format",
		Doc: "Deprecated: whether old consumers may get down-converted batches.",
	},
	{
		Name: "message.timestamp.after.max.ms", Type: TypeLong, Default: "3600000", Broker: "log.message.timestamp.after.max.ms",
		rule: longs(0), Applied: true, Effect: "Produce refuses a CreateTime batch stamped further ahead of the broker's clock with INVALID_TIMESTAMP",
		Doc: "How far ahead of the broker's clock a CreateTime timestamp may be.",
	},
	{
		Name: "message.timestamp.before.max.ms", Type: TypeLong, Default: maxLong, Broker: "log.message.timestamp.before.max.ms",
		rule: longs(0), Applied: true, Effect: "Produce refuses a CreateTime batch stamped further behind the broker's clock with INVALID_TIMESTAMP",
		Doc: "How far behind the broker's clock a CreateTime timestamp may be.",
	},
	{
		Name: TimestampType, Type: TypeString, Default: "CreateTime", Broker: "log.message.timestamp.type",
		rule: oneOf("CreateTime", "LogAppendTime"), Applied: true, Effect: "LogAppendTime: the leader stamps every batch with its clock",
		Doc: "Whether records keep the producer's timestamp or get the broker's append time.",
	},
	{
		Name: "min.cleanable.dirty.ratio", Type: TypeDouble, Default: "0.5", Broker: "log.cleaner.min.cleanable.ratio",
		rule: ratio(), Applied: true, Effect: "a replica's cleaner compacts once the not yet cleaned bytes are this share of the cleanable log",
		Doc: "The share of uncompacted log that makes the cleaner compact a topic.",
	},
	{
		Name: "min.compaction.lag.ms", Type: TypeLong, Default: "0", Broker: "log.cleaner.min.compaction.lag.ms",
		rule: longs(0), Applied: true, Effect: "the cleaner leaves segments holding a record newer than this (by the batch timestamps against the broker's clock)",
		Doc: "The shortest time a record stays uncompacted.",
	},
	{
		Name: MinInsync, Type: TypeInt, Default: "1", Broker: "min.insync.replicas",
		rule: ints(1), Applied: true, Effect: "an acks=all produce is refused with NOT_ENOUGH_REPLICAS, before it is proposed, while the partition leader counts fewer replicas in its ISR (itself included, see --replica-lag-time-max); a write that is accepted still commits on a Raft majority, so more than a majority here only makes produce stricter, and acks=0/1 are not checked, as in Kafka",
		Doc: "How many replicas must have a write before acks=all succeeds.",
	},
	{
		Name: "preallocate", Type: TypeBoolean, Default: "false", Broker: "log.preallocate",
		rule: boolean(), Effect: "segment files grow as records are appended",
		Doc: "Whether a new segment file is allocated at full size on creation.",
	},
	{
		Name: "remote.log.copy.disable", Type: TypeBoolean, Default: "false",
		rule: boolean(), Effect: noTiered,
		Doc: "Stop copying segments of a tiered topic to remote storage.",
	},
	{
		Name: "remote.log.delete.on.disable", Type: TypeBoolean, Default: "false",
		rule: boolean(), Effect: noTiered,
		Doc: "Delete the remote data when tiered storage is turned off for the topic.",
	},
	{
		Name: "remote.storage.enable", Type: TypeBoolean, Default: "false",
		rule: remoteStorage(), Effect: "tiered storage is not built: true is refused, as by a Kafka broker without it",
		Doc: "Whether the topic tiers old segments to remote storage.",
	},
	{
		Name: RetentionBytes, Type: TypeLong, Default: "-1", Broker: "log.retention.bytes",
		rule: longs(), Applied: true, Effect: "under the delete policy the partition leader deletes the oldest segments while the log is larger (negative: no limit)",
		Doc: "Size limit of each partition's log under the delete policy; negative for none.",
	},
	{
		Name: RetentionMs, Type: TypeLong, Default: "604800000", Broker: "log.retention.ms",
		rule: longs(-1), Applied: true, Effect: "under the delete policy the partition leader deletes segments whose newest record is older (-1: no limit)",
		Doc: "Age limit of records under the delete policy; -1 for none.",
	},
	{
		Name: SegmentBytes, Type: TypeInt, Default: "1073741824", Broker: "log.segment.bytes",
		rule: segmentBytes(), Applied: true, Effect: "a segment rolls at this size, and the cleaner merges cleaned segments up to it; the minimum is --min-segment-bytes (Kafka's 1048576 unless lowered for tests)",
		Doc: "Size at which the active segment file is closed and a new one started.",
	},
	{
		Name: "segment.index.bytes", Type: TypeInt, Default: "10485760", Broker: "log.index.size.max.bytes",
		rule: ints(4), Effect: "a segment's offset index grows with the segment, without a size limit",
		Doc: "Size of a segment's offset index file.",
	},
	{
		Name: "segment.jitter.ms", Type: TypeLong, Default: "0", Broker: "log.roll.jitter.ms",
		rule: longs(0), Effect: "segments roll exactly at segment.ms",
		Doc: "Random time subtracted from segment.ms so that segments do not all roll at once.",
	},
	{
		Name: SegmentMs, Type: TypeLong, Default: "604800000", Broker: "log.roll.ms",
		rule: longs(1), Applied: true, Effect: "the next append rolls a segment whose first record is older",
		Doc: "Age at which the active segment is rolled so that retention can delete it.",
	},
	{
		Name: "unclean.leader.election.enable", Type: TypeBoolean, Default: "false", Broker: "unclean.leader.election.enable",
		rule: boolean(), Effect: "Raft never elects a replica that misses acknowledged writes",
		Doc: "Whether a replica that is not in sync may become leader, losing data.",
	},
}

// byName indexes defs.
var byName = func() map[string]*Def {
	m := make(map[string]*Def, len(defs))
	for i := range defs {
		m[defs[i].Name] = &defs[i]
	}
	return m
}()

// byBroker indexes defs by the broker config that sets their default.
var byBroker = func() map[string]*Def {
	m := map[string]*Def{}
	for i := range defs {
		if defs[i].Broker != "" {
			m[defs[i].Broker] = &defs[i]
		}
	}
	return m
}()

// values are the topic defaults the broker's flags set, by topic config.
func (b BrokerDefaults) values() map[string]string {
	v := map[string]string{
		RetentionMs:    strconv.FormatInt(b.RetentionMs, 10),
		RetentionBytes: strconv.FormatInt(b.RetentionBytes, 10),
		SegmentBytes:   strconv.FormatInt(b.SegmentBytes, 10),
		SegmentMs:      strconv.FormatInt(b.SegmentMs, 10),
	}
	// A string flag left at Kafka's default is reported as the default, as
	// Kafka reports a broker config its server.properties leaves out.
	if b.CleanupPolicy != "" && b.CleanupPolicy != byName[CleanupPolicy].Default {
		v[CleanupPolicy] = b.CleanupPolicy
	}
	if b.CompressionType != "" && b.CompressionType != byName[Compression].Default {
		v[Compression] = b.CompressionType
	}
	return v
}

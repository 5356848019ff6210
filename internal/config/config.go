// Package config holds a broker's settings: parsed once from flags and
// LONGBOAT_* environment variables, validated once, then read-only.
package config

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/longboat/longboat/internal/topicconfig"
)

// Listener is one named Kafka listener.
type Listener struct {
	Name string // upper case, e.g. INTERNAL, EXTERNAL, PLAINTEXT
	Host string
	Port int
	// Protocol is the listener's security protocol (PLAINTEXT, SSL, ...),
	// from its name or --listener-security-protocol-map; set on bind
	// listeners only.
	Protocol string
}

// Addr is host:port.
func (l Listener) Addr() string { return net.JoinHostPort(l.Host, strconv.Itoa(l.Port)) }

// Config is everything `longboat serve` needs.
type Config struct {
	NodeID              uint64
	DataDir             string
	Listeners           []Listener // bind addresses
	AdvertisedListeners []Listener // same names as Listeners
	RaftAddr            string
	InitialMembers      map[uint64]string // node id -> raft address
	// InitialMembersHTTP is node id -> HTTP address of the other initial
	// members: a broker whose data directory is empty asks them whether it
	// is already a member before it starts Raft. Empty: no such check.
	InitialMembersHTTP map[uint64]string
	// Join is an existing broker's HTTP address (host:port): this broker
	// is not an initial member and asks it to be added to the cluster
	// (docs/OPERATIONS.md, "Add a broker"). Given on every start.
	Join     string
	HTTPAddr string
	// AdvertisedHTTPAddr is where the other brokers reach HTTPAddr: they
	// probe its /livez to wake quiesced partitions and poll it for ISR
	// and catch-up positions (see AdvertisedHTTP for the default).
	AdvertisedHTTPAddr string
	LogLevel           string
	LogFormat          string // console, json or auto
	LogColor           string // auto, always or never

	AutoCreateTopics          bool
	DefaultPartitions         int
	DefaultReplicationFactor  int
	MaxRequestBytes           int // socket.request.max.bytes
	RTTMillisecond            uint64
	ElectionRTT               uint64
	HeartbeatRTT              uint64
	RaftQuiesce               bool
	RaftCampaignOnPeerExit    bool
	SegmentBytes              int64
	LeaderBalanceInterval     time.Duration
	ReplicaLagTimeMax         time.Duration // a follower not caught up within it leaves the ISR (replica.lag.time.max.ms)
	ShutdownTimeout           time.Duration
	SnapshotEntries           uint64
	SnapshotBytes             uint64
	CompactionOverheadEntries uint64
	LogDBMemtableMB           uint64
	RaftLogDB                 string
	GroupShards               int
	GroupInitialRebalance     time.Duration
	GroupMaxSize              int
	OffsetMetadataMaxBytes    int
	OffsetsRetention          time.Duration
	OffsetsRetentionCheck     time.Duration
	// TransactionMaxTimeout bounds a producer's transaction.timeout.ms
	// (transaction.max.timeout.ms); TransactionAbortInterval is how often
	// transactions past their timeout are aborted.
	TransactionMaxTimeout    time.Duration
	TransactionAbortInterval time.Duration
	// TransactionalIDExpiration is transactional.id.expiration.ms: a
	// transactional id with no transaction for this long is removed from
	// its coordinator's state.
	TransactionalIDExpiration time.Duration
	// The KIP-848 consumer protocol's heartbeat interval and session timeout.
	GroupConsumerHeartbeat time.Duration
	GroupConsumerSession   time.Duration
	// GroupConsumerMigration is group.consumer.migration.policy.
	GroupConsumerMigration string
	// Log lifecycle defaults for topics that do not set their own.
	RetentionMs            int64
	RetentionBytes         int64
	SegmentMs              int64
	RetentionCheckInterval time.Duration
	// MinSegmentBytes bounds the segment.bytes a topic may set.
	MinSegmentBytes int64
	// CleanupPolicy and CompressionType are the broker's log.cleanup.policy
	// and compression.type: the defaults of topics without their own.
	CleanupPolicy   string
	CompressionType string
	// MinFreeDiskBytes is the free-space floor of the data dir's file
	// system under which Produce to the leaders here is refused;
	// MinFreeDiskAuto: the smaller of 1 GiB and 5% of the file system.
	MinFreeDiskBytes int64
	// The log cleaner (compaction) of topics with cleanup.policy=compact.
	CleanerThreads          int
	CleanerDedupeBufferSize int64   // bytes of key map, shared by the threads
	CleanerIOMaxBytesPerSec float64 // 0: unlimited
	// ReassignmentThrottleBytes limits, per broker, the bytes per second
	// the snapshot streams catching up replicas a reassignment brings in
	// may send; 0: unlimited.
	ReassignmentThrottleBytes int64
	// MetaVoters is how many voters __meta keeps among the live brokers
	// (3 or 5); MetaVoterReplaceAfter is how long a voter must be down
	// before a caught-up non-voting broker replaces it.
	MetaVoters            int
	MetaVoterReplaceAfter time.Duration
	CleanerBackoff        time.Duration

	// Limits one client cannot exceed (Kafka's max.connections,
	// max.connections.per.ip, queued.max.request.bytes,
	// connections.max.idle.ms); 0 connections means no limit.
	MaxConnections          int
	MaxConnectionsPerIP     int
	MaxInflightRequestBytes int64
	ConnectionsMaxIdle      time.Duration
	ConnectionWriteTimeout  time.Duration
	DebugPprof              bool
	DebugLeaderTransfer     bool
	// GrafanaURL is where the web console links for dashboards; empty: no link.
	GrafanaURL string

	TLS           TLS
	SASL          SASL
	Authorization Authorization
	// RaftTLS runs the Raft transport over mutual TLS with the TLS
	// certificate and the client CA.
	RaftTLS bool
	// HTTPTLS serves --http-addr over TLS with the TLS certificate, and
	// makes the broker's own HTTP clients of its peers use it.
	HTTPTLS bool
}

// Raft log stores (--raft-logdb).
const (
	LogDBTanShared = "tan-shared"
	LogDBTan       = "tan"
	LogDBPebble    = "pebble"
)

// LogDefaults are the broker's log.* settings as topic config defaults.
func (c *Config) LogDefaults() topicconfig.BrokerDefaults {
	return topicconfig.BrokerDefaults{RetentionMs: c.RetentionMs, RetentionBytes: c.RetentionBytes, SegmentBytes: c.SegmentBytes, SegmentMs: c.SegmentMs, MinSegmentBytes: c.MinSegmentBytes,
		CleanupPolicy: c.CleanupPolicy, CompressionType: c.CompressionType}
}

// env returns LONGBOAT_<NAME> for a flag name such as "node-id".
func envName(flagName string) string {
	return "LONGBOAT_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Parse reads flags (which win) and LONGBOAT_* variables for `serve`, then validates.
func Parse(args []string, getenv func(string) string) (*Config, error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	c := &Config{}
	var listeners, advertised, members, membersHTTP, protocolMap, listenerAuth string
	var idleMs, writeTimeoutMs, txnIDExpirationMs int64
	var balance, replicaLag, shutdown, initialRebalance, retentionCheck, offsetsRetention, offsetsCheck, cleanerBackoff string
	var txnMaxTimeout, txnAbortInterval string
	var saslRaw saslFlags
	saslRaw.register(fs)
	var authzRaw authorizerFlags
	authzRaw.register(fs)
	fs.Uint64Var(&c.NodeID, "node-id", 1, "this broker's id (1..N), also its Raft replica id")
	fs.StringVar(&c.DataDir, "data-dir", "./data", "directory for Raft logs and partition segments")
	fs.StringVar(&listeners, "listeners", "PLAINTEXT://127.0.0.1:9092", "comma-separated NAME://host:port Kafka listeners to bind")
	fs.StringVar(&protocolMap, "listener-security-protocol-map", "", "NAME:PROTOCOL,... security protocol of each listener not named after one, e.g. INTERNAL:PLAINTEXT,EXTERNAL:SSL; PLAINTEXT, SSL, SASL_PLAINTEXT and SASL_SSL map to themselves unless given here (listener.security.protocol.map)")
	fs.StringVar(&c.TLS.CertFile, "tls-cert-file", "", "PEM certificate (chain) that SSL listeners present; reloaded on SIGHUP")
	fs.StringVar(&c.TLS.KeyFile, "tls-key-file", "", "PEM private key of --tls-cert-file; reloaded on SIGHUP")
	fs.StringVar(&c.TLS.ClientCAFile, "tls-client-ca-file", "", "PEM CA certificates that client certificates must chain to; reloaded on SIGHUP")
	fs.StringVar(&c.TLS.ClientAuth, "tls-client-auth", TLSClientAuthNone, "client certificates on SSL listeners: none, requested (verified if sent) or required (ssl.client.auth); a client's principal is User:<certificate CN>")
	fs.StringVar(&listenerAuth, "listener-tls-client-auth", "", "NAME:MODE,... --tls-client-auth for single SSL or SASL_SSL listeners, e.g. EXTERNAL:none,INTERNAL:required; listeners not named use --tls-client-auth (listener.name.<name>.ssl.client.auth)")
	fs.BoolVar(&c.HTTPTLS, "http-tls", false, "serve --http-addr over HTTPS with --tls-cert-file, and reach the other brokers' HTTP ports over HTTPS presenting it; endpoints other than GET /livez, /readyz, /metrics and /v1/status then require a client certificate of --tls-client-ca-file (a broker's), and with --authorizer acl one whose User:<CN> is in --super-users")
	fs.BoolVar(&c.RaftTLS, "raft-tls", false, "run Raft traffic over mutual TLS: this broker presents --tls-cert-file (which must allow server and client authentication and name the host of --raft-addr) and accepts only peers whose certificate chains to --tls-client-ca-file")
	fs.StringVar(&advertised, "advertised-listeners", "", "NAME://host:port per listener as clients should reach it (default: the bind address)")
	fs.StringVar(&c.RaftAddr, "raft-addr", "127.0.0.1:9192", "host:port for Raft traffic; must match this node's entry in --initial-members")
	fs.StringVar(&members, "initial-members", "", "id=host:port,... every broker's Raft address (default: this node alone)")
	fs.StringVar(&c.Join, "join", "", "host:port of an existing broker's --http-addr: join its cluster as a new broker (not with --initial-members; give it on every start)")
	fs.StringVar(&membersHTTP, "initial-members-http", "", "id=host:port,... every broker's --http-addr: a broker with an empty data directory asks the others whether it is already a cluster member before it starts Raft (without it, a wiped broker can rejoin and vote)")
	fs.StringVar(&c.HTTPAddr, "http-addr", "127.0.0.1:13092", "host:port for /metrics, /livez, /readyz")
	fs.StringVar(&c.AdvertisedHTTPAddr, "advertised-http-addr", "", "host:port at which the other brokers reach --http-addr (they probe it to fail over idle partitions and poll it for replica progress); default: --http-addr, with a wildcard host replaced by the host of --raft-addr")
	fs.StringVar(&c.LogLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", "auto", "console, json, or auto (console on a terminal, json otherwise)")
	fs.StringVar(&c.LogColor, "log-color", "auto", "colours of the console format: auto (only on a terminal), always or never")
	fs.BoolVar(&c.AutoCreateTopics, "auto-create-topics", false, "create a topic that a Metadata request names and allows creating, with --default-partitions and --default-replication-factor (auto.create.topics.enable); as in Kafka, a Produce to an unknown topic does not create it")
	fs.IntVar(&c.DefaultPartitions, "default-partitions", 1, "partitions of a topic created without a count (num.partitions)")
	fs.IntVar(&c.DefaultReplicationFactor, "default-replication-factor", 3, "replication factor when a request leaves it to the broker; capped at the number of brokers")
	fs.IntVar(&c.MaxRequestBytes, "socket-request-max-bytes", 100<<20, "largest Kafka request frame accepted; a larger size prefix closes the connection (socket.request.max.bytes)")
	fs.IntVar(&c.MaxRequestBytes, "max-request-bytes", 100<<20, "old name of --socket-request-max-bytes")
	fs.IntVar(&c.MaxConnections, "max-connections", 10000, "most Kafka connections open at once across listeners; past it a new connection is closed at accept; 0 for no limit (max.connections)")
	fs.IntVar(&c.MaxConnectionsPerIP, "max-connections-per-ip", 1000, "most Kafka connections open at once from one client address; 0 for no limit (max.connections.per.ip)")
	fs.Int64Var(&c.MaxInflightRequestBytes, "max-inflight-request-bytes", 256<<20, "request bytes read but not yet answered, across all connections; past it connections stop reading until responses go out; one request larger than this is still served alone (queued.max.request.bytes)")
	fs.Int64Var(&idleMs, "connections-max-idle-ms", 600000, "close a connection with no request in flight that sent nothing for this long (connections.max.idle.ms)")
	fs.Int64Var(&writeTimeoutMs, "connections-write-timeout-ms", 30000, "close a connection whose response write makes no progress for this long: a client that stopped reading")
	fs.BoolVar(&c.DebugPprof, "debug-pprof", false, "serve Go's /debug/pprof profiles on --http-addr")
	fs.BoolVar(&c.DebugLeaderTransfer, "debug-leader-transfer", false, "serve POST /v1/groups/<group>/transfer-leader on --http-addr, which moves a group shard's Raft leadership (fault-injection tests)")
	fs.StringVar(&c.GrafanaURL, "grafana-url", "", "http(s) URL of the Grafana showing this cluster's dashboards; the web console at /ui links to it (empty: no link)")
	fs.Uint64Var(&c.RTTMillisecond, "raft-rtt-ms", 200, "Raft tick in milliseconds (dragonboat RTTMillisecond); dragonboat steps every replica, idle or not, once per tick, so idle CPU grows with partitions / tick")
	fs.Uint64Var(&c.ElectionRTT, "raft-election-rtt", 5, "election timeout in ticks (randomised up to twice this): how long followers wait for a dead leader")
	fs.Uint64Var(&c.HeartbeatRTT, "raft-heartbeat-rtt", 1, "heartbeat interval in ticks")
	fs.BoolVar(&c.RaftCampaignOnPeerExit, "raft-campaign-on-peer-exit", true, "when another broker's process is gone (its addresses refuse connections), campaign at once for the partitions it led where this broker is the first other live replica, instead of waiting out the election timeout")
	fs.BoolVar(&c.RaftQuiesce, "raft-quiesce", true, "let idle partition shards stop ticking and heartbeating (dragonboat quiesce) after ten of the longest election timeouts (twice --raft-election-rtt each) without traffic; they wake on produce or when a peer broker stops answering")
	fs.Int64Var(&c.SegmentBytes, "segment-bytes", 1<<30, "roll a partition's log segment at this size (log.segment.bytes)")
	fs.Int64Var(&c.RetentionMs, "log-retention-ms", 7*24*3600*1000, "delete a partition's closed segments once their newest record is older than this; -1 keeps them (log.retention.ms; a topic's retention.ms wins)")
	fs.Int64Var(&c.RetentionBytes, "log-retention-bytes", -1, "delete a partition's oldest closed segments while its log is larger than this; -1 for no limit (log.retention.bytes)")
	fs.Int64Var(&c.SegmentMs, "log-roll-ms", 7*24*3600*1000, "roll the active segment when a batch arrives whose timestamp is this much newer than the segment's first batch's, so time retention can delete it (log.roll.ms, as Kafka rolls)")
	fs.StringVar(&c.CleanupPolicy, "log-cleanup-policy", "delete", "cleanup.policy of topics that do not set their own: delete, compact or compact,delete (log.cleanup.policy)")
	fs.StringVar(&c.CompressionType, "compression-type", "producer", "compression.type of topics that do not set their own: producer keeps the producer's codec; uncompressed, gzip, snappy, lz4 or zstd make the partition leader recompress batches with another codec before replicating them (compression.type)")
	fs.Int64Var(&c.MinFreeDiskBytes, "min-free-disk-bytes", MinFreeDiskAuto, "refuse Produce to the partitions this broker leads (KAFKA_STORAGE_ERROR, which clients retry) while the data directory's file system has less free space than this, so that the Raft log store and __meta never run out; -1 for the smaller of 1 GiB and 5% of the file system, 0 for no floor")
	fs.Int64Var(&c.MinSegmentBytes, "min-segment-bytes", topicconfig.KafkaMinSegmentBytes, "smallest segment.bytes a topic may set; Kafka 4's minimum is 1048576, lower it only for tests that want many small segments")
	fs.StringVar(&retentionCheck, "log-retention-check-interval", "5m", "how often partition leaders look for segments to delete (log.retention.check.interval.ms)")
	fs.IntVar(&c.CleanerThreads, "log-cleaner-threads", 1, "goroutines compacting the local replicas of compacted topics (log.cleaner.threads)")
	fs.Int64Var(&c.CleanerDedupeBufferSize, "log-cleaner-dedupe-buffer-size", 128<<20, "bytes of memory for the cleaner's key maps, split between the threads, 24 bytes per key: a pass deduplicates at most that many keys (log.cleaner.dedupe.buffer.size)")
	fs.Int64Var(&c.ReassignmentThrottleBytes, "reassignment-throttle-bytes", 0, "bytes per second this broker may send, all moves together, to catch up the replicas a partition reassignment brings in (their snapshot streams); 0 for no limit")
	fs.IntVar(&c.MetaVoters, "meta-voters", 3, "voters __meta keeps among the live brokers, 3 or 5: a broker that joined is promoted when fewer vote or one has been down for --meta-voter-replace-after")
	fs.DurationVar(&c.MetaVoterReplaceAfter, "meta-voter-replace-after", 5*time.Minute, "how long a __meta voter must be down before a caught-up non-voting broker takes its place (it is then removed from __meta for good)")
	fs.Float64Var(&c.CleanerIOMaxBytesPerSec, "log-cleaner-io-max-bytes-per-second", 0, "limit on the bytes the cleaner reads and writes per second, all threads together; 0 for no limit (log.cleaner.io.max.bytes.per.second)")
	fs.StringVar(&cleanerBackoff, "log-cleaner-backoff", "15s", "how long the cleaner sleeps when no partition needs cleaning (log.cleaner.backoff.ms)")
	fs.StringVar(&balance, "leader-balance-interval", "5s", "how often a broker hands partitions back to their preferred leader")
	fs.StringVar(&replicaLag, "replica-lag-time-max", "30s", "a follower that has not caught up to its leader within this long leaves the partition's ISR (replica.lag.time.max.ms); leadership moves only to in-sync replicas")
	fs.StringVar(&shutdown, "shutdown-timeout", "10s", "how long a graceful stop may take")
	fs.Uint64Var(&c.SnapshotEntries, "raft-snapshot-entries", 1000, "take a Raft snapshot (and trim the Raft log) every this many entries; a partition replica also takes one every --raft-snapshot-bytes")
	fs.Uint64Var(&c.SnapshotBytes, "raft-snapshot-bytes", 8<<20, "a partition replica takes a Raft snapshot (and trims its Raft log) once the entries it applied since the last one hold this many bytes, fewer than --raft-snapshot-entries; 0 counts entries only")
	fs.IntVar(&c.GroupShards, "group-shards", 6, "Raft shards holding consumer groups and offsets (offsets.topic.num.partitions); fixed when the cluster is first formed")
	fs.StringVar(&initialRebalance, "group-initial-rebalance-delay", "500ms", "wait this long for more members before a new group's first rebalance (group.initial.rebalance.delay.ms)")
	fs.IntVar(&c.GroupMaxSize, "group-max-size", 0, "most members a consumer group may have, 0 for no limit (group.max.size)")
	fs.IntVar(&c.OffsetMetadataMaxBytes, "offset-metadata-max-bytes", 4096, "longest metadata string an offset commit may carry (offset.metadata.max.bytes)")
	fs.StringVar(&offsetsRetention, "offsets-retention", "168h", "keep the committed offsets of a group without members this long after it became empty (offsets.retention.minutes)")
	fs.StringVar(&offsetsCheck, "offsets-retention-check-interval", "10m", "how often group coordinators remove expired offsets (offsets.retention.check.interval.ms)")
	fs.StringVar(&txnMaxTimeout, "transaction-max-timeout", "15m", "longest transaction.timeout.ms a transactional producer may ask for; longer is refused with INVALID_TRANSACTION_TIMEOUT (transaction.max.timeout.ms)")
	fs.Int64Var(&txnIDExpirationMs, "transactional-id-expiration-ms", 7*24*3600*1000, "remove a transactional id from its coordinator after this long without a transaction (transactional.id.expiration.ms); its producer id is then no longer listed and the id starts afresh")
	fs.StringVar(&txnAbortInterval, "transaction-abort-interval", "10s", "how often transaction coordinators abort transactions past their timeout (transaction.abort.timed.out.transaction.cleanup.interval.ms)")
	fs.DurationVar(&c.GroupConsumerHeartbeat, "group-consumer-heartbeat-interval", 5*time.Second, "how often consumer-protocol (KIP-848) members heartbeat (group.consumer.heartbeat.interval.ms)")
	fs.DurationVar(&c.GroupConsumerSession, "group-consumer-session-timeout", 45*time.Second, "how long a consumer-protocol (KIP-848) member may go without heartbeating (group.consumer.session.timeout.ms)")
	fs.StringVar(&c.GroupConsumerMigration, "group-consumer-migration-policy", "bidirectional", "online conversion of groups with members between the classic and the consumer (KIP-848) protocol: bidirectional, upgrade, downgrade or disabled (group.consumer.migration.policy)")
	fs.Uint64Var(&c.CompactionOverheadEntries, "raft-compaction-overhead", 100, "Raft entries kept behind a snapshot for slow followers")
	fs.Uint64Var(&c.LogDBMemtableMB, "raft-logdb-memtable-mb", 32, "pebble Raft log store only: size of its memtables (16 shards, up to 2 each, each with a WAL file preallocated to this size); a busy partition's Raft log between trims should fit in one, so trimmed entries are not flushed and compacted")
	fs.StringVar(&c.RaftLogDB, "raft-logdb", "", "Raft log store: tan-shared (dragonboat's log-file store with one log file for all the partition and group replicas of the broker, so that one fsync persists all their appends of a step), tan (the same store with a log file per replica, replaced every 64 MiB written) or pebble (a key-value store; every data directory made before this option holds pebble); empty means the one the data directory already holds, tan-shared for a new one. A data directory cannot change store in place")

	// Environment first, flags afterwards override it.
	var envErrs []error
	fs.VisitAll(func(f *flag.Flag) {
		if v := getenv(envName(f.Name)); v != "" {
			if err := f.Value.Set(v); err != nil {
				envErrs = append(envErrs, fmt.Errorf("%s=%q: %w", envName(f.Name), v, err))
			}
		}
	})
	if err := errors.Join(envErrs...); err != nil {
		return nil, err
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q: settings are flags such as --node-id 1", fs.Arg(0))
	}
	var err error
	var errs []error
	if c.Listeners, err = ParseListeners(listeners); err != nil {
		errs = append(errs, fmt.Errorf("--listeners: %w", err))
	}
	if err := resolveProtocols(c.Listeners, protocolMap); err != nil {
		errs = append(errs, fmt.Errorf("--listener-security-protocol-map: %w", err))
	}
	if c.TLS.ListenerClientAuth, err = parseListenerClientAuth(listenerAuth); err != nil {
		errs = append(errs, fmt.Errorf("--listener-tls-client-auth: %w", err))
	}
	if advertised == "" {
		c.AdvertisedListeners = c.Listeners
	} else if c.AdvertisedListeners, err = ParseListeners(advertised); err != nil {
		errs = append(errs, fmt.Errorf("--advertised-listeners: %w", err))
	}
	switch {
	case c.Join != "" && (members != "" || membersHTTP != ""):
		errs = append(errs, errors.New("--join and --initial-members(-http) exclude each other: the initial members form a cluster, a broker given --join is added to a running one; drop one of them"))
	case c.Join != "":
		c.InitialMembers = map[uint64]string{}
	case members == "":
		c.InitialMembers = map[uint64]string{c.NodeID: c.RaftAddr}
	default:
		if c.InitialMembers, err = ParseMembers(members); err != nil {
			errs = append(errs, fmt.Errorf("--initial-members: %w", err))
		}
	}
	if membersHTTP != "" {
		if c.InitialMembersHTTP, err = ParseMembers(membersHTTP); err != nil {
			errs = append(errs, fmt.Errorf("--initial-members-http: %w", err))
		}
	}
	if c.LeaderBalanceInterval, err = time.ParseDuration(balance); err != nil {
		errs = append(errs, fmt.Errorf("--leader-balance-interval: %w", err))
	}
	if c.ReplicaLagTimeMax, err = time.ParseDuration(replicaLag); err != nil {
		errs = append(errs, fmt.Errorf("--replica-lag-time-max: %w", err))
	}
	if c.ShutdownTimeout, err = time.ParseDuration(shutdown); err != nil {
		errs = append(errs, fmt.Errorf("--shutdown-timeout: %w", err))
	}
	if c.RetentionCheckInterval, err = time.ParseDuration(retentionCheck); err != nil {
		errs = append(errs, fmt.Errorf("--log-retention-check-interval: %w", err))
	}
	if c.CleanerBackoff, err = time.ParseDuration(cleanerBackoff); err != nil {
		errs = append(errs, fmt.Errorf("--log-cleaner-backoff: %w", err))
	}
	if c.GroupInitialRebalance, err = time.ParseDuration(initialRebalance); err != nil {
		errs = append(errs, fmt.Errorf("--group-initial-rebalance-delay: %w", err))
	}
	if c.OffsetsRetention, err = time.ParseDuration(offsetsRetention); err != nil {
		errs = append(errs, fmt.Errorf("--offsets-retention: %w", err))
	}
	if c.OffsetsRetentionCheck, err = time.ParseDuration(offsetsCheck); err != nil {
		errs = append(errs, fmt.Errorf("--offsets-retention-check-interval: %w", err))
	}
	if c.TransactionMaxTimeout, err = time.ParseDuration(txnMaxTimeout); err != nil {
		errs = append(errs, fmt.Errorf("--transaction-max-timeout: %w", err))
	}
	if c.TransactionAbortInterval, err = time.ParseDuration(txnAbortInterval); err != nil {
		errs = append(errs, fmt.Errorf("--transaction-abort-interval: %w", err))
	}
	c.ConnectionsMaxIdle = time.Duration(idleMs) * time.Millisecond
	c.TransactionalIDExpiration = time.Duration(txnIDExpirationMs) * time.Millisecond
	c.ConnectionWriteTimeout = time.Duration(writeTimeoutMs) * time.Millisecond
	errs = append(errs, saslRaw.parse(c)...)
	errs = append(errs, authzRaw.parse(c)...)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	c.AdvertisedHTTPAddr = c.AdvertisedHTTP()
	return c, nil
}

var listenerNameRE = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)

// ParseListeners parses "NAME://host:port,NAME2://host:port".
func ParseListeners(s string) ([]Listener, error) {
	var out []Listener
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, addr, ok := strings.Cut(part, "://")
		if !ok {
			return nil, fmt.Errorf("%q: want NAME://host:port, e.g. PLAINTEXT://127.0.0.1:9092", part)
		}
		name = strings.ToUpper(name)
		if !listenerNameRE.MatchString(name) {
			return nil, fmt.Errorf("%q: listener name must be letters, digits and _", part)
		}
		if seen[name] {
			return nil, fmt.Errorf("listener %s given twice", name)
		}
		seen[name] = true
		host, port, err := splitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", part, err)
		}
		out = append(out, Listener{Name: name, Host: host, Port: port})
	}
	if len(out) == 0 {
		return nil, errors.New("no listener given; e.g. PLAINTEXT://127.0.0.1:9092")
	}
	return out, nil
}

// ParseMembers parses "1=host:port,2=host:port".
func ParseMembers(s string) (map[uint64]string, error) {
	out := map[uint64]string{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		idStr, addr, ok := strings.Cut(part, "=")
		if !ok {
			return nil, fmt.Errorf("%q: want id=host:port, e.g. 1=broker1:9192", part)
		}
		id, err := strconv.ParseUint(idStr, 10, 64)
		if err != nil || id == 0 {
			return nil, fmt.Errorf("%q: node id must be a positive integer", part)
		}
		if _, dup := out[id]; dup {
			return nil, fmt.Errorf("node id %d given twice", id)
		}
		if _, _, err := splitHostPort(addr); err != nil {
			return nil, fmt.Errorf("%q: %w", part, err)
		}
		out[id] = addr
	}
	if len(out) == 0 {
		return nil, errors.New("empty; e.g. 1=broker1:9192,2=broker2:9292,3=broker3:9392")
	}
	return out, nil
}

func splitHostPort(addr string) (string, int, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("want host:port: %w", err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("port %q must be 0..65535", portStr)
	}
	return host, port, nil
}

// Validate checks cross-field rules and says what to change.
func (c *Config) Validate() error {
	var errs []error
	if c.NodeID == 0 {
		errs = append(errs, errors.New("--node-id must be 1 or more"))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("--data-dir must name a directory"))
	}
	if c.Join != "" {
		if _, _, err := splitHostPort(c.Join); err != nil {
			errs = append(errs, fmt.Errorf("--join %q: give an existing broker's HTTP address as host:port: %w", c.Join, err))
		}
	} else if addr, ok := c.InitialMembers[c.NodeID]; !ok {
		errs = append(errs, fmt.Errorf("--initial-members has no entry for --node-id %d; add %d=%s", c.NodeID, c.NodeID, c.RaftAddr))
	} else if addr != c.RaftAddr {
		errs = append(errs, fmt.Errorf("--raft-addr %s differs from this node's --initial-members entry %d=%s; make them equal", c.RaftAddr, c.NodeID, addr))
	}
	adv := map[string]bool{}
	for _, l := range c.AdvertisedListeners {
		adv[l.Name] = true
		if l.Port == 0 || l.Host == "" || l.Host == "0.0.0.0" || l.Host == "::" {
			errs = append(errs, fmt.Errorf("advertised listener %s=%s must name a reachable host and port, not a wildcard: set --advertised-listeners, e.g. %s://localhost:%d", l.Name, l.Addr(), l.Name, l.Port))
		}
	}
	for _, l := range c.Listeners {
		if !adv[l.Name] {
			errs = append(errs, fmt.Errorf("listener %s has no entry in --advertised-listeners; add %s://host:%d", l.Name, l.Name, l.Port))
		}
	}
	if len(c.AdvertisedListeners) != len(c.Listeners) {
		errs = append(errs, errors.New("--advertised-listeners must name exactly the listeners in --listeners"))
	}
	if _, _, err := splitHostPort(c.HTTPAddr); err != nil {
		errs = append(errs, fmt.Errorf("--http-addr %q: %w", c.HTTPAddr, err))
	}
	errs = append(errs, c.validateAdvertisedHTTP()...)
	if c.GrafanaURL != "" {
		if u, err := url.Parse(c.GrafanaURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("--grafana-url %q: give an absolute http:// or https:// URL, e.g. http://localhost:3000", c.GrafanaURL))
		}
	}
	if host, _, err := splitHostPort(c.RaftAddr); err != nil {
		errs = append(errs, fmt.Errorf("--raft-addr %q: %w", c.RaftAddr, err))
	} else if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		errs = append(errs, fmt.Errorf("--raft-addr %q: peers dial this address, so name this host (e.g. broker1:9192), not a wildcard", c.RaftAddr))
	}
	errs = append(errs, c.portCollisions()...)
	errs = append(errs, c.validateSecurity()...)
	errs = append(errs, c.validateRaftTLS()...)
	errs = append(errs, c.validateHTTPTLS()...)
	c.LogLevel = strings.ToLower(c.LogLevel)
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("--log-level %q: use debug, info, warn or error", c.LogLevel))
	}
	switch c.LogFormat {
	case "console", "json", "auto":
	default:
		errs = append(errs, fmt.Errorf("--log-format %q: use console, json or auto", c.LogFormat))
	}
	switch c.LogColor {
	case "auto", "always", "never":
	default:
		errs = append(errs, fmt.Errorf("--log-color %q: use auto, always or never", c.LogColor))
	}
	if c.DefaultPartitions < 1 {
		errs = append(errs, errors.New("--default-partitions must be 1 or more"))
	}
	if c.DefaultReplicationFactor < 1 {
		errs = append(errs, errors.New("--default-replication-factor must be 1 or more"))
	}
	if c.MaxRequestBytes < 1<<20 {
		errs = append(errs, errors.New("--socket-request-max-bytes, formerly --max-request-bytes must be at least 1048576"))
	}
	if c.MaxConnections < 0 || c.MaxConnectionsPerIP < 0 {
		errs = append(errs, errors.New("--max-connections and --max-connections-per-ip must be 0 (no limit) or more"))
	}
	if c.MaxInflightRequestBytes < 1<<20 {
		errs = append(errs, errors.New("--max-inflight-request-bytes must be at least 1048576"))
	}
	if c.ConnectionsMaxIdle < time.Millisecond || c.ConnectionWriteTimeout < time.Millisecond {
		errs = append(errs, errors.New("--connections-max-idle-ms and --connections-write-timeout-ms must be positive"))
	}
	if c.RTTMillisecond == 0 || c.HeartbeatRTT == 0 || c.ElectionRTT <= 2*c.HeartbeatRTT {
		errs = append(errs, errors.New("raft timing: --raft-rtt-ms and --raft-heartbeat-rtt must be > 0 and --raft-election-rtt > 2 x --raft-heartbeat-rtt"))
	}
	if c.SegmentBytes < 4096 {
		errs = append(errs, errors.New("--segment-bytes must be at least 4096"))
	}
	if c.MinFreeDiskBytes < MinFreeDiskAuto {
		errs = append(errs, fmt.Errorf("--min-free-disk-bytes must be 0 (no floor), a byte count, or -1 (the smaller of 1 GiB and 5%% of the file system), not %d", c.MinFreeDiskBytes))
	}
	if c.MinSegmentBytes < 1024 {
		errs = append(errs, errors.New("--min-segment-bytes must be at least 1024"))
	}
	if c.GroupShards < 1 || c.GroupShards > 1000 {
		errs = append(errs, errors.New("--group-shards must be 1..1000"))
	}
	if c.RetentionMs < -1 || c.RetentionBytes < -1 || c.SegmentMs < 1 || c.RetentionCheckInterval <= 0 {
		errs = append(errs, errors.New("--log-retention-ms and --log-retention-bytes must be -1 or more, --log-roll-ms and --log-retention-check-interval positive"))
	}
	if err := c.LogDefaults().ValidateBroker(); err != nil {
		errs = append(errs, fmt.Errorf("--log-cleanup-policy or --compression-type: %w", err))
	}
	if c.CleanerThreads < 1 || c.CleanerThreads > 64 {
		errs = append(errs, errors.New("--log-cleaner-threads must be 1..64"))
	}
	if c.CleanerDedupeBufferSize < int64(c.CleanerThreads)*1<<20 {
		errs = append(errs, errors.New("--log-cleaner-dedupe-buffer-size must be at least 1 MiB per --log-cleaner-threads"))
	}
	if c.CleanerIOMaxBytesPerSec < 0 || c.CleanerBackoff <= 0 {
		errs = append(errs, errors.New("--log-cleaner-io-max-bytes-per-second must not be negative (0: no limit) and --log-cleaner-backoff must be positive"))
	}
	if c.GroupInitialRebalance < 0 {
		errs = append(errs, errors.New("--group-initial-rebalance-delay must not be negative"))
	}
	if c.GroupMaxSize < 0 || c.OffsetMetadataMaxBytes <= 0 || c.OffsetsRetention <= 0 || c.OffsetsRetentionCheck <= 0 {
		errs = append(errs, errors.New("--group-max-size must not be negative; --offset-metadata-max-bytes, --offsets-retention and --offsets-retention-check-interval must be positive"))
	}
	if c.TransactionMaxTimeout < time.Millisecond || c.TransactionAbortInterval < time.Millisecond {
		errs = append(errs, errors.New("--transaction-max-timeout and --transaction-abort-interval must be at least 1ms"))
	}
	if c.TransactionalIDExpiration < time.Millisecond {
		errs = append(errs, errors.New("--transactional-id-expiration-ms must be at least 1 (Kafka's default is 604800000, 7 days)"))
	}
	if c.GroupConsumerHeartbeat <= 0 || c.GroupConsumerSession <= c.GroupConsumerHeartbeat {
		errs = append(errs, errors.New("--group-consumer-heartbeat-interval must be positive and below --group-consumer-session-timeout"))
	}
	switch c.GroupConsumerMigration {
	case "bidirectional", "upgrade", "downgrade", "disabled":
	default:
		errs = append(errs, fmt.Errorf("--group-consumer-migration-policy %q: use bidirectional, upgrade, downgrade or disabled", c.GroupConsumerMigration))
	}
	if c.SnapshotEntries == 0 {
		errs = append(errs, errors.New("--raft-snapshot-entries must be > 0, or the Raft log is never trimmed"))
	}
	if c.LogDBMemtableMB < 4 || c.LogDBMemtableMB > 1024 {
		errs = append(errs, errors.New("--raft-logdb-memtable-mb must be 4..1024"))
	}
	if c.RaftLogDB != "" && c.RaftLogDB != LogDBTanShared && c.RaftLogDB != LogDBTan && c.RaftLogDB != LogDBPebble {
		errs = append(errs, fmt.Errorf("--raft-logdb must be %q, %q, %q or empty (the data directory's store, %s for a new one), got %q", LogDBTanShared, LogDBTan, LogDBPebble, LogDBTanShared, c.RaftLogDB))
	}
	if c.ReassignmentThrottleBytes < 0 {
		errs = append(errs, errors.New("--reassignment-throttle-bytes must not be negative (0: no limit)"))
	}
	if c.MetaVoters != 3 && c.MetaVoters != 5 {
		errs = append(errs, fmt.Errorf("--meta-voters is %d: give 3 or 5", c.MetaVoters))
	}
	if c.MetaVoterReplaceAfter <= 0 {
		errs = append(errs, errors.New("--meta-voter-replace-after must be a positive duration"))
	}
	if c.LeaderBalanceInterval <= 0 || c.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("--leader-balance-interval and --shutdown-timeout must be positive durations"))
	}
	if c.ReplicaLagTimeMax <= 0 {
		errs = append(errs, errors.New("--replica-lag-time-max must be a positive duration"))
	}
	return errors.Join(errs...)
}

// AdvertisedHTTP is the HTTP address the other brokers are told to use:
// --advertised-http-addr when given; otherwise --http-addr, its wildcard
// host (0.0.0.0, ::, empty) replaced by the host of --raft-addr, which
// peers already reach.
func (c *Config) AdvertisedHTTP() string {
	if c.AdvertisedHTTPAddr != "" {
		return c.AdvertisedHTTPAddr
	}
	host, port, err := net.SplitHostPort(c.HTTPAddr)
	if err != nil {
		return c.HTTPAddr
	}
	if isWildcardHost(host) {
		if raftHost, _, err := net.SplitHostPort(c.RaftAddr); err == nil {
			host = raftHost
		}
	}
	return net.JoinHostPort(host, port)
}

// validateAdvertisedHTTP checks that peers can reach the advertised HTTP
// address: a wildcard or port 0 cannot be dialled, and a loopback default
// on a broker whose Raft address is not loopback would have every other
// broker probe itself, so the idle partitions this one leads would never
// fail over.
func (c *Config) validateAdvertisedHTTP() []error {
	if c.AdvertisedHTTPAddr != "" {
		host, port, err := splitHostPort(c.AdvertisedHTTPAddr)
		switch {
		case err != nil:
			return []error{fmt.Errorf("--advertised-http-addr %q: %w", c.AdvertisedHTTPAddr, err)}
		case isWildcardHost(host) || port == 0:
			return []error{fmt.Errorf("--advertised-http-addr %q: peers dial this address, so name this host and port (e.g. broker1:13092), not a wildcard", c.AdvertisedHTTPAddr)}
		}
		return nil
	}
	httpHost, port, err := splitHostPort(c.HTTPAddr)
	if err != nil {
		return nil // reported for --http-addr
	}
	raftHost, _, err := splitHostPort(c.RaftAddr)
	if err != nil || (len(c.InitialMembers) < 2 && c.Join == "") {
		return nil
	}
	if isLoopbackHost(httpHost) && !isLoopbackHost(raftHost) {
		return []error{fmt.Errorf("--http-addr %s is loopback but --raft-addr %s is not, so the other brokers could not reach it: "+
			"bind --http-addr to 0.0.0.0:%d (peers then use %s:%d) or to an address they reach, or set --advertised-http-addr", c.HTTPAddr, c.RaftAddr, port, raftHost, port)}
	}
	return nil
}

func isWildcardHost(host string) bool {
	ip := net.ParseIP(host)
	return host == "" || (ip != nil && ip.IsUnspecified())
}

func isLoopbackHost(host string) bool {
	ip := net.ParseIP(host)
	return strings.EqualFold(host, "localhost") || (ip != nil && ip.IsLoopback())
}

// portCollisions reports two of this broker's bind addresses on one port
// (an earlier system derived ports by formula and collided).
func (c *Config) portCollisions() []error {
	var errs []error
	used := map[string]string{}
	claim := func(what, addr string) {
		_, port, err := net.SplitHostPort(addr)
		if err != nil || port == "0" {
			return
		}
		if prev, ok := used[port]; ok {
			errs = append(errs, fmt.Errorf("%s and %s both use port %s; give each its own port", prev, what, port))
			return
		}
		used[port] = what
	}
	for _, l := range c.Listeners {
		claim("listener "+l.Name, l.Addr())
	}
	claim("--raft-addr", c.RaftAddr)
	claim("--http-addr", c.HTTPAddr)
	return errs
}

// ElectionTimeout is dragonboat's shortest election timeout (ElectionRTT
// ticks); each follower waits a random time between it and twice it.
func (c *Config) ElectionTimeout() time.Duration {
	return time.Duration(c.ElectionRTT*c.RTTMillisecond) * time.Millisecond
}

// MemberIDs returns the initial member ids in ascending order.
func (c *Config) MemberIDs() []uint64 {
	ids := make([]uint64, 0, len(c.InitialMembers))
	for id := range c.InitialMembers {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// MinFreeDiskAuto asks for the default free-space floor: the smaller of
// 1 GiB and 5% of the data dir's file system.
const MinFreeDiskAuto = -1

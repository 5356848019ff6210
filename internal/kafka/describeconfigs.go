package kafka

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/acl"
	"github.com/longboat/longboat/internal/config"
	"github.com/longboat/longboat/internal/topicconfig"
)

func init() { handles(1, 4, (*Server).describeConfigs) }

// describeConfigs (DescribeConfigs, key 32) lists every topic config of a
// topic, or this broker's configs: the flags it runs with (read-only) and
// the broker configs behind the topic defaults, which the cluster's
// dynamic configs may set; or, for the default broker entity (resource
// name ""), only the cluster's dynamic configs, as Kafka lists them.
func (s *Server) describeConfigs(ctx context.Context, req *request, body *kmsg.DescribeConfigsRequest) kmsg.Response {
	resp := body.ResponseKind().(*kmsg.DescribeConfigsResponse)
	st := s.linearMeta(ctx)
	for _, r := range body.Resources {
		rr := kmsg.NewDescribeConfigsResponseResource()
		rr.ResourceType, rr.ResourceName = r.ResourceType, r.ResourceName
		var entries []topicconfig.Entry
		broker := false
		code := s.authorizeConfigs(req, acl.OpDescribeConfigs, r.ResourceType, r.ResourceName)
		switch {
		case code != 0:
			rr.ErrorCode = code
		case r.ResourceType == kmsg.ConfigResourceTypeTopic:
			t, ok := topicOrInternal(st, r.ResourceName)
			if !ok {
				rr.ErrorCode = kerr.UnknownTopicOrPartition.Code
				break
			}
			entries = topicconfig.Resolve(t.Configs, s.logDefaults(st))
		case r.ResourceType == kmsg.ConfigResourceTypeBroker && r.ResourceName == "":
			for _, e := range topicconfig.BrokerEntries(s.logDefaults(st)) {
				if e.Source == topicconfig.SourceDynamicDefaultBroker {
					entries = append(entries, e)
				}
			}
		case r.ResourceType == kmsg.ConfigResourceTypeGroupConfig:
			entries = s.groupConfigEntries(st.GroupConfigs[r.ResourceName])
		case r.ResourceType == kmsg.ConfigResourceTypeBroker:
			if r.ResourceName != strconv.FormatUint(s.cfg.NodeID, 10) {
				rr.ErrorCode = kerr.InvalidRequest.Code
				msg := "describe broker configs on the broker itself"
				rr.ErrorMessage = &msg
				break
			}
			entries, broker = brokerConfigs(s.cfg, s.logDefaults(st)), true
		default:
			rr.ErrorCode = kerr.InvalidRequest.Code
			msg := "only topic, broker and group configs can be described"
			rr.ErrorMessage = &msg
		}
		sort.Slice(entries, func(i, j int) bool { return entries[i].Name < entries[j].Name })
		want := map[string]bool{}
		for _, k := range r.ConfigNames {
			want[k] = true
		}
		for _, e := range entries {
			if r.ConfigNames != nil && !want[e.Name] {
				continue
			}
			_, dynamic := topicconfig.LookupBroker(e.Name)
			rr.Configs = append(rr.Configs, describedConfig(e, broker && !dynamic, body.IncludeSynonyms, body.IncludeDocumentation))
		}
		resp.Resources = append(resp.Resources, rr)
	}
	return resp
}

func describedConfig(e topicconfig.Entry, readOnly, synonyms, doc bool) kmsg.DescribeConfigsResponseResourceConfig {
	c := kmsg.NewDescribeConfigsResponseResourceConfig()
	c.Name = e.Name
	c.Value = &e.Value
	c.ReadOnly = readOnly
	c.Source = kmsg.ConfigSource(e.Source)
	c.IsDefault = e.Source == topicconfig.SourceDefault
	c.ConfigType = kmsg.ConfigType(e.Type)
	if doc {
		c.Documentation = &e.Doc
	}
	if synonyms {
		for _, syn := range e.Synonyms {
			cs := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
			cs.Name, cs.Source = syn.Name, kmsg.ConfigSource(syn.Source)
			cs.Value = &syn.Value
			c.ConfigSynonyms = append(c.ConfigSynonyms, cs)
		}
	}
	return c
}

// brokerConfigs are this broker's configs: its flags under Kafka's names,
// and the broker configs behind the topic defaults.
func brokerConfigs(cfg *config.Config, defaults topicconfig.BrokerDefaults) []topicconfig.Entry {
	listeners := func(ls []config.Listener) string {
		var out []string
		for _, l := range ls {
			out = append(out, l.Name+"://"+l.Addr())
		}
		return strings.Join(out, ",")
	}
	itoa := strconv.Itoa
	flags := []struct {
		name, value, kafkaDefault string
		typ                       topicconfig.Type
		doc                       string
	}{
		{"advertised.listeners", listeners(cfg.AdvertisedListeners), "", topicconfig.TypeString, "The listener addresses clients are told to connect to (--advertised-listeners)."},
		{"auto.create.topics.enable", strconv.FormatBool(cfg.AutoCreateTopics), "true", topicconfig.TypeBoolean, "Whether Metadata and Produce create an unknown topic (--auto-create-topics)."},
		{"broker.id", strconv.FormatUint(cfg.NodeID, 10), "-1", topicconfig.TypeInt, "This broker's id (--node-id)."},
		{"default.replication.factor", itoa(cfg.DefaultReplicationFactor), "1", topicconfig.TypeInt, "Replication factor of a topic created without one (--default-replication-factor)."},
		{"group.consumer.heartbeat.interval.ms", strconv.FormatInt(cfg.GroupConsumerHeartbeat.Milliseconds(), 10), "5000", topicconfig.TypeInt, "How often KIP-848 consumer group members heartbeat (--group-consumer-heartbeat-interval)."},
		{"group.consumer.migration.policy", cfg.GroupConsumerMigration, "bidirectional", topicconfig.TypeString, "Which online conversions between classic and consumer groups with members are allowed (--group-consumer-migration-policy)."},
		{"group.consumer.session.timeout.ms", strconv.FormatInt(cfg.GroupConsumerSession.Milliseconds(), 10), "45000", topicconfig.TypeInt, "How long a KIP-848 consumer group member may go without heartbeating (--group-consumer-session-timeout)."},
		{"group.initial.rebalance.delay.ms", strconv.FormatInt(cfg.GroupInitialRebalance.Milliseconds(), 10), "3000", topicconfig.TypeInt, "How long a new group waits for more members before its first rebalance (--group-initial-rebalance-delay)."},
		{"listeners", listeners(cfg.Listeners), "PLAINTEXT://:9092", topicconfig.TypeString, "The addresses this broker listens on (--listeners)."},
		{"log.cleaner.backoff.ms", strconv.FormatInt(cfg.CleanerBackoff.Milliseconds(), 10), "15000", topicconfig.TypeLong, "How long the log cleaner sleeps when no compacted partition needs cleaning (--log-cleaner-backoff)."},
		{"log.cleaner.dedupe.buffer.size", strconv.FormatInt(cfg.CleanerDedupeBufferSize, 10), "134217728", topicconfig.TypeLong, "Memory for the log cleaner's key maps, all threads together (--log-cleaner-dedupe-buffer-size)."},
		{"log.cleaner.io.max.bytes.per.second", cleanerIO(cfg.CleanerIOMaxBytesPerSec), "1.7976931348623157E308", topicconfig.TypeDouble, "Limit on the log cleaner's reads and writes (--log-cleaner-io-max-bytes-per-second; 0 there is no limit)."},
		{"log.cleaner.threads", itoa(cfg.CleanerThreads), "1", topicconfig.TypeInt, "Log cleaner threads (--log-cleaner-threads)."},
		{"log.dirs", cfg.DataDir, "", topicconfig.TypeString, "Where this broker keeps partition logs and Raft state (--data-dir)."},
		{"log.retention.check.interval.ms", strconv.FormatInt(cfg.RetentionCheckInterval.Milliseconds(), 10), "300000", topicconfig.TypeLong, "How often partition leaders look for segments to delete (--log-retention-check-interval)."},
		{"node.id", strconv.FormatUint(cfg.NodeID, 10), "-1", topicconfig.TypeInt, "This broker's id (--node-id)."},
		{"num.partitions", itoa(cfg.DefaultPartitions), "1", topicconfig.TypeInt, "Partitions of a topic created without a count (--default-partitions)."},
		{"offsets.topic.num.partitions", itoa(cfg.GroupShards), "50", topicconfig.TypeInt, "Partitions of __consumer_offsets: the Raft shards holding groups (--group-shards)."},
		{"connections.max.idle.ms", strconv.FormatInt(cfg.ConnectionsMaxIdle.Milliseconds(), 10), "600000", topicconfig.TypeLong, "A connection with no request in flight that sent nothing for this long is closed (--connections-max-idle-ms)."},
		{"group.max.size", unlimited(cfg.GroupMaxSize), "2147483647", topicconfig.TypeInt, "Most members a consumer group may have (--group-max-size; 0 there is no limit)."},
		{"max.connections", unlimited(cfg.MaxConnections), "2147483647", topicconfig.TypeInt, "Most connections this broker accepts (--max-connections)."},
		{"max.connections.per.ip", unlimited(cfg.MaxConnectionsPerIP), "2147483647", topicconfig.TypeInt, "Most connections from one IP address (--max-connections-per-ip)."},
		{"offset.metadata.max.bytes", itoa(cfg.OffsetMetadataMaxBytes), "4096", topicconfig.TypeInt, "Largest metadata string a committed offset may carry (--offset-metadata-max-bytes)."},
		{"offsets.retention.check.interval.ms", strconv.FormatInt(cfg.OffsetsRetentionCheck.Milliseconds(), 10), "600000", topicconfig.TypeLong, "How often group coordinators remove expired offsets (--offsets-retention-check-interval)."},
		{"offsets.retention.minutes", strconv.FormatInt(int64(cfg.OffsetsRetention/time.Minute), 10), "10080", topicconfig.TypeInt, "How long an empty group keeps its committed offsets (--offsets-retention)."},
		{"queued.max.request.bytes", strconv.FormatInt(cfg.MaxInflightRequestBytes, 10), "-1", topicconfig.TypeLong, "Request bytes read and not yet answered, all connections together, before the broker stops reading (--max-inflight-request-bytes)."},
		{"replica.lag.time.max.ms", strconv.FormatInt(cfg.ReplicaLagTimeMax.Milliseconds(), 10), "30000", topicconfig.TypeLong, "A follower that has not caught up within this long leaves the ISR (--replica-lag-time-max)."},
		{"transaction.abort.timed.out.transaction.cleanup.interval.ms", strconv.FormatInt(cfg.TransactionAbortInterval.Milliseconds(), 10), "10000", topicconfig.TypeInt, "How often transaction coordinators abort transactions past their timeout (--transaction-abort-interval)."},
		{"transaction.max.timeout.ms", strconv.FormatInt(cfg.TransactionMaxTimeout.Milliseconds(), 10), "900000", topicconfig.TypeInt, "Longest transaction.timeout.ms a producer may ask for (--transaction-max-timeout)."},
		{"transactional.id.expiration.ms", strconv.FormatInt(cfg.TransactionalIDExpiration.Milliseconds(), 10), "604800000", topicconfig.TypeInt, "How long an idle transactional id is kept (--transactional-id-expiration-ms)."},
		{"socket.request.max.bytes", itoa(cfg.MaxRequestBytes), "104857600", topicconfig.TypeInt, "The largest request frame accepted (--max-request-bytes)."},
	}
	entries := topicconfig.BrokerEntries(defaults)
	for _, f := range flags {
		e := topicconfig.Entry{Name: f.name, Value: f.value, Source: topicconfig.SourceStaticBroker, Type: f.typ, Doc: f.doc,
			Synonyms: []topicconfig.Synonym{{Name: f.name, Value: f.value, Source: topicconfig.SourceStaticBroker}}}
		if f.kafkaDefault != "" {
			e.Synonyms = append(e.Synonyms, topicconfig.Synonym{Name: f.name, Value: f.kafkaDefault, Source: topicconfig.SourceDefault})
		}
		entries = append(entries, e)
	}
	return entries
}

// unlimited prints a limit whose 0 means none as Kafka prints none: the
// largest INT.
func unlimited(n int) string {
	if n <= 0 {
		return "2147483647"
	}
	return strconv.Itoa(n)
}

// cleanerIO prints --log-cleaner-io-max-bytes-per-second as Kafka's
// log.cleaner.io.max.bytes.per.second, where no limit is Double.MAX_VALUE.
func cleanerIO(v float64) string {
	if v <= 0 {
		return "1.7976931348623157E308"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

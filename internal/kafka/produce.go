package kafka

import (
	"context"
	"errors"
	"time"

	"github.com/lni/dragonboat/v4"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/acl"
	"github.com/longboat/longboat/internal/meta"
	"github.com/longboat/longboat/internal/metrics"
	"github.com/longboat/longboat/internal/partition"
	"github.com/longboat/longboat/internal/quota"
	"github.com/longboat/longboat/internal/recordbatch"
	"github.com/longboat/longboat/internal/topicconfig"
)

// The API keys of Produce and Fetch, whose handling the server times.
const (
	produceKey = 0
	fetchKey   = 1
)

func init() { starts(produceKey, 13, (*Server).startProduce) }

// pendingAppend is one partition's proposal in flight.
type pendingAppend struct {
	topic   string
	resp    *kmsg.ProduceResponseTopicPartition
	rs      *dragonboat.RequestState
	led     led // led.term is the Raft term this broker led the shard in when it proposed
	records int
	bytes   int
	start   time.Time
	// proposed is when Raft took the proposal (the commit stage starts).
	proposed time.Time
	// appendTime is the LogAppendTime stamped on the batches, or -1.
	appendTime int64
}

// startProduce validates each partition's record set and starts ONE Raft
// proposal per partition; it runs on the connection's reader goroutine, so
// proposals start in request order (an idempotent producer's pipelined
// batches must reach the log in sequence order). The returned func waits
// for the commits and builds the response. From v13 topics are named by id
// (KIP-516).
func (s *Server) startProduce(ctx context.Context, req *request, body *kmsg.ProduceRequest) func() kmsg.Response {
	resp := body.ResponseKind().(*kmsg.ProduceResponse)
	if body.Acks != 0 && body.Acks != 1 && body.Acks != -1 {
		return func() kmsg.Response { return produceError(body, resp, kerr.InvalidRequiredAcks.Code) }
	}
	if body.TransactionID == nil && hasTransactional(body) {
		// Kafka answers the whole request so: transactional records need
		// the transactional id they are written under.
		return func() kmsg.Response { return produceError(body, resp, kerr.TransactionalIDAuthorizationFailed.Code) }
	}
	if body.TransactionID != nil && !s.authorizeTxnID(req, acl.OpWrite, *body.TransactionID) {
		return func() kmsg.Response { return produceError(body, resp, kerr.TransactionalIDAuthorizationFailed.Code) }
	}
	// Counted against producer_byte_rate by its size as it is read, on the
	// reader goroutine: a throttle mutes the connection before the next
	// request is taken, so that a client pipelining many Produces is held
	// per request, as Kafka's one request at a time per connection holds it.
	throttle := s.throttle(req, quota.Produce, req.size)
	timeout := requestTimeout(body.TimeoutMillis, 30*time.Second)
	st := s.node.Meta()
	now := time.Now()
	var pending []pendingAppend
	resp.Topics = make([]kmsg.ProduceResponseTopic, len(body.Topics))
	for i, t := range body.Topics {
		rt := &resp.Topics[i]
		*rt = kmsg.NewProduceResponseTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		rt.Partitions = make([]kmsg.ProduceResponseTopicPartition, len(t.Partitions))
		name, topicCode := produceTopic(st, body.Version, t)
		if topicCode == 0 && !s.authorizeTopic(req, acl.OpWrite, name) {
			topicCode = kerr.TopicAuthorizationFailed.Code
		}
		logCfg := s.topicLog(st, name)
		for j, tp := range t.Partitions {
			rp := &rt.Partitions[j]
			*rp = kmsg.NewProduceResponseTopicPartition()
			rp.Partition = tp.Partition
			rp.BaseOffset = -1
			if refuseInternalAppend(name, rp) {
				continue
			}
			l, code := led{}, topicCode
			if code == 0 {
				l, code = s.localLeader(st, name, tp.Partition, -1)
			}
			if code == 0 && s.node.DiskBelowFloor() {
				// Before the disk fills. KAFKA_STORAGE_ERROR is retriable to
				// Kafka clients (the Java client's KafkaStorageException is
				// an InvalidMetadataException; franz-go's kerr marks it
				// retriable): they refresh metadata and retry until space
				// returns or their delivery timeout.
				code = kerr.KafkaStorageError.Code
			}
			if code == 0 && body.Acks == -1 {
				code = s.checkMinInsync(st, name, tp.Partition, l.shard, logCfg.MinInsync)
			}
			var set recordbatch.Set
			records := tp.Records
			if code == 0 {
				checked := time.Now()
				records, set, code = checkRecords(tp.Records, logCfg, now.UnixMilli())
				s.stage(metrics.StageValidate, checked)
			}
			if code != 0 {
				rp.ErrorCode = code
				continue
			}
			start := time.Now()
			rs, err := s.proposeAppend(ctx, l.shard, partition.EncodeAppend(l.term, now.UnixMilli(), logCfg.LogAppendTime, records), timeout)
			proposed := s.stage(metrics.StagePropose, start)
			if err != nil {
				rp.ErrorCode = proposeErrorCode(err)
				continue
			}
			appendTime := int64(-1)
			if logCfg.LogAppendTime {
				appendTime = now.UnixMilli()
			}
			pending = append(pending, pendingAppend{topic: name, resp: rp, rs: rs, led: l, records: set.Records, bytes: len(tp.Records), start: start, proposed: proposed, appendTime: appendTime})
		}
	}
	return func() kmsg.Response {
		done := waiting(ctx)
		for _, pa := range pending {
			s.finishAppend(pa)
		}
		done()
		resp.ThrottleMillis = throttle
		if body.Acks == 0 {
			if firstError(resp) != 0 {
				return acklessFailure{resp}
			}
			return nil
		}
		// Kafka leaves acks=0 out of request_percentage: no response
		// could carry the delay.
		resp.ThrottleMillis = max(throttle, throttleMillis(s.requestThrottle(req)))
		return resp
	}
}

// stage records a Produce stage that began at since and returns now.
func (s *Server) stage(name string, since time.Time) time.Time {
	now := time.Now()
	s.metrics.Stage(name).Observe(now.Sub(since).Seconds())
	return now
}

// hasTransactional tells whether any partition's records hold a batch
// with the transactional attribute (malformed ones are refused later).
func hasTransactional(body *kmsg.ProduceRequest) bool {
	for _, t := range body.Topics {
		for _, p := range t.Partitions {
			for h := range recordbatch.All(p.Records) {
				if h.Transactional() {
					return true
				}
			}
		}
	}
	return false
}

// checkMinInsync is Kafka's min.insync.replicas check for acks=all
// (Partition.appendRecordsToLeader): NOT_ENOUGH_REPLICAS while the
// leader's ISR is smaller than the topic asks, which also refuses every
// acks=all write when it asks for more than the replication factor.
func (s *Server) checkMinInsync(st *meta.State, topic string, idx int32, shard uint64, minInsync int) int16 {
	if minInsync <= 1 {
		return 0
	}
	replicas := st.Topics[topic].Partitions[idx].Replicas
	if len(s.node.ISR(shard, replicas)) < minInsync {
		return kerr.NotEnoughReplicas.Code
	}
	return 0
}

// produceTopic names a request's topic: by name before v13, by id from
// then on, where an id no topic has (the zero id included, which a client
// sends when it knows no id) is UNKNOWN_TOPIC_ID.
func produceTopic(st *meta.State, version int16, t kmsg.ProduceRequestTopic) (string, int16) {
	if version < 13 {
		return t.Topic, 0
	}
	if t.TopicID == [16]byte{} {
		return "", kerr.UnknownTopicID.Code
	}
	if mt, ok := st.TopicByID(t.TopicID); ok {
		return mt.Name, 0
	}
	if name := internalTopicName(st, t.TopicID); name != "" {
		return name, 0
	}
	return "", kerr.UnknownTopicID.Code
}

// acklessFailure is what an acks=0 Produce returns when a partition
// failed: as Kafka does, the broker answers nothing and closes the
// connection, so that the client refreshes its metadata instead of sending
// on to a broker that drops every record (after a leader moved, say).
type acklessFailure struct{ *kmsg.ProduceResponse }

// leadershipCheckInterval is how often a waiting produce checks that this
// broker still leads the partition.
const leadershipCheckInterval = 50 * time.Millisecond

// finishAppend waits for one partition's proposal and fills its response.
//
// A proposal whose leader is deposed before it commits is replaced in the
// log by the new leader's entries and dragonboat never reports it: it would
// wait out its whole timeout (in Raft ticks, so a paused broker's wait grows
// by the pause), leaving the partition without acknowledgements that long.
// So while waiting, leadership is checked; once this broker no longer leads
// the shard in the term it proposed in, the answer is NOT_LEADER_OR_FOLLOWER
// and the client retries at the new leader, as Kafka answers a deposed
// leader's pending acks=all produce. The entry may still commit through the
// new leader; an idempotent producer's retry is then deduplicated.
func (s *Server) finishAppend(pa pendingAppend) {
	var res dragonboat.RequestResult
	select {
	case res = <-pa.rs.ResultC():
	default:
		var ok bool
		if res, ok = s.awaitWhileLeader(pa.rs, pa.led); !ok {
			// pa.rs is not released: dragonboat may still complete it.
			pa.resp.ErrorCode = kerr.NotLeaderForPartition.Code
			return
		}
	}
	pa.rs.Release()
	switch {
	case res.Completed():
		s.stage(metrics.StageCommit, pa.proposed)
		base, code := partition.AppendResult(res.GetResult())
		pa.resp.BaseOffset, pa.resp.ErrorCode = base, code
		if code == 0 {
			pa.resp.LogAppendTime = pa.appendTime
		}
		pa.resp.LogStartOffset = pa.led.LogStartOffset()
		s.metrics.ProposalDuration.WithLabelValues(metrics.GroupPartition).Observe(time.Since(pa.start).Seconds())
		if code == 0 {
			s.metrics.BytesIn.WithLabelValues(pa.topic).Add(float64(pa.bytes))
			s.metrics.RecordsProduced.WithLabelValues(pa.topic).Add(float64(pa.records))
		}
	case res.Timeout():
		pa.resp.ErrorCode = kerr.RequestTimedOut.Code
	default: // dropped, aborted, terminated: leadership moved or the shard closed
		pa.resp.ErrorCode = kerr.NotLeaderForPartition.Code
	}
}

// awaitWhileLeader waits for a proposal's result while this broker leads
// the shard in the term it proposed in (l.term); ok is false once it does not.
func (s *Server) awaitWhileLeader(rs *dragonboat.RequestState, l led) (res dragonboat.RequestResult, ok bool) {
	t := time.NewTicker(leadershipCheckInterval)
	defer t.Stop()
	for {
		select {
		case res = <-rs.ResultC():
			return res, true
		case <-t.C:
			if term, leader := s.node.IsLeader(l.shard); !leader || term != l.term {
				return res, false
			}
		}
	}
}

// proposeAppend starts a proposal, retrying while dragonboat's queues are
// full (nothing was proposed, so a retry cannot duplicate).
func (s *Server) proposeAppend(ctx context.Context, shard uint64, cmd []byte, timeout time.Duration) (*dragonboat.RequestState, error) {
	deadline := time.Now().Add(timeout)
	for {
		rs, err := s.node.Propose(shard, cmd, time.Until(deadline))
		if !errors.Is(err, dragonboat.ErrSystemBusy) || time.Now().After(deadline) {
			return rs, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
}

func proposeErrorCode(err error) int16 {
	if errors.Is(err, dragonboat.ErrSystemBusy) || errors.Is(err, dragonboat.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) {
		return kerr.RequestTimedOut.Code
	}
	return kerr.NotLeaderForPartition.Code
}

// checkRecords validates a partition's record set before it is proposed,
// with Kafka's rules for what a client may write, and returns the records
// to propose: recompressed here, on the leader, when the topic's
// compression.type differs from a batch's codec, so that every replica
// applies (and stores) the same bytes (recordbatch.PrepareClient).
func checkRecords(records []byte, logCfg topicconfig.Log, nowMs int64) ([]byte, recordbatch.Set, int16) {
	set, err := recordbatch.Validate(records)
	switch {
	case errors.Is(err, recordbatch.ErrUnsupportedMagic):
		return nil, set, kerr.UnsupportedForMessageFormat.Code
	case err != nil:
		return nil, set, kerr.CorruptMessage.Code
	case set.LargestBatch > logCfg.MaxMessageBytes:
		return nil, set, kerr.MessageTooLarge.Code
	case set.Idempotent && set.Batches > 1:
		// Kafka requires exactly one batch per partition from an idempotent producer.
		return nil, set, kerr.InvalidRecord.Code
	}
	target, err := recordbatch.ParseCodec(logCfg.Compression)
	if err != nil { // validated when set; keep the producer's codec rather than refuse
		target = recordbatch.CodecProducer
	}
	out, err := recordbatch.PrepareClient(records, recordbatch.ClientRules{NowMs: nowMs, CreateTime: !logCfg.LogAppendTime,
		TimestampBeforeMaxMs: logCfg.TimestampBeforeMaxMs, TimestampAfterMaxMs: logCfg.TimestampAfterMaxMs, RequireKeys: logCfg.Compact,
		Target: target, Levels: recordbatch.Levels{Gzip: logCfg.GzipLevel, Lz4: logCfg.Lz4Level, Zstd: logCfg.ZstdLevel}})
	switch {
	case errors.Is(err, recordbatch.ErrUnsupportedCodec):
		return nil, set, kerr.UnsupportedCompressionType.Code
	case errors.Is(err, recordbatch.ErrInvalidTimestamp):
		return nil, set, kerr.InvalidTimestamp.Code
	case errors.Is(err, recordbatch.ErrInvalidRecord):
		return nil, set, kerr.InvalidRecord.Code
	case errors.Is(err, recordbatch.ErrTooLarge):
		return nil, set, kerr.MessageTooLarge.Code
	case err != nil:
		return nil, set, kerr.CorruptMessage.Code
	}
	if target != recordbatch.CodecProducer {
		// Kafka checks the size of the batch it stores, after recompression.
		for _, b := range recordbatch.All(out) {
			if len(b) > logCfg.MaxMessageBytes {
				return nil, set, kerr.MessageTooLarge.Code
			}
		}
	}
	return out, set, 0
}

// topicLog resolves the log settings of a topic (broker defaults for an
// unknown one, which is refused later anyway).
func (s *Server) topicLog(st *meta.State, topic string) topicconfig.Log {
	var own map[string]string
	if t, ok := st.Topics[topic]; ok {
		own = t.Configs
	}
	return topicconfig.ForLog(own, s.logDefaults(st))
}

// logDefaults are the topic defaults: the cluster's dynamic broker
// configs, then this broker's flags.
func (s *Server) logDefaults(st *meta.State) topicconfig.BrokerDefaults {
	return s.cfg.LogDefaults().WithDynamic(st.BrokerConfigs)
}

// produceError answers every partition of a request with one error code.
func produceError(body *kmsg.ProduceRequest, resp *kmsg.ProduceResponse, code int16) *kmsg.ProduceResponse {
	for _, t := range body.Topics {
		rt := kmsg.NewProduceResponseTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		for _, p := range t.Partitions {
			rp := kmsg.NewProduceResponseTopicPartition()
			rp.Partition, rp.ErrorCode, rp.BaseOffset = p.Partition, code, -1
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

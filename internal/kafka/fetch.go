package kafka

import (
	"context"
	"errors"
	"reflect"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/acl"
	"github.com/longboat/longboat/internal/meta"
	"github.com/longboat/longboat/internal/quota"
	"github.com/longboat/longboat/internal/recordbatch"
	"github.com/longboat/longboat/internal/storage"
)

// Fetch v18 only adds a follower's high watermark (KIP-1166, a tagged
// field); consumers' fetches are the same as in v17.
func init() { handles(4, 18, (*Server).fetch) }

// fetch reads from the local logs of partitions this broker leads. When
// fewer than MinBytes are available it long-polls on the partitions'
// append signals until MaxWaitMillis passes.
func (s *Server) fetch(ctx context.Context, req *request, body *kmsg.FetchRequest) kmsg.Response {
	deadline := time.Now().Add(time.Duration(max(body.MaxWaitMillis, 0)) * time.Millisecond)
	budget := int(body.MaxBytes)
	if body.Version < 3 || budget <= 0 {
		budget = 50 << 20
	}
	if most, ok := s.quotas.WindowMax(s.node.Meta(), quota.Fetch, quotaClient(req)); ok {
		if most < float64(budget) {
			budget = max(1, int(most))
		}
	}
	for {
		st := s.node.Meta()
		resp, bytes, waitOn := s.fetchOnce(ctx, req, st, body, budget)
		wait := time.Until(deadline)
		if bytes >= int(max(body.MinBytes, 1)) || wait <= 0 || len(waitOn) == 0 || resp.ErrorCode != 0 {
			return s.throttleFetch(req, resp, bytes)
		}
		done := waiting(ctx)
		woke := waitAny(ctx, waitOn, wait)
		done()
		if !woke {
			return s.throttleFetch(req, resp, bytes)
		}
	}
}

// throttleFetch counts a response's record bytes against consumer_byte_rate
// and its handling time against request_percentage. Past either quota it
// sends, as Kafka does, an empty response carrying the longer delay and
// takes the bytes back: the client asks again for the same offsets once
// the delay has passed.
func (s *Server) throttleFetch(req *request, resp *kmsg.FetchResponse, bytes int) *kmsg.FetchResponse {
	cl, now := quotaClient(req), time.Now()
	st := s.node.Meta()
	d := s.quotas.Record(st, quota.Fetch, cl, float64(bytes), now)
	rd := s.requestThrottle(req)
	if d <= 0 && rd <= 0 {
		return resp
	}
	s.quotas.Unrecord(st, quota.Fetch, cl, float64(bytes), now)
	if d > 0 {
		s.muted(req, quota.Fetch, d)
	}
	empty := req.body.ResponseKind().(*kmsg.FetchResponse)
	empty.ThrottleMillis = throttleMillis(max(d, rd))
	return empty
}

// waitAny waits for any channel, the timeout or ctx; false unless a channel fired.
func waitAny(ctx context.Context, chans []<-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	cases := make([]reflect.SelectCase, 0, len(chans)+2)
	cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(t.C)},
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())})
	for _, c := range chans {
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(c)})
	}
	chosen, _, _ := reflect.Select(cases)
	return chosen >= 2
}

func (s *Server) fetchOnce(ctx context.Context, req *request, st *meta.State, body *kmsg.FetchRequest, budget int) (*kmsg.FetchResponse, int, []<-chan struct{}) {
	resp := body.ResponseKind().(*kmsg.FetchResponse)
	total := 0
	var waitOn []<-chan struct{}
	for _, t := range body.Topics {
		rt := kmsg.NewFetchResponseTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		name := t.Topic
		if body.Version >= 13 {
			if mt, ok := st.TopicByID(t.TopicID); ok {
				name = mt.Name
			} else {
				name = internalTopicName(st, t.TopicID)
			}
		}
		if name != "" && !s.authorizeTopic(req, acl.OpRead, name) {
			for _, tp := range t.Partitions {
				rp := kmsg.NewFetchResponseTopicPartition()
				rp.Partition, rp.ErrorCode = tp.Partition, kerr.TopicAuthorizationFailed.Code
				rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = -1, -1, -1
				rp.RecordBatches = []byte{}
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
			continue
		}
		for _, tp := range t.Partitions {
			if s.fetchInternal(ctx, st, name, body, tp, budget, &total, &waitOn, &rt) {
				continue
			}
			rp := kmsg.NewFetchResponseTopicPartition()
			rp.Partition = tp.Partition
			rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = -1, -1, -1
			rp.RecordBatches = []byte{} // empty, never null: librdkafka rejects a null record set
			if name == "" {
				rp.ErrorCode = kerr.UnknownTopicID.Code
				rt.Partitions = append(rt.Partitions, rp)
				continue
			}
			p, code := s.localLeader(st, name, tp.Partition, epochIf(body.Version >= 9, tp.CurrentLeaderEpoch))
			if code != 0 {
				rp.ErrorCode = code
				rt.Partitions = append(rt.Partitions, rp)
				continue
			}
			// Take the signal before reading, so an append in between wakes us.
			signal := p.Appended()
			committed := body.IsolationLevel == 1
			// The last stable offset first: everything below it, aborted
			// transactions included, is in the index read after the data.
			lso := p.LastStableOffset()
			limit := p.HighWatermark()
			if committed {
				limit = lso
			}
			records, code := s.readPartition(ctx, p, tp.FetchOffset, int(tp.PartitionMaxBytes), budget-total, total == 0, limit)
			rp.ErrorCode = code
			rp.HighWatermark = p.HighWatermark()
			rp.LastStableOffset = lso
			rp.LogStartOffset = p.LogStartOffset()
			if committed && code == 0 {
				rp.AbortedTransactions = abortedIn(p, tp.FetchOffset, records)
			}
			if records != nil {
				rp.RecordBatches = records
				s.metrics.BytesOut.WithLabelValues(name).Add(float64(len(records)))
				s.metrics.RecordsFetched.WithLabelValues(name).Add(float64(recordbatch.CountRecords(records)))
			}
			total += len(records)
			if code == 0 && len(records) == 0 {
				waitOn = append(waitOn, signal)
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, total, waitOn
}

// abortedIn lists, as Kafka does for read_committed, the aborted
// transactions that overlap the batches returned from fetchOffset on:
// marker at or past fetchOffset, first offset below the returned data's end.
// Empty (not null) when there are none, as Kafka sends.
func abortedIn(p led, fetchOffset int64, records []byte) []kmsg.FetchResponseTopicPartitionAbortedTransaction {
	out := []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
	upper := int64(-1)
	for h := range recordbatch.All(records) {
		upper = h.LastOffset() + 1
	}
	if upper < 0 {
		return out
	}
	for _, a := range p.AbortedTransactions(fetchOffset, upper) {
		at := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
		at.ProducerID, at.FirstOffset = a.ProducerID, a.FirstOffset
		out = append(out, at)
	}
	return out
}

// readPartition returns the batches from offset on that start below limit
// (the high watermark, or the last stable offset for read_committed). The
// first partition with data in a response always gets at least one whole
// batch (KIP-74), even past the byte limits, so that a consumer can never
// get stuck.
func (s *Server) readPartition(ctx context.Context, p led, offset int64, partMax, remaining int, first bool, limit int64) ([]byte, int16) {
	if offset > p.HighWatermark() {
		// A new leader may not have applied everything yet; catch up before
		// calling the offset out of range.
		if err := s.catchUp(ctx, p.shard); err != nil {
			return nil, kerr.NotLeaderForPartition.Code
		}
	}
	if offset < p.LogStartOffset() || offset > p.HighWatermark() {
		return nil, kerr.OffsetOutOfRange.Code
	}
	budget := min(partMax, remaining)
	if budget <= 0 && !first {
		return nil, 0
	}
	data, err := p.ReadBelow(offset, max(budget, 1), limit)
	if errors.Is(err, storage.ErrOffsetOutOfRange) {
		return nil, kerr.OffsetOutOfRange.Code
	}
	if err != nil {
		s.log.Error().Err(err).Uint64("shard", p.shard).Int64("offset", offset).Msg("read partition log")
		return nil, kerr.KafkaStorageError.Code
	}
	if len(data) > budget && !first {
		return nil, 0
	}
	return data, 0
}

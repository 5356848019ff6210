package txn

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/group"
	"github.com/longboat/longboat/internal/txnmarker"
)

// prepareEnd makes PrepareCommit or PrepareAbort durable and starts the
// completion. bump first fences the producer (a new epoch for the abort
// markers), as Kafka does when it aborts on the producer's behalf.
func (c *Coordinator) prepareEnd(ctx context.Context, s shard, rec group.TxnRecord, commit, bump bool) (group.TxnRecord, int16) {
	if bump && rec.Epoch < math.MaxInt16-1 {
		rec.LastEpoch, rec.Epoch = rec.Epoch, rec.Epoch+1
	}
	rec.State = group.TxnPrepareAbort
	if commit {
		rec.State = group.TxnPrepareCommit
	}
	rec.Prev = nil
	rec, code := c.putCode(ctx, s, rec)
	if code != 0 {
		return rec, code
	}
	c.complete(s, rec)
	return rec, 0
}

// completion is one prepared transaction's completion in flight.
type completion struct {
	version int64 // the Prepare* record's
	// seq: the markers and group ends carry version as their Seq, so
	// that a copy applied late changes nothing; the producer's next
	// transaction may then begin before they are written (overlap).
	seq bool
	// successor: a request of the next transaction is writing its record
	// over this one's Prepare* record (overlap); the completion then
	// leaves the record to it instead of storing Complete*.
	successor bool
	decided   bool          // finish has read successor (and waiters)
	written   chan struct{} // closed once every marker and group offset is written
	done      chan struct{} // closed when the completion ended (or was handed over and that write returned)
	// waiters counts requests of the producer's next transaction waiting
	// for written; when finish sees one, it hands the last write over
	// (handedOver) instead of storing Complete*: the next transaction's
	// first write replaces it, one Raft round less per transaction.
	waiters    int
	handedOver bool
}

// complete starts, unless it runs already, the completion of a prepared
// transaction and returns it. The completion of a later transaction of
// the id starts once an earlier one still running has ended: the earlier
// one's last steps can outlast the wait of the requests that made the
// later one.
func (c *Coordinator) complete(s shard, rec group.TxnRecord) *completion {
	c.mu.Lock()
	defer c.mu.Unlock()
	prev, ok := c.completing[rec.ID]
	if ok && prev.version >= rec.Version {
		return prev
	}
	comp := &completion{version: rec.Version, seq: c.overlap(), written: make(chan struct{}), done: make(chan struct{})}
	c.completing[rec.ID] = comp
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		if ok {
			select {
			case <-prev.done:
			case <-c.ctx.Done():
				c.endCompletion(rec.ID, comp)
				return
			}
		}
		handedOver, err := c.finish(s, rec, comp)
		if err != nil && c.ctx.Err() == nil {
			c.log.Warn().Err(err).Str("transactional_id", rec.ID).Str("state", rec.State).Msg("transaction not completed; the shard's next leader finishes it")
		}
		if !handedOver {
			c.endCompletion(rec.ID, comp)
		}
	}()
	return comp
}

// endCompletion forgets a completion and signals its end. Until then no
// other completion of the id starts, so its markers are never sent again
// after the producer's next transaction began.
func (c *Coordinator) endCompletion(id string, comp *completion) {
	c.mu.Lock()
	if c.completing[id] == comp {
		delete(c.completing, id)
	}
	c.mu.Unlock()
	close(comp.done)
}

// awaitComplete waits, a bounded time, for a transaction's completion and
// tells whether it ended.
func (c *Coordinator) awaitComplete(ctx context.Context, s shard, rec group.TxnRecord) bool {
	comp := c.complete(s, rec)
	t := time.NewTimer(completeWait)
	defer t.Stop()
	select {
	case <-comp.done:
		cur, ok := s.sm.Txn(rec.ID)
		return ok && (cur.State == group.TxnCompleteCommit || cur.State == group.TxnCompleteAbort)
	case <-ctx.Done():
	case <-t.C:
	}
	return false
}

// afterPrepared is how a request of the producer's next transaction
// (AddPartitionsToTxn, AddOffsetsToTxn) meets its previous one still
// completing: it waits, up to prepareWait, until the markers and group
// offsets are written and then takes over the last write, returning the
// prepared record to build the new transaction on and release, to call
// once that write returned. A completion that ended meanwhile returns the
// record as it now is. Kafka answers CONCURRENT_TRANSACTIONS here and the
// client retries after a backoff; waiting answers as soon as the markers
// are in. The id lock is held.
func (c *Coordinator) afterPrepared(ctx context.Context, s shard, rec group.TxnRecord) (group.TxnRecord, func(), int16) {
	comp := c.complete(s, rec)
	c.mu.Lock()
	comp.waiters++
	c.mu.Unlock()
	wctx, cancel := context.WithTimeout(ctx, prepareWait)
	defer cancel()
	select {
	case <-comp.written:
	case <-comp.done:
	case <-wctx.Done():
	}
	c.mu.Lock()
	comp.waiters--
	handedOver := comp.handedOver
	c.mu.Unlock()
	if handedOver {
		return rec, func() { c.endCompletion(rec.ID, comp) }, 0
	}
	select {
	case <-comp.done:
	case <-wctx.Done():
		return rec, func() {}, kerr.ConcurrentTransactions.Code
	}
	cur, ok := s.sm.Txn(rec.ID)
	if !ok || cur.State == group.TxnPrepareCommit || cur.State == group.TxnPrepareAbort {
		return rec, func() {}, kerr.ConcurrentTransactions.Code
	}
	return cur, func() {}, 0
}

// finish writes a prepared transaction's markers and group offsets, then
// records its completion, unless a request of the producer's next
// transaction waits to write the record itself (handedOver) or already
// wrote it over the prepared one (the record's Prev is this transaction).
// It needs no id lock: the record's version guards the last write. A
// record read before an earlier completion ended is already complete.
func (c *Coordinator) finish(s shard, rec group.TxnRecord, comp *completion) (handedOver bool, err error) {
	todo, viaPrev := c.stillToComplete(s, rec)
	if !todo {
		return false, nil
	}
	// Markers that a next transaction may already follow are sent with
	// their Seq whatever this broker now knows of the others.
	seq := comp.seq || viaPrev
	commit := rec.State == group.TxnPrepareCommit
	if err := c.writeMarkers(s, rec, commit, seq); err != nil {
		return false, err
	}
	for _, g := range rec.Groups {
		if err := c.endGroupOffsets(s, rec, g, commit, seq); err != nil {
			return false, err
		}
	}
	c.mu.Lock()
	c.finished[rec.ID] = rec.Version
	close(comp.written)
	comp.handedOver = comp.waiters > 0
	successor := comp.successor
	comp.decided = true
	c.mu.Unlock()
	if comp.handedOver {
		return true, nil
	}
	if cur, ok := s.sm.Txn(rec.ID); successor || !ok || cur.Version != rec.Version {
		// The next transaction's record holds this one as Prev until
		// its own Prepare* write; c.finished tells its requests that
		// nothing is left to write.
		return false, nil
	}
	rec.State = group.TxnCompleteAbort
	if commit {
		rec.State = group.TxnCompleteCommit
	}
	rec.Partitions, rec.Groups, rec.StartMs = nil, nil, 0
	_, err = c.put(c.ctx, s, rec)
	switch {
	case err == nil:
		c.log.Debug().Str("transactional_id", rec.ID).Str("state", rec.State).Msg("transaction completed")
	case errors.Is(err, group.ErrTxnConflict):
		// The next transaction's first request wrote the record
		// meanwhile, holding this one as Prev.
		err = nil
	}
	return false, err
}

// stillToComplete tells whether a prepared record still needs its
// markers and group offsets written: the stored record is it, or the next
// transaction's record holding it as Prev (viaPrev), not known here to be
// written.
func (c *Coordinator) stillToComplete(s shard, rec group.TxnRecord) (todo, viaPrev bool) {
	cur, ok := s.sm.Txn(rec.ID)
	switch {
	case !ok:
		return false, false
	case cur.Version == rec.Version:
		return true, false
	case cur.Prev == nil || cur.Prev.Version != rec.Version:
		return false, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.finished[rec.ID] != rec.Version, true
}

// prevToComplete tells whether a record's Prev is still to be written.
func (c *Coordinator) prevToComplete(s shard, rec group.TxnRecord) bool {
	todo, _ := c.stillToComplete(s, rec.Prepared())
	return todo
}

// awaitPrev waits, up to prepareWait, until the markers and group offsets
// of the transaction a record holds as Prev are written, starting their
// completion if none runs (after a failover). CONCURRENT_TRANSACTIONS when
// they are not written in time (the client retries).
func (c *Coordinator) awaitPrev(ctx context.Context, s shard, rec group.TxnRecord) int16 {
	if rec.Prev == nil {
		return 0
	}
	c.mu.Lock()
	done := c.finished[rec.ID] == rec.Prev.Version
	c.mu.Unlock()
	if done {
		return 0
	}
	comp := c.complete(s, rec.Prepared())
	t := time.NewTimer(prepareWait)
	defer t.Stop()
	select {
	case <-comp.written:
	case <-comp.done:
	case <-ctx.Done():
		return kerr.ConcurrentTransactions.Code
	case <-t.C:
		return kerr.ConcurrentTransactions.Code
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.finished[rec.ID] != rec.Prev.Version {
		return kerr.ConcurrentTransactions.Code
	}
	return 0
}

// retry runs fn until it succeeds, the shard's leadership moves or the
// coordinator closes, backing off up to a second.
func (c *Coordinator) retry(s shard, what string, fn func(ctx context.Context) error) error {
	backoff := 50 * time.Millisecond
	for {
		if term, leader := c.node.IsLeader(s.id); !leader || term != s.term {
			return errNotCoordinator
		}
		ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
		err := fn(ctx)
		cancel()
		if err == nil {
			return nil
		}
		if c.ctx.Err() != nil {
			return c.ctx.Err()
		}
		c.log.Debug().Err(err).Uint64("shard", s.id).Msg(what + "; retrying")
		select {
		case <-c.ctx.Done():
			return c.ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// endGroupOffsets commits or drops a producer's pending offsets in a
// group: proposed to the group's shard from this broker's replica
// (dragonboat forwards it to the leader), or, on a broker without one, a
// marker on the shard's partition of __consumer_offsets sent to its
// leader, which ends them as Kafka's group coordinator does.
func (c *Coordinator) endGroupOffsets(s shard, rec group.TxnRecord, groupID string, commit, seq bool) error {
	gs, ok := c.node.GroupShardFor(groupID)
	if !ok {
		return errors.New("no group shards")
	}
	if _, local := c.node.GroupStateMachine(gs); local {
		cmd := group.Command{Txn: &group.TxnCommand{End: &group.TxnOffsetsEnd{Group: groupID, ProducerID: rec.ProducerID, Commit: commit, Seq: rec.Version}}}.Encode()
		return c.retry(s, "end transactional offsets of group "+groupID, func(ctx context.Context) error {
			return c.node.ProposeGroup(ctx, gs, cmd)
		})
	}
	return c.retry(s, "transaction marker for group "+groupID, func(ctx context.Context) error {
		idx := -1
		for i, p := range c.node.Meta().GroupShards {
			if p.ShardID == gs {
				idx = i
			}
		}
		leader, _, ok := c.node.Leader(gs)
		if idx < 0 || !ok {
			return fmt.Errorf("group shard %d has no leader", gs)
		}
		m := marker(s, rec, commit, seq)
		mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
		mt.Topic, mt.Partitions = consumerOffsets, []int32{int32(idx)}
		m.Topics = append(m.Topics, mt)
		req := kmsg.NewPtrWriteTxnMarkersRequest()
		req.Markers = []kmsg.WriteTxnMarkersRequestMarker{m}
		resp, err := c.markers.WriteTxnMarkers(ctx, leader, req)
		if err != nil {
			return err
		}
		for _, rm := range resp.Markers {
			for _, rt := range rm.Topics {
				for _, rp := range rt.Partitions {
					if rp.ErrorCode != 0 {
						return fmt.Errorf("marker on %s/%d: %w", consumerOffsets, rp.Partition, kerr.ErrorForCode(rp.ErrorCode))
					}
				}
			}
		}
		return nil
	})
}

// marker is a prepared transaction's marker, without its partitions; seq
// adds the transaction's sequence (the prepared record's version).
func marker(s shard, rec group.TxnRecord, commit, seq bool) kmsg.WriteTxnMarkersRequestMarker {
	m := kmsg.NewWriteTxnMarkersRequestMarker()
	m.ProducerID, m.ProducerEpoch, m.Committed, m.CoordinatorEpoch = rec.ProducerID, rec.Epoch, commit, int32(s.term)
	if seq {
		txnmarker.SetSeq(&m, rec.Version)
	}
	return m
}

// consumerOffsets is the internal topic whose partition i is group shard i.
const consumerOffsets = "__consumer_offsets"

// writeMarkers sends the transaction's markers to the leaders of its
// partitions until each has written it. A partition of a deleted topic
// needs none.
func (c *Coordinator) writeMarkers(s shard, rec group.TxnRecord, commit, seq bool) error {
	pending := map[string]map[int32]bool{}
	for t, ps := range rec.Partitions {
		pending[t] = map[int32]bool{}
		for _, p := range ps {
			pending[t][p] = true
		}
	}
	return c.retry(s, "write transaction markers", func(ctx context.Context) error {
		st := c.node.Meta()
		byLeader := map[uint64]map[string][]int32{}
		for t, ps := range pending {
			topic := st.Topics[t]
			for p := range ps {
				if topic == nil || int(p) >= len(topic.Partitions) {
					delete(ps, p)
					continue
				}
				leader, _, ok := c.node.Leader(topic.Partitions[p].ShardID)
				if !ok {
					continue
				}
				if byLeader[leader] == nil {
					byLeader[leader] = map[string][]int32{}
				}
				byLeader[leader][t] = append(byLeader[leader][t], p)
			}
			if len(ps) == 0 {
				delete(pending, t)
			}
		}
		// Each leader's request waits for its partitions' Raft commits;
		// sent one leader after another, a commit would take as many of
		// those waits as the transaction has leaders.
		resps := make([]*kmsg.WriteTxnMarkersResponse, 0, len(byLeader))
		var mu sync.Mutex
		var wg sync.WaitGroup
		for leader, parts := range byLeader {
			m := marker(s, rec, commit, seq)
			for t, ps := range parts {
				mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
				mt.Topic, mt.Partitions = t, ps
				m.Topics = append(m.Topics, mt)
			}
			req := kmsg.NewPtrWriteTxnMarkersRequest()
			req.Markers = []kmsg.WriteTxnMarkersRequestMarker{m}
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := c.markers.WriteTxnMarkers(ctx, leader, req)
				if err != nil {
					c.log.Debug().Err(err).Uint64("broker", leader).Msg("WriteTxnMarkers")
					return
				}
				mu.Lock()
				resps = append(resps, resp)
				mu.Unlock()
			}()
		}
		wg.Wait()
		for _, resp := range resps {
			for _, rm := range resp.Markers {
				for _, rt := range rm.Topics {
					for _, rp := range rt.Partitions {
						if markerDone(rp.ErrorCode) {
							if rp.ErrorCode != 0 {
								c.log.Warn().Str("transactional_id", rec.ID).Str("topic", rt.Topic).Int32("partition", rp.Partition).
									Int16("error_code", rp.ErrorCode).Msg("partition refused the transaction marker; not retried")
							}
							delete(pending[rt.Topic], rp.Partition)
							if len(pending[rt.Topic]) == 0 {
								delete(pending, rt.Topic)
							}
						}
					}
				}
			}
		}
		if len(pending) > 0 {
			return errors.New("markers not written to every partition yet")
		}
		return nil
	})
}

// markerDone tells whether a partition's answer to a marker ends its
// sending: written, or refused for good (a fenced producer or coordinator,
// a request the partition cannot take). Kafka gives up on the same codes.
func markerDone(code int16) bool {
	switch code {
	case 0, kerr.InvalidProducerEpoch.Code, kerr.ProducerFenced.Code, kerr.TransactionCoordinatorFenced.Code,
		kerr.InvalidRequest.Code, kerr.UnsupportedForMessageFormat.Code, kerr.InvalidTopicException.Code:
		return true
	}
	return false
}

// loop finishes the prepared transactions of the shards this broker
// leads (one whose leader failed over mid-commit) and aborts the ongoing
// ones idle past their timeout.
func (c *Coordinator) loop() {
	defer c.wg.Done()
	tick := min(c.cfg.AbortInterval, time.Second)
	t := time.NewTicker(tick)
	defer t.Stop()
	nextAbort := time.Now().Add(c.cfg.AbortInterval)
	for {
		select {
		case <-c.ctx.Done():
			return
		case now := <-t.C:
			abort := !now.Before(nextAbort)
			if abort {
				nextAbort = now.Add(c.cfg.AbortInterval)
			}
			c.sweep(abort)
		}
	}
}

func (c *Coordinator) sweep(abort bool) {
	for _, id := range c.node.GroupShardIDs() {
		if _, leader := c.node.IsLeader(id); !leader {
			continue
		}
		s, code := c.loadShard(c.ctx, id)
		if code != 0 {
			continue
		}
		now := time.Now().UnixMilli()
		expired := map[string]int64{}
		for _, rec := range s.sm.Txns() {
			switch {
			case rec.State == group.TxnPrepareCommit || rec.State == group.TxnPrepareAbort:
				c.complete(s, rec)
			case rec.Prev != nil && c.prevToComplete(s, rec):
				c.complete(s, rec.Prepared())
			case abort && rec.State == group.TxnOngoing && now-rec.StartMs > int64(rec.TimeoutMs):
				c.abortTimedOut(s, rec.ID)
			case abort && group.TxnExpired(rec, now, c.cfg.IDExpiration.Milliseconds()):
				expired[rec.ID] = rec.Version
			}
		}
		if len(expired) > 0 {
			c.expire(s, expired, now)
		}
	}
}

// expire removes transactional ids idle past transactional.id.expiration.ms
// through the shard's log: the command names each record's version and
// carries the time judged by, so every replica removes the same ones, and
// none that a request wrote to since it was read.
func (c *Coordinator) expire(s shard, ids map[string]int64, nowMs int64) {
	if term, leader := c.node.IsLeader(s.id); !leader || term != s.term {
		return
	}
	ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
	defer cancel()
	cmd := group.Command{AtMs: nowMs, Txn: &group.TxnCommand{Expire: &group.TxnExpire{ExpirationMs: c.cfg.IDExpiration.Milliseconds(), IDs: ids}}}
	if err := c.node.ProposeGroup(ctx, s.id, cmd.Encode()); err != nil {
		c.log.Warn().Err(err).Uint64("shard", s.id).Int("transactional_ids", len(ids)).Msg("expire idle transactional ids")
		return
	}
	c.log.Info().Uint64("shard", s.id).Int("transactional_ids", len(ids)).Dur("expiration", c.cfg.IDExpiration).Msg("expired idle transactional ids")
}

// abortTimedOut aborts an ongoing transaction past its timeout at a new
// epoch, which fences its producer.
func (c *Coordinator) abortTimedOut(s shard, txnID string) {
	unlock := c.lock(txnID)
	defer unlock()
	rec, ok := s.sm.Txn(txnID)
	if !ok || rec.State != group.TxnOngoing || time.Now().UnixMilli()-rec.StartMs <= int64(rec.TimeoutMs) {
		return
	}
	if rec.Prev != nil && c.prevToComplete(s, rec) {
		return // the sweep completes the previous transaction first
	}
	c.log.Info().Str("transactional_id", txnID).Int64("producer_id", rec.ProducerID).Int32("timeout_ms", rec.TimeoutMs).Msg("aborting a transaction past its timeout")
	ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
	defer cancel()
	c.prepareEnd(ctx, s, rec, false, true)
}

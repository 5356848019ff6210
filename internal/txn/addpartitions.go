package txn

import (
	"context"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/longboat/longboat/internal/group"
	"github.com/longboat/longboat/internal/meta"
)

// addBatch is AddPartitionsToTxn requests of one producer written as one
// change of its record. franz-go sends one per broker it produces to, all
// at once, at the start of a transaction; one after another, each would
// wait for the Raft round of the one before.
type addBatch struct {
	pid   int64
	epoch int16
	parts map[string][]int32
	done  chan struct{} // closed once code is set
	code  int16
}

// AddPartitions adds partitions to a producer's transaction, starting it
// if none is ongoing, and answers a code per partition. With verifyOnly
// (AddPartitionsToTxn v4+ from a broker) nothing is added: each partition
// answers whether the ongoing transaction holds it. An unknown partition
// fails alone and the others answer OPERATION_NOT_ATTEMPTED, as Kafka does,
// so that nothing is half added. Requests of the producer that arrive
// while one is waiting join its write (addBatch).
func (c *Coordinator) AddPartitions(ctx context.Context, txnID string, pid int64, epoch int16, parts map[string][]int32, verifyOnly bool) map[string]map[int32]int16 {
	out := make(map[string]map[int32]int16, len(parts))
	all := func(code int16) map[string]map[int32]int16 {
		for t, ps := range parts {
			out[t] = map[int32]int16{}
			for _, p := range ps {
				out[t][p] = code
			}
		}
		return out
	}
	if verifyOnly {
		return c.verifyPartitions(ctx, txnID, pid, epoch, parts)
	}
	if unknownPartitions(c.node.Meta().Topics, parts, out) {
		return out
	}
	b, l := c.joinAdds(txnID, pid, epoch, parts)
	if l == nil {
		<-b.done
		return all(b.code)
	}
	b.code = c.addBatch(ctx, txnID, l, b)
	close(b.done)
	return all(b.code)
}

// joinAdds adds a request to the id's gathering batch of the same producer
// and returns it (and a nil lock), or opens a batch and returns it with the
// id's lock, held: the caller writes it.
func (c *Coordinator) joinAdds(txnID string, pid int64, epoch int16, parts map[string][]int32) (*addBatch, *idLock) {
	c.mu.Lock()
	l := c.ids[txnID]
	if l != nil && l.adds != nil && l.adds.pid == pid && l.adds.epoch == epoch {
		b := l.adds
		mergeParts(b.parts, parts)
		c.mu.Unlock()
		return b, nil
	}
	if l == nil {
		l = &idLock{}
		c.ids[txnID] = l
	}
	l.refs++
	b := &addBatch{pid: pid, epoch: epoch, parts: map[string][]int32{}, done: make(chan struct{})}
	mergeParts(b.parts, parts)
	l.adds = b
	c.mu.Unlock()
	l.mu.Lock()
	return b, l
}

// mergeParts adds the partitions of from missing in into.
func mergeParts(into, from map[string][]int32) {
	for t, ps := range from {
		for _, p := range ps {
			if !hasPartition(into[t], p) {
				into[t] = append(into[t], p)
			}
		}
	}
}

func hasPartition(ps []int32, p int32) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}

// addBatch writes a batch of added partitions; the id lock is held, and
// released once the write is proposed: the producer's next batch (a sink
// that began producing a moment later) builds on the record proposed here
// and proposes its own write behind it instead of a Raft round later. The
// batch takes joiners until its partitions are read for the write, after
// any wait for the producer's previous transaction.
func (c *Coordinator) addBatch(ctx context.Context, txnID string, l *idLock, b *addBatch) int16 {
	unlock := sync.OnceFunc(l.mu.Unlock)
	defer func() {
		unlock()
		c.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(c.ids, txnID)
		}
		c.mu.Unlock()
	}()
	closeBatch := func() map[string][]int32 {
		c.mu.Lock()
		defer c.mu.Unlock()
		if l.adds == b {
			l.adds = nil
		}
		return b.parts
	}
	s, code := c.load(ctx, txnID)
	if code != 0 {
		closeBatch()
		return code
	}
	c.mu.Lock()
	base := l.pending
	c.mu.Unlock()
	var rec group.TxnRecord
	var after func() int16
	if base != nil {
		rec = base.rec.Clone()
		after = func() int16 {
			<-base.done
			if base.err != nil {
				return kerr.ConcurrentTransactions.Code
			}
			return c.awaitPrev(ctx, s, base.rec)
		}
		code = checkProducer(rec, true, b.pid, b.epoch)
	} else {
		rec, after, code = c.current(ctx, s, txnID, b.pid, b.epoch)
		if code == 0 && rec.Prev != nil && rec.StartMs == 0 {
			// The transaction's first request, its record written
			// while the previous markers are still in flight: the
			// producer's other sinks send theirs within a moment, and
			// one write for all costs every broker a Raft round less.
			gather(ctx)
		}
	}
	parts := closeBatch()
	if code != 0 {
		unlock()
		after()
		return code
	}
	rec = begin(rec)
	changed := false
	for t, ps := range parts {
		for _, p := range ps {
			if !rec.HasPartition(t, p) {
				rec.Partitions[t] = append(rec.Partitions[t], p)
				changed = true
			}
		}
	}
	if !changed && rec.StartMs != 0 {
		unlock()
		return after()
	}
	if rec.StartMs == 0 {
		rec.StartMs = time.Now().UnixMilli()
	}
	rec, wait, code := c.putAsync(s, rec)
	if code != 0 {
		unlock()
		after()
		return code
	}
	p := &pendingPut{rec: rec, done: make(chan struct{})}
	c.mu.Lock()
	l.pending = p
	c.mu.Unlock()
	unlock()
	p.err = wait()
	c.mu.Lock()
	if l.pending == p {
		l.pending = nil
	}
	c.mu.Unlock()
	close(p.done)
	if code := c.putResult(rec, p.err); code != 0 {
		after()
		return code
	}
	return after()
}

// gatherWindow is how long the first AddPartitionsToTxn of a transaction
// waits for the producer's others before its write, when it need not wait
// for the previous transaction's markers.
const gatherWindow = time.Millisecond

func gather(ctx context.Context) {
	t := time.NewTimer(gatherWindow)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// pendingPut is a batch's write proposed and not yet applied.
type pendingPut struct {
	rec  group.TxnRecord // as proposed
	done chan struct{}
	err  error // the write's outcome, set before done closes
}

// unknownPartitions fills out for a request naming a partition that does
// not exist: that one UNKNOWN_TOPIC_OR_PARTITION, the others
// OPERATION_NOT_ATTEMPTED.
func unknownPartitions(topics map[string]*meta.Topic, parts map[string][]int32, out map[string]map[int32]int16) bool {
	unknown := false
	for t, ps := range parts {
		out[t] = map[int32]int16{}
		topic := topics[t]
		for _, p := range ps {
			if topic == nil || p < 0 || int(p) >= len(topic.Partitions) {
				out[t][p], unknown = kerr.UnknownTopicOrPartition.Code, true
			}
		}
	}
	if !unknown {
		return false
	}
	for t, ps := range parts {
		for _, p := range ps {
			if _, failed := out[t][p]; !failed {
				out[t][p] = kerr.OperationNotAttempted.Code
			}
		}
	}
	return true
}

// verifyPartitions answers, per partition, whether the producer's ongoing
// transaction holds it.
func (c *Coordinator) verifyPartitions(ctx context.Context, txnID string, pid int64, epoch int16, parts map[string][]int32) map[string]map[int32]int16 {
	unlock := c.lock(txnID)
	defer unlock()
	s, code := c.load(ctx, txnID)
	var rec group.TxnRecord
	if code == 0 {
		var found bool
		rec, found = s.sm.Txn(txnID)
		code = checkProducer(rec, found, pid, epoch)
	}
	out := make(map[string]map[int32]int16, len(parts))
	for t, ps := range parts {
		out[t] = map[int32]int16{}
		for _, p := range ps {
			switch {
			case code != 0:
				out[t][p] = code
			case rec.State == group.TxnOngoing && rec.HasPartition(t, p):
				out[t][p] = 0
			default:
				out[t][p] = kerr.InvalidTxnState.Code
			}
		}
	}
	return out
}

package txn

import (
	"context"
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
	defer c.unlockRef(txnID, l)
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

// addBatch writes a batch of added partitions; the id lock is held. The
// batch takes joiners until its partitions are read for the write, after
// any wait for the producer's previous transaction.
func (c *Coordinator) addBatch(ctx context.Context, txnID string, l *idLock, b *addBatch) int16 {
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
	rec, after, code := c.current(ctx, s, txnID, b.pid, b.epoch)
	parts := closeBatch()
	if code != 0 {
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
	if changed || rec.StartMs == 0 {
		if rec.StartMs == 0 {
			rec.StartMs = time.Now().UnixMilli()
		}
		if _, code = c.putCode(ctx, s, rec); code != 0 {
			after()
			return code
		}
	}
	return after()
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

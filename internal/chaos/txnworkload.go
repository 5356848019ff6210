package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The transactional workload: one transactional producer commits about
// two transactions in three and aborts the others on a topic of its own,
// a read_committed consumer tails that topic, and a watcher compares each
// partition's last stable offset with its high watermark. Values are
// "T<txn>:<i>" (not "P...", so the main checker and the replica read leave
// them alone).
const (
	txnRecords    = 6 // records per transaction, over every partition
	txnPartitions = 3
	txnAbortOneIn = 3
)

// Transaction outcomes as the producer knows them.
const (
	txnCommitted = "committed" // EndTxn(commit) acknowledged
	txnAborted   = "aborted"   // EndTxn(abort) acknowledged, or never produced
	txnUnknown   = "unknown"   // the end failed: committed or aborted, whole either way
)

type txnWorkload struct {
	topic string
	id    string // transactional id
	seeds []string
	rng   *rand.Rand
	stop  chan struct{}
	wg    sync.WaitGroup

	mu       sync.Mutex
	outcome  map[int64]string
	seen     map[string]bool // values the tailing consumer read
	final    map[string]int  // values the final read returned, with counts
	lsoAbove []string        // LSO above the high watermark, as observed
	errs     []string
	polled   atomic.Int64
}

func startTxnWorkload(ctx context.Context, adm *kadm.Client, topic string, brokers int, seeds []string, seed uint64) (*txnWorkload, error) {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resp, err := adm.CreateTopic(cctx, txnPartitions, int16(brokers), nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return nil, fmt.Errorf("create topic %s: %w", topic, err)
	}
	w := &txnWorkload{topic: topic, id: fmt.Sprintf("chaos-txn-%d", seed), seeds: seeds, rng: rand.New(rand.NewPCG(seed, 98)), stop: make(chan struct{}),
		outcome: map[int64]string{}, seen: map[string]bool{}}
	w.wg.Add(3)
	go func() { defer w.wg.Done(); w.produce() }()
	go func() { defer w.wg.Done(); w.tail() }()
	go func() { defer w.wg.Done(); w.watchLSO(adm) }()
	return w, nil
}

func (w *txnWorkload) fail(format string, args ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.errs = append(w.errs, fmt.Sprintf(format, args...))
}

func (w *txnWorkload) stopped() bool {
	select {
	case <-w.stop:
		return true
	default:
		return false
	}
}

// produce runs transactions until stop. After a failed step the client is
// replaced: the new one's InitProducerId fences the old epoch and aborts
// whatever it left open, so an unknown transaction ends one way, whole.
func (w *txnWorkload) produce() {
	var cl *kgo.Client
	defer func() {
		if cl != nil {
			cl.Close()
		}
	}()
	for n := int64(0); !w.stopped(); n++ {
		if cl == nil {
			var err error
			cl, err = kgo.NewClient(append(clientOpts(w.seeds), kgo.TransactionalID(w.id), kgo.RecordPartitioner(kgo.ManualPartitioner()),
				kgo.TransactionTimeout(20*time.Second), kgo.RecordDeliveryTimeout(30*time.Second), kgo.ProducerBatchCompression(kgo.NoCompression()))...)
			if err != nil {
				w.fail("transactional producer: %v", err)
				return
			}
		}
		commit := w.rng.IntN(txnAbortOneIn) != 0
		out := w.runTxn(cl, n, commit)
		w.mu.Lock()
		w.outcome[n] = out
		w.mu.Unlock()
		if out == txnUnknown {
			cl.Close()
			cl = nil
			time.Sleep(500 * time.Millisecond)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (w *txnWorkload) runTxn(cl *kgo.Client, n int64, commit bool) string {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	if err := cl.BeginTransaction(); err != nil {
		return txnUnknown
	}
	recs := make([]*kgo.Record, txnRecords)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: w.topic, Partition: int32(i % txnPartitions), Value: []byte(fmt.Sprintf("T%d:%d", n, i))}
	}
	produced := cl.ProduceSync(ctx, recs...).FirstErr() == nil
	end := kgo.TransactionEndTry(commit && produced)
	if err := cl.EndTransaction(ctx, end); err != nil {
		return txnUnknown
	}
	if end == kgo.TryCommit {
		return txnCommitted
	}
	return txnAborted
}

// tail reads the topic from the start under read_committed until stopped.
func (w *txnWorkload) tail() {
	cl, err := kgo.NewClient(append(clientOpts(w.seeds), kgo.ConsumeTopics(w.topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		w.fail("read_committed consumer: %v", err)
		return
	}
	defer cl.Close()
	for !w.stopped() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		w.mu.Lock()
		fs.EachRecord(func(r *kgo.Record) {
			w.seen[string(r.Value)] = true
			w.polled.Add(1)
		})
		w.mu.Unlock()
	}
}

// watchLSO asks for every partition's last stable offset, then its high
// watermark: the high watermark only grows, so an LSO read first above
// a high watermark read after it is an LSO above the high watermark.
func (w *txnWorkload) watchLSO(adm *kadm.Client) {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for !w.stopped() {
		select {
		case <-w.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		lso, err1 := adm.ListCommittedOffsets(ctx, w.topic)
		hwm, err2 := adm.ListEndOffsets(ctx, w.topic)
		cancel()
		if err1 != nil || err2 != nil || lso.Error() != nil || hwm.Error() != nil {
			continue // a fault in progress
		}
		lso.Each(func(l kadm.ListedOffset) {
			if h, ok := hwm.Lookup(w.topic, l.Partition); ok && h.Err == nil && l.Offset > h.Offset {
				w.mu.Lock()
				w.lsoAbove = append(w.lsoAbove, fmt.Sprintf("partition %d: LSO %d, then high watermark %d (leader epoch %d)", l.Partition, l.Offset, h.Offset, l.LeaderEpoch))
				w.mu.Unlock()
			}
		})
	}
}

// finish stops the workload and reads the topic whole under
// read_committed up to its end (every transaction ended by then: the
// producer is stopped and a new client's init aborts what it left).
func (w *txnWorkload) finish(adm *kadm.Client, timeout time.Duration) {
	close(w.stop)
	w.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	// End any transaction the stopped producer left open.
	if cl, err := kgo.NewClient(append(clientOpts(w.seeds), kgo.TransactionalID(w.id))...); err == nil {
		_ = cl.BeginTransaction()
		_ = cl.EndTransaction(ctx, kgo.TryAbort)
		cl.Close()
	}
	final, err := readTopicWhole(ctx, adm, w.seeds, w.topic, txnPartitions)
	if err != nil {
		w.fail("%v", err)
	}
	w.mu.Lock()
	w.final = final
	w.mu.Unlock()
}

// readTopicWhole waits until the topic is stable (LSO = high watermark on
// every partition), then reads it from the start under read_committed and
// returns every value with its count.
func readTopicWhole(ctx context.Context, adm *kadm.Client, seeds []string, topic string, partitions int) (map[string]int, error) {
	for ctx.Err() == nil {
		lso, err := adm.ListCommittedOffsets(ctx, topic)
		hwm, err2 := adm.ListEndOffsets(ctx, topic)
		if err == nil && err2 == nil && lso.Error() == nil && hwm.Error() == nil {
			stable, n := true, 0
			lso.Each(func(l kadm.ListedOffset) {
				h, _ := hwm.Lookup(topic, l.Partition)
				stable = stable && l.Offset == h.Offset
				n++
			})
			if stable && n == partitions {
				break
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("topic %s never became stable (LSO = high watermark on every partition)", topic)
	}
	cl, err := kgo.NewClient(append(clientOpts(seeds), kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		return nil, fmt.Errorf("final read_committed read of %s: %w", topic, err)
	}
	defer cl.Close()
	// Every transaction ends in a marker the client does not return, so
	// the read cannot stop at the end offsets: the topic is stable and no
	// producer is left, so a few quiet seconds mean it read everything.
	final := map[string]int{}
	quietSince := time.Now()
	for time.Since(quietSince) < 3*time.Second && ctx.Err() == nil {
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		fs := cl.PollFetches(pctx)
		pcancel()
		fs.EachRecord(func(r *kgo.Record) {
			final[string(r.Value)]++
			quietSince = time.Now()
		})
	}
	if ctx.Err() != nil {
		return final, fmt.Errorf("final read_committed read of %s did not finish in time", topic)
	}
	return final, nil
}

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

// The exactly-once pipeline: an idempotent producer writes "E<seq>" to an
// input topic, and a consume-transform-produce stage (franz-go's
// GroupTransactSession: the consumed offsets are committed inside the
// transaction that writes the output, KIP-447) copies every record to the
// same partition of an output topic. Two member slots each run one session
// at a time, replaced every 15-40 s (seeded) or after an error; a slot's
// sessions share a transactional id, so a new one fences the old. After
// the faults the input producer stops, the pipeline runs until its group's
// committed offsets reach the input's end, and the output is read whole
// under read_committed: every input record must be there exactly once.
const (
	eosPartitions = 3
	eosRate       = 30 // input records/s
	eosMembers    = 2
	eosInputIDs   = "E"
)

type eosWorkload struct {
	in, out string
	group   string
	ids     []string // the member slots' transactional ids
	seeds   []string
	rng     *rand.Rand
	rngMu   sync.Mutex

	stopInput chan struct{}
	inputDone sync.WaitGroup
	stop      chan struct{}
	wg        sync.WaitGroup

	mu        sync.Mutex
	sent      map[string]string // input value → "ok", "fail" or "info" (unknown)
	input     map[string]int    // the final read of the input topic
	output    map[string]int    // the final read_committed read of the output topic
	caughtUp  bool
	errs      []string
	committed atomic.Int64 // transactions committed
	aborted   atomic.Int64 // transactions aborted (a rebalance, a failed offset commit)
	unknown   atomic.Int64 // transactions whose end failed: committed or aborted
	sessions  atomic.Int64
	replaced  atomic.Int64 // sessions replaced after an error
}

func startEOSWorkload(ctx context.Context, adm *kadm.Client, base string, brokers int, seeds []string, seed uint64) (*eosWorkload, error) {
	w := &eosWorkload{in: base + "-eos-in", out: base + "-eos-out", group: fmt.Sprintf("chaos-eos-%d", seed), seeds: seeds,
		rng: rand.New(rand.NewPCG(seed, 447)), stopInput: make(chan struct{}), stop: make(chan struct{}), sent: map[string]string{}}
	for i := 1; i <= eosMembers; i++ {
		w.ids = append(w.ids, fmt.Sprintf("chaos-eos-%d-m%d", seed, i))
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for _, t := range []string{w.in, w.out} {
		resp, err := adm.CreateTopic(cctx, eosPartitions, int16(brokers), nil, t)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return nil, fmt.Errorf("create topic %s: %w", t, err)
		}
	}
	w.inputDone.Add(1)
	go func() { defer w.inputDone.Done(); w.produceInput() }()
	for i := range eosMembers {
		w.wg.Add(1)
		go func() { defer w.wg.Done(); w.member(i) }()
	}
	return w, nil
}

func (w *eosWorkload) fail(format string, args ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.errs = append(w.errs, fmt.Sprintf(format, args...))
}

func closed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// produceInput writes E<seq> round-robin over the input partitions at
// eosRate until stopInput, then flushes.
func (w *eosWorkload) produceInput() {
	cl, err := kgo.NewClient(append(clientOpts(w.seeds), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordDeliveryTimeout(45*time.Second), kgo.ProducerBatchCompression(kgo.NoCompression()))...)
	if err != nil {
		w.fail("pipeline input producer: %v", err)
		return
	}
	defer cl.Close()
	start := time.Now()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var seq int64
	for !closed(w.stopInput) {
		<-tick.C
		for due := int64(time.Since(start).Seconds() * eosRate); seq < due; seq++ {
			v := fmt.Sprintf("%s%d", eosInputIDs, seq)
			w.mu.Lock()
			w.sent[v] = "invoke"
			w.mu.Unlock()
			cl.Produce(context.Background(), &kgo.Record{Topic: w.in, Partition: int32(seq % eosPartitions), Value: []byte(v)}, func(_ *kgo.Record, err error) {
				out := "ok"
				switch {
				case err == nil:
				case definiteFailure(err):
					out = "fail"
				default:
					out = "info"
				}
				w.mu.Lock()
				w.sent[v] = out
				w.mu.Unlock()
			})
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_ = cl.Flush(ctx) // what is left is failed by Close: unknown outcome ("info")
}

// member runs slot i's sessions until stop.
func (w *eosWorkload) member(i int) {
	for !closed(w.stop) {
		w.rngMu.Lock()
		life := 15*time.Second + time.Duration(w.rng.Int64N(int64(25*time.Second)))
		w.rngMu.Unlock()
		if err := w.session(w.ids[i], life); err != nil {
			w.replaced.Add(1)
			time.Sleep(500 * time.Millisecond)
		}
	}
}

// session is one GroupTransactSession: poll, copy, commit with the
// offsets, until its life is over, stop, or an error (returned: the
// session cannot go on).
func (w *eosWorkload) session(id string, life time.Duration) error {
	s, err := kgo.NewGroupTransactSession(append(clientOpts(w.seeds),
		kgo.TransactionalID(id), kgo.TransactionTimeout(20*time.Second), kgo.RecordDeliveryTimeout(30*time.Second),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.ConsumerGroup(w.group), kgo.ConsumeTopics(w.in), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(time.Second),
		kgo.SessionTimeout(20*time.Second), kgo.RebalanceTimeout(30*time.Second))...)
	if err != nil {
		w.fail("pipeline session: %v", err)
		return err
	}
	w.sessions.Add(1)
	defer s.Close()
	until := time.Now().Add(life)
	for time.Now().Before(until) && !closed(w.stop) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		fs := s.PollFetches(ctx)
		cancel()
		var recs []*kgo.Record
		fs.EachRecord(func(r *kgo.Record) { recs = append(recs, r) })
		if len(recs) == 0 {
			continue
		}
		if err := s.Begin(); err != nil {
			return err
		}
		ctx, cancel = context.WithTimeout(context.Background(), 40*time.Second)
		for _, r := range recs {
			s.Produce(ctx, &kgo.Record{Topic: w.out, Partition: r.Partition, Value: r.Value}, nil)
		}
		ok, err := s.End(ctx, kgo.TryCommit)
		cancel()
		if err != nil {
			w.unknown.Add(1)
			return err
		}
		if ok {
			w.committed.Add(1)
		} else {
			w.aborted.Add(1)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil
}

// finish stops the input, lets the pipeline catch up with it, stops the
// pipeline and reads both topics whole.
func (w *eosWorkload) finish(adm *kadm.Client, timeout time.Duration) {
	close(w.stopInput)
	w.inputDone.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	w.caughtUp = w.waitCaughtUp(ctx, adm)
	if !w.caughtUp {
		w.fail("the exactly-once pipeline's committed offsets did not reach the input's end within %v", timeout)
	}
	close(w.stop)
	w.wg.Wait()
	// A slot whose last session failed in EndTxn may have left a
	// transaction open: its id's next producer ends it (InitProducerId).
	for _, id := range w.ids {
		if cl, err := kgo.NewClient(append(clientOpts(w.seeds), kgo.TransactionalID(id))...); err == nil {
			_ = cl.BeginTransaction()
			_ = cl.EndTransaction(ctx, kgo.TryAbort)
			cl.Close()
		}
	}
	in, err := readTopicWhole(ctx, adm, w.seeds, w.in, eosPartitions)
	if err != nil {
		w.fail("pipeline input: %v", err)
	}
	out, err := readTopicWhole(ctx, adm, w.seeds, w.out, eosPartitions)
	if err != nil {
		w.fail("pipeline output: %v", err)
	}
	w.mu.Lock()
	w.input, w.output = in, out
	w.mu.Unlock()
}

// waitCaughtUp waits until the group's committed offsets equal the input
// topic's end offsets on every partition.
func (w *eosWorkload) waitCaughtUp(ctx context.Context, adm *kadm.Client) bool {
	for ctx.Err() == nil {
		end, err := adm.ListEndOffsets(ctx, w.in)
		if err == nil && end.Error() == nil {
			committed, err := adm.FetchOffsets(ctx, w.group)
			if err == nil && committed.Error() == nil {
				done := 0
				end.Each(func(e kadm.ListedOffset) {
					if c, ok := committed.Lookup(w.in, e.Partition); ok && c.At == e.Offset {
						done++
					}
				})
				if done == eosPartitions {
					return true
				}
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	return false
}

package bench

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// MaxBufferedRecords is how many records a producer holds unacknowledged
// (franz-go's MaxBufferedRecords): an idempotent or plain producer has up
// to this many in flight, a transactional one at most a transaction's.
const MaxBufferedRecords = 10000

// DefaultRecordsPerTxn is --records-per-txn's default: the transaction
// size issue 24's throughput goal is stated at.
const DefaultRecordsPerTxn = 500

func (o Options) checkTxn() error {
	if !o.Transactional {
		return nil
	}
	switch {
	case o.RecordsPerTxn < 1:
		return fmt.Errorf("--records-per-txn %d: use at least 1", o.RecordsPerTxn)
	case o.Rate > 0:
		return errors.New("--rate with --transactional: a transaction's records are committed together, so per-record pacing does not apply; drop --rate")
	case o.Acks != "all" && o.Acks != "-1":
		return fmt.Errorf("--acks %s with --transactional: transactions need acks=all", o.Acks)
	}
	return nil
}

// isolation is the consumers' isolation level: a transactional run is
// read as an exactly-once consumer would, so end-to-end latency includes
// waiting for the commit.
func (o Options) isolation() kgo.Opt {
	if o.Transactional {
		return kgo.FetchIsolationLevel(kgo.ReadCommitted())
	}
	return kgo.FetchIsolationLevel(kgo.ReadUncommitted())
}

// produceTxn runs each producer as a loop of transactions of
// RecordsPerTxn records: begin, produce them all asynchronously, flush,
// commit. A record counts as acknowledged once its transaction committed,
// and its latency runs from its send to that commit.
func produceTxn(ctx context.Context, o Options, copts []kgo.Opt, res *Result) error {
	payload := make([]byte, o.RecordSize)
	_, _ = rand.Read(payload)
	var sent, acked, errs, txns atomic.Int64
	var mu sync.Mutex
	var lats []time.Duration
	var firstErr error
	start := time.Now()
	deadline := start.Add(o.Duration)
	stopProgress := progress(o.Progress, "produce (transactional)", func() (int64, int64) { return acked.Load(), errs.Load() }, o.RecordSize)
	// A run's transactional ids are its own, so a concurrent or killed
	// earlier run is not fenced by (and does not fence) this one.
	run := fmt.Sprintf("longboat-bench-%d-%d", os.Getpid(), start.UnixNano())
	hook := newStepHook()
	var recordsTime, endTime atomic.Int64
	var wg sync.WaitGroup
	for p := 0; p < max(o.Producers, 1); p++ {
		cl, err := kgo.NewClient(append(copts, kgo.TransactionalID(fmt.Sprintf("%s-%d", run, p)), kgo.WithHooks(hook))...)
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer cl.Close()
			local, err := txnLoop(ctx, o, cl, payload, deadline, &sent, &acked, &errs, &txns, &recordsTime, &endTime)
			mu.Lock()
			defer mu.Unlock()
			lats = append(lats, local...)
			if err != nil && firstErr == nil {
				firstErr = err
			}
		}()
	}
	wg.Wait()
	stopProgress()
	if firstErr != nil && ctx.Err() == nil {
		return firstErr
	}
	res.Seconds = time.Since(start).Seconds()
	res.Records, res.Errors, res.Transactions = acked.Load(), errs.Load(), txns.Load()
	res.RecordsPerSec = float64(res.Records) / res.Seconds
	res.MBPerSec = res.RecordsPerSec * float64(o.RecordSize) / 1e6
	res.LatencyMs = summarize(lats)
	res.TxnSteps = hook.steps(res.Transactions, time.Duration(recordsTime.Load()), time.Duration(endTime.Load()))
	return nil
}

// txnLoop is one producer's transactions until the record count or the
// duration is used up. A transaction with a failed record is aborted and
// its records counted as errors; a failed commit ends the loop (the
// producer may be fenced), returning the error. recordsTime and endTime
// add up, over committed transactions, the time from begin to flushed and
// the EndTransaction calls (nanoseconds).
func txnLoop(ctx context.Context, o Options, cl *kgo.Client, payload []byte, deadline time.Time,
	sent, acked, errs, txns, recordsTime, endTime *atomic.Int64) ([]time.Duration, error) {
	var lats []time.Duration
	sentAt := make([]time.Time, 0, o.RecordsPerTxn)
	for ctx.Err() == nil {
		if o.Records == 0 && time.Now().After(deadline) {
			break
		}
		began := time.Now()
		if err := cl.BeginTransaction(); err != nil {
			return lats, fmt.Errorf("begin transaction: %w", err)
		}
		sentAt = sentAt[:0]
		var failed atomic.Int64
		for len(sentAt) < o.RecordsPerTxn && ctx.Err() == nil {
			if o.Records > 0 && sent.Add(1) > int64(o.Records) {
				break
			}
			t0 := time.Now()
			sentAt = append(sentAt, t0)
			cl.Produce(ctx, &kgo.Record{Topic: o.Topic, Value: payload, Timestamp: t0}, func(_ *kgo.Record, err error) {
				if err != nil {
					failed.Add(1)
				}
			})
		}
		if len(sentAt) == 0 {
			_ = cl.EndTransaction(ctx, kgo.TryAbort)
			break
		}
		flushErr := cl.Flush(ctx)
		flushed := time.Now()
		commit := kgo.TryCommit
		if flushErr != nil || failed.Load() > 0 {
			commit = kgo.TryAbort
		}
		if err := cl.EndTransaction(ctx, commit); err != nil {
			errs.Add(int64(len(sentAt)))
			return lats, fmt.Errorf("end transaction: %w", err)
		}
		if commit == kgo.TryAbort {
			errs.Add(int64(len(sentAt)))
			continue
		}
		done := time.Now()
		recordsTime.Add(int64(flushed.Sub(began)))
		endTime.Add(int64(done.Sub(flushed)))
		for _, t0 := range sentAt {
			lats = append(lats, done.Sub(t0))
		}
		acked.Add(int64(len(sentAt)))
		txns.Add(1)
	}
	return lats, nil
}

// Ratio is r's throughput over base's (0 when base measured nothing).
func Ratio(r, base *Result) float64 {
	if base.MBPerSec <= 0 {
		return 0
	}
	return r.MBPerSec / base.MBPerSec
}

// Mean is a result whose throughput is the mean of a's and b's: the
// baseline of a run measured between them.
func Mean(a, b *Result) *Result {
	return &Result{RecordsPerSec: (a.RecordsPerSec + b.RecordsPerSec) / 2, MBPerSec: (a.MBPerSec + b.MBPerSec) / 2}
}

// Validate checks the options as Run does, before anything connects.
func (o Options) Validate() error {
	_, err := o.clientOpts()
	return err
}

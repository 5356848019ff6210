package integration

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/longboat/longboat/internal/config"
	"github.com/longboat/longboat/internal/partition"
	"github.com/longboat/longboat/internal/testcluster"
	"github.com/longboat/longboat/internal/testutil"
)

// keyedOp is one produced record of a compacted topic: a value, or a
// tombstone when tomb.
type keyedOp struct {
	key, value string
	tomb       bool
}

// compactedView checks what a reader from the start of a compacted
// partition gets against what was acknowledged: each record is the one
// acknowledged at its offset, offsets go up, and the last record of each
// key is the key's last acknowledged one (or nothing, for a tombstone the
// cleaner removed after delete.retention.ms). It returns how many records
// the reader got.
func compactedView(acked map[int64]keyedOp, last map[string]int64, got []kgoRecord) error {
	seenLast := map[string]int64{}
	prev := int64(-1)
	for _, r := range got {
		if r.offset <= prev {
			return fmt.Errorf("offset %d after %d", r.offset, prev)
		}
		prev = r.offset
		want, ok := acked[r.offset]
		if !ok {
			return fmt.Errorf("offset %d holds %+v, which was never acknowledged there", r.offset, r.op)
		}
		if want != r.op {
			return fmt.Errorf("offset %d holds %+v, acknowledged %+v", r.offset, r.op, want)
		}
		seenLast[r.op.key] = r.offset
	}
	for key, off := range last {
		got, ok := seenLast[key]
		switch {
		case !ok && !acked[off].tomb:
			return fmt.Errorf("key %s: nothing read, its last value is at %d", key, off)
		case ok && got != off:
			return fmt.Errorf("key %s: last read at %d, last acknowledged at %d", key, got, off)
		}
	}
	return nil
}

type kgoRecord struct {
	offset int64
	op     keyedOp
}

// TestCompaction produces many versions per key and tombstones to a
// compacted topic while a consumer reads it, lets the cleaners of all
// three replicas compact it (small segments, 200 ms backoff), and checks
// what consumers from the start and every replica, including one that was
// down and caught up from a snapshot of a cleaned log, expose.
func TestCompaction(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	t.Parallel()
	c := testcluster.Start(t, testcluster.Options{Nodes: 3, Adjust: func(cfg *config.Config) {
		cfg.MinSegmentBytes = 4096
		cfg.CleanerBackoff = 200 * time.Millisecond
		cfg.SnapshotEntries = 20
		cfg.CompactionOverheadEntries = 5
	}})
	seeds := c.Addrs()
	const topic = "compacted"
	adm := kadm.NewClient(newClient(t, seeds))
	createWithConfigs(t, adm, topic, map[string]*string{
		"cleanup.policy": str("compact"), "segment.bytes": str("4096"),
		"min.cleanable.dirty.ratio": str("0.1"), "delete.retention.ms": str("2000"),
	})
	cl := newClient(t, seeds, kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.DefaultProduceTopic(topic))

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// A record without a key is refused, as Kafka's LogValidator does.
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("no key")}).FirstErr(); !errors.Is(err, kerr.InvalidRecord) {
		t.Fatalf("keyless record: %v, want INVALID_RECORD", err)
	}

	var mu sync.Mutex
	acked := map[int64]keyedOp{}
	last := map[string]int64{}
	produce := func(worker, keys, versions int) error {
		for v := 0; v < versions; v++ {
			var rs []*kgo.Record
			for k := worker; k < keys; k += 2 {
				key := fmt.Sprintf("key-%03d", k)
				r := &kgo.Record{Key: []byte(key), Value: fmt.Appendf(nil, "%s=v%d;%0100d", key, v, 0)}
				// Every fifth key is deleted now and then, and for good at the end.
				if k%5 == 0 && (v%7 == 3 || v == versions-1) {
					r.Value = nil
				}
				rs = append(rs, r)
			}
			res := cl.ProduceSync(ctx, rs...)
			if err := res.FirstErr(); err != nil {
				return err
			}
			mu.Lock()
			for _, r := range res {
				op := keyedOp{key: string(r.Record.Key), value: string(r.Record.Value), tomb: r.Record.Value == nil}
				acked[r.Record.Offset] = op
				if prev, ok := last[op.key]; !ok || r.Record.Offset > prev {
					last[op.key] = r.Record.Offset
				}
			}
			mu.Unlock()
		}
		return nil
	}
	// A consumer reads while the producers write and the cleaners work:
	// offsets only go up and never disagree with what was acknowledged.
	readerDone := make(chan error, 1)
	readerCtx, stopReader := context.WithCancel(ctx)
	go func() { readerDone <- readConcurrently(readerCtx, seeds, topic, &mu, acked) }()
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- produce(w, 60, 40)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	stopReader()
	if err := <-readerDone; err != nil {
		t.Fatalf("concurrent reader: %v", err)
	}
	produced := len(acked)

	// A consumer from the beginning, once the cleaners have done their work.
	testutil.Eventually(t, 30*time.Second, func() error {
		got, err := consumeKeyed(ctx, seeds, topic)
		if err != nil {
			return err
		}
		if err := compactedView(acked, last, got); err != nil {
			t.Fatalf("consumer from the start: %v", err)
		}
		return atMost("records read from the start", len(got), produced/4)
	})

	// A broker that was down while the log was written and cleaned comes
	// back through a snapshot of a cleaned log and exposes the same view.
	c.StopBroker(2)
	if err := produce(0, 60, 30); err != nil {
		t.Fatal(err)
	}
	c.StartBroker(2)
	testutil.Eventually(t, 45*time.Second, func() error {
		reps := replicas(t, c, topic)
		if len(reps) != 3 {
			return fmt.Errorf("%d replicas", len(reps))
		}
		for i, p := range reps {
			got, err := replicaKeyed(p)
			if err != nil {
				return fmt.Errorf("broker %d: %w", i, err)
			}
			if err := compactedView(acked, last, got); err != nil {
				return fmt.Errorf("broker %d: %w", i, err)
			}
			if err := atMost(fmt.Sprintf("broker %d records", i), len(got), len(acked)/3); err != nil {
				return err
			}
		}
		return nil
	})
}

func atMost(what string, got, limit int) error {
	if got > limit {
		return fmt.Errorf("%s: %d, want at most %d", what, got, limit)
	}
	return nil
}

// readConcurrently consumes from the start until ctx ends, checking every
// record against what was acknowledged at its offset by then (a record
// may be read before its producer saw the acknowledgement).
func readConcurrently(ctx context.Context, seeds []string, topic string, mu *sync.Mutex, acked map[int64]keyedOp) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		return err
	}
	defer cl.Close()
	prev := int64(-1)
	var pending []*kgo.Record
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			break
		}
		for _, e := range fs.Errors() {
			return fmt.Errorf("fetch: %w", e.Err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset <= prev && err == nil {
				err = fmt.Errorf("offset %d after %d", r.Offset, prev)
			}
			prev = r.Offset
			pending = append(pending, r)
		})
		if err != nil {
			return err
		}
		mu.Lock()
		kept := pending[:0]
		for _, r := range pending {
			want, ok := acked[r.Offset]
			if !ok {
				kept = append(kept, r)
				continue
			}
			if want.key != string(r.Key) || want.value != string(r.Value) || want.tomb != (r.Value == nil) {
				err = fmt.Errorf("offset %d: read %s=%q, acknowledged %+v", r.Offset, r.Key, r.Value, want)
			}
		}
		pending = kept
		mu.Unlock()
		if err != nil {
			return err
		}
	}
	return nil
}

// consumeKeyed reads topic/0 from its start to its end with franz-go
// (read_committed stops at the last stable offset, past quiet).
func consumeKeyed(ctx context.Context, seeds []string, topic string, opts ...kgo.Opt) ([]kgoRecord, error) {
	adm := kadm.NewClient(mustClient(seeds))
	defer adm.Close()
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	end, _ := ends.Lookup(topic, 0)
	cl := mustClient(seeds, append([]kgo.Opt{kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}})}, opts...)...)
	defer cl.Close()
	var out []kgoRecord
	idle := 0 // polls in a row that returned nothing
	for {
		if len(out) > 0 && out[len(out)-1].offset >= end.Offset-1 {
			return out, nil
		}
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		fs := cl.PollFetches(pctx)
		timedOut := errors.Is(pctx.Err(), context.DeadlineExceeded)
		cancel()
		if timedOut && ctx.Err() == nil {
			// Nothing more: the last offsets may all have been cleaned
			// (or be a transaction marker, or above the last stable
			// offset). A client slow to start on a loaded machine is
			// given longer before an empty read counts as the end.
			idle++
			if idle >= 3 && len(out) > 0 || idle >= 10 {
				return out, nil
			}
			continue
		}
		idle = 0
		for _, e := range fs.Errors() {
			return nil, fmt.Errorf("fetch: %w", e.Err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			out = append(out, kgoRecord{r.Offset, keyedOp{key: string(r.Key), value: string(r.Value), tomb: r.Value == nil}})
		})
	}
}

func mustClient(seeds []string, opts ...kgo.Opt) *kgo.Client {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(seeds...)}, opts...)...)
	if err != nil {
		panic(err)
	}
	return cl
}

// replicaKeyed reads a replica's records directly, from its log start
// offset to its high watermark (markers left out).
func replicaKeyed(p *partition.StateMachine) ([]kgoRecord, error) {
	rep, err := readTxnReplica(p)
	return rep.records, err
}

package integration

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/config"
	"github.com/longboat/longboat/internal/partition"
	"github.com/longboat/longboat/internal/recordbatch"
	"github.com/longboat/longboat/internal/testcluster"
	"github.com/longboat/longboat/internal/testutil"
)

// txnReplica is what one replica holds: its records by offset, and its
// markers (ABORT or COMMIT) with records.
type txnReplica struct {
	records []kgoRecord
	markers map[int64]int16
}

func readTxnReplica(p *partition.StateMachine) (txnReplica, error) {
	out := txnReplica{markers: map[int64]int16{}}
	for off := p.LogStartOffset(); off < p.HighWatermark(); {
		data, err := p.Read(off, 1<<20)
		if err != nil {
			return out, err
		}
		if len(data) == 0 {
			break
		}
		for h, b := range recordbatch.All(data) {
			off = h.LastOffset() + 1
			if h.Control() {
				if ctype, _, err := recordbatch.ParseMarker(b); err == nil {
					out.markers[h.BaseOffset] = ctype
				}
				continue
			}
			err := recordbatch.Records(b[recordbatch.HeaderSize:], h.Records, func(r recordbatch.Record) bool {
				var rec kmsg.Record
				if rec.ReadFrom(r.Raw) == nil {
					out.records = append(out.records, kgoRecord{h.BaseOffset + r.OffsetDelta, keyedOp{key: string(rec.Key), value: string(rec.Value), tomb: rec.Value == nil}})
				}
				return true
			})
			if err != nil {
				return out, err
			}
		}
	}
	return out, nil
}

// TestCompactionTransactions writes committed and aborted transactions
// (franz-go's transactional producer) and plain records over the same
// keys of a compacted topic, leaves one transaction open, and checks on
// every replica and through read_committed and read_uncommitted consumers:
// the aborted records are removed and hide nothing; nothing from the open
// transaction on is cleaned; both consumers read the same compacted
// committed view below the last stable offset; once the last transaction
// commits its records win; and markers of transactions without records
// go after delete.retention.ms, with the aborted-transaction index
// emptied alongside.
func TestCompactionTransactions(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	t.Parallel() // nothing in it is timed
	c := testcluster.Start(t, testcluster.Options{Nodes: 3, Adjust: func(cfg *config.Config) {
		cfg.MinSegmentBytes = 4096
		cfg.CleanerBackoff = 200 * time.Millisecond
	}})
	seeds := c.Addrs()
	const topic = "compacted-txn"
	adm := kadm.NewClient(newClient(t, seeds))
	createWithConfigs(t, adm, topic, map[string]*string{
		"cleanup.policy": str("compact"), "segment.bytes": str("4096"),
		"min.cleanable.dirty.ratio": str("0.01"), "delete.retention.ms": str("2000"),
	})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	txp := newClient(t, seeds, kgo.TransactionalID("compacted-txn"), kgo.DefaultProduceTopic(topic),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.TransactionTimeout(3*time.Minute))
	plain := newClient(t, seeds, kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(kgo.NoCompression()))

	committed := map[int64]keyedOp{} // every committed or plain record
	aborted := map[int64]bool{}
	last := map[string]int64{} // last committed offset of each key
	note := func(res kgo.ProduceResults, commit bool) {
		for _, r := range res {
			op := keyedOp{key: string(r.Record.Key), value: string(r.Record.Value)}
			if !commit {
				aborted[r.Record.Offset] = true
				continue
			}
			committed[r.Record.Offset] = op
			if prev, ok := last[op.key]; !ok || r.Record.Offset > prev {
				last[op.key] = r.Record.Offset
			}
		}
	}
	records := func(keys int, format string, args ...any) []*kgo.Record {
		var rs []*kgo.Record
		for k := 0; k < keys; k++ {
			rs = append(rs, &kgo.Record{Key: fmt.Appendf(nil, "k%d", k), Value: fmt.Appendf(nil, "k%d=%s;%0200d", k, fmt.Sprintf(format, args...), 0)})
		}
		return rs
	}
	txn := func(rs []*kgo.Record, commit bool) kgo.ProduceResults {
		t.Helper()
		if err := txp.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		res := txp.ProduceSync(ctx, rs...)
		if err := res.FirstErr(); err != nil {
			t.Fatal(err)
		}
		end := kgo.TryAbort
		if commit {
			end = kgo.TryCommit
		}
		if err := txp.EndTransaction(ctx, end); err != nil {
			t.Fatal(err)
		}
		return res
	}
	for round := 0; round < 12; round++ {
		commit := round%3 != 1
		note(txn(records(10, "txn%d", round), commit), commit)
		res := plain.ProduceSync(ctx, records(4, "plain%d", round)...)
		if err := res.FirstErr(); err != nil {
			t.Fatal(err)
		}
		note(res, true)
	}
	// An aborted transaction writes keys no committed record has: the
	// cleaner must not leave them nor let them hide anything.
	note(txn([]*kgo.Record{{Key: []byte("only-aborted"), Value: []byte("x")}}, false), false)
	// Big records roll a segment: the open transaction starts past it.
	for i := 0; i < 5; i++ {
		res := plain.ProduceSync(ctx, &kgo.Record{Key: []byte("pad"), Value: fmt.Appendf(nil, "pad%d;%01000d", i, 0)})
		if err := res.FirstErr(); err != nil {
			t.Fatal(err)
		}
		note(res, true)
	}

	// A transaction left open: it and everything after it stay as written.
	if err := txp.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	openRes := txp.ProduceSync(ctx, records(10, "open")...)
	if err := openRes.FirstErr(); err != nil {
		t.Fatal(err)
	}
	lso := openRes[0].Record.Offset
	after := plain.ProduceSync(ctx, records(4, "after-open")...)
	for round := 0; round < 8; round++ {
		after = append(after, plain.ProduceSync(ctx, records(4, "after-open%d", round)...)...)
	}
	if err := after.FirstErr(); err != nil {
		t.Fatal(err)
	}
	var above []int64 // every offset from the open transaction on
	for _, r := range append(openRes, after...) {
		above = append(above, r.Record.Offset)
	}
	slices.Sort(above)
	// Below the last stable offset, the committed view.
	wantBelow := func(got []kgoRecord) error {
		var below []kgoRecord
		for _, r := range got {
			if r.offset < lso {
				below = append(below, r)
			}
		}
		lastBelow := map[string]int64{}
		for k, off := range last {
			if off < lso {
				lastBelow[k] = off
			}
		}
		if err := compactedView(committed, lastBelow, below); err != nil {
			return err
		}
		// k0..k9 and pad, plus what shares a segment with the open
		// transaction's start (up to four pads).
		if err := atMost("records below the last stable offset", len(below), 11+4); err != nil {
			return fmt.Errorf("%w: %v", err, below)
		}
		return nil
	}

	testutil.Eventually(t, 60*time.Second, func() error {
		reps := replicas(t, c, topic)
		if len(reps) != 3 {
			return fmt.Errorf("%d replicas", len(reps))
		}
		for i, p := range reps {
			rep, err := readTxnReplica(p)
			if err != nil {
				return err
			}
			for _, r := range rep.records {
				if aborted[r.offset] {
					return fmt.Errorf("broker %d still holds aborted record at %d", i, r.offset)
				}
			}
			if err := wantBelow(rep.records); err != nil {
				return fmt.Errorf("broker %d: %w", i, err)
			}
			var got []int64
			for _, r := range rep.records {
				if r.offset >= lso {
					got = append(got, r.offset)
				}
			}
			if len(got) < len(above) && slices.Equal(got, above[:len(got)]) {
				return fmt.Errorf("broker %d has applied up to offset %d of %d", i, p.HighWatermark(), above[len(above)-1])
			}
			if !slices.Equal(got, above) {
				t.Fatalf("broker %d cleaned at or past the open transaction (offset %d): holds %v, want %v", i, lso, got, above)
			}
		}
		return nil
	})
	// The cleaner may still pass between the two reads (dropping a value a
	// later one supersedes): each read must be a compacted committed view
	// and the two must agree, once a pass no longer lands between them.
	testutil.Eventually(t, 60*time.Second, func() error {
		rc, err := consumeKeyed(ctx, seeds, topic, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
		if err != nil {
			return err
		}
		ru, err := consumeKeyed(ctx, seeds, topic)
		if err != nil {
			return err
		}
		if len(rc) > 0 && rc[len(rc)-1].offset >= lso {
			t.Fatalf("read_committed read offset %d, past the last stable offset %d", rc[len(rc)-1].offset, lso)
		}
		if err := wantBelow(rc); err != nil {
			return fmt.Errorf("read_committed: %w", err)
		}
		if err := wantBelow(ru); err != nil {
			return fmt.Errorf("read_uncommitted: %w", err)
		}
		if len(ru) < len(rc) || !slices.Equal(rc, ru[:len(rc)]) {
			return fmt.Errorf("below the last stable offset read_committed read %v\nread_uncommitted %v", rc, ru)
		}
		return nil
	})

	// The open transaction commits: its records are the keys' last values.
	if err := txp.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	note(openRes, true)
	note(after, true)
	for round := 0; round < 6; round++ { // seal the segment holding the commit
		res := plain.ProduceSync(ctx, &kgo.Record{Key: []byte("seal"), Value: fmt.Appendf(nil, "seal%d;%01000d", round, 0)})
		if err := res.FirstErr(); err != nil {
			t.Fatal(err)
		}
		note(res, true)
	}
	testutil.Eventually(t, 60*time.Second, func() error {
		var views [][]kgoRecord
		for i, p := range replicas(t, c, topic) {
			rep, err := readTxnReplica(p)
			if err != nil {
				return err
			}
			// Only the log's active tail may hold more than the last value
			// of each key.
			var cleanPart []kgoRecord
			for _, r := range rep.records {
				if r.offset < last["seal"] {
					cleanPart = append(cleanPart, r)
				}
			}
			if err := compactedView(committed, map[string]int64{}, rep.records); err != nil {
				return fmt.Errorf("broker %d: %w", i, err)
			}
			// k0..k9, pad and the seals sharing the active segment.
			if err := atMost(fmt.Sprintf("broker %d records before the last seal", i), len(cleanPart), 11+5); err != nil {
				return err
			}
			var aborts []int64
			for off, ctype := range rep.markers {
				if ctype == recordbatch.ControlAbort {
					aborts = append(aborts, off)
				}
			}
			if len(aborts) > 0 {
				return fmt.Errorf("broker %d still has ABORT markers at %v", i, aborts)
			}
			if ab := p.AbortedTransactions(0, p.HighWatermark()); len(ab) != 0 {
				return fmt.Errorf("broker %d: aborted-transaction index %+v with no aborted record left", i, ab)
			}
			views = append(views, rep.records)
		}
		for i := 1; i < len(views); i++ {
			if !slices.Equal(views[i], views[0]) {
				return fmt.Errorf("replicas differ: %v\nand %v", views[0], views[i])
			}
		}
		return nil
	})
	for _, opts := range [][]kgo.Opt{{kgo.FetchIsolationLevel(kgo.ReadCommitted())}, nil} {
		got, err := consumeKeyed(ctx, seeds, topic, opts...)
		if err != nil {
			t.Fatal(err)
		}
		if err := compactedView(committed, last, got); err != nil {
			t.Fatalf("consumer (%v) after the commit: %v", opts, err)
		}
		for _, r := range got {
			if strings.HasPrefix(r.op.key, "k") && r.offset < lso {
				t.Fatalf("record %+v at %d: older than the committed open transaction's", r.op, r.offset)
			}
		}
	}
}

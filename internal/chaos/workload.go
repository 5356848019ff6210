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
	"github.com/twmb/franz-go/pkg/kmsg"
)

// clientOpts are shared by every workload client: quick metadata refresh
// and short retry backoff so a leader change is found at once.
func clientOpts(seeds []string) []kgo.Opt {
	return []kgo.Opt{
		kgo.SeedBrokers(seeds...),
		kgo.MetadataMinAge(250 * time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }),
		kgo.DialTimeout(2 * time.Second),
		kgo.RequestTimeoutOverhead(5 * time.Second),
	}
}

// counters are progress figures shown while the run goes on.
type counters struct {
	invoked, acked, failed, unknown, polled, commits atomic.Int64
}

// definiteFailure tells whether a produce error means the record was
// certainly not written: the broker rejected it for what it is. Timeouts,
// network errors and retriable errors leave the outcome unknown.
func definiteFailure(err error) bool {
	var ke *kerr.Error
	if !errors.As(err, &ke) {
		return false
	}
	switch ke {
	case kerr.MessageTooLarge, kerr.InvalidRecord, kerr.CorruptMessage, kerr.RecordListTooLarge,
		kerr.InvalidTopicException, kerr.TopicAuthorizationFailed, kerr.InvalidRequiredAcks:
		return true
	}
	return false
}

// runProducer sends unique values "P<partition>:<name>:<seq>" round-robin
// over the partitions at rate records/s until stop closes, then flushes.
func runProducer(h *History, c *counters, name, topic string, partitions int32, seeds []string, rate int, stop <-chan struct{}, flushTimeout time.Duration) error {
	opts := append(clientOpts(seeds),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.MaxBufferedRecords(4096),
		kgo.RecordDeliveryTimeout(45*time.Second),
		kgo.ProducerLinger(2*time.Millisecond),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("producer %s: %w", name, err)
	}
	defer cl.Close()
	var seq int64
	var wg sync.WaitGroup
	start := time.Now()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
loop:
	for {
		select {
		case <-stop:
			break loop
		case <-tick.C:
		}
		due := int64(time.Since(start).Seconds() * float64(rate))
		for ; seq < due; seq++ {
			p := int32(seq % int64(partitions))
			v := fmt.Sprintf("P%d:%s:%d", p, name, seq)
			op := h.Add(Op{Process: name, Type: "invoke", F: "send", ID: seq, Partition: p, Offset: -1, Value: v})
			c.invoked.Add(1)
			wg.Add(1)
			cl.Produce(context.Background(), &kgo.Record{Topic: topic, Partition: p, Value: []byte(v)}, func(r *kgo.Record, err error) {
				defer wg.Done()
				done := Op{Process: name, F: "send", ID: op.ID, Partition: p, Offset: -1, Value: v}
				switch {
				case err == nil:
					done.Type, done.Offset = "ok", r.Offset
					c.acked.Add(1)
				case definiteFailure(err):
					done.Type, done.Err = "fail", err.Error()
					c.failed.Add(1)
				default:
					done.Type, done.Err = "info", err.Error()
					c.unknown.Add(1)
				}
				h.Add(done)
			})
			select {
			case <-stop:
				break loop
			default:
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
	defer cancel()
	if err := cl.Flush(ctx); err != nil {
		// What is still buffered is failed by Close with an unknown outcome.
		h.Add(Op{Process: name, Type: "info", F: "flush", Err: err.Error()})
	}
	cl.Close()
	wg.Wait()
	return nil
}

// readOp records the records one partition returned, with their offsets.
func readOp(name, f string, broker int, ft kgo.FetchTopicPartition) Op {
	op := Op{Process: name, Type: "ok", F: f, Broker: broker, Partition: ft.Partition, Offset: ft.Records[0].Offset}
	for _, r := range ft.Records {
		op.Offsets = append(op.Offsets, r.Offset)
		op.Values = append(op.Values, string(r.Value))
	}
	return op
}

// pollOps turns a fetch into one poll op per partition.
func pollOps(h *History, c *counters, name string, fs kgo.Fetches, seen func(p int32, last int64)) {
	fs.EachPartition(func(ft kgo.FetchTopicPartition) {
		if ft.Err != nil {
			h.Add(Op{Process: name, Type: "info", F: "poll", Partition: ft.Partition, Offset: -1, Err: ft.Err.Error()})
		}
		if len(ft.Records) == 0 {
			return
		}
		h.Add(readOp(name, "poll", 0, ft))
		c.polled.Add(int64(len(ft.Records)))
		if seen != nil {
			seen(ft.Partition, ft.Records[len(ft.Records)-1].Offset)
		}
	})
}

// drainTarget is the end offset every consumer must reach before it stops;
// nil until producers have stopped.
type drainTarget struct {
	mu  sync.Mutex
	end map[int32]int64
}

func (d *drainTarget) set(end map[int32]int64) { d.mu.Lock(); d.end = end; d.mu.Unlock() }

// reached tells whether next (the next offset to read, per partition)
// covers the target.
func (d *drainTarget) reached(next map[int32]int64) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.end == nil {
		return false
	}
	for p, e := range d.end {
		if next[p] < e {
			return false
		}
	}
	return true
}

// runAssignConsumer reads every partition from the earliest offset by
// assignment until the drain target is reached or ctx ends.
func runAssignConsumer(ctx context.Context, h *History, c *counters, name, topic string, partitions int32, seeds []string, target *drainTarget) error {
	offs := map[int32]kgo.Offset{}
	for p := int32(0); p < partitions; p++ {
		offs[p] = kgo.NewOffset().AtStart()
	}
	cl, err := kgo.NewClient(append(clientOpts(seeds),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offs}),
		kgo.FetchMaxWait(500*time.Millisecond))...)
	if err != nil {
		return fmt.Errorf("consumer %s: %w", name, err)
	}
	defer cl.Close()
	next := map[int32]int64{}
	for !target.reached(next) {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		fs := cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		pollOps(h, c, name, fs, func(p int32, last int64) { next[p] = last + 1 })
	}
	return nil
}

// groupMember is one life of a consumer-group member: it joins, polls,
// commits what it polled after each poll, and leaves after its lifetime.
// opts choose its rebalance protocol (groupprotocols.go).
func groupMember(ctx context.Context, h *History, c *counters, name, group, topic string, seeds []string, lifetime time.Duration, target *drainTarget, next map[int32]int64, mu *sync.Mutex, opts ...kgo.Opt) error {
	cl, err := kgo.NewClient(append(append(clientOpts(seeds),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.SessionTimeout(10*time.Second),
		kgo.HeartbeatInterval(time.Second),
		kgo.FetchMaxWait(500*time.Millisecond),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			for _, p := range m[topic] {
				h.Add(Op{Process: name, Type: "ok", F: "assign", Partition: p, Offset: -1})
			}
		}),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			for _, p := range m[topic] {
				h.Add(Op{Process: name, Type: "ok", F: "revoke", Partition: p, Offset: -1})
			}
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			for _, p := range m[topic] {
				h.Add(Op{Process: name, Type: "ok", F: "revoke", Partition: p, Offset: -1, Detail: "lost"})
			}
		}),
	), opts...)...)
	if err != nil {
		return fmt.Errorf("group member %s: %w", name, err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = cl.LeaveGroupContext(ctx)
		cl.Close()
	}()
	end := time.Now().Add(lifetime)
	for time.Now().Before(end) && ctx.Err() == nil {
		mu.Lock()
		done := target.reached(next)
		mu.Unlock()
		if done {
			return nil
		}
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		fs := cl.PollFetches(pctx)
		cancel()
		commit := map[int32]int64{}
		pollOps(h, c, name, fs, func(p int32, last int64) { commit[p] = last + 1 })
		if len(commit) > 0 {
			commitOffsets(h, c, cl, name, topic, commit)
		}
		cl.AllowRebalance()
		mu.Lock()
		for p, o := range commit {
			next[p] = max(next[p], o)
		}
		mu.Unlock()
	}
	return nil
}

// commitOffsets commits synchronously and records each partition's result.
func commitOffsets(h *History, c *counters, cl *kgo.Client, name, topic string, offs map[int32]int64) {
	eo := map[int32]kgo.EpochOffset{}
	for p, o := range offs {
		eo[p] = kgo.EpochOffset{Epoch: -1, Offset: o}
		h.Add(Op{Process: name, Type: "invoke", F: "commit", Partition: p, Offset: o})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl.CommitOffsetsSync(ctx, map[string]map[int32]kgo.EpochOffset{topic: eo}, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		c.commits.Add(1)
		answered := map[int32]bool{}
		if err == nil {
			for _, t := range resp.Topics {
				for _, p := range t.Partitions {
					answered[p.Partition] = true
					op := Op{Process: name, F: "commit", Partition: p.Partition, Offset: offs[p.Partition], Type: "ok"}
					if e := kerr.ErrorForCode(p.ErrorCode); e != nil {
						op.Type, op.Err = "fail", e.Error()
					}
					h.Add(op)
				}
			}
		}
		for p, o := range offs {
			if !answered[p] {
				msg := "no answer"
				if err != nil {
					msg = err.Error()
				}
				h.Add(Op{Process: name, Type: "info", F: "commit", Partition: p, Offset: o, Err: msg})
			}
		}
	})
}

// runGroupConsumer keeps one member of the group alive, replacing it after
// a seeded random lifetime, until the drain target is reached.
func runGroupConsumer(ctx context.Context, h *History, c *counters, name, group, topic string, seeds []string, rng *rand.Rand, target *drainTarget, next map[int32]int64, mu *sync.Mutex, opts ...kgo.Opt) {
	for life := 1; ctx.Err() == nil; life++ {
		mu.Lock()
		done := target.reached(next)
		mu.Unlock()
		if done {
			return
		}
		lifetime := time.Duration(15+rng.IntN(25)) * time.Second
		member := fmt.Sprintf("%s.%d", name, life)
		if err := groupMember(ctx, h, c, member, group, topic, seeds, lifetime, target, next, mu, opts...); err != nil {
			h.Add(Op{Process: member, Type: "info", F: "member", Offset: -1, Err: err.Error()})
			time.Sleep(time.Second)
		}
	}
}

// watchCommitted records, as process name, the group's committed offsets
// every interval, as the brokers report them.
func watchCommitted(ctx context.Context, h *History, name string, seeds []string, group, topic string, every time.Duration) {
	cl, err := kgo.NewClient(clientOpts(seeds)...)
	if err != nil {
		return
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		resp, err := adm.FetchOffsetsForTopics(rctx, group, topic)
		cancel()
		if err != nil {
			continue
		}
		resp.Each(func(o kadm.OffsetResponse) {
			if o.Err == nil && o.At >= 0 && o.Topic == topic {
				h.Add(Op{Process: name, Type: "ok", F: "committed", Partition: o.Partition, Offset: o.At})
			}
		})
	}
}

// finalRead reads every partition from the earliest offset up to end
// through a client that knows only broker i.
func finalRead(h *History, seed string, broker int, topic string, end map[int32]int64, timeout time.Duration) error {
	offs := map[int32]kgo.Offset{}
	for p := range end {
		offs[p] = kgo.NewOffset().AtStart()
	}
	cl, err := kgo.NewClient(append(clientOpts([]string{seed}),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offs}),
		kgo.FetchMaxWait(200*time.Millisecond))...)
	if err != nil {
		return err
	}
	defer cl.Close()
	next := map[int32]int64{}
	target := &drainTarget{end: end}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	name := fmt.Sprintf("final-%d", broker)
	for !target.reached(next) {
		if ctx.Err() != nil {
			return fmt.Errorf("final read through broker %d: only %v of %v", broker, next, end)
		}
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		fs := cl.PollFetches(pctx)
		pcancel()
		fs.EachPartition(func(ft kgo.FetchTopicPartition) {
			if len(ft.Records) == 0 {
				return
			}
			h.Add(readOp(name, "final-read", broker, ft))
			next[ft.Partition] = ft.Records[len(ft.Records)-1].Offset + 1
		})
	}
	return nil
}

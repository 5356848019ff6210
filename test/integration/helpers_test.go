// Package integration drives an in-process three-broker cluster with real
// Kafka clients: franz-go, segmentio/kafka-go, IBM/sarama and kcat.
package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/longboat/longboat/internal/testutil"
)

// newClient returns a franz-go client for the given seeds; its producer is
// idempotent (franz-go's default) with acks=all.
func newClient(t testing.TB, seeds []string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	base := []kgo.Opt{kgo.SeedBrokers(seeds...), kgo.RequiredAcks(kgo.AllISRAcks())}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func createTopic(t testing.TB, seeds []string, name string, partitions int32, rf int16) {
	t.Helper()
	adm := kadm.NewClient(newClient(t, seeds))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := adm.CreateTopic(ctx, partitions, rf, nil, name)
	if err != nil || resp.Err != nil {
		t.Fatalf("create topic %s: %v %v", name, err, resp.Err)
	}
}

// topicID looks up a topic's id: a raw Produce names its topic by id from
// v13 (Kafka 4.1) on, by name before.
func topicID(t testing.TB, cl *kgo.Client, topic string) [16]byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	details, err := kadm.NewClient(cl).ListTopics(ctx, topic)
	if err != nil || details.Error() != nil {
		t.Fatalf("topic %s: %v %v", topic, err, details.Error())
	}
	return details[topic].ID
}

// record identifies one produced value for later comparison.
type record struct {
	partition int32
	offset    int64
	value     string
}

// produceN sends n records with values "<prefix>-<i>" round-robin over the
// partitions and returns what was acknowledged.
func produceN(t testing.TB, cl *kgo.Client, topic, prefix string, n int) []record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out := make([]record, 0, n)
	results := make(chan record, n)
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		r := &kgo.Record{Topic: topic, Value: []byte(fmt.Sprintf("%s-%d", prefix, i))}
		cl.Produce(ctx, r, func(r *kgo.Record, err error) {
			if err != nil {
				errs <- err
				return
			}
			results <- record{r.Partition, r.Offset, string(r.Value)}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
	close(results)
	close(errs)
	for err := range errs {
		t.Fatalf("produce: %v", err)
	}
	for r := range results {
		out = append(out, r)
	}
	return out
}

// consumeAll reads every partition of topic from the start until it has at
// least want records and has reached each partition's end offset as it was
// when consumeAll began.
func consumeAll(t testing.TB, seeds []string, topic string, want int) []record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	remaining := endOffsets(ctx, t, seeds, topic)
	cl := newClient(t, seeds, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var out []record
	for len(out) < want || len(remaining) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d records (wanted %d), %d partitions short of their end, before timeout", len(out), want, len(remaining))
		}
		fs.EachError(func(tp string, p int32, err error) {
			t.Logf("fetch error %s/%d: %v", tp, p, err)
		})
		fs.EachRecord(func(r *kgo.Record) {
			out = append(out, record{r.Partition, r.Offset, string(r.Value)})
			if end, ok := remaining[r.Partition]; ok && r.Offset >= end-1 {
				delete(remaining, r.Partition)
			}
		})
	}
	return out
}

// endOffsets lists each non-empty partition's end offset, retrying until
// ctx's deadline while partitions are between leaders (after a broker was
// stopped).
func endOffsets(ctx context.Context, t testing.TB, seeds []string, topic string) map[int32]int64 {
	t.Helper()
	adm := kadm.NewClient(newClient(t, seeds))
	deadline, _ := ctx.Deadline()
	out := map[int32]int64{}
	// Any error is retried: kadm folds per-partition errors such as
	// LEADER_NOT_AVAILABLE into one.
	testutil.Eventually(t, time.Until(deadline), func() error {
		ends, err := adm.ListEndOffsets(ctx, topic)
		if err == nil {
			err = ends.Error()
		}
		if err != nil {
			return fmt.Errorf("list end offsets: %w", err)
		}
		ends.Each(func(o kadm.ListedOffset) {
			if o.Offset > 0 {
				out[o.Partition] = o.Offset
			}
		})
		return nil
	})
	return out
}

// checkSameRecords asserts that consumed holds exactly produced, with
// strictly increasing offsets per partition and no duplicates.
func checkSameRecords(t testing.TB, produced, consumed []record) {
	t.Helper()
	if dups := checkRecords(t, produced, consumed); dups > 0 {
		t.Fatalf("%d values consumed more than once", dups)
	}
}

// checkRecords asserts that every acknowledged record was consumed at the
// offset it was acknowledged with and that nothing unacknowledged-and-unknown
// appears; it returns how many values appeared more than once (a
// non-idempotent producer's retry after a lost response writes a value twice,
// and a group redelivers what was not committed when a partition moves:
// at-least-once, not a broker fault). Each stream is one consumer's records in
// the order it got them: its offsets must increase per partition, except where
// it re-reads values consumed more than once in all (a redelivery).
func checkRecords(t testing.TB, produced []record, streams ...[]record) (duplicates int) {
	t.Helper()
	byOffset := map[[2]int64]string{}
	for _, r := range produced {
		byOffset[[2]int64{int64(r.partition), r.offset}] = r.value
	}
	times := map[string]int{}
	for _, s := range streams {
		for _, r := range s {
			times[r.value]++
		}
	}
	for i, s := range streams {
		last := map[int32]int64{}
		for _, r := range s {
			if prev, ok := last[r.partition]; ok && r.offset <= prev && times[r.value] < 2 {
				t.Fatalf("consumer %d, partition %d: offset %d after %d, and not a redelivery", i, r.partition, r.offset, prev)
			}
			last[r.partition] = r.offset
			if v, ok := byOffset[[2]int64{int64(r.partition), r.offset}]; ok && v != r.value {
				t.Fatalf("partition %d offset %d: produced %q, consumed %q", r.partition, r.offset, v, r.value)
			}
		}
	}
	for _, n := range times {
		duplicates += n - 1
	}
	for _, r := range produced {
		if times[r.value] == 0 {
			t.Fatalf("acknowledged record %q (partition %d offset %d) not consumed", r.value, r.partition, r.offset)
		}
	}
	return duplicates
}

// atLeast is the condition "got has reached want" for testutil.Eventually.
func atLeast(what string, got, want int) error {
	if got < want {
		return fmt.Errorf("%d %s, want %d", got, what, want)
	}
	return nil
}

package compat

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/longboat/longboat/internal/testutil"
)

// codecIDs are the record batch attribute values of each codec.
var codecIDs = map[string]int8{"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}

// runClient runs every feature for one client.
func runClient(t *testing.T, e *env, m *matrix, cl client) {
	rng := rand.New(rand.NewPCG(uint64(len(cl.name())), 8))
	data := "compat-" + cl.name()
	e.v.createTopic(t, data, 3)
	caps := cl.caps()

	// Produce at each acks level; the verifier (franz-go) reads back.
	for _, a := range []struct {
		id   string
		acks int
	}{{"acks0", 0}, {"acks1", 1}, {"acksall", -1}} {
		cell(t, m, cl, a.id, 45*time.Second, func(ctx context.Context) error {
			_, err := e.roundTrip(ctx, cl, data, produceOpts{acks: a.acks, codec: "none"}, gen(rng, caps, 30, 3, false), e.v.read)
			return err
		})
	}

	// Each codec: the client produces and consumes its own records, and the
	// stored batches must carry that codec.
	for _, codec := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		cell(t, m, cl, codec, 45*time.Second, func(ctx context.Context) error {
			if !contains(caps.codecs, codec) {
				return unsupported("%s has no %s codec", cl.name(), codec)
			}
			want := gen(rng, caps, 40, 3, false)
			for i := range want {
				want[i].Value = append(want[i].Value, bytes.Repeat([]byte("compressible "), 20)...)
			}
			batches, err := e.roundTrip(ctx, cl, data, produceOpts{acks: -1, codec: codec}, want, cl.consume)
			if err != nil {
				return err
			}
			for _, b := range batches {
				if b.codec != codecIDs[codec] {
					return fmt.Errorf("stored batch at %d/%d has codec %d, want %d (%s)", b.partition, b.offset, b.codec, codecIDs[codec], codec)
				}
			}
			return nil
		})
	}

	// Keys, headers, null values and timestamps: one round trip through
	// the client itself, judged per property.
	richWant := gen(rng, caps, 30, 3, true)
	richCtx, richCancel := context.WithTimeout(context.Background(), 60*time.Second)
	sent := time.Now()
	richGot, _, richErr := e.produceAndRead(richCtx, cl, data, produceOpts{acks: -1, codec: "none"}, richWant, cl.consume)
	done := time.Now()
	richCancel()
	for _, prop := range []struct{ id, field string }{{"keys", "key"}, {"headers", "headers"}, {"nullvalues", "value"}, {"timestamps", "timestamp"}} {
		cell(t, m, cl, prop.id, time.Second, func(context.Context) error {
			if richErr != nil {
				return richErr
			}
			return compare(richWant, richGot, prop.field, sent, done)
		})
	}

	cell(t, m, cl, "assign", 45*time.Second, func(ctx context.Context) error {
		want := gen(rng, caps, 30, 3, true)
		start, err := e.v.endOffsets(ctx, data)
		if err != nil {
			return err
		}
		if err := e.v.produce(ctx, data, want); err != nil {
			return err
		}
		// Start 3 records into each partition's new records.
		var ranges []prange
		var tail []rec
		n := map[int32]int64{}
		for _, r := range want {
			if n[r.Partition] >= 3 {
				tail = append(tail, r)
			}
			n[r.Partition]++
		}
		for p, c := range n {
			ranges = append(ranges, prange{Partition: p, From: start[p] + 3, To: start[p] + c})
		}
		got, err := cl.consume(ctx, data, ranges)
		if err != nil {
			return err
		}
		if err := compare(tail, got, "all", time.Time{}, time.Time{}); err != nil {
			return err
		}
		for _, r := range got {
			if r.Offset < start[r.Partition]+3 {
				return fmt.Errorf("consumed %d/%d, before the requested start %d", r.Partition, r.Offset, start[r.Partition]+3)
			}
		}
		return nil
	})

	cell(t, m, cl, "group", 90*time.Second, func(ctx context.Context) error {
		return groupRoundTrip(ctx, e, rng, caps, data+"-group", "compat-group-"+cl.name(), cl.groupConsume)
	})
	cell(t, m, cl, "group848", 90*time.Second, func(ctx context.Context) error {
		next, ok := cl.(nextGenConsumer)
		if !ok {
			return unsupported("the library has no KIP-848 (group.protocol=consumer) consumer")
		}
		group := "compat-group848-" + cl.name()
		if err := groupRoundTrip(ctx, e, rng, caps, data+"-group848", group, next.groupConsume848); err != nil {
			return err
		}
		// The client could fall back to the classic protocol unnoticed:
		// only a consumer group answers ConsumerGroupDescribe.
		return e.v.isConsumerGroup(ctx, group)
	})

	admin := data + "-admin"
	cell(t, m, cl, "create", 45*time.Second, func(ctx context.Context) error {
		if err := cl.createTopic(ctx, admin, 2); err != nil {
			return err
		}
		return e.v.waitPartitions(ctx, admin, 2, true)
	})
	cell(t, m, cl, "describe", 45*time.Second, func(ctx context.Context) error {
		if err := e.v.ensureTopic(ctx, admin, 2); err != nil {
			return err
		}
		return untilLeadersMatch(ctx, e, admin, func() (string, map[int32]int32, error) {
			got, err := cl.describeTopic(ctx, admin)
			return admin, got, err
		})
	})
	cell(t, m, cl, "describeid", 30*time.Second, func(ctx context.Context) error {
		if err := e.v.ensureTopic(ctx, admin, 2); err != nil {
			return err
		}
		id, err := e.v.topicID(ctx, admin)
		if err != nil {
			return err
		}
		return untilLeadersMatch(ctx, e, admin, func() (string, map[int32]int32, error) {
			return cl.describeTopicByID(ctx, id)
		})
	})
	cell(t, m, cl, "partitions", 45*time.Second, func(ctx context.Context) error {
		if err := e.v.ensureTopic(ctx, admin, 2); err != nil {
			return err
		}
		if err := cl.createPartitions(ctx, admin, 4); err != nil {
			return err
		}
		return e.v.waitPartitions(ctx, admin, 4, true)
	})
	cell(t, m, cl, "assigned", 45*time.Second, func(ctx context.Context) error {
		topic := data + "-assigned"
		want := map[int32][]int32{0: {2, 3}, 1: {3, 1}}
		if err := cl.createAssigned(ctx, topic, [][]int32{want[0], want[1]}); err != nil {
			return err
		}
		if err := e.v.waitPartitions(ctx, topic, 2, true); err != nil {
			return err
		}
		want[2] = []int32{1, 2}
		if err := cl.addAssigned(ctx, topic, 3, [][]int32{want[2]}); err != nil {
			return err
		}
		if err := e.v.waitPartitions(ctx, topic, 3, true); err != nil {
			return err
		}
		return e.v.hasReplicas(ctx, topic, want)
	})
	cell(t, m, cl, "configs", 45*time.Second, func(ctx context.Context) error {
		if err := e.v.ensureTopic(ctx, admin, 2); err != nil {
			return err
		}
		// Not the default, and harmless on a topic whose records are fresh.
		const key, value = "retention.ms", "86400123"
		if err := cl.alterTopicConfig(ctx, admin, key, value); err != nil {
			return err
		}
		if got, err := e.v.topicConfig(ctx, admin, key); err != nil || got != value {
			return fmt.Errorf("the cluster has %s=%q (%v) after the client set %q", key, got, err, value)
		}
		got, err := cl.describeTopicConfig(ctx, admin, key)
		if err != nil {
			return err
		}
		if got != value {
			return fmt.Errorf("the client describes %s=%q, the cluster has %q", key, got, value)
		}
		return nil
	})
	cell(t, m, cl, "quotas", 45*time.Second, func(ctx context.Context) error {
		id := data + "-quota"
		const key, value = "producer_byte_rate", 1048576
		if err := cl.alterQuota(ctx, id, key, value, false); err != nil {
			return err
		}
		if got, err := e.v.clientQuotas(ctx, id); err != nil || got[key] != value || len(got) != 1 {
			return fmt.Errorf("the cluster has %v (%v) for client id %s after the client set %s=%d", got, err, id, key, value)
		}
		got, err := cl.describeQuotas(ctx, id)
		if err != nil {
			return err
		}
		if got[key] != value || len(got) != 1 {
			return fmt.Errorf("the client describes %v for client id %s, the cluster has %s=%d", got, id, key, value)
		}
		if err := cl.alterQuota(ctx, id, key, 0, true); err != nil {
			return err
		}
		if got, err := e.v.clientQuotas(ctx, id); err != nil || len(got) != 0 {
			return fmt.Errorf("the cluster has %v (%v) for client id %s after the client removed %s", got, err, id, key)
		}
		return nil
	})
	cell(t, m, cl, "quorum", 30*time.Second, func(ctx context.Context) error {
		got, err := cl.describeQuorum(ctx)
		if err != nil {
			return err
		}
		want, err := e.v.quorum(ctx)
		if err != nil {
			return err
		}
		if got.Leader != want.Leader || got.Epoch != want.Epoch || !slices.Equal(got.Voters, want.Voters) {
			return fmt.Errorf("the client describes %+v, the cluster %+v", got, want)
		}
		return nil
	})
	cell(t, m, cl, "delete", 45*time.Second, func(ctx context.Context) error {
		if err := e.v.ensureTopic(ctx, admin, 2); err != nil {
			return err
		}
		if err := cl.deleteTopic(ctx, admin); err != nil {
			return err
		}
		return e.v.waitGone(ctx, admin)
	})
	byID := data + "-byid"
	cell(t, m, cl, "deleteid", 30*time.Second, func(ctx context.Context) error {
		if err := e.v.ensureTopic(ctx, byID, 2); err != nil {
			return err
		}
		id, err := e.v.topicID(ctx, byID)
		if err != nil {
			return err
		}
		if err := cl.deleteTopicByID(ctx, id); err != nil {
			return err
		}
		return e.v.waitGone(ctx, byID)
	})
	// Admin topics left by a client without delete.
	e.v.deleteTopic(t, admin)
	e.v.deleteTopic(t, byID)

	cell(t, m, cl, "idempotent", 45*time.Second, func(ctx context.Context) error {
		if !caps.idempotent {
			return unsupported("%s has no idempotent producer", cl.name())
		}
		batches, err := e.roundTrip(ctx, cl, data, produceOpts{acks: -1, codec: "none", idempotent: true}, gen(rng, caps, 30, 3, false), e.v.read)
		if err != nil {
			return err
		}
		for _, b := range batches {
			if b.producerID < 0 {
				return fmt.Errorf("stored batch at %d/%d has no producer id: the client did not produce idempotently", b.partition, b.offset)
			}
		}
		return nil
	})

	cell(t, m, cl, "transactions", 90*time.Second, func(ctx context.Context) error {
		return txnRoundTrip(ctx, e, cl, data+"-txn")
	})

	cell(t, m, cl, "bytime", 45*time.Second, func(ctx context.Context) error {
		topic := data + "-time"
		if err := e.v.ensureTopic(ctx, topic, 1); err != nil {
			return err
		}
		base := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC).UnixMilli()
		var want []rec
		for i := range 5 {
			want = append(want, rec{Partition: 0, Value: fmt.Appendf(nil, "t%d", i), Timestamp: base + int64(10*i)})
		}
		start, err := e.v.endOffsets(ctx, topic)
		if err != nil {
			return err
		}
		if err := e.v.produce(ctx, topic, want); err != nil {
			return err
		}
		for _, q := range []struct {
			ts   int64
			want int64
		}{{base, 0}, {base + 15, 2}, {base + 40, 4}} {
			got, err := cl.offsetForTime(ctx, topic, 0, q.ts)
			if err != nil {
				return err
			}
			if got != start[0]+q.want {
				return fmt.Errorf("offset for timestamp %d = %d, want %d", q.ts, got, start[0]+q.want)
			}
		}
		return nil
	})

	cell(t, m, cl, "deleterecords", 45*time.Second, func(ctx context.Context) error {
		topic := data + "-records"
		if err := e.v.ensureTopic(ctx, topic, 1); err != nil {
			return err
		}
		want := gen(rng, caps, 5, 1, false)
		start, err := e.v.endOffsets(ctx, topic)
		if err != nil {
			return err
		}
		if err := e.v.produce(ctx, topic, want); err != nil {
			return err
		}
		before := start[0] + 2
		if err := cl.deleteRecords(ctx, topic, 0, before); err != nil {
			return err
		}
		first, err := e.v.startOffsets(ctx, topic)
		if err != nil {
			return err
		}
		if first[0] != before {
			return fmt.Errorf("log start offset %d after deleting the records below %d", first[0], before)
		}
		got, err := e.v.read(ctx, topic, []prange{{Partition: 0, From: before, To: start[0] + 5}})
		if err != nil {
			return err
		}
		return compare(want[2:], got, "all", time.Time{}, time.Time{})
	})

	runGroupAdmin(t, e, m, cl, data+"-group")
}

// runGroupAdmin runs the consumer-group admin rows against a group of the
// client's own on topic: listed and described while the verifier holds a
// live member in it, then its offsets listed, altered and the group deleted.
func runGroupAdmin(t *testing.T, e *env, m *matrix, cl client, topic string) {
	group := "compat-admin-" + cl.name()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	leave, joinErr := e.v.joinGroup(ctx, group, topic)
	cell(t, m, cl, "grouplist", 45*time.Second, func(ctx context.Context) error {
		if joinErr != nil {
			return joinErr
		}
		groups, err := cl.listGroups(ctx)
		if err != nil {
			return err
		}
		if !contains(groups, group) {
			return fmt.Errorf("listed groups %v lack %s, which has a live member", groups, group)
		}
		return nil
	})
	cell(t, m, cl, "groupdescribe", 45*time.Second, func(ctx context.Context) error {
		if joinErr != nil {
			return joinErr
		}
		d, err := cl.describeGroup(ctx, group)
		if err != nil {
			return err
		}
		if !strings.EqualFold(d.State, "Stable") || len(d.Members) != 1 {
			return fmt.Errorf("described %s as %q with %d members, want Stable with the verifier's one: %+v", group, d.State, len(d.Members), d)
		}
		mem := d.Members[0]
		ps := append([]int32(nil), mem.Assigned[topic]...)
		sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
		if mem.ClientID != verifierMember || fmt.Sprint(ps) != "[0 1 2]" || len(mem.Assigned) != 1 {
			return fmt.Errorf("described member %q assigned %v, want %q assigned %s [0 1 2]", mem.ClientID, mem.Assigned, verifierMember, topic)
		}
		return nil
	})
	leave()
	cancel()
	cell(t, m, cl, "groupoffsets", 45*time.Second, func(ctx context.Context) error {
		want := map[int32]int64{0: 3, 1: 5, 2: 7}
		if err := e.v.commit(ctx, group, topic, want); err != nil {
			return err
		}
		got, err := cl.groupOffsets(ctx, group, topic)
		if err != nil {
			return err
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("listed offsets %v of %s, the verifier committed %v", got, group, want)
		}
		return nil
	})
	cell(t, m, cl, "groupalter", 45*time.Second, func(ctx context.Context) error {
		want := map[int32]int64{0: 2, 1: 1, 2: 0}
		if err := cl.alterGroupOffsets(ctx, group, topic, want); err != nil {
			return err
		}
		got, err := e.v.committed(ctx, group, topic)
		if err != nil {
			return err
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("the cluster has offsets %v for %s after the client set %v", got, group, want)
		}
		return nil
	})
	cell(t, m, cl, "groupdelete", 45*time.Second, func(ctx context.Context) error {
		if err := e.v.commit(ctx, group, topic, map[int32]int64{0: 1}); err != nil {
			return err
		}
		if err := cl.deleteGroup(ctx, group); err != nil {
			return err
		}
		return e.v.groupGone(ctx, group)
	})
}

// untilLeadersMatch has the client describe topic with describe until it
// reports the same partitions as the cluster has, each with a live broker
// as leader: asked again for 10 s while a leader is being elected, as a
// client would.
func untilLeadersMatch(ctx context.Context, e *env, topic string, describe func() (string, map[int32]int32, error)) error {
	var final error // an answer that asking again cannot change
	err := testutil.Poll(10*time.Second, func() error {
		err := leadersMatch(ctx, e, topic, describe)
		var ue unsupportedError
		var nr notRunError
		if errors.As(err, &ue) || errors.As(err, &nr) {
			final = err
			return nil
		}
		return err
	})
	if final != nil {
		return final
	}
	return err
}

func leadersMatch(ctx context.Context, e *env, topic string, describe func() (string, map[int32]int32, error)) error {
	name, got, err := describe()
	if err != nil {
		return err
	}
	if name != topic {
		return fmt.Errorf("described topic %q, want %q", name, topic)
	}
	want, err := e.v.leaders(ctx, topic)
	if err != nil {
		return err
	}
	if len(got) != len(want) {
		return fmt.Errorf("described %d partitions, the cluster has %d", len(got), len(want))
	}
	for p, l := range got {
		if _, ok := want[p]; !ok || l < 1 || l > 3 {
			return fmt.Errorf("described partition %d with leader %d; the cluster has %v", p, l, want)
		}
	}
	return nil
}

// roundTrip has the client produce want, reads the new offsets back with
// read, checks every record's key, value and headers byte for byte, and
// returns the stored batches that hold them.
func (e *env) roundTrip(ctx context.Context, cl client, topic string, o produceOpts, want []rec,
	read func(context.Context, string, []prange) ([]rec, error)) ([]batch, error) {
	got, ranges, err := e.produceAndRead(ctx, cl, topic, o, want, read)
	if err != nil {
		return nil, err
	}
	if err := compare(want, got, "all", time.Time{}, time.Time{}); err != nil {
		return nil, err
	}
	return e.v.batches(ctx, topic, ranges)
}

// produceAndRead notes the end offsets, has the client produce want (each
// record to its Partition), waits until the end offsets have grown by as
// much, and reads the new offsets back with read; it returns them and
// their ranges.
func (e *env) produceAndRead(ctx context.Context, cl client, topic string, o produceOpts, want []rec,
	read func(context.Context, string, []prange) ([]rec, error)) ([]rec, []prange, error) {
	start, err := e.v.endOffsets(ctx, topic)
	if err != nil {
		return nil, nil, err
	}
	if err := cl.produce(ctx, topic, o, want); err != nil {
		return nil, nil, err
	}
	n := map[int32]int64{}
	for _, r := range want {
		n[r.Partition]++
	}
	var ranges []prange
	for _, p := range sortedKeys(n) {
		ranges = append(ranges, prange{Partition: p, From: start[p], To: start[p] + n[p]})
	}
	if err := e.v.waitEnds(ctx, topic, ranges); err != nil {
		return nil, nil, err
	}
	got, err := read(ctx, topic, ranges)
	return got, ranges, err
}

// gen makes n records over the partitions. rich records carry keys (some
// null), headers, null values and explicit timestamps, as far as the
// client can express them.
func gen(rng *rand.Rand, caps capabilities, n int, partitions int32, rich bool) []rec {
	out := make([]rec, n)
	for i := range out {
		r := rec{Partition: int32(i) % partitions, Key: payload(rng, caps, 1+rng.IntN(20)), Value: payload(rng, caps, 1+rng.IntN(200))}
		if rich {
			if i%3 == 1 && !(caps.keyForNullValue && i%4 == 2) {
				r.Key = nil
			}
			switch {
			case i%4 == 2:
				r.Value = nil
			case i%8 == 3 && caps.binary && !caps.emptyIsNull:
				r.Value = []byte{}
			}
			if caps.perRecordHeaders {
				for h := range i % 4 {
					r.Headers = append(r.Headers, header{Key: fmt.Sprintf("h%d", h%2), Value: payload(rng, caps, h*7)})
				}
			} else {
				r.Headers = []header{{Key: "source", Value: []byte("compat")}, {Key: "partition", Value: fmt.Appendf(nil, "%d", r.Partition)}}
			}
			if caps.timestamps {
				r.Timestamp = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC).UnixMilli() + int64(i)*1001
			}
		}
		out[i] = r
	}
	return out
}

const text = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;:!?-_=+()[]{}<>/|@#$%^&*~üé€"

func payload(rng *rand.Rand, caps capabilities, n int) []byte {
	if caps.binary {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		return b
	}
	runes := []rune(text)
	var b []byte
	for len(b) < n {
		b = append(b, string(runes[rng.IntN(len(runes))])...)
	}
	return b
}

// compare checks got against want partition by partition, in order, on
// field: all, key, value, headers or timestamp. A want timestamp of 0
// means "stamped by the client": it must fall within [from, to].
func compare(want, got []rec, field string, from, to time.Time) error {
	byP := func(rs []rec) map[int32][]rec {
		m := map[int32][]rec{}
		for _, r := range rs {
			m[r.Partition] = append(m[r.Partition], r)
		}
		for _, l := range m {
			sort.SliceStable(l, func(i, j int) bool { return l[i].Offset < l[j].Offset })
		}
		return m
	}
	w, g := byP(want), byP(got)
	for p, wl := range w {
		gl := g[p]
		if len(gl) != len(wl) {
			return fmt.Errorf("partition %d: got %d records, want %d", p, len(gl), len(wl))
		}
		for i := range wl {
			if err := sameRecord(wl[i], gl[i], field, from, to); err != nil {
				return fmt.Errorf("partition %d offset %d (record %d): %w", p, gl[i].Offset, i, err)
			}
		}
	}
	if len(g) > len(w) {
		return fmt.Errorf("got records of %d partitions, want %d", len(g), len(w))
	}
	return nil
}

func sameRecord(w, g rec, field string, from, to time.Time) error {
	all := field == "all"
	if (all || field == "key") && !sameBytes(w.Key, g.Key) {
		return fmt.Errorf("key %s, want %s", show(g.Key), show(w.Key))
	}
	if (all || field == "value") && !sameBytes(w.Value, g.Value) {
		return fmt.Errorf("value %s, want %s", show(g.Value), show(w.Value))
	}
	if all || field == "headers" {
		if len(w.Headers) != len(g.Headers) {
			return fmt.Errorf("%d headers %v, want %d %v", len(g.Headers), g.Headers, len(w.Headers), w.Headers)
		}
		for i := range w.Headers {
			if w.Headers[i].Key != g.Headers[i].Key || !bytes.Equal(w.Headers[i].Value, g.Headers[i].Value) {
				return fmt.Errorf("header %d %q=%s, want %q=%s", i, g.Headers[i].Key, show(g.Headers[i].Value), w.Headers[i].Key, show(w.Headers[i].Value))
			}
		}
	}
	if field == "timestamp" {
		if w.Timestamp != 0 && g.Timestamp != w.Timestamp {
			return fmt.Errorf("timestamp %d, want %d", g.Timestamp, w.Timestamp)
		}
		if w.Timestamp == 0 && (g.Timestamp < from.UnixMilli()-1000 || g.Timestamp > to.UnixMilli()+1000) {
			return fmt.Errorf("client-stamped timestamp %d outside the send window [%d, %d]", g.Timestamp, from.UnixMilli(), to.UnixMilli())
		}
	}
	return nil
}

// sameBytes tells null (nil) from empty.
func sameBytes(a, b []byte) bool {
	return (a == nil) == (b == nil) && bytes.Equal(a, b)
}

func show(b []byte) string {
	if b == nil {
		return "null"
	}
	if len(b) > 24 {
		return fmt.Sprintf("%q...(%d bytes)", b[:24], len(b))
	}
	return fmt.Sprintf("%q", b)
}

func dedupe(rs []rec) []rec {
	seen := map[[2]int64]bool{}
	var out []rec
	for _, r := range rs {
		k := [2]int64{int64(r.Partition), r.Offset}
		if !seen[k] {
			seen[k] = true
			out = append(out, r)
		}
	}
	return out
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// groupRoundTrip has a group member consume everything in a new topic,
// commit and leave, then a new member resume from the committed offsets.
func groupRoundTrip(ctx context.Context, e *env, rng *rand.Rand, caps capabilities, topic, group string, consume func(ctx context.Context, topic, group string, want int) ([]rec, error)) error {
	if err := e.v.ensureTopic(ctx, topic, 3); err != nil {
		return err
	}
	want := gen(rng, caps, 30, 3, false)
	if err := e.v.produce(ctx, topic, want); err != nil {
		return err
	}
	ends, err := e.v.endOffsets(ctx, topic)
	if err != nil {
		return err
	}
	got, err := consume(ctx, topic, group, len(want))
	if err != nil {
		return err
	}
	seen := map[[2]int64]bool{}
	for _, r := range got {
		seen[[2]int64{int64(r.Partition), r.Offset}] = true
	}
	for p, end := range ends {
		for o := int64(0); o < end; o++ {
			if !seen[[2]int64{int64(p), o}] {
				return fmt.Errorf("group member never got %s/%d at offset %d", topic, p, o)
			}
		}
	}
	if err := compare(want, dedupe(got), "all", time.Time{}, time.Time{}); err != nil {
		return err
	}
	committed, err := e.v.committed(ctx, group, topic)
	if err != nil {
		return err
	}
	for p, end := range ends {
		if committed[p] != end {
			return fmt.Errorf("group %s committed %d for partition %d, want its end %d (all: %v)", group, committed[p], p, end, committed)
		}
	}
	// A new member resumes at the committed offsets: it gets exactly
	// the records written since, nothing again.
	more := gen(rng, caps, 6, 3, false)
	if err := e.v.produce(ctx, topic, more); err != nil {
		return err
	}
	again, err := consume(ctx, topic, group, len(more))
	if err != nil {
		return fmt.Errorf("resuming: %w", err)
	}
	for _, r := range again {
		if r.Offset < ends[r.Partition] {
			return fmt.Errorf("resumed member got %d/%d again, below the committed %d", r.Partition, r.Offset, ends[r.Partition])
		}
	}
	return compare(more, again, "all", time.Time{}, time.Time{})
}

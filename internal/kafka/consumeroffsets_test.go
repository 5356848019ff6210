package kafka_test

import (
	"context"
	"encoding/binary"
	"errors"
	"hash/fnv"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/testcluster"
)

const offsetsTopic = "__consumer_offsets"

// offsetsView is what a tool replaying __consumer_offsets from the start
// ends up with: the last value per key, tombstones applied.
type offsetsView struct {
	offsets    map[string]map[string]map[int32]kmsg.OffsetCommitValue
	groups     map[string]kmsg.GroupMetadataValue
	tombstones map[string]int   // per group
	partition  map[string]int32 // the partition each group's records are in
}

// replayOffsets reads __consumer_offsets from the beginning to its end
// offsets with a plain consumer and decodes every record with kmsg.
func replayOffsets(t *testing.T, seeds []string, adm *kadm.Client, isolation kgo.IsolationLevel) offsetsView {
	t.Helper()
	ctx := ctxT(t, 30*time.Second)
	ends, err := adm.ListEndOffsets(ctx, offsetsTopic)
	if err != nil || ends.Error() != nil {
		t.Fatalf("list end offsets: %v %v", err, ends.Error())
	}
	waiting := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			waiting[o.Partition] = o.Offset
		}
	})
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics(offsetsTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(isolation))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	v := offsetsView{offsets: map[string]map[string]map[int32]kmsg.OffsetCommitValue{}, groups: map[string]kmsg.GroupMetadataValue{},
		tombstones: map[string]int{}, partition: map[string]int32{}}
	for len(waiting) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("replay did not reach the end offsets; still waiting for %v", waiting)
		}
		fs.EachError(func(_ string, p int32, err error) { t.Logf("fetch partition %d: %v", p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			v.apply(t, r)
			if end, ok := waiting[r.Partition]; ok && r.Offset >= end-1 {
				delete(waiting, r.Partition)
			}
		})
	}
	return v
}

func (v *offsetsView) apply(t *testing.T, r *kgo.Record) {
	t.Helper()
	if len(r.Key) < 2 {
		t.Fatalf("record at %d/%d has a key of %d bytes", r.Partition, r.Offset, len(r.Key))
	}
	switch version := int16(binary.BigEndian.Uint16(r.Key)); version {
	case 0, 1:
		var k kmsg.OffsetCommitKey
		if err := k.ReadFrom(r.Key); err != nil {
			t.Fatalf("offset commit key: %v", err)
		}
		v.partition[k.Group] = r.Partition
		if v.offsets[k.Group] == nil {
			v.offsets[k.Group] = map[string]map[int32]kmsg.OffsetCommitValue{}
		}
		if v.offsets[k.Group][k.Topic] == nil {
			v.offsets[k.Group][k.Topic] = map[int32]kmsg.OffsetCommitValue{}
		}
		if r.Value == nil {
			delete(v.offsets[k.Group][k.Topic], k.Partition)
			v.tombstones[k.Group]++
			return
		}
		var val kmsg.OffsetCommitValue
		if err := val.ReadFrom(r.Value); err != nil || val.Version != 3 {
			t.Fatalf("offset commit value (version %d): %v", val.Version, err)
		}
		v.offsets[k.Group][k.Topic][k.Partition] = val
	case 2:
		var k kmsg.GroupMetadataKey
		if err := k.ReadFrom(r.Key); err != nil {
			t.Fatalf("group metadata key: %v", err)
		}
		v.partition[k.Group] = r.Partition
		if r.Value == nil {
			delete(v.groups, k.Group)
			v.tombstones[k.Group]++
			return
		}
		var val kmsg.GroupMetadataValue
		if err := val.ReadFrom(r.Value); err != nil || val.Version != 3 {
			t.Fatalf("group metadata value (version %d): %v", val.Version, err)
		}
		v.groups[k.Group] = val
	default:
		t.Fatalf("record at %d/%d: unknown key version %d", r.Partition, r.Offset, version)
	}
}

// liveOffsets is a group's replayed offsets without emptied topics.
func (v offsetsView) liveOffsets(group string) map[string]map[int32]kmsg.OffsetCommitValue {
	out := map[string]map[int32]kmsg.OffsetCommitValue{}
	for topic, parts := range v.offsets[group] {
		if len(parts) > 0 {
			out[topic] = parts
		}
	}
	return out
}

// checkMatchesOffsetFetch compares a group's replayed offsets with what
// OffsetFetch returns.
func checkMatchesOffsetFetch(t *testing.T, adm *kadm.Client, v offsetsView, group string) {
	t.Helper()
	fetched, err := adm.FetchOffsets(ctxT(t, 10*time.Second), group)
	if err != nil {
		t.Fatal(err)
	}
	replayed := v.liveOffsets(group)
	n := 0
	fetched.Each(func(o kadm.OffsetResponse) {
		n++
		got, ok := replayed[o.Topic][o.Partition]
		if o.Err != nil || !ok || got.Offset != o.At || got.LeaderEpoch != o.LeaderEpoch || got.Metadata != o.Metadata {
			t.Errorf("group %s %s/%d: OffsetFetch %+v, replayed %+v (found %v)", group, o.Topic, o.Partition, o, got, ok)
		}
	})
	total := 0
	for _, parts := range replayed {
		total += len(parts)
	}
	if n == 0 || total != n {
		t.Errorf("group %s: OffsetFetch has %d offsets, the replay %d", group, n, total)
	}
}

func joinGroup(t *testing.T, seeds []string, group, topic string) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(), kgo.ClientID("offsets-test"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// consumeN polls a group member until it has n records.
func consumeN(t *testing.T, cl *kgo.Client, n int) {
	t.Helper()
	ctx := ctxT(t, 30*time.Second)
	for got := 0; got < n; {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records", got, n)
		}
		got += fs.NumRecords()
	}
}

// commitRounds commits offsets in several rounds, each with metadata
// naming the round, as a group member.
func commitRounds(t *testing.T, cl *kgo.Client, topic string, partitions int32, rounds int) {
	t.Helper()
	for round := 1; round <= rounds; round++ {
		offs := map[string]map[int32]kgo.EpochOffset{topic: {}}
		for p := range partitions {
			if int(p) >= int(partitions)-round+1 { // later rounds commit fewer partitions
				continue
			}
			offs[topic][p] = kgo.EpochOffset{Epoch: -1, Offset: int64(round*10 + int(p))}
		}
		var commitErr error
		cl.CommitOffsetsSync(ctxT(t, 10*time.Second), offs, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
			commitErr = err
			if err == nil {
				for _, rt := range resp.Topics {
					for _, rp := range rt.Partitions {
						if e := kerr.ErrorForCode(rp.ErrorCode); e != nil && commitErr == nil {
							commitErr = e
						}
					}
				}
			}
		})
		if commitErr != nil {
			t.Fatalf("commit round %d: %v", round, commitErr)
		}
	}
}

func groupPartition(group string, partitions int) int32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(group))
	return int32(h.Sum32() % uint32(partitions))
}

// TestConsumerOffsetsTopic reads __consumer_offsets as lag monitors do:
// the last record per key equals OffsetFetch, generations and deletions
// show up in Kafka's record formats, the topic is internal, and what Kafka
// refuses on it is refused.
func TestConsumerOffsetsTopic(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts a three-broker cluster")
	}
	c := testcluster.Start(t, testcluster.Options{Nodes: 3})
	seeds := c.Addrs()
	admCl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(admCl.Close)
	adm := kadm.NewClient(admCl)
	const topic, partitions = "orders", 4
	if _, err := adm.CreateTopic(ctxT(t, 30*time.Second), partitions, 3, nil, topic); err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		r := &kgo.Record{Topic: topic, Partition: int32(i % partitions), Value: []byte(strconv.Itoa(i))}
		if err := admCl.ProduceSync(ctxT(t, 10*time.Second), r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	one := joinGroup(t, seeds, "offsets-one", topic)
	two := joinGroup(t, seeds, "offsets-two", topic)
	consumeN(t, one, 40)
	consumeN(t, two, 40)
	commitRounds(t, one, topic, partitions, 3)
	commitRounds(t, two, topic, partitions, 4)

	t.Run("replay equals OffsetFetch", func(t *testing.T) {
		for _, iso := range []kgo.IsolationLevel{kgo.ReadUncommitted(), kgo.ReadCommitted()} {
			v := replayOffsets(t, seeds, adm, iso)
			for _, g := range []string{"offsets-one", "offsets-two"} {
				checkMatchesOffsetFetch(t, adm, v, g)
				_, gen := map[string]*kgo.Client{"offsets-one": one, "offsets-two": two}[g].GroupMetadata()
				gm, ok := v.groups[g]
				if !ok || gm.ProtocolType != "consumer" || gm.Generation != gen || len(gm.Members) != 1 || len(gm.Members[0].Assignment) == 0 ||
					gm.Members[0].ClientID != "offsets-test" || gm.Protocol == nil || gm.Leader == nil || *gm.Leader != gm.Members[0].MemberID {
					t.Errorf("group %s metadata %+v (found %v), want generation %d with one assigned member", g, gm, ok, gen)
				}
			}
		}
	})

	t.Run("partition follows the group's coordinator", func(t *testing.T) {
		v := replayOffsets(t, seeds, adm, kgo.ReadUncommitted())
		deadline := time.Now().Add(20 * time.Second)
		for _, g := range []string{"offsets-one", "offsets-two"} {
			for {
				md, err := adm.Metadata(ctxT(t, 10*time.Second), offsetsTopic)
				if err != nil {
					t.Fatal(err)
				}
				td := md.Topics[offsetsTopic]
				want := groupPartition(g, len(td.Partitions))
				coord := adm.FindGroupCoordinators(ctxT(t, 10*time.Second), g)[g]
				leader := td.Partitions[want].Leader
				if v.partition[g] != want {
					t.Fatalf("group %s records in partition %d, want %d", g, v.partition[g], want)
				}
				if coord.Err == nil && coord.NodeID == leader {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("group %s: coordinator %d (%v), leader of partition %d is %d", g, coord.NodeID, coord.Err, want, leader)
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
	})

	t.Run("generation change", func(t *testing.T) {
		_, before := one.GroupMetadata()
		joinGroup(t, seeds, "offsets-one", topic)
		// The first member keeps polling so that it rejoins.
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			for ctx.Err() == nil {
				one.PollFetches(ctx)
			}
		}()
		defer func() { cancel(); <-done }()
		deadline := time.Now().Add(45 * time.Second)
		for {
			_, gen := one.GroupMetadata()
			v := replayOffsets(t, seeds, adm, kgo.ReadUncommitted())
			gm := v.groups["offsets-one"]
			if gen > before && gm.Generation == gen && len(gm.Members) == 2 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("generation %d (was %d); replayed metadata %+v", gen, before, gm)
			}
			time.Sleep(500 * time.Millisecond)
		}
	})

	t.Run("DeleteGroups leaves tombstones", func(t *testing.T) {
		two.Close() // leaves the group, which becomes empty
		deadline := time.Now().Add(20 * time.Second)
		for {
			res, err := adm.DeleteGroups(ctxT(t, 10*time.Second), "offsets-two")
			if err == nil && res["offsets-two"].Err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("delete group: %v %+v", err, res)
			}
			time.Sleep(200 * time.Millisecond)
		}
		v := replayOffsets(t, seeds, adm, kgo.ReadUncommitted())
		if _, ok := v.groups["offsets-two"]; ok || len(v.liveOffsets("offsets-two")) != 0 {
			t.Fatalf("deleted group still replays: %+v %+v", v.groups["offsets-two"], v.liveOffsets("offsets-two"))
		}
		// Four offsets and the group itself.
		if v.tombstones["offsets-two"] < partitions+1 {
			t.Fatalf("%d tombstones for the deleted group, want at least %d", v.tombstones["offsets-two"], partitions+1)
		}
		checkMatchesOffsetFetch(t, adm, v, "offsets-one")
	})

	t.Run("internal and refused as Kafka refuses", func(t *testing.T) {
		ctx := ctxT(t, 20*time.Second)
		err := admCl.ProduceSync(ctx, &kgo.Record{Topic: offsetsTopic, Value: []byte("x")}).FirstErr()
		if !errors.Is(err, kerr.InvalidTopicException) {
			t.Errorf("produce to %s: %v, want INVALID_TOPIC_EXCEPTION", offsetsTopic, err)
		}
		topics, err := adm.ListTopicsWithInternal(ctx)
		if err != nil {
			t.Fatal(err)
		}
		td := topics[offsetsTopic]
		if !td.IsInternal || len(td.Partitions) == 0 || td.ID == (kadm.TopicID{}) {
			t.Errorf("metadata of all topics: %s %+v", offsetsTopic, td)
		}
		if user, _ := adm.ListTopics(ctx); slices.Contains(user.Names(), offsetsTopic) {
			t.Errorf("%s listed among user topics", offsetsTopic)
		}
		cr, _ := adm.CreateTopic(ctx, 1, 1, nil, offsetsTopic)
		if !errors.Is(cr.Err, kerr.TopicAlreadyExists) {
			t.Errorf("create %s: %v", offsetsTopic, cr.Err)
		}
		dr, err := adm.DeleteTopics(ctx, offsetsTopic)
		if err != nil || !errors.Is(dr[offsetsTopic].Err, kerr.InvalidRequest) {
			t.Errorf("delete %s: %v %+v", offsetsTopic, err, dr)
		}
		rc, err := adm.DescribeTopicConfigs(ctx, offsetsTopic)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := rc.On(offsetsTopic, nil)
		policy := ""
		for _, c := range cfg.Configs {
			if c.Key == "cleanup.policy" {
				policy = c.MaybeValue()
			}
		}
		if err != nil || policy != "compact" {
			t.Errorf("configs of %s: %v cleanup.policy=%q", offsetsTopic, err, policy)
		}
		starts, err := adm.ListStartOffsets(ctx, offsetsTopic)
		if err != nil || starts.Error() != nil {
			t.Fatal(err, starts.Error())
		}
		starts.Each(func(o kadm.ListedOffset) {
			if o.Offset != 0 {
				t.Errorf("start offset of partition %d: %d", o.Partition, o.Offset)
			}
		})
	})

	t.Run("regex consumer skips it", func(t *testing.T) {
		cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeRegex(), kgo.ConsumeTopics(".*"),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.MetadataMinAge(100*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		ctx := ctxT(t, 30*time.Second)
		got := 0
		for got < 40 {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("regex consumer got %d of 40 records", got)
			}
			fs.EachRecord(func(r *kgo.Record) {
				switch r.Topic {
				case topic:
					got++
				case offsetsTopic:
					t.Fatalf("regex consumer got a record of %s at %d/%d", offsetsTopic, r.Partition, r.Offset)
				}
			})
		}
		if topics := cl.GetConsumeTopics(); slices.Contains(topics, offsetsTopic) || !slices.Contains(topics, topic) {
			t.Fatalf("regex consumer consumes %v", topics)
		}
	})
}

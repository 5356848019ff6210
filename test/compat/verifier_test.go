package compat

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// verifier is the neutral party: a franz-go client (not attributed to any
// column) that creates fixtures and checks what the cluster holds.
type verifier struct {
	cl  *kgo.Client
	adm *kadm.Client
}

func newVerifier(t *testing.T, addrs []string) *verifier {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ClientID("verifier"), kgo.MetadataMinAge(50*time.Millisecond),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &verifier{cl: cl, adm: kadm.NewClient(cl)}
}

func (v *verifier) createTopic(t *testing.T, topic string, partitions int32) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := v.ensureTopic(ctx, topic, partitions); err != nil {
		t.Fatal(err)
	}
}

func (v *verifier) deleteTopic(t *testing.T, topic string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := v.adm.DeleteTopics(ctx, topic); err != nil {
		t.Fatalf("delete %s: %v", topic, err)
	}
	if err := v.waitGone(ctx, topic); err != nil {
		t.Fatal(err)
	}
}

// ensureTopic creates topic unless it exists and waits for its leaders.
func (v *verifier) ensureTopic(ctx context.Context, topic string, partitions int32) error {
	resp, err := v.adm.CreateTopic(ctx, partitions, 3, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("create %s: %w", topic, err)
	}
	return v.waitPartitions(ctx, topic, int(partitions), false)
}

// leaders returns each partition's leader as Metadata reports it.
func (v *verifier) leaders(ctx context.Context, topic string) (map[int32]int32, error) {
	ls, _, err := v.placement(ctx, topic)
	return ls, err
}

// placement returns each partition's leader and preferred (first) replica.
func (v *verifier) placement(ctx context.Context, topic string) (leaders, preferred map[int32]int32, err error) {
	md, err := v.adm.Metadata(ctx, topic)
	if err != nil {
		return nil, nil, err
	}
	td, ok := md.Topics[topic]
	if !ok || td.Err != nil {
		return nil, nil, fmt.Errorf("topic %s: %v", topic, td.Err)
	}
	leaders, preferred = map[int32]int32{}, map[int32]int32{}
	for p, pd := range td.Partitions {
		if pd.Err != nil {
			return nil, nil, fmt.Errorf("%s/%d: %w", topic, p, pd.Err)
		}
		leaders[p] = pd.Leader
		if len(pd.Replicas) > 0 {
			preferred[p] = pd.Replicas[0]
		}
	}
	return leaders, preferred, nil
}

// hasReplicas checks that each partition of topic has the replica set
// want gives it, in that order, and that no other partition exists.
func (v *verifier) hasReplicas(ctx context.Context, topic string, want map[int32][]int32) error {
	md, err := v.adm.Metadata(ctx, topic)
	if err != nil {
		return err
	}
	td := md.Topics[topic]
	got := map[int32][]int32{}
	for p, pd := range td.Partitions {
		got[p] = pd.Replicas
	}
	if !maps.EqualFunc(got, want, slices.Equal) {
		return fmt.Errorf("topic %s has replica sets %v, want %v", topic, got, want)
	}
	return nil
}

// waitPartitions waits until topic has n partitions (at least n unless
// exact), each led by its preferred replica, so that the brokers' leader
// balancing does not move leaders while a cell runs.
func (v *verifier) waitPartitions(ctx context.Context, topic string, n int, exact bool) error {
	var last error
	for {
		ls, pref, err := v.placement(ctx, topic)
		if err == nil && (len(ls) < n || exact && len(ls) != n) {
			err = fmt.Errorf("topic %s has %d partitions, want %d", topic, len(ls), n)
		}
		if err == nil {
			for p, l := range ls {
				if l < 0 || l != pref[p] {
					err = fmt.Errorf("%s/%d is led by %d, not yet by its preferred replica %d", topic, p, l, pref[p])
				}
			}
		}
		if err == nil {
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", topic, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitGone waits until no broker lists topic.
func (v *verifier) waitGone(ctx context.Context, topic string) error {
	for {
		md, err := v.adm.Metadata(ctx, topic)
		if err == nil {
			if td, ok := md.Topics[topic]; !ok || errors.Is(td.Err, kerr.UnknownTopicOrPartition) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("topic %s still listed after delete", topic)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// endOffsets lists each partition's end offset, retrying errors (a leader
// moving) for up to 10s.
func (v *verifier) endOffsets(ctx context.Context, topic string) (map[int32]int64, error) {
	ends, err := v.adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	for deadline := time.Now().Add(10 * time.Second); err != nil && time.Now().Before(deadline) && ctx.Err() == nil; {
		time.Sleep(50 * time.Millisecond)
		if ends, err = v.adm.ListEndOffsets(ctx, topic); err == nil {
			err = ends.Error()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("end offsets of %s: %w", topic, err)
	}
	out := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out, nil
}

// waitEnds waits until every range's partition ends at or past To.
func (v *verifier) waitEnds(ctx context.Context, topic string, ranges []prange) error {
	for {
		ends, err := v.endOffsets(ctx, topic)
		if err == nil {
			short := false
			for _, r := range ranges {
				short = short || ends[r.Partition] < r.To
			}
			if !short {
				return nil
			}
			err = fmt.Errorf("end offsets %v, want at least %v", ends, ranges)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for produced records: %w", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// produce writes recs (each to its partition, with its timestamp if set).
func (v *verifier) produce(ctx context.Context, topic string, recs []rec) error {
	return v.cl.ProduceSync(ctx, toFranz(topic, recs)...).FirstErr()
}

// read fetches the ranges with a franz-go consumer.
func (v *verifier) read(ctx context.Context, topic string, ranges []prange) ([]rec, error) {
	return franzConsume(ctx, []kgo.Opt{kgo.SeedBrokers(v.cl.OptValue(kgo.SeedBrokers).([]string)...), kgo.ClientID("verifier")}, topic, ranges)
}

// batch is what a raw Fetch shows of one stored record batch.
type batch struct {
	partition  int32
	offset     int64
	codec      int8
	producerID int64
}

// batches fetches the ranges from each partition's leader with raw Fetch
// requests and decodes the batch headers.
// A retriable error (a leader moving) is retried for up to 10 s.
func (v *verifier) batches(ctx context.Context, topic string, ranges []prange) ([]batch, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := v.batchesOnce(ctx, topic, ranges)
		var ke *kerr.Error
		if err == nil || !errors.As(err, &ke) || !ke.Retriable || time.Now().After(deadline) || ctx.Err() != nil {
			return out, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (v *verifier) batchesOnce(ctx context.Context, topic string, ranges []prange) ([]batch, error) {
	leaders, err := v.leaders(ctx, topic)
	if err != nil {
		return nil, err
	}
	md, err := v.adm.Metadata(ctx, topic)
	if err != nil {
		return nil, err
	}
	var out []batch
	for _, r := range ranges {
		next := r.From
		for next < r.To {
			req := kmsg.NewPtrFetchRequest()
			req.MaxWaitMillis, req.MinBytes, req.MaxBytes, req.ReplicaID = 100, 1, 8<<20, -1
			ft := kmsg.NewFetchRequestTopic()
			ft.Topic, ft.TopicID = topic, md.Topics[topic].ID
			fp := kmsg.NewFetchRequestTopicPartition()
			fp.Partition, fp.FetchOffset, fp.PartitionMaxBytes, fp.CurrentLeaderEpoch = r.Partition, next, 8<<20, -1
			ft.Partitions = append(ft.Partitions, fp)
			req.Topics = append(req.Topics, ft)
			resp, err := req.RequestWith(ctx, v.cl.Broker(int(leaders[r.Partition])))
			if err != nil {
				return nil, fmt.Errorf("raw fetch %s/%d: %w", topic, r.Partition, err)
			}
			if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
				return nil, fmt.Errorf("raw fetch %s/%d: malformed response", topic, r.Partition)
			}
			rp := resp.Topics[0].Partitions[0]
			if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
				return nil, fmt.Errorf("raw fetch %s/%d at %d: %w", topic, r.Partition, next, err)
			}
			before := next
			for raw := rp.RecordBatches; len(raw) > 0; {
				var b kmsg.RecordBatch
				if err := b.ReadFrom(raw); err != nil {
					break // a partial batch at the end of the response
				}
				raw = raw[12+int(b.Length):]
				end := b.FirstOffset + int64(b.LastOffsetDelta) + 1
				if end <= next {
					continue
				}
				if b.FirstOffset < r.To {
					out = append(out, batch{partition: r.Partition, offset: b.FirstOffset, codec: int8(b.Attributes & 7), producerID: b.ProducerID})
				}
				next = end
			}
			if next == before {
				return nil, fmt.Errorf("raw fetch %s/%d at %d returned no batch", topic, r.Partition, next)
			}
		}
	}
	return out, nil
}

// committed returns the group's committed offsets for topic.
func (v *verifier) committed(ctx context.Context, group, topic string) (map[int32]int64, error) {
	offs, err := v.adm.FetchOffsets(ctx, group)
	if err != nil {
		return nil, fmt.Errorf("fetch offsets of %s: %w", group, err)
	}
	out := map[int32]int64{}
	offs.Each(func(o kadm.OffsetResponse) {
		if o.Topic == topic && o.Err == nil {
			out[o.Partition] = o.At
		}
	})
	return out, nil
}

// topicID is topic's id in Kafka's text form.
func (v *verifier) topicID(ctx context.Context, topic string) (string, error) {
	md, err := v.adm.Metadata(ctx, topic)
	if err != nil {
		return "", err
	}
	td, ok := md.Topics[topic]
	if !ok || td.Err != nil {
		return "", fmt.Errorf("topic %s: %v", topic, td.Err)
	}
	return base64.RawURLEncoding.EncodeToString(td.ID[:]), nil
}

// parseTopicID reads Kafka's text form of a topic id.
func parseTopicID(s string) ([16]byte, error) {
	var id [16]byte
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != len(id) {
		return id, fmt.Errorf("topic id %q: not 16 bytes of unpadded URL-safe base64 (%v)", s, err)
	}
	copy(id[:], b)
	return id, nil
}

// topicConfig is the value of topic's config key as DescribeConfigs shows it.
// clientQuotas are the quota values of the client id entity id.
func (v *verifier) clientQuotas(ctx context.Context, id string) (map[string]float64, error) {
	return describedQuotas(ctx, v.adm, id)
}

// quorum is the metadata quorum as DescribeQuorum gives it.
func (v *verifier) quorum(ctx context.Context) (quorum, error) {
	return describedQuorum(ctx, v.cl)
}

// describedQuorum sends DescribeQuorum through cl, which has no call of
// its own for it, and reads the leader, its epoch and the voters.
func describedQuorum(ctx context.Context, cl *kgo.Client) (quorum, error) {
	req := kmsg.NewPtrDescribeQuorumRequest()
	rt := kmsg.NewDescribeQuorumRequestTopic()
	rt.Topic = "__cluster_metadata"
	rt.Partitions = append(rt.Partitions, kmsg.NewDescribeQuorumRequestTopicPartition())
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return quorum{}, err
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return quorum{}, err
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return quorum{}, fmt.Errorf("DescribeQuorum answered %d topics", len(resp.Topics))
	}
	p := resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		return quorum{}, err
	}
	q := quorum{Leader: p.LeaderID, Epoch: p.LeaderEpoch}
	for _, v := range p.CurrentVoters {
		q.Voters = append(q.Voters, v.ReplicaID)
	}
	slices.Sort(q.Voters)
	return q, nil
}

// describedQuotas are the quota values of the client id entity id,
// described through adm.
func describedQuotas(ctx context.Context, adm *kadm.Client, id string) (map[string]float64, error) {
	described, err := adm.DescribeClientQuotas(ctx, true, []kadm.DescribeClientQuotaComponent{{Type: "client-id", MatchName: &id}})
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, q := range described {
		for _, val := range q.Values {
			out[val.Key] = val.Value
		}
	}
	return out, nil
}

func (v *verifier) topicConfig(ctx context.Context, topic, key string) (string, error) {
	return describedConfig(ctx, v.adm, topic, key)
}

// describedConfig is the value of topic's config key, described through adm.
func describedConfig(ctx context.Context, adm *kadm.Client, topic, key string) (string, error) {
	rcs, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		return "", err
	}
	rc, err := rcs.On(topic, nil)
	if err == nil {
		err = rc.Err
	}
	if err != nil {
		return "", err
	}
	for _, c := range rc.Configs {
		if c.Key == key {
			return c.MaybeValue(), nil
		}
	}
	return "", fmt.Errorf("%s: no config %s described", topic, key)
}

// startOffsets lists each partition's log start offset.
func (v *verifier) startOffsets(ctx context.Context, topic string) (map[int32]int64, error) {
	starts, err := v.adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("start offsets of %s: %w", topic, err)
	}
	out := map[int32]int64{}
	starts.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out, nil
}

// verifierMember is the client id of the verifier's group member.
const verifierMember = "verifier-member"

// joinGroup makes the verifier a member of group, consuming topic, and
// returns once the member holds its assignment; leave closes it (leaving
// the group). leave is never nil.
func (v *verifier) joinGroup(ctx context.Context, group, topic string) (leave func(), err error) {
	assigned := make(chan struct{})
	var once sync.Once
	cl, err := kgo.NewClient(kgo.SeedBrokers(v.cl.OptValue(kgo.SeedBrokers).([]string)...), kgo.ClientID(verifierMember),
		kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit(),
		kgo.OnPartitionsAssigned(func(context.Context, *kgo.Client, map[string][]int32) { once.Do(func() { close(assigned) }) }))
	if err != nil {
		return func() {}, err
	}
	pctx, stop := context.WithCancel(ctx)
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		for pctx.Err() == nil {
			cl.PollFetches(pctx)
		}
	}()
	leave = func() {
		stop()
		<-polled
		cl.Close()
	}
	select {
	case <-assigned:
		return leave, nil
	case <-ctx.Done():
		leave()
		return func() {}, fmt.Errorf("the verifier's member of %s got no assignment: %w", group, ctx.Err())
	}
}

// commit sets group's committed offsets for topic.
func (v *verifier) commit(ctx context.Context, group, topic string, offsets map[int32]int64) error {
	os := kadm.Offsets{}
	for p, o := range offsets {
		os.Add(kadm.Offset{Topic: topic, Partition: p, At: o, LeaderEpoch: -1})
	}
	resp, err := v.adm.CommitOffsets(ctx, group, os)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		return fmt.Errorf("commit to %s: %w", group, err)
	}
	return nil
}

// groupGone waits until no broker lists group and it has no committed
// offsets.
func (v *verifier) groupGone(ctx context.Context, group string) error {
	for {
		listed, err := v.adm.ListGroups(ctx)
		if err == nil {
			if _, ok := listed[group]; ok {
				err = fmt.Errorf("group %s still listed", group)
			}
		}
		if err == nil {
			var offs kadm.OffsetResponses
			if offs, err = v.adm.FetchOffsets(ctx, group); err == nil && len(offs) > 0 {
				err = fmt.Errorf("group %s still has offsets %v", group, offs)
			}
		}
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("after delete: %w", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// isConsumerGroup tells, by ConsumerGroupDescribe, that group is a KIP-848
// consumer group (a classic one is GROUP_ID_NOT_FOUND there).
func (v *verifier) isConsumerGroup(ctx context.Context, group string) error {
	gs, err := v.adm.DescribeConsumerGroups(ctx, group)
	if err != nil {
		return fmt.Errorf("describe consumer group %s: %w", group, err)
	}
	if err := gs[group].Err; err != nil {
		return fmt.Errorf("group %s is not a consumer-protocol group: %w", group, err)
	}
	return nil
}

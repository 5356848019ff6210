package integration

// Consumer groups driven by every real client the tests carry: kafka-go
// Readers with a GroupID, sarama ConsumerGroups (range and roundrobin
// assignors), kcat's balanced consumer (librdkafka 2.0.2), and the group
// administration APIs through franz-go's kadm.

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/longboat/longboat/internal/testcluster"
	"github.com/longboat/longboat/internal/testutil"
)

// roundRobinProducer is a franz-go client that spreads unkeyed records
// evenly over the partitions, so that every partition has data.
func roundRobinProducer(t *testing.T, addrs []string) *kgo.Client {
	return newClient(t, addrs, kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
}

// dedupeByPosition returns the consumed records once per (partition,
// offset), sorted by partition and offset, and how many deliveries were
// repeats (at-least-once redelivery after a rebalance). The same position
// delivered with two different values fails the test.
func dedupeByPosition(t *testing.T, consumed []record) (unique []record, redelivered int) {
	t.Helper()
	byPos := map[[2]int64]string{}
	for _, r := range consumed {
		k := [2]int64{int64(r.partition), r.offset}
		if v, ok := byPos[k]; ok {
			if v != r.value {
				t.Fatalf("partition %d offset %d delivered as %q and as %q", r.partition, r.offset, v, r.value)
			}
			redelivered++
			continue
		}
		byPos[k] = r.value
		unique = append(unique, r)
	}
	sort.Slice(unique, func(i, j int) bool {
		if unique[i].partition != unique[j].partition {
			return unique[i].partition < unique[j].partition
		}
		return unique[i].offset < unique[j].offset
	})
	return unique, redelivered
}

// allRecords concatenates what the sinks recorded.
func allRecords(sinks []*groupConsumer) []record {
	var out []record
	for _, s := range sinks {
		out = append(out, s.records()...)
	}
	return out
}

// waitCommittedAtEnd polls until the group's committed offsets (kadm
// OffsetFetch) equal the topic's end offsets (ListOffsets latest) for every
// non-empty partition, and returns them.
func waitCommittedAtEnd(t *testing.T, addrs []string, groupID, topic string, within time.Duration) map[int32]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ends := endOffsets(ctx, t, addrs, topic)
	var committed map[int32]int64
	testutil.Eventually(t, within, func() error {
		committed = committedOffsets(t, addrs, groupID)
		diff := ""
		for p, e := range ends {
			if committed[p] != e {
				diff += fmt.Sprintf(" p%d committed %d end %d;", p, committed[p], e)
			}
		}
		for p, o := range committed {
			if _, ok := ends[p]; !ok && o != 0 {
				diff += fmt.Sprintf(" p%d committed %d on an empty partition;", p, o)
			}
		}
		if diff != "" {
			return fmt.Errorf("group %s: committed offsets [%s] differ from end offsets [%s]:%s", groupID, sortedParts(committed), sortedParts(ends), diff)
		}
		return nil
	})
	return committed
}

// describeGroupOnce describes one group with kadm (DescribeGroups at the
// highest version both sides speak).
func describeGroupOnce(cl *kgo.Client, groupID string) (kadm.DescribedGroup, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	groups, err := kadm.NewClient(cl).DescribeGroups(ctx, groupID)
	if err != nil {
		return kadm.DescribedGroup{}, err
	}
	g, ok := groups[groupID]
	if !ok {
		return kadm.DescribedGroup{}, fmt.Errorf("group %s missing from the DescribeGroups response", groupID)
	}
	return g, nil
}

// describeGroup describes one group, failing the test if the request
// fails; the group's own error is returned in the description.
func describeGroup(t *testing.T, addrs []string, groupID string) kadm.DescribedGroup {
	t.Helper()
	g, err := describeGroupOnce(newClient(t, addrs), groupID)
	if err != nil {
		t.Fatalf("describe %s: %v", groupID, err)
	}
	return g
}

// waitGroupState polls DescribeGroups until the group is in state with n
// members and returns its description. Unlike waitGroup (groups_test.go),
// it retries the retriable errors Kafka answers while a group's coordinator
// moves (COORDINATOR_LOAD_IN_PROGRESS, NOT_COORDINATOR,
// COORDINATOR_NOT_AVAILABLE) instead of failing on the first one, and logs
// how many it saw; GROUP_ID_NOT_FOUND (DescribeGroups v6+ for a group not
// created yet) counts as not there yet.
func waitGroupState(t *testing.T, addrs []string, groupID, state string, n int, within time.Duration) kadm.DescribedGroup {
	t.Helper()
	cl := newClient(t, addrs)
	retried := map[string]int{}
	var g kadm.DescribedGroup
	testutil.Eventually(t, within, func() error {
		var err error
		g, err = describeGroupOnce(cl, groupID)
		if err == nil {
			err = g.Err
		}
		last := ""
		switch {
		case err == nil && g.State == state && len(g.Members) == n:
			return nil
		case err == nil:
			last = fmt.Sprintf("state %s with %d members", g.State, len(g.Members))
		case errors.Is(err, kerr.GroupIDNotFound) && state != "Dead":
			// Not created yet (DescribeGroups v6+ answers an unknown group so).
			last = "not found"
		case kerr.IsRetriable(err) || errors.Is(err, context.DeadlineExceeded):
			retried[err.Error()]++
			last = err.Error()
		default:
			var se *kadm.ShardErrors
			if !errors.As(err, &se) {
				t.Fatalf("describe %s: %v", groupID, err)
			}
			retried[err.Error()]++
			last = err.Error()
		}
		return fmt.Errorf("group %s: %s, want %s with %d members (retried errors: %v)", groupID, last, state, n, retried)
	})
	if len(retried) > 0 {
		t.Logf("group %s: retried DescribeGroups errors %v before it was %s", groupID, retried, state)
	}
	return g
}

// memberPartitions lists each member's assigned partitions of topic,
// sorted, as strings like "[0 1]", sorted.
func memberPartitions(t *testing.T, g kadm.DescribedGroup, topic string) []string {
	t.Helper()
	var out []string
	for _, m := range g.Members {
		ca, ok := m.Assigned.AsConsumer()
		if !ok {
			t.Fatalf("group %s member %s: assignment is not a consumer assignment", g.Group, m.MemberID)
		}
		var ps []int32
		for _, tp := range ca.Topics {
			if tp.Topic == topic {
				ps = append(ps, tp.Partitions...)
			}
		}
		sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
		out = append(out, fmt.Sprint(ps))
	}
	sort.Strings(out)
	return out
}

// ---------------------------------------------------------------- kafka-go

// kgMember is a kafka-go Reader in a consumer group. Every fetched message
// is recorded (in a groupConsumer used only as a record sink) and then
// committed synchronously (CommitInterval 0).
type kgMember struct {
	r          *kafka.Reader
	sink       *groupConsumer
	cancel     context.CancelFunc
	done       chan struct{}
	commitErrs atomic.Int64
	once       sync.Once
}

func startKgMember(t *testing.T, addrs []string, groupID, topic, clientID string) *kgMember {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:           addrs,
		GroupID:           groupID,
		Topic:             topic,
		StartOffset:       kafka.FirstOffset,
		CommitInterval:    0,
		HeartbeatInterval: 500 * time.Millisecond,
		SessionTimeout:    6 * time.Second,
		RebalanceTimeout:  10 * time.Second,
		JoinGroupBackoff:  500 * time.Millisecond,
		MinBytes:          1,
		MaxBytes:          1 << 20,
		MaxWait:           2 * time.Second, // kafka-go allows the broker MaxWait minus 1s of slack
		ReadLagInterval:   -1,
		Dialer:            &kafka.Dialer{ClientID: clientID, Timeout: 10 * time.Second, DualStack: true},
		ErrorLogger:       kgLogger(t, clientID+": "),
	})
	ctx, cancel := context.WithCancel(context.Background())
	m := &kgMember{r: r, sink: &groupConsumer{}, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		fetchErrs := 0
		for {
			msg, err := r.FetchMessage(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				if fetchErrs++; fetchErrs <= 5 {
					t.Logf("%s: FetchMessage: %v", clientID, err)
				}
				time.Sleep(100 * time.Millisecond) // back off before fetching again, as an application would
				continue
			}
			m.sink.mu.Lock()
			m.sink.seen = append(m.sink.seen, record{int32(msg.Partition), msg.Offset, string(msg.Value)})
			m.sink.mu.Unlock()
			cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := r.CommitMessages(cctx, msg); err != nil {
				if n := m.commitErrs.Add(1); n <= 5 {
					t.Logf("%s: commit %d/%d: %v", clientID, msg.Partition, msg.Offset, err)
				}
			}
			ccancel()
		}
	}()
	t.Cleanup(m.close)
	return m
}

// close stops fetching and closes the Reader, which leaves the group.
func (m *kgMember) close() {
	m.once.Do(func() {
		m.cancel()
		<-m.done
		m.r.Close()
	})
}

func kgSinks(ms []*kgMember) []*groupConsumer {
	var out []*groupConsumer
	for _, m := range ms {
		out = append(out, m.sink)
	}
	return out
}

// TestKafkaGoReaderGroup: three kafka-go Readers with one GroupID share a
// 6-partition RF=3 topic holding 2,000 messages. DescribeGroups must show 3
// members with 2 partitions each, and together they must read every
// message at least once (redeliveries counted). Closing one Reader leaves
// the group; the other two must then hold 3 partitions each and consume
// 500 new messages. After everything is consumed and the Readers are
// closed, the committed offsets (kadm OffsetFetch and kafka-go's own
// Client.OffsetFetch) must equal the partitions' end offsets.
func TestKafkaGoReaderGroup(t *testing.T) {
	c := sharedCluster(t)
	addrs := c.Addrs()
	const topic, groupID, parts = "kg-grp", "kg-readers", 6
	createTopic(t, addrs, topic, parts, 3)
	kgWaitLeaders(t, addrs, topic, parts)
	prod := roundRobinProducer(t, addrs)
	produced := produceN(t, prod, topic, "a", 2000)
	changes := leadershipChanges(c)
	defer func() {
		t.Logf("Raft leadership changes (events summed over the brokers, other tests' on the shared cluster included) after setup: %d", leadershipChanges(c)-changes)
	}()

	start := time.Now()
	var members []*kgMember
	for i := 0; i < 3; i++ {
		members = append(members, startKgMember(t, addrs, groupID, topic, fmt.Sprintf("kg-reader-%d", i)))
	}
	g := waitGroupState(t, addrs, groupID, "Stable", 3, 30*time.Second)
	if g.ProtocolType != "consumer" || g.Protocol != "range" {
		t.Errorf("group %s: protocol type %q protocol %q, want consumer/range (kafka-go offers range first)", groupID, g.ProtocolType, g.Protocol)
	}
	if got := memberPartitions(t, g, topic); fmt.Sprint(got) != "[[0 1] [2 3] [4 5]]" {
		t.Fatalf("3 readers: assignment %v, want 2 partitions each, [[0 1] [2 3] [4 5]] (range)", got)
	}
	waitConsumedValues(t, kgSinks(members), produced)
	var counts []int
	for _, m := range members {
		counts = append(counts, len(m.sink.records()))
	}
	t.Logf("3 readers consumed the first 2000 in %v; per reader %v", time.Since(start), counts)

	members[2].close()
	g = waitGroupState(t, addrs, groupID, "Stable", 2, 30*time.Second)
	if got := memberPartitions(t, g, topic); fmt.Sprint(got) != "[[0 1 2] [3 4 5]]" {
		t.Fatalf("after a reader left: assignment %v, want 3 partitions each, [[0 1 2] [3 4 5]] (range)", got)
	}
	more := produceN(t, prod, topic, "b", 500)
	waitConsumedValues(t, kgSinks(members[:2]), more)
	members[0].close()
	members[1].close()

	all := allRecords(kgSinks(members))
	unique, redelivered := dedupeByPosition(t, all)
	checkSameRecords(t, append(produced, more...), unique)
	var commitErrs int64
	for _, m := range members {
		commitErrs += m.commitErrs.Load()
	}
	t.Logf("consumed %d deliveries of %d records: %d redelivered; %d failed commits", len(all), len(unique), redelivered, commitErrs)

	committed := waitCommittedAtEnd(t, addrs, groupID, topic, 10*time.Second)
	t.Logf("committed: %s", sortedParts(committed))

	// kafka-go's own OffsetFetch agrees.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ps := make([]int, parts)
	for i := range ps {
		ps[i] = i
	}
	resp, err := kgClient(addrs).OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: groupID, Topics: map[string][]int{topic: ps}})
	if err != nil || resp.Error != nil {
		t.Fatalf("kafka-go OffsetFetch: %v %v", err, resp)
	}
	if len(resp.Topics[topic]) != parts {
		t.Fatalf("kafka-go OffsetFetch: %d partitions of %s, want %d: %+v", len(resp.Topics[topic]), topic, parts, resp.Topics)
	}
	for _, p := range resp.Topics[topic] {
		if p.Error != nil || p.CommittedOffset != committed[int32(p.Partition)] {
			t.Errorf("kafka-go OffsetFetch %s/%d: offset %d err %v, kadm says %d", topic, p.Partition, p.CommittedOffset, p.Error, committed[int32(p.Partition)])
		}
	}
}

// ------------------------------------------------------------------ sarama

// srGroupHandler records every claimed message, marks it, and commits
// synchronously when a claim reaches its high watermark; it remembers the
// InitialOffset of the first claim of each partition.
type srGroupHandler struct {
	sink    *groupConsumer
	mu      sync.Mutex
	initial map[int32]int64
}

func (h *srGroupHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *srGroupHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h *srGroupHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	h.mu.Lock()
	if _, ok := h.initial[claim.Partition()]; !ok {
		h.initial[claim.Partition()] = claim.InitialOffset()
	}
	h.mu.Unlock()
	for {
		select {
		case m, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			h.sink.mu.Lock()
			h.sink.seen = append(h.sink.seen, record{m.Partition, m.Offset, string(m.Value)})
			h.sink.mu.Unlock()
			sess.MarkMessage(m, "")
			if m.Offset+1 >= claim.HighWaterMarkOffset() {
				sess.Commit()
			}
		case <-sess.Context().Done():
			return nil
		}
	}
}

type srMember struct {
	cg      sarama.ConsumerGroup
	h       *srGroupHandler
	cancel  context.CancelFunc
	done    chan struct{}
	errDone chan struct{}
	once    sync.Once
}

// srGroupConfig is srConfig(v) for a group member offering strategies in
// order, starting at the oldest offset, with short group timings.
func srGroupConfig(v sarama.KafkaVersion, strategies ...sarama.BalanceStrategy) *sarama.Config {
	cfg := srConfig(v)
	cfg.ClientID = "longboat-sarama-group"
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.AutoCommit.Enable = true
	cfg.Consumer.Offsets.AutoCommit.Interval = 200 * time.Millisecond
	cfg.Consumer.Group.Session.Timeout = 6 * time.Second
	cfg.Consumer.Group.Heartbeat.Interval = 500 * time.Millisecond
	cfg.Consumer.Group.Rebalance.Timeout = 10 * time.Second
	cfg.Consumer.Group.Rebalance.Retry.Backoff = 200 * time.Millisecond
	cfg.Consumer.Group.Rebalance.GroupStrategies = strategies
	return cfg
}

func startSrMember(t *testing.T, addrs []string, cfg *sarama.Config, groupID, topic, name string) *srMember {
	t.Helper()
	cg, err := sarama.NewConsumerGroup(addrs, groupID, cfg)
	if err != nil {
		t.Fatalf("sarama.NewConsumerGroup: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &srMember{cg: cg, h: &srGroupHandler{sink: &groupConsumer{}, initial: map[int32]int64{}},
		cancel: cancel, done: make(chan struct{}), errDone: make(chan struct{})}
	go func() {
		defer close(m.errDone)
		n := 0
		for err := range cg.Errors() {
			if n++; n <= 5 {
				t.Logf("%s: consumer group error: %v", name, err)
			}
		}
	}()
	go func() {
		defer close(m.done)
		for ctx.Err() == nil {
			if err := cg.Consume(ctx, []string{topic}, m.h); err != nil {
				if errors.Is(err, sarama.ErrClosedConsumerGroup) || ctx.Err() != nil {
					return
				}
				t.Logf("%s: Consume: %v", name, err)
				time.Sleep(200 * time.Millisecond) // back off before rejoining, as an application would
			}
		}
	}()
	t.Cleanup(m.close)
	return m
}

// close ends the session (committing marked offsets) and leaves the group.
func (m *srMember) close() {
	m.once.Do(func() {
		m.cancel()
		<-m.done
		m.cg.Close()
		<-m.errDone
	})
}

func srSinks(ms []*srMember) []*groupConsumer {
	var out []*groupConsumer
	for _, m := range ms {
		out = append(out, m.h.sink)
	}
	return out
}

// TestSaramaConsumerGroupResume: two sarama ConsumerGroup members (Version
// V2_8_0_0) that both offer [range, roundrobin] consume a 4-partition topic
// fully, marking and committing. The broker must choose "range" (every
// member's first choice), and the assignment must be range-shaped
// ({0,1},{2,3}). After both close, committed offsets equal the end offsets.
// Then 400 more messages are produced and two NEW members (sarama.MaxVersion,
// offering [roundrobin, range]) join the same group: the broker must choose
// "roundrobin" ({0,2},{1,3}), every claim must start at the committed offset,
// and they must consume exactly the new messages — not one old record again.
func TestSaramaConsumerGroupResume(t *testing.T) {
	c := sharedCluster(t)
	addrs := c.Addrs()
	const topic, groupID, parts = "sr-grp", "sr-group", 4
	createTopic(t, addrs, topic, parts, 3)
	kgWaitLeaders(t, addrs, topic, parts)
	prod := roundRobinProducer(t, addrs)
	produced := produceN(t, prod, topic, "a", 1000)
	changes := leadershipChanges(c)
	defer func() {
		t.Logf("Raft leadership changes (events summed over the brokers, other tests' on the shared cluster included) after setup: %d", leadershipChanges(c)-changes)
	}()

	// Phase 1.
	cfg1 := srGroupConfig(sarama.V2_8_0_0, sarama.NewBalanceStrategyRange(), sarama.NewBalanceStrategyRoundRobin())
	first := []*srMember{
		startSrMember(t, addrs, cfg1, groupID, topic, "sarama-a1"),
		startSrMember(t, addrs, cfg1, groupID, topic, "sarama-a2"),
	}
	g := waitGroupState(t, addrs, groupID, "Stable", 2, 30*time.Second)
	if g.Protocol != "range" || g.ProtocolType != "consumer" {
		t.Errorf("members offering [range roundrobin]: group protocol %q type %q, want range/consumer", g.Protocol, g.ProtocolType)
	}
	if got := memberPartitions(t, g, topic); fmt.Sprint(got) != "[[0 1] [2 3]]" {
		t.Errorf("range assignment of 4 partitions to 2 members: %v, want [[0 1] [2 3]]", got)
	}
	waitConsumedValues(t, srSinks(first), produced)
	for _, m := range first {
		m.close()
	}
	unique, redelivered := dedupeByPosition(t, allRecords(srSinks(first)))
	checkSameRecords(t, produced, unique)
	t.Logf("phase 1: %d records, %d redelivered", len(unique), redelivered)
	committed := waitCommittedAtEnd(t, addrs, groupID, topic, 10*time.Second)
	waitGroupState(t, addrs, groupID, "Empty", 0, 10*time.Second)

	// Phase 2: new members resume at the committed offsets.
	more := produceN(t, prod, topic, "b", 400)
	cfg2 := srGroupConfig(sarama.MaxVersion, sarama.NewBalanceStrategyRoundRobin(), sarama.NewBalanceStrategyRange())
	second := []*srMember{
		startSrMember(t, addrs, cfg2, groupID, topic, "sarama-b1"),
		startSrMember(t, addrs, cfg2, groupID, topic, "sarama-b2"),
	}
	g = waitGroupState(t, addrs, groupID, "Stable", 2, 30*time.Second)
	if g.Protocol != "roundrobin" {
		t.Errorf("members offering [roundrobin range]: group protocol %q, want roundrobin", g.Protocol)
	}
	if got := memberPartitions(t, g, topic); fmt.Sprint(got) != "[[0 2] [1 3]]" {
		t.Errorf("roundrobin assignment of 4 partitions to 2 members: %v, want [[0 2] [1 3]]", got)
	}
	waitConsumedValues(t, srSinks(second), more)
	for _, m := range second {
		m.close()
	}
	all := allRecords(srSinks(second))
	old := map[string]bool{}
	for _, r := range produced {
		old[r.value] = true
	}
	var reconsumed []string
	minOffset := map[int32]int64{}
	var fresh []record
	for _, r := range all {
		if old[r.value] {
			reconsumed = append(reconsumed, fmt.Sprintf("%s@%d/%d", r.value, r.partition, r.offset))
			continue
		}
		fresh = append(fresh, r)
		if o, ok := minOffset[r.partition]; !ok || r.offset < o {
			minOffset[r.partition] = r.offset
		}
	}
	if len(reconsumed) > 0 {
		t.Errorf("new members re-consumed %d records committed before the first members closed, e.g. %v", len(reconsumed), reconsumed[:min(5, len(reconsumed))])
	}
	initial := map[int32]int64{}
	for _, m := range second {
		m.h.mu.Lock()
		for p, o := range m.h.initial {
			if cur, ok := initial[p]; !ok || o < cur {
				initial[p] = o
			}
		}
		m.h.mu.Unlock()
	}
	for p := int32(0); p < parts; p++ {
		if initial[p] != committed[p] {
			t.Errorf("partition %d: first claim's InitialOffset %d, committed offset %d", p, initial[p], committed[p])
		}
		if minOffset[p] != committed[p] {
			t.Errorf("partition %d: new members' first consumed offset %d, committed offset %d", p, minOffset[p], committed[p])
		}
	}
	unique, redelivered = dedupeByPosition(t, fresh)
	checkSameRecords(t, more, unique)
	t.Logf("phase 2: resumed at %s; %d new records, %d redelivered", sortedParts(initial), len(unique), redelivered)
	waitCommittedAtEnd(t, addrs, groupID, topic, 10*time.Second)
}

// -------------------------------------------------------------------- kcat

// kcatGroupConsume runs kcat's balanced consumer (-G) on topic until the
// end of every assigned partition (-e), auto-committing every 100 ms, and
// parses its '%p %o %s' lines.
func kcatGroupConsume(t *testing.T, addrs []string, groupID, topic string) ([]record, string) {
	t.Helper()
	out, stderr, err := runKcatErr(t, 45*time.Second, nil, "-b", strings.Join(addrs, ","), "-G", groupID,
		"-X", "auto.offset.reset=earliest", "-X", "enable.auto.commit=true", "-X", "auto.commit.interval.ms=100",
		"-X", "session.timeout.ms=6000", "-e", "-f", "%p %o %s\n", topic)
	if err != nil {
		t.Fatalf("%v\nstderr: %s", err, tail(stderr, 3000))
	}
	var recs []record
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if l == "" {
			continue
		}
		f := strings.SplitN(l, " ", 3)
		if len(f) != 3 {
			t.Fatalf("unparsable kcat line %q", l)
		}
		p, err1 := strconv.Atoi(f[0])
		o, err2 := strconv.ParseInt(f[1], 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("unparsable kcat line %q", l)
		}
		recs = append(recs, record{int32(p), o, f[2]})
	}
	return recs, stderr
}

// TestKcatBalancedConsumer: `kcat -G` (librdkafka's KafkaConsumer) reads all
// 1,000 pre-produced messages of a 3-partition topic and exits at the end of
// its partitions, committing on close: the committed offsets (kadm) must
// equal the end offsets and the group must be Empty (the member left). A
// second `kcat -G` run of the same group must read nothing. `kcat -L` lists
// the brokers and the topic.
func TestKcatBalancedConsumer(t *testing.T) {
	kcatPath(t)
	c := sharedCluster(t)
	addrs := c.Addrs()
	const topic, groupID, parts = "kcat-grp", "kcat-group", 3
	createTopic(t, addrs, topic, parts, 3)
	kgWaitLeaders(t, addrs, topic, parts)
	produced := produceN(t, roundRobinProducer(t, addrs), topic, "k", 1000)
	changes := leadershipChanges(c)
	defer func() {
		t.Logf("Raft leadership changes (events summed over the brokers, other tests' on the shared cluster included) after setup: %d", leadershipChanges(c)-changes)
	}()

	start := time.Now()
	got, stderr := kcatGroupConsume(t, addrs, groupID, topic)
	t.Logf("kcat -G first run: %d messages in %v", len(got), time.Since(start))
	if strings.Contains(stderr, "ERROR") {
		t.Errorf("kcat -G stderr: %s", tail(stderr, 2000))
	}
	checkSameRecords(t, produced, got)
	if len(got) != len(produced) {
		t.Fatalf("kcat -G consumed %d messages, want exactly %d", len(got), len(produced))
	}
	committed := waitCommittedAtEnd(t, addrs, groupID, topic, 10*time.Second)
	t.Logf("committed by kcat: %s", sortedParts(committed))
	if g := waitGroupState(t, addrs, groupID, "Empty", 0, 10*time.Second); g.ProtocolType != "consumer" {
		t.Errorf("after kcat closed: group %s protocol type %q, want consumer", groupID, g.ProtocolType)
	}

	start = time.Now()
	again, stderr := kcatGroupConsume(t, addrs, groupID, topic)
	t.Logf("kcat -G second run: %d messages in %v", len(again), time.Since(start))
	if len(again) != 0 {
		t.Errorf("second kcat -G run of the group re-read %d messages (first: %+v); the committed offsets %s should have been used",
			len(again), again[0], sortedParts(committed))
	}
	if strings.Contains(stderr, "ERROR") {
		t.Errorf("kcat -G stderr: %s", tail(stderr, 2000))
	}
	waitCommittedAtEnd(t, addrs, groupID, topic, 5*time.Second)

	out, _ := runKcat(t, 20*time.Second, nil, "-L", "-b", strings.Join(addrs, ","), "-t", topic)
	if !strings.Contains(out, "3 brokers:") || !strings.Contains(out, fmt.Sprintf("topic \"%s\" with %d partitions:", topic, parts)) {
		t.Errorf("kcat -L output lacks 3 brokers or the topic:\n%s", out)
	}
}

// ------------------------------------------------------------------- admin

// TestGroupAdminKadm exercises ListGroups (state filters), DescribeGroups,
// DeleteGroups and OffsetDelete through kadm against two groups that both
// hold offsets of adm-unsub (committed standalone, generation -1):
// adm-active, which then gets a member consuming adm-sub, and adm-idle,
// which has no members. Deleting the active group is NON_EMPTY_GROUP;
// deleting the idle one succeeds and it disappears; deleting offsets of the
// subscribed topic is GROUP_SUBSCRIBED_TO_TOPIC per partition while the
// unsubscribed topic's offsets go away; once the member leaves, both work.
func TestGroupAdminKadm(t *testing.T) {
	t.Parallel()
	c := testcluster.Start(t, testcluster.Options{Nodes: 3})
	addrs := c.Addrs()
	const sub, unsub, active, idle, never = "adm-sub", "adm-unsub", "adm-active", "adm-idle", "adm-never"
	createTopic(t, addrs, sub, 3, 3)
	createTopic(t, addrs, unsub, 3, 3)
	prod := roundRobinProducer(t, addrs)
	produceN(t, prod, sub, "s", 30)
	produceN(t, prod, unsub, "u", 30)
	changes := leadershipChanges(c)
	defer func() {
		t.Logf("Raft leadership changes (events summed over the brokers) after setup: %d", leadershipChanges(c)-changes)
	}()
	adm := kadm.NewClient(newClient(t, addrs))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	listEnds := func(topic string) kadm.Offsets {
		t.Helper()
		ends, err := adm.ListEndOffsets(ctx, topic)
		if err == nil {
			err = ends.Error()
		}
		if err != nil {
			t.Fatalf("ListEndOffsets %s: %v", topic, err)
		}
		return ends.Offsets()
	}
	unsubEnds, subEnds := listEnds(unsub), listEnds(sub)
	for _, g := range []string{active, idle} {
		resp, err := adm.CommitOffsets(ctx, g, unsubEnds)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			t.Fatalf("standalone commit of %s offsets to new group %s: %v", unsub, g, err)
		}
	}
	fetch := func(g string) kadm.OffsetResponses {
		t.Helper()
		resp, err := adm.FetchOffsets(ctx, g)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			t.Fatalf("FetchOffsets %s: %v", g, err)
		}
		return resp
	}
	for _, g := range []string{active, idle} {
		resp := fetch(g)
		unsubEnds.Each(func(o kadm.Offset) {
			if got, ok := resp.Lookup(unsub, o.Partition); !ok || got.At != o.At {
				t.Errorf("group %s: committed %s/%d = %+v (present %v), want %d", g, unsub, o.Partition, got.At, ok, o.At)
			}
		})
	}

	member := startGroupConsumer(t, addrs, active, sub)
	memberOpen := true
	closeMember := func() {
		if memberOpen {
			memberOpen = false
			member.close()
		}
	}
	t.Cleanup(closeMember)
	waitGroupState(t, addrs, active, "Stable", 1, 30*time.Second)
	// The member consumes adm-sub and auto-commits its end offsets.
	testutil.Eventually(t, 20*time.Second, func() error {
		resp := fetch(active)
		done := true
		subEnds.Each(func(o kadm.Offset) {
			if got, ok := resp.Lookup(sub, o.Partition); !ok || got.At != o.At {
				done = false
			}
		})
		if !done {
			return fmt.Errorf("member of %s has not committed the end offsets of %s", active, sub)
		}
		return nil
	})

	// ListGroups, unfiltered and by state.
	list := func(states ...string) kadm.ListedGroups {
		t.Helper()
		ls, err := adm.ListGroups(ctx, states...)
		if err != nil {
			t.Fatalf("ListGroups %v: %v", states, err)
		}
		return ls
	}
	all := list()
	if g, ok := all[active]; !ok || g.State != "Stable" || g.ProtocolType != "consumer" {
		t.Errorf("ListGroups: %s = %+v (present %v), want Stable consumer", active, g, ok)
	}
	if g, ok := all[idle]; !ok || g.State != "Empty" || g.ProtocolType != "" {
		t.Errorf("ListGroups: %s = %+v (present %v), want Empty with no protocol type", idle, g, ok)
	}
	stable := list("Stable")
	if _, ok := stable[active]; !ok {
		t.Errorf("ListGroups(Stable) lacks %s: %v", active, stable.Groups())
	}
	if _, ok := stable[idle]; ok {
		t.Errorf("ListGroups(Stable) lists the Empty group %s", idle)
	}
	empty := list("Empty")
	if _, ok := empty[idle]; !ok {
		t.Errorf("ListGroups(Empty) lacks %s: %v", idle, empty.Groups())
	}
	if _, ok := empty[active]; ok {
		t.Errorf("ListGroups(Empty) lists the Stable group %s", active)
	}
	both := list("Stable", "Empty")
	if _, ok := both[active]; !ok {
		t.Errorf("ListGroups(Stable, Empty) lacks %s", active)
	}
	if _, ok := both[idle]; !ok {
		t.Errorf("ListGroups(Stable, Empty) lacks %s", idle)
	}
	if dead := list("Dead"); len(dead) != 0 {
		t.Errorf("ListGroups(Dead): %v, want none", dead.Groups())
	}

	// DescribeGroups.
	ga := describeGroup(t, addrs, active)
	if ga.Err != nil || ga.State != "Stable" || ga.ProtocolType != "consumer" || ga.Protocol != "cooperative-sticky" || len(ga.Members) != 1 {
		t.Errorf("DescribeGroups %s: err %v state %q type %q protocol %q members %d, want Stable consumer cooperative-sticky with 1 member",
			active, ga.Err, ga.State, ga.ProtocolType, ga.Protocol, len(ga.Members))
	} else {
		if got := memberPartitions(t, ga, sub); fmt.Sprint(got) != "[[0 1 2]]" {
			t.Errorf("DescribeGroups %s: member assigned %v of %s, want [[0 1 2]]", active, got, sub)
		}
		if md, ok := ga.Members[0].Join.AsConsumer(); !ok || fmt.Sprint(md.Topics) != "["+sub+"]" {
			t.Errorf("DescribeGroups %s: member metadata %+v (consumer %v), want a subscription to %s", active, md, ok, sub)
		}
	}
	gi := describeGroup(t, addrs, idle)
	if gi.Err != nil || gi.State != "Empty" || len(gi.Members) != 0 {
		t.Errorf("DescribeGroups %s: err %v state %q members %d, want Empty with none", idle, gi.Err, gi.State, len(gi.Members))
	}
	// An unknown group: Dead, and since DescribeGroups v6 (KIP-1043)
	// GROUP_ID_NOT_FOUND; below v6 no error.
	describeRaw := func(cl *kgo.Client, group string) kmsg.DescribeGroupsResponseGroup {
		t.Helper()
		req := kmsg.NewPtrDescribeGroupsRequest()
		req.Groups = []string{group}
		resp, err := req.RequestWith(ctx, cl)
		if err != nil || len(resp.Groups) != 1 {
			t.Fatalf("DescribeGroups %s: %v %+v", group, err, resp)
		}
		t.Logf("DescribeGroups v%d of %s: error %d state %q", resp.Version, group, resp.Groups[0].ErrorCode, resp.Groups[0].State)
		return resp.Groups[0]
	}
	if g := describeRaw(newClient(t, addrs), never); g.State != "Dead" || g.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Errorf("DescribeGroups v6 of unknown group %s: error %d state %q, want GROUP_ID_NOT_FOUND (%d) and Dead as Kafka 4.x answers from v6 on (KIP-1043)",
			never, g.ErrorCode, g.State, kerr.GroupIDNotFound.Code)
	}
	v5 := kversion.Stable()
	v5.SetMaxKeyVersion(15, 5)
	if g := describeRaw(newClient(t, addrs, kgo.MaxVersions(v5)), never); g.ErrorCode != 0 || g.State != "Dead" {
		t.Errorf("DescribeGroups v5 of unknown group %s: error %d state %q, want no error and Dead", never, g.ErrorCode, g.State)
	}

	// DeleteGroups: non-empty, empty, unknown.
	dresp, err := adm.DeleteGroups(ctx, active, idle, never)
	if err != nil {
		t.Fatalf("DeleteGroups: %v", err)
	}
	if e := dresp[active].Err; !errors.Is(e, kerr.NonEmptyGroup) {
		t.Errorf("DeleteGroups of %s with a member: %v, want NON_EMPTY_GROUP", active, e)
	}
	if e := dresp[idle].Err; e != nil {
		t.Errorf("DeleteGroups of empty %s: %v, want success", idle, e)
	}
	if e := dresp[never].Err; !errors.Is(e, kerr.GroupIDNotFound) {
		t.Errorf("DeleteGroups of unknown %s: %v, want GROUP_ID_NOT_FOUND", never, e)
	}
	all = list()
	if _, ok := all[idle]; ok {
		t.Errorf("ListGroups still lists deleted group %s: %+v", idle, all[idle])
	}
	if _, ok := all[active]; !ok {
		t.Errorf("ListGroups lost %s after its refused deletion", active)
	}
	if gi := describeGroup(t, addrs, idle); gi.State != "Dead" {
		t.Errorf("DescribeGroups of deleted %s: state %q err %v, want Dead", idle, gi.State, gi.Err)
	}
	if resp := fetch(idle); len(resp) != 0 {
		t.Errorf("FetchOffsets of deleted %s: %v, want nothing", idle, resp.Sorted())
	}
	if ga := describeGroup(t, addrs, active); ga.State != "Stable" || len(ga.Members) != 1 {
		t.Errorf("after a refused DeleteGroups, %s is %q with %d members, want Stable with 1", active, ga.State, len(ga.Members))
	}

	// OffsetDelete: subscribed topic refused per partition, unsubscribed removed.
	set := kadm.TopicsSet{}
	set.Add(sub, 0, 1, 2)
	set.Add(unsub, 0, 1, 2)
	odel, err := adm.DeleteOffsets(ctx, active, set)
	if err != nil {
		t.Fatalf("DeleteOffsets %s: %v", active, err)
	}
	for p := int32(0); p < 3; p++ {
		if e, ok := odel.Lookup(sub, p); !ok || !errors.Is(e, kerr.GroupSubscribedToTopic) {
			t.Errorf("DeleteOffsets %s/%d of %s (subscribed): %v (present %v), want GROUP_SUBSCRIBED_TO_TOPIC", sub, p, active, e, ok)
		}
		if e, ok := odel.Lookup(unsub, p); !ok || e != nil {
			t.Errorf("DeleteOffsets %s/%d of %s (not subscribed): %v (present %v), want success", unsub, p, active, e, ok)
		}
	}
	resp := fetch(active)
	for p := int32(0); p < 3; p++ {
		if o, ok := resp.Lookup(unsub, p); ok {
			t.Errorf("FetchOffsets %s after OffsetDelete: %s/%d still committed at %d", active, unsub, p, o.At)
		}
		want, _ := subEnds.Lookup(sub, p)
		if o, ok := resp.Lookup(sub, p); !ok || o.At != want.At {
			t.Errorf("FetchOffsets %s after a refused OffsetDelete: %s/%d = %d (present %v), want %d", active, sub, p, o.At, ok, want.At)
		}
	}
	if _, err := adm.DeleteOffsets(ctx, never, set); !errors.Is(err, kerr.GroupIDNotFound) {
		t.Errorf("DeleteOffsets of unknown group %s: %v, want GROUP_ID_NOT_FOUND", never, err)
	}

	// The member leaves: the group is Empty, its offsets can be deleted,
	// and then the group itself.
	closeMember()
	waitGroupState(t, addrs, active, "Empty", 0, 15*time.Second)
	if empty := list("Empty"); empty[active].State != "Empty" {
		t.Errorf("ListGroups(Empty) after the member left lacks %s: %v", active, empty.Groups())
	}
	subOnly := kadm.TopicsSet{}
	subOnly.Add(sub, 0, 1, 2)
	odel, err = adm.DeleteOffsets(ctx, active, subOnly)
	if err != nil || odel.Error() != nil {
		t.Errorf("DeleteOffsets of %s from the now empty %s: %v %v", sub, active, err, odel.Error())
	}
	if resp := fetch(active); len(resp) != 0 {
		t.Errorf("FetchOffsets %s after deleting all its offsets: %v, want nothing", active, resp.Sorted())
	}
	dresp, err = adm.DeleteGroups(ctx, active)
	if err != nil || dresp[active].Err != nil {
		t.Errorf("DeleteGroups of the now empty %s: %v %v", active, err, dresp[active].Err)
	}
	if all := list(); len(all) != 0 {
		t.Errorf("ListGroups after deleting every group: %v", all.Groups())
	}
}

// ---------------------------------------------------------------- failover

// TestGroupCoordinatorFailover: two franz-go members consume a 6-partition
// RF=3 topic; then the broker coordinating their group is stopped
// gracefully (its Raft leaderships move away, clients see NOT_COORDINATOR).
// A new coordinator must take the group over with both members and
// everything produced after the stop must be consumed; the committed
// offsets must reach the end offsets.
func TestGroupCoordinatorFailover(t *testing.T) {
	t.Parallel()
	c := testcluster.Start(t, testcluster.Options{Nodes: 3})
	addrs := c.Addrs()
	const topic, groupID, parts = "fo-grp", "fo-group", 6
	createTopic(t, addrs, topic, parts, 3)
	kgWaitLeaders(t, addrs, topic, parts)
	produced := produceN(t, roundRobinProducer(t, addrs), topic, "a", 1000)

	members := []*groupConsumer{
		startGroupConsumer(t, addrs, groupID, topic),
		startGroupConsumer(t, addrs, groupID, topic),
	}
	closed := false
	closeAll := func() {
		if !closed {
			closed = true
			for _, m := range members {
				m.close()
			}
		}
	}
	t.Cleanup(closeAll)
	g := waitGroupState(t, addrs, groupID, "Stable", 2, 30*time.Second)
	waitConsumedValues(t, members, produced)
	waitCommittedAtEnd(t, addrs, groupID, topic, 10*time.Second)

	coord := g.Coordinator.NodeID
	var rest []string
	for i, a := range addrs {
		if int32(i+1) != coord {
			rest = append(rest, a)
		}
	}
	t.Logf("stopping broker %d, the coordinator of %s", coord, groupID)
	stopped := time.Now()
	c.StopBroker(int(coord) - 1)
	more := produceN(t, roundRobinProducer(t, rest), topic, "b", 1000)
	waitConsumedValues(t, members, more)
	t.Logf("records produced after the stop consumed %v after it", time.Since(stopped))
	g2 := waitGroupState(t, rest, groupID, "Stable", 2, 30*time.Second)
	if g2.Coordinator.NodeID == coord {
		t.Errorf("group %s still reports stopped broker %d as its coordinator", groupID, coord)
	}
	t.Logf("new coordinator: broker %d", g2.Coordinator.NodeID)
	closeAll()
	var all []record
	for _, m := range members {
		all = append(all, m.records()...)
	}
	unique, redelivered := dedupeByPosition(t, all)
	checkSameRecords(t, append(produced, more...), unique)
	t.Logf("%d records, %d redelivered", len(unique), redelivered)
	waitCommittedAtEnd(t, rest, groupID, topic, 15*time.Second)
}

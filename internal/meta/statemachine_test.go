package meta

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"testing"

	sm "github.com/lni/dragonboat/v4/statemachine"
)

// harness feeds commands to a StateMachine at increasing Raft indexes.
type harness struct {
	t   *testing.T
	m   *StateMachine
	idx uint64
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	return &harness{t: t, m: New()}
}

func (h *harness) applyRaw(cmd []byte) sm.Result {
	h.t.Helper()
	h.idx++
	res, err := h.m.Update(sm.Entry{Index: h.idx, Cmd: cmd})
	if err != nil {
		h.t.Fatalf("Update(index %d): %v", h.idx, err)
	}
	if got := h.m.State().Index; got != h.idx {
		h.t.Fatalf("State().Index = %d after applying index %d", got, h.idx)
	}
	return res
}

func (h *harness) apply(c Command) sm.Result {
	h.t.Helper()
	return h.applyRaw(c.Encode())
}

// must applies c and fails unless it answers ErrNone.
func (h *harness) must(c Command) sm.Result {
	h.t.Helper()
	res := h.apply(c)
	if res.Value != ErrNone {
		h.t.Fatalf("command %s: code %d (%s), want 0", c.Encode(), res.Value, res.Data)
	}
	return res
}

func (h *harness) registerBrokers(n int) {
	h.t.Helper()
	for id := uint64(1); id <= uint64(n); id++ {
		h.must(Command{
			RegisterBroker: &Broker{
				ID:       id,
				RaftAddr: fmt.Sprintf("broker%d:%d", id, 9092+100*id),
				HTTPAddr: fmt.Sprintf("broker%d:%d", id, 13091+id),
				Endpoints: []Endpoint{
					{Name: "INTERNAL", Host: fmt.Sprintf("broker%d", id), Port: 19092},
					{Name: "EXTERNAL", Host: "localhost", Port: int32(9091 + id)},
				},
			},
			ClusterID: fmt.Sprintf("cluster-from-%d", id),
		})
	}
}

func topicID(name string) [16]byte {
	var id [16]byte
	copy(id[:], name)
	id[15] = 0xAB
	return id
}

func createTopicCmd(name string, partitions int32, rf int16) Command {
	return Command{CreateTopic: &CreateTopic{Name: name, ID: topicID(name), Partitions: partitions, ReplicationFactor: rf}}
}

func (h *harness) createTopic(name string, partitions int32, rf int16) *Topic {
	h.t.Helper()
	h.must(createTopicCmd(name, partitions, rf))
	t, ok := h.m.State().Topics[name]
	if !ok {
		h.t.Fatalf("topic %q missing after create", name)
	}
	return t
}

// preferredLeaders counts Replicas[0] per registered broker over all topics.
func preferredLeaders(s *State) map[uint64]int {
	out := map[uint64]int{}
	for _, id := range s.BrokerIDs() {
		out[id] = 0
	}
	for _, t := range s.Topics {
		for _, p := range t.Partitions {
			out[p.Replicas[0]]++
		}
	}
	return out
}

func spread(counts map[uint64]int) (lo, hi int) {
	first := true
	for _, n := range counts {
		if first {
			lo, hi, first = n, n, false
		}
		lo, hi = min(lo, n), max(hi, n)
	}
	return lo, hi
}

// checkTopic checks replica sets are distinct, of size rf, on registered
// brokers, and partition indexes are 0..n-1.
func checkTopic(t *testing.T, s *State, topic *Topic, n, rf int) {
	t.Helper()
	if len(topic.Partitions) != n {
		t.Fatalf("topic %s has %d partitions, want %d", topic.Name, len(topic.Partitions), n)
	}
	for i, p := range topic.Partitions {
		if p.Index != int32(i) {
			t.Errorf("%s partition %d has Index %d", topic.Name, i, p.Index)
		}
		if len(p.Replicas) != rf {
			t.Errorf("%s-%d replicas %v, want %d of them", topic.Name, i, p.Replicas, rf)
		}
		seen := map[uint64]bool{}
		for _, r := range p.Replicas {
			if seen[r] {
				t.Errorf("%s-%d replicas %v repeat broker %d", topic.Name, i, p.Replicas, r)
			}
			seen[r] = true
			if _, ok := s.Brokers[r]; !ok {
				t.Errorf("%s-%d replica %d is not a registered broker", topic.Name, i, r)
			}
		}
	}
}

// allShards returns every partition shard id in the state.
func allShards(s *State) map[uint64]string {
	out := map[uint64]string{}
	for _, t := range s.Topics {
		for _, p := range t.Partitions {
			out[p.ShardID] = fmt.Sprintf("%s-%d", t.Name, p.Index)
		}
	}
	return out
}

// deepCopy returns an independent copy of s via its JSON form.
func deepCopy(t *testing.T, s *State) *State {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	c := newState()
	if err := json.Unmarshal(b, c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRegisterBrokers(t *testing.T) {
	h := newHarness(t)
	h.registerBrokers(3)
	s := h.m.State()
	if got := s.BrokerIDs(); !reflect.DeepEqual(got, []uint64{1, 2, 3}) {
		t.Fatalf("BrokerIDs = %v", got)
	}
	if s.ClusterID != "cluster-from-1" {
		t.Errorf("ClusterID = %q, want the first registration's", s.ClusterID)
	}
	e, ok := s.Brokers[2].Endpoint("EXTERNAL")
	if !ok || e != (Endpoint{Name: "EXTERNAL", Host: "localhost", Port: 9093}) {
		t.Errorf("broker 2 EXTERNAL = %+v, %v", e, ok)
	}
	if _, ok := s.Brokers[2].Endpoint("NOPE"); ok {
		t.Errorf("Endpoint(NOPE) found")
	}
	// Re-registering replaces the broker's addresses but not the cluster id.
	h.must(Command{RegisterBroker: &Broker{ID: 2, RaftAddr: "moved:1", Endpoints: []Endpoint{{Name: "INTERNAL", Host: "moved", Port: 1}}}, ClusterID: "other"})
	s2 := h.m.State()
	if s2.Brokers[2].RaftAddr != "moved:1" || len(s2.Brokers) != 3 || s2.ClusterID != "cluster-from-1" {
		t.Errorf("after re-register: broker 2 = %+v, %d brokers, cluster %q", s2.Brokers[2], len(s2.Brokers), s2.ClusterID)
	}
	if s.Brokers[2].RaftAddr == "moved:1" {
		t.Errorf("re-registering changed the broker in a State held by a reader")
	}
}

func TestCreateTopicSixPartitionsRF3(t *testing.T) {
	h := newHarness(t)
	h.registerBrokers(3)
	topic := h.createTopic("orders", 6, 3)
	s := h.m.State()
	checkTopic(t, s, topic, 6, 3)
	if topic.ID != topicID("orders") {
		t.Errorf("topic ID = %x, want the proposer's", topic.ID)
	}
	for i, p := range topic.Partitions {
		if want := FirstPartitionShard + uint64(i); p.ShardID != want {
			t.Errorf("partition %d shard %d, want %d", i, p.ShardID, want)
		}
	}
	if s.NextShardID != FirstPartitionShard+6 {
		t.Errorf("NextShardID = %d, want %d", s.NextShardID, FirstPartitionShard+6)
	}
	leaders := preferredLeaders(s)
	if !reflect.DeepEqual(leaders, map[uint64]int{1: 2, 2: 2, 3: 2}) {
		t.Errorf("preferred leaders per broker = %v, want 2/2/2", leaders)
	}
	// Every broker holds a replica of every partition at RF=3.
	for _, id := range []uint64{1, 2, 3} {
		if n := len(s.PartitionsOf(id)); n != 6 {
			t.Errorf("PartitionsOf(%d) = %d partitions, want 6", id, n)
		}
	}
	for i, p := range topic.Partitions {
		ref, ok := s.Shard(p.ShardID)
		if !ok || ref.Topic != "orders" || ref.Partition.Index != int32(i) {
			t.Errorf("Shard(%d) = %+v, %v", p.ShardID, ref, ok)
		}
	}
	if _, ok := s.Shard(FirstPartitionShard + 6); ok {
		t.Errorf("Shard(%d) found a partition that does not exist", FirstPartitionShard+6)
	}
	if got, ok := s.TopicByID(topicID("orders")); !ok || got != topic {
		t.Errorf("TopicByID = %v, %v", got, ok)
	}
	if _, ok := s.TopicByID(topicID("none")); ok {
		t.Errorf("TopicByID(unknown) found a topic")
	}
}

func TestPreferredLeadersBalancedAcrossTopics(t *testing.T) {
	h := newHarness(t)
	h.registerBrokers(3)
	steps := []struct {
		name string
		n    int32
		rf   int16
	}{
		{"one", 1, 1},
		{"two", 2, 2},
		{"five", 5, 2},
		{"five-rf1", 5, 1},
		{"one-rf3", 1, 3},
		{"seven", 7, 3},
		{"two-b", 2, 1},
		{"three", 3, 3},
		{"eleven", 11, 2},
	}
	lastShard := FirstPartitionShard - 1
	for _, st := range steps {
		topic := h.createTopic(st.name, st.n, st.rf)
		s := h.m.State()
		checkTopic(t, s, topic, int(st.n), int(st.rf))
		for _, p := range topic.Partitions {
			if p.ShardID != lastShard+1 {
				t.Errorf("%s-%d shard %d, want %d (unique, increasing)", st.name, p.Index, p.ShardID, lastShard+1)
			}
			lastShard = p.ShardID
		}
		leaders := preferredLeaders(s)
		if lo, hi := spread(leaders); hi-lo > 1 {
			t.Errorf("after topic %s (%d partitions, RF %d): preferred leaders per broker %v differ by more than 1", st.name, st.n, st.rf, leaders)
		}
	}
	if n := len(allShards(h.m.State())); n != 37 {
		t.Errorf("%d distinct shard ids, want 37", n)
	}
}

func TestCreateTopicErrors(t *testing.T) {
	h := newHarness(t)
	// No brokers yet: no replication factor fits.
	if res := h.apply(createTopicCmd("early", 1, 1)); res.Value != ErrInvalidReplication {
		t.Errorf("create with no brokers: code %d, want ErrInvalidReplication", res.Value)
	}
	h.registerBrokers(3)
	orig := h.createTopic("t", 3, 2)

	tests := []struct {
		name string
		cmd  Command
		want uint64
	}{
		{"duplicate", createTopicCmd("t", 5, 1), ErrTopicExists},
		{"rf above brokers", createTopicCmd("u", 1, 4), ErrInvalidReplication},
		{"rf 0", createTopicCmd("u", 1, 0), ErrInvalidReplication},
		{"rf negative", createTopicCmd("u", 1, -1), ErrInvalidReplication},
		{"0 partitions", createTopicCmd("u", 0, 1), ErrInvalidPartitions},
		{"negative partitions", createTopicCmd("u", -3, 1), ErrInvalidPartitions},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := h.m.State()
			res := h.apply(tc.cmd)
			if res.Value != tc.want {
				t.Fatalf("code %d (%s), want %d", res.Value, res.Data, tc.want)
			}
			if len(res.Data) == 0 {
				t.Errorf("no message with error %d", res.Value)
			}
			after := h.m.State()
			if after.NextShardID != before.NextShardID || len(after.Topics) != len(before.Topics) {
				t.Errorf("rejected create changed state: shards %d→%d, topics %d→%d", before.NextShardID, after.NextShardID, len(before.Topics), len(after.Topics))
			}
			if after.Topics["t"] != orig {
				t.Errorf("rejected create replaced topic t")
			}
		})
	}
}

func TestCreatePartitions(t *testing.T) {
	h := newHarness(t)
	h.registerBrokers(3)
	h.createTopic("a", 2, 1)
	orig := h.createTopic("grow", 3, 2)
	held := h.m.State()
	next := held.NextShardID

	h.must(Command{CreatePartitions: &CreatePartitions{Topic: "grow", Count: 5}})
	s := h.m.State()
	grown := s.Topics["grow"]
	checkTopic(t, s, grown, 5, 2)
	for i := 0; i < 3; i++ {
		if !reflect.DeepEqual(grown.Partitions[i], orig.Partitions[i]) {
			t.Errorf("partition %d changed: %+v → %+v", i, orig.Partitions[i], grown.Partitions[i])
		}
	}
	for i := 3; i < 5; i++ {
		if want := next + uint64(i-3); grown.Partitions[i].ShardID != want {
			t.Errorf("new partition %d shard %d, want %d", i, grown.Partitions[i].ShardID, want)
		}
	}
	if s.NextShardID != next+2 {
		t.Errorf("NextShardID = %d, want %d", s.NextShardID, next+2)
	}
	if grown.ID != orig.ID || grown.Name != orig.Name {
		t.Errorf("identity changed: %+v", grown)
	}
	if lo, hi := spread(preferredLeaders(s)); hi-lo > 1 {
		t.Errorf("preferred leaders after growth: %v", preferredLeaders(s))
	}
	if len(allShards(s)) != 7 {
		t.Errorf("shard ids not unique: %v", allShards(s))
	}
	// Copy-on-write: the State and Topic held before still show 3 partitions.
	if len(held.Topics["grow"].Partitions) != 3 || len(orig.Partitions) != 3 {
		t.Errorf("growth mutated a held topic: %d / %d partitions", len(held.Topics["grow"].Partitions), len(orig.Partitions))
	}

	for _, tc := range []struct {
		name string
		cp   CreatePartitions
		want uint64
	}{
		{"same count", CreatePartitions{Topic: "grow", Count: 5}, ErrInvalidPartitions},
		{"fewer", CreatePartitions{Topic: "grow", Count: 2}, ErrInvalidPartitions},
		{"zero", CreatePartitions{Topic: "grow", Count: 0}, ErrInvalidPartitions},
		{"unknown topic", CreatePartitions{Topic: "nope", Count: 9}, ErrUnknownTopic},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cp := tc.cp
			before := h.m.State()
			if res := h.apply(Command{CreatePartitions: &cp}); res.Value != tc.want {
				t.Fatalf("code %d (%s), want %d", res.Value, res.Data, tc.want)
			}
			after := h.m.State()
			if after.NextShardID != before.NextShardID || len(after.Topics["grow"].Partitions) != 5 {
				t.Errorf("rejected CreatePartitions changed state")
			}
		})
	}
}

func TestDeleteTopic(t *testing.T) {
	h := newHarness(t)
	h.registerBrokers(3)
	gone := h.createTopic("gone", 3, 3)
	kept := h.createTopic("kept", 2, 3)
	for _, p := range append(append([]Partition(nil), gone.Partitions...), kept.Partitions...) {
		h.must(Command{SetLeader: &SetLeader{ShardID: p.ShardID, Leader: Leader{Replica: p.Replicas[0], Term: 4}}})
	}
	if n := len(h.m.State().Leaders); n != 5 {
		t.Fatalf("%d leaders recorded, want 5", n)
	}
	held := h.m.State()
	name := "gone"
	h.must(Command{DeleteTopic: &name})
	s := h.m.State()
	if _, ok := s.Topics["gone"]; ok {
		t.Fatalf("topic still present after delete")
	}
	for _, p := range gone.Partitions {
		if l, ok := s.Leaders[p.ShardID]; ok {
			t.Errorf("leader of deleted shard %d still recorded: %+v", p.ShardID, l)
		}
		if _, ok := s.Shard(p.ShardID); ok {
			t.Errorf("Shard(%d) still resolves", p.ShardID)
		}
	}
	for _, p := range kept.Partitions {
		if l := s.Leaders[p.ShardID]; l.Term != 4 {
			t.Errorf("leader of kept shard %d lost: %+v", p.ShardID, l)
		}
	}
	if !reflect.DeepEqual(s.TopicNames(), []string{"kept"}) {
		t.Errorf("TopicNames = %v", s.TopicNames())
	}
	if _, ok := held.Topics["gone"]; !ok || len(held.Leaders) != 5 {
		t.Errorf("delete mutated a held State")
	}
	// Shard ids are never reused.
	again := h.createTopic("gone", 1, 1)
	if again.Partitions[0].ShardID <= kept.Partitions[1].ShardID {
		t.Errorf("recreated topic got shard %d, reusing an old id", again.Partitions[0].ShardID)
	}
	// A leader report for a deleted shard is not recorded.
	h.must(Command{SetLeader: &SetLeader{ShardID: gone.Partitions[0].ShardID, Leader: Leader{Replica: 1, Term: 9}}})
	if _, ok := h.m.State().Leaders[gone.Partitions[0].ShardID]; ok {
		t.Errorf("leader recorded for a deleted shard")
	}
	unknown := "never"
	if res := h.apply(Command{DeleteTopic: &unknown}); res.Value != ErrUnknownTopic {
		t.Errorf("delete unknown: code %d, want ErrUnknownTopic", res.Value)
	}
}

func TestSetLeaderTerms(t *testing.T) {
	h := newHarness(t)
	h.registerBrokers(3)
	shard := h.createTopic("t", 1, 3).Partitions[0].ShardID
	set := func(replica, term uint64) {
		t.Helper()
		h.must(Command{SetLeader: &SetLeader{ShardID: shard, Leader: Leader{Replica: replica, Term: term}}})
	}
	get := func() Leader { return h.m.State().Leaders[shard] }

	set(1, 5)
	if get() != (Leader{Replica: 1, Term: 5}) {
		t.Fatalf("leader = %+v, want 1@5", get())
	}
	set(2, 3) // stale report from an older term
	if get() != (Leader{Replica: 1, Term: 5}) {
		t.Errorf("older term overwrote: leader = %+v, want 1@5", get())
	}
	set(3, 7)
	if get() != (Leader{Replica: 3, Term: 7}) {
		t.Errorf("newer term ignored: leader = %+v, want 3@7", get())
	}
	set(3, 7) // repeat of the same report
	if get() != (Leader{Replica: 3, Term: 7}) {
		t.Errorf("same report changed leader: %+v", get())
	}
	set(1, 6)
	if get() != (Leader{Replica: 3, Term: 7}) {
		t.Errorf("older term overwrote: leader = %+v, want 3@7", get())
	}
	// Unknown shard: ignored, not an error.
	h.must(Command{SetLeader: &SetLeader{ShardID: 999999, Leader: Leader{Replica: 1, Term: 1}}})
	if _, ok := h.m.State().Leaders[999999]; ok {
		t.Errorf("leader recorded for an unknown shard")
	}
}

func TestAllocProducerIDs(t *testing.T) {
	h := newHarness(t)
	alloc := func(n int64) sm.Result {
		t.Helper()
		return h.apply(Command{AllocProducerIDs: &n})
	}
	var next int64
	for _, n := range []int64{1, 1000, 7, 1 << 20, 3} {
		res := alloc(n)
		if res.Value != ErrNone {
			t.Fatalf("alloc %d: code %d (%s)", n, res.Value, res.Data)
		}
		start, err := strconv.ParseInt(string(res.Data), 10, 64)
		if err != nil {
			t.Fatalf("alloc %d: data %q is not a number", n, res.Data)
		}
		if start != next {
			t.Errorf("alloc %d: block starts at %d, want %d (consecutive)", n, start, next)
		}
		next = start + n
		if got := h.m.State().NextProducerID; got != next {
			t.Errorf("NextProducerID = %d, want %d", got, next)
		}
	}
	for _, n := range []int64{0, -5, 1<<20 + 1} {
		if res := alloc(n); res.Value != ErrInvalidRequest {
			t.Errorf("alloc %d: code %d, want ErrInvalidRequest", n, res.Value)
		}
		if got := h.m.State().NextProducerID; got != next {
			t.Errorf("rejected alloc %d moved NextProducerID to %d", n, got)
		}
	}
}

func TestUndecodableAndEmptyCommands(t *testing.T) {
	h := newHarness(t)
	h.registerBrokers(3)
	h.createTopic("t", 4, 2)
	for _, cmd := range [][]byte{
		[]byte("not json"),
		{0xff, 0x00, 0x13},
		nil,
		[]byte(`{"create_topic": {"name": 7}}`),
		[]byte(`{"create_topic": {"name": "half", "partitions": "many"}}`),
		[]byte(`{}`),
		[]byte(`{"unknown_future_command": {"x": 1}}`),
	} {
		t.Run(fmt.Sprintf("%q", cmd), func(t *testing.T) {
			before := deepCopy(t, h.m.State())
			ch := h.m.Changed()
			res := h.applyRaw(cmd)
			if res.Value != ErrInvalidRequest {
				t.Errorf("code %d, want ErrInvalidRequest", res.Value)
			}
			after := deepCopy(t, h.m.State())
			if after.Index != h.idx {
				t.Errorf("Index = %d, want %d", after.Index, h.idx)
			}
			before.Index = after.Index
			if !reflect.DeepEqual(before, after) {
				t.Errorf("state changed beyond Index:\nbefore %+v\nafter  %+v", before, after)
			}
			select {
			case <-ch:
			default:
				t.Errorf("Changed() not closed after applying index %d", h.idx)
			}
		})
	}
}

func TestStateHeldByReaderIsNotMutated(t *testing.T) {
	h := newHarness(t)
	h.registerBrokers(3)
	h.createTopic("a", 3, 3)
	h.createTopic("b", 2, 2)
	shard := h.m.State().Topics["a"].Partitions[0].ShardID
	h.must(Command{SetLeader: &SetLeader{ShardID: shard, Leader: Leader{Replica: 1, Term: 1}}})

	held := h.m.State()
	snapshot := deepCopy(t, held)
	heldA := held.Topics["a"]
	heldPartitions := heldA.Partitions

	// Every kind of change.
	h.registerBrokers(4)
	h.must(Command{SetLeader: &SetLeader{ShardID: shard, Leader: Leader{Replica: 2, Term: 2}}})
	h.createTopic("c", 5, 3)
	h.must(Command{CreatePartitions: &CreatePartitions{Topic: "a", Count: 6}})
	b := "b"
	h.must(Command{DeleteTopic: &b})
	n := int64(10)
	h.must(Command{AllocProducerIDs: &n})
	h.applyRaw([]byte("garbage"))

	if got := deepCopy(t, held); !reflect.DeepEqual(got, snapshot) {
		t.Errorf("held State changed:\nwas %+v\nnow %+v", snapshot, got)
	}
	if held.Topics["a"] != heldA || len(heldA.Partitions) != 3 || &heldA.Partitions[0] != &heldPartitions[0] {
		t.Errorf("held topic a changed")
	}
	cur := h.m.State()
	if cur == held || len(cur.Topics["a"].Partitions) != 6 || cur.Leaders[shard].Term != 2 || len(cur.Brokers) != 4 {
		t.Errorf("current state did not take the updates: %+v", cur)
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	h := newHarness(t)
	h.registerBrokers(3)
	h.createTopic("plain", 3, 3)
	h.must(Command{CreateTopic: &CreateTopic{Name: "configured", ID: topicID("configured"), Partitions: 5, ReplicationFactor: 2,
		Configs: map[string]string{"retention.ms": "60000", "cleanup.policy": "delete"}}})
	h.must(Command{CreateTopic: &CreateTopic{Name: "empty-configs", ID: topicID("empty-configs"), Partitions: 1, ReplicationFactor: 1,
		Configs: map[string]string{}}})
	h.must(Command{CreatePartitions: &CreatePartitions{Topic: "plain", Count: 4}})
	for shard := range allShards(h.m.State()) {
		h.must(Command{SetLeader: &SetLeader{ShardID: shard, Leader: Leader{Replica: 1 + shard%3, Term: shard % 7}}})
	}
	n := int64(42)
	h.must(Command{AllocProducerIDs: &n})
	gone := "empty-configs"
	h.must(Command{DeleteTopic: &gone})

	var buf bytes.Buffer
	if err := h.m.SaveSnapshot(&buf, nil, nil); err != nil {
		t.Fatalf("SaveSnapshot: %v", err)
	}
	restored := New()
	ch := restored.Changed()
	if err := restored.RecoverFromSnapshot(bytes.NewReader(buf.Bytes()), nil, nil); err != nil {
		t.Fatalf("RecoverFromSnapshot: %v", err)
	}
	select {
	case <-ch:
	default:
		t.Errorf("Changed() not closed by RecoverFromSnapshot")
	}
	if !reflect.DeepEqual(restored.State(), h.m.State()) {
		a, _ := json.Marshal(h.m.State())
		b, _ := json.Marshal(restored.State())
		t.Fatalf("restored state differs:\norig     %s\nrestored %s", a, b)
	}

	// Both replicas now apply the same commands identically.
	next := h.idx + 1
	for i, c := range []Command{createTopicCmd("after", 4, 3), {CreatePartitions: &CreatePartitions{Topic: "configured", Count: 8}}, {AllocProducerIDs: &n}} {
		e := sm.Entry{Index: next + uint64(i), Cmd: c.Encode()}
		r1, err1 := h.m.Update(e)
		r2, err2 := restored.Update(e)
		if err1 != nil || err2 != nil || !reflect.DeepEqual(r1, r2) {
			t.Fatalf("results differ: %+v %v vs %+v %v", r1, err1, r2, err2)
		}
	}
	if !reflect.DeepEqual(restored.State(), h.m.State()) {
		t.Errorf("states diverged after applying the same entries")
	}

	// A broken snapshot is an error, and leaves the state alone.
	before := restored.State()
	if err := restored.RecoverFromSnapshot(bytes.NewReader([]byte("{broken")), nil, nil); err == nil {
		t.Errorf("RecoverFromSnapshot accepted a broken snapshot")
	}
	if restored.State() != before {
		t.Errorf("failed recovery replaced the state")
	}
}

func TestChangedClosesOnUpdate(t *testing.T) {
	h := newHarness(t)
	ch := h.m.Changed()
	select {
	case <-ch:
		t.Fatalf("Changed() closed before any update")
	default:
	}
	if h.m.Changed() != ch {
		t.Errorf("Changed() returned a different channel with no update in between")
	}
	done := make(chan struct{})
	go func() {
		<-ch
		close(done)
	}()
	h.registerBrokers(1)
	<-done // the goroutine sees the close; a hang here fails the test by timeout
	ch2 := h.m.Changed()
	if ch2 == ch {
		t.Fatalf("Changed() still returns the closed channel")
	}
	select {
	case <-ch2:
		t.Fatalf("next Changed() channel already closed")
	default:
	}
	// A command that changes nothing but Index still counts as a change.
	id := uint64(1)
	h.must(Command{SetLeader: &SetLeader{ShardID: id, Leader: Leader{Replica: 1, Term: 1}}})
	select {
	case <-ch2:
	default:
		t.Errorf("Changed() not closed after an update")
	}
}

func TestLookupReturnsState(t *testing.T) {
	h := newHarness(t)
	h.registerBrokers(2)
	v, err := h.m.Lookup(nil)
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := v.(*State); !ok || s != h.m.State() {
		t.Errorf("Lookup = %T %v, want the current *State", v, v)
	}
	if err := h.m.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

func TestStateHelpers(t *testing.T) {
	h := newHarness(t)
	h.registerBrokers(3)
	for _, n := range []string{"zeta", "alpha", "mid"} {
		h.createTopic(n, 2, 1)
	}
	s := h.m.State()
	if got := s.TopicNames(); !reflect.DeepEqual(got, []string{"alpha", "mid", "zeta"}) {
		t.Errorf("TopicNames = %v", got)
	}
	// RF 1: each partition on exactly one broker; PartitionsOf covers all 6 once.
	total := 0
	for _, id := range s.BrokerIDs() {
		for _, ref := range s.PartitionsOf(id) {
			if ref.Partition.Replicas[0] != id {
				t.Errorf("PartitionsOf(%d) returned %s-%d on %v", id, ref.Topic, ref.Partition.Index, ref.Partition.Replicas)
			}
			total++
		}
	}
	if total != 6 {
		t.Errorf("PartitionsOf covers %d partitions, want 6", total)
	}
	if got := s.PartitionsOf(99); len(got) != 0 {
		t.Errorf("PartitionsOf(99) = %v", got)
	}
}

func TestAlterTopicConfigs(t *testing.T) {
	h := newHarness(t)
	h.registerBrokers(1)
	h.createTopic("t", 1, 1)
	h.must(Command{AlterTopicConfigs: &AlterTopicConfigs{Topic: "t", Set: map[string]string{"retention.ms": "1000", "segment.bytes": "4096"}}})
	held := h.m.State()
	h.must(Command{AlterTopicConfigs: &AlterTopicConfigs{Topic: "t", Set: map[string]string{"retention.bytes": "10"}, Delete: []string{"segment.bytes"}}})
	if got := h.m.State().Topics["t"].Configs; !reflect.DeepEqual(got, map[string]string{"retention.ms": "1000", "retention.bytes": "10"}) {
		t.Fatalf("incremental: %v", got)
	}
	if got := held.Topics["t"].Configs; len(got) != 2 || got["segment.bytes"] != "4096" {
		t.Errorf("alter mutated a held State: %v", got)
	}
	h.must(Command{AlterTopicConfigs: &AlterTopicConfigs{Topic: "t", Set: map[string]string{"segment.ms": "5"}, Replace: true}})
	if got := h.m.State().Topics["t"].Configs; !reflect.DeepEqual(got, map[string]string{"segment.ms": "5"}) {
		t.Fatalf("replace: %v", got)
	}
	if res := h.apply(Command{AlterTopicConfigs: &AlterTopicConfigs{Topic: "nope"}}); res.Value != ErrUnknownTopic {
		t.Errorf("unknown topic: code %d", res.Value)
	}
}

// TestRetrySafeCommands checks the promise ProposeMeta relies on when it
// proposes a command again after an attempt timed out: applying a
// RetrySafe command twice leaves the state it leaves once (a producer id
// block aside), and the commands whose repeat would answer or do something
// else are not RetrySafe.
func TestRetrySafeCommands(t *testing.T) {
	block := int64(1000)
	safe := map[string]Command{
		"register broker": {RegisterBroker: &Broker{ID: 2, RaftAddr: "broker2:9292", HTTPAddr: "broker2:13093"}, ClusterID: "other"},
		"set leader":      {SetLeader: &SetLeader{ShardID: FirstPartitionShard, Leader: Leader{Replica: 2, Term: 9}}},
		"group shards":    {EnsureGroupShards: &EnsureGroupShards{Count: 5, ReplicationFactor: 3}},
		"producer ids":    {AllocProducerIDs: &block},
	}
	// normalized is the state without what a repeat may legitimately move.
	normalized := func(s *State) string {
		c := s.clone()
		c.Index, c.NextProducerID = 0, 0
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for name, c := range safe {
		if !c.RetrySafe() {
			t.Errorf("%s: not RetrySafe", name)
		}
		once, twice := newHarness(t), newHarness(t)
		for _, h := range []*harness{once, twice} {
			h.registerBrokers(3)
			h.createTopic("t", 2, 3)
			h.must(c)
		}
		twice.must(c)
		if a, b := normalized(once.m.State()), normalized(twice.m.State()); a != b {
			t.Errorf("%s applied twice:\n%s\nonce:\n%s", name, b, a)
		}
	}
	deleted := "t"
	unsafe := map[string]Command{
		"create topic":      createTopicCmd("u", 1, 3),
		"delete topic":      {DeleteTopic: &deleted},
		"create partitions": {CreatePartitions: &CreatePartitions{Topic: "t", Count: 4}},
		"alter configs":     {AlterTopicConfigs: &AlterTopicConfigs{Topic: "t", Set: map[string]string{"retention.ms": "1000"}}},
	}
	for name, c := range unsafe {
		if c.RetrySafe() {
			t.Errorf("%s: RetrySafe, but a repeat answers an error or undoes a later change", name)
		}
	}
}

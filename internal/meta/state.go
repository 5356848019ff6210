// Package meta holds the cluster metadata replicated by the __meta Raft
// shard: brokers, topics, partitions and their replica sets, topic configs,
// producer-id blocks and the last reported partition leaders.
package meta

import (
	"maps"
	"slices"
	"sort"
	"sync"

	"github.com/longboat/longboat/internal/acl"
	"github.com/longboat/longboat/internal/sasl"
)

// ShardID of the __meta Raft shard. Partition shards start at FirstPartitionShard.
const (
	ShardID             uint64 = 1
	FirstPartitionShard uint64 = 1000
)

// Endpoint is one advertised Kafka listener of a broker.
type Endpoint struct {
	Name string `json:"name"`
	Host string `json:"host"`
	Port int32  `json:"port"`
}

// Broker is a registered broker.
type Broker struct {
	ID       uint64 `json:"id"`
	RaftAddr string `json:"raft_addr"`
	HTTPAddr string `json:"http_addr"`
	// AdvertisedHTTPAddr is where the other brokers reach HTTPAddr (its
	// --advertised-http-addr). Empty for registrations made before it
	// existed: peers then derive it from HTTPAddr and RaftAddr.
	AdvertisedHTTPAddr string     `json:"advertised_http_addr,omitempty"`
	Endpoints          []Endpoint `json:"endpoints"`
	// Incarnation names the data directory the broker registered from
	// (its identity file); a broker whose directory was wiped comes back
	// with a new one. Empty for registrations made before it existed.
	Incarnation string `json:"incarnation,omitempty"`
	// Features lists what the broker's version understands that an
	// older one would apply differently (FeatureTxnMarkerSeq), so that
	// nothing relies on it while a rolling upgrade runs brokers of both.
	// Brokers of an older version drop the field from their copy of the
	// state, so it can be missing where it holds. (A broker downgraded to
	// such a version keeps its earlier registration: downgrades are not
	// covered.)
	Features []string `json:"features,omitempty"`
}

// FeatureTxnMarkerSeq: the broker's partitions apply a transaction marker
// carrying its transaction's sequence (partition.MarkerCommand.Seq), and a
// copy of one already applied writes nothing. An older broker refuses such
// a marker, and its replica would diverge from the others.
const FeatureTxnMarkerSeq = "txn-marker-seq"

// AllBrokersHave tells whether every registered broker has a feature.
func (s *State) AllBrokersHave(feature string) bool {
	if len(s.Brokers) == 0 {
		return false
	}
	for _, b := range s.Brokers {
		if !slices.Contains(b.Features, feature) {
			return false
		}
	}
	return true
}

// Endpoint returns the advertised endpoint for a listener name.
func (b *Broker) Endpoint(name string) (Endpoint, bool) {
	for _, e := range b.Endpoints {
		if e.Name == name {
			return e, true
		}
	}
	return Endpoint{}, false
}

// Partition is one partition's Raft shard and replica set; Replicas[0] is
// the preferred leader.
type Partition struct {
	Index    int32    `json:"index"`
	ShardID  uint64   `json:"shard_id"`
	Replicas []uint64 `json:"replicas"`
	// Removed are the brokers a reassignment took out of the shard's Raft
	// group: dragonboat refuses a removed replica id for good.
	Removed []uint64 `json:"removed,omitempty"`
}

// Topic is an immutable value: a change produces a new *Topic.
type Topic struct {
	Name       string            `json:"name"`
	ID         [16]byte          `json:"id"`
	Partitions []Partition       `json:"partitions"`
	Configs    map[string]string `json:"configs"`
}

// Leader is the last leader a partition's shard reported through __meta;
// the live leader of a locally hosted shard comes from the NodeHost instead.
type Leader struct {
	Replica uint64 `json:"replica"`
	Term    uint64 `json:"term"`
}

// State is a read-only view; the state machine swaps in a new one per update.
type State struct {
	ClusterID string             `json:"cluster_id"`
	Brokers   map[uint64]*Broker `json:"brokers"`
	Topics    map[string]*Topic  `json:"topics"`
	Leaders   map[uint64]Leader  `json:"leaders"`
	// GroupShards hold consumer-group state; the coordinator of a group is
	// the leader of GroupShards[hash(group) % len].
	GroupShards    []Partition `json:"group_shards"`
	NextShardID    uint64      `json:"next_shard_id"`
	NextProducerID int64       `json:"next_producer_id"`
	// ScramUsers holds SCRAM credentials by user, then mechanism; an inner
	// map is replaced, never changed, once published.
	ScramUsers map[string]map[string]sasl.Credential `json:"scram_users,omitempty"`
	// ACLs are the authorizer's bindings; the slice is replaced, never
	// changed, once published.
	ACLs []acl.Binding `json:"acls,omitempty"`
	// BrokerConfigs are the cluster-wide dynamic broker configs (Kafka's
	// default broker entity), by broker config name; replaced, never
	// changed, once published.
	BrokerConfigs map[string]string `json:"broker_configs,omitempty"`
	// GroupConfigs are consumer groups' own configs (Kafka's GROUP config
	// resource), by group, then config name; an inner map is replaced,
	// never changed, once published.
	GroupConfigs map[string]map[string]string `json:"group_configs,omitempty"`
	// ClientQuotas are the client quotas by entity; the slice is
	// replaced, never changed, once published.
	ClientQuotas []ClientQuota `json:"client_quotas,omitempty"`
	// Reassignments are the partition moves in progress by shard id; the
	// map is replaced, never changed, once published.
	Reassignments map[uint64]*Reassignment `json:"reassignments,omitempty"`
	// Draining are the brokers remove-broker is emptying (ascending); no
	// placement puts a new replica on them. Replaced, never changed, once
	// published.
	Draining []uint64 `json:"draining,omitempty"`
	// RemovedBrokers left the cluster for good: their ids never register
	// again. Replaced, never changed, once published.
	RemovedBrokers []uint64 `json:"removed_brokers,omitempty"`
	// Index is the Raft index of the last applied entry.
	Index uint64 `json:"index"`

	// ids indexes Topics by id, built at the first lookup: Produce v13 and
	// Fetch v13+ name every topic by id.
	ids *topicIDs
	// quotas indexes ClientQuotas by entity, built at the first lookup:
	// every Produce and Fetch looks up its client's quota.
	quotas *quotaIndex
}

type topicIDs struct {
	once sync.Once
	m    map[[16]byte]*Topic
}

func newState() *State {
	return &State{
		Brokers:     map[uint64]*Broker{},
		Topics:      map[string]*Topic{},
		Leaders:     map[uint64]Leader{},
		NextShardID: FirstPartitionShard,
		ids:         &topicIDs{},
		quotas:      &quotaIndex{},
	}
}

// clone copies the maps (values are immutable) so an update never changes
// a State a reader holds.
func (s *State) clone() *State {
	c := *s
	c.ids = &topicIDs{}
	c.quotas = &quotaIndex{}
	c.Brokers = make(map[uint64]*Broker, len(s.Brokers))
	for k, v := range s.Brokers {
		c.Brokers[k] = v
	}
	c.Topics = make(map[string]*Topic, len(s.Topics))
	for k, v := range s.Topics {
		c.Topics[k] = v
	}
	c.Leaders = make(map[uint64]Leader, len(s.Leaders))
	for k, v := range s.Leaders {
		c.Leaders[k] = v
	}
	if s.GroupConfigs != nil { // nil stays nil, as a snapshot restores it
		c.GroupConfigs = maps.Clone(s.GroupConfigs)
	}
	if s.ScramUsers != nil { // nil stays nil, as a snapshot restores it
		c.ScramUsers = make(map[string]map[string]sasl.Credential, len(s.ScramUsers))
		for k, v := range s.ScramUsers {
			c.ScramUsers[k] = v
		}
	}
	return &c
}

// BrokerIDs returns registered broker ids in ascending order.
func (s *State) BrokerIDs() []uint64 {
	ids := make([]uint64, 0, len(s.Brokers))
	for id := range s.Brokers {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// TopicNames returns topic names in ascending order.
func (s *State) TopicNames() []string {
	names := make([]string, 0, len(s.Topics))
	for n := range s.Topics {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// TopicByID finds a topic by its UUID.
func (s *State) TopicByID(id [16]byte) (*Topic, bool) {
	if s.ids == nil { // a State decoded from a snapshot, or built by hand
		for _, t := range s.Topics {
			if t.ID == id {
				return t, true
			}
		}
		return nil, false
	}
	s.ids.once.Do(func() {
		s.ids.m = make(map[[16]byte]*Topic, len(s.Topics))
		for _, t := range s.Topics {
			s.ids.m[t.ID] = t
		}
	})
	t, ok := s.ids.m[id]
	return t, ok
}

// PartitionRef locates a partition shard.
type PartitionRef struct {
	Topic     string
	Partition Partition
}

// PartitionsOf returns every partition whose replica set contains broker id.
func (s *State) PartitionsOf(id uint64) []PartitionRef {
	var out []PartitionRef
	for _, t := range s.Topics {
		for _, p := range t.Partitions {
			for _, r := range p.Replicas {
				if r == id {
					out = append(out, PartitionRef{Topic: t.Name, Partition: p})
					break
				}
			}
		}
	}
	return out
}

// ReplicaSetsOf returns every shard (partition or group shard) whose
// replica set contains broker id.
func (s *State) ReplicaSetsOf(id uint64) []Partition {
	var out []Partition
	for _, ref := range s.PartitionsOf(id) {
		out = append(out, ref.Partition)
	}
	return append(out, s.GroupShardsOf(id)...)
}

// GroupShardsOf returns the group shards whose replica set contains broker id.
func (s *State) GroupShardsOf(id uint64) []Partition {
	var out []Partition
	for _, p := range s.GroupShards {
		for _, r := range p.Replicas {
			if r == id {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

// Shard returns the partition that owns shardID.
func (s *State) Shard(shardID uint64) (PartitionRef, bool) {
	for _, t := range s.Topics {
		for _, p := range t.Partitions {
			if p.ShardID == shardID {
				return PartitionRef{Topic: t.Name, Partition: p}, true
			}
		}
	}
	return PartitionRef{}, false
}

// hasShard tells whether shardID is a partition's or a group shard's.
// Brokers that host no replica of a group shard name its coordinator from
// the leader reported here, so group shards' reports count as much as
// partitions'.
func (s *State) hasShard(shardID uint64) bool {
	if _, ok := s.Shard(shardID); ok {
		return true
	}
	for _, p := range s.GroupShards {
		if p.ShardID == shardID {
			return true
		}
	}
	return false
}

// place picks replica sets for n new partitions. The preferred leader of each
// is the broker that currently prefers the fewest partitions (then holds the
// fewest replicas, then the lowest id), so leaders stay balanced across
// topics; the followers are the next brokers after it in id order.
func (s *State) place(n, rf int) [][]uint64 {
	ids := s.BrokerIDs()
	leaders, replicas := s.loads()
	out := make([][]uint64, 0, n)
	for i := 0; i < n; i++ {
		best := preferredLeader(ids, leaders, replicas)
		set := make([]uint64, 0, rf)
		for k := 0; k < rf; k++ {
			set = append(set, ids[(best+k)%len(ids)])
		}
		leaders[set[0]]++
		for _, r := range set {
			replicas[r]++
		}
		out = append(out, set)
	}
	return out
}

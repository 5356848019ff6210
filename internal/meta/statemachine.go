package meta

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	sm "github.com/lni/dragonboat/v4/statemachine"

	"github.com/longboat/longboat/internal/acl"
	"github.com/longboat/longboat/internal/sasl"
)

// MaxNewPartitions bounds the partitions one command may add: placement and
// every replica's shard start scale with it, and a committed command that
// cannot be applied would fail on every replica forever.
const MaxNewPartitions = 10000

// Kafka error codes the state machine answers with (Result.Value).
const (
	ErrNone               = 0
	ErrUnknownTopic       = 3
	ErrTopicExists        = 36
	ErrInvalidPartitions  = 37
	ErrInvalidReplication = 38
	ErrInvalidRequest     = 42
)

// Command is one __meta proposal. Exactly one field is set.
type Command struct {
	RegisterBroker     *Broker             `json:"register_broker,omitempty"`
	CreateTopic        *CreateTopic        `json:"create_topic,omitempty"`
	DeleteTopic        *string             `json:"delete_topic,omitempty"`
	CreatePartitions   *CreatePartitions   `json:"create_partitions,omitempty"`
	SetLeader          *SetLeader          `json:"set_leader,omitempty"`
	AllocProducerIDs   *int64              `json:"alloc_producer_ids,omitempty"`
	EnsureGroupShards  *EnsureGroupShards  `json:"ensure_group_shards,omitempty"`
	AlterTopicConfigs  *AlterTopicConfigs  `json:"alter_topic_configs,omitempty"`
	AlterScram         *AlterScram         `json:"alter_scram,omitempty"`
	AlterClientQuotas  *AlterClientQuotas  `json:"alter_client_quotas,omitempty"`
	AlterBrokerConfigs *AlterBrokerConfigs `json:"alter_broker_configs,omitempty"`
	AlterGroupConfigs  *AlterGroupConfigs  `json:"alter_group_configs,omitempty"`
	CreateACLs         []acl.Binding       `json:"create_acls,omitempty"`
	DeleteACLs         *DeleteACLs         `json:"delete_acls,omitempty"`
	Reassign           *Reassign           `json:"reassign,omitempty"`
	ReassignStep       *ReassignStep       `json:"reassign_step,omitempty"`
	SetDraining        *SetDraining        `json:"set_draining,omitempty"`
	// RemoveBroker takes a broker holding no replica out of the cluster.
	RemoveBroker *uint64 `json:"remove_broker,omitempty"`
	// ClusterID is proposed with a broker's registration; the first applied wins.
	ClusterID string `json:"cluster_id,omitempty"`
	// BootstrapScram, with a registration, are the users of
	// --bootstrap-scram-users: applied with the first ClusterID only, that
	// is when the cluster is created, and ignored afterwards.
	BootstrapScram []ScramUpsert `json:"bootstrap_scram,omitempty"`
}

// RetrySafe tells whether applying c twice leaves the same state as once
// (a producer id block wasted at most), so that a proposal whose fate is
// unknown may simply be made again.
func (c Command) RetrySafe() bool {
	return c.RegisterBroker != nil || c.SetLeader != nil || c.EnsureGroupShards != nil || c.AllocProducerIDs != nil || c.CreateACLs != nil ||
		c.Reassign != nil || c.ReassignStep != nil || c.SetDraining != nil || c.RemoveBroker != nil
}

// CreateTopic asks for a new topic; ID is chosen by the proposer so that
// every replica applies the same one.
type CreateTopic struct {
	Name              string            `json:"name"`
	ID                [16]byte          `json:"id"`
	Partitions        int32             `json:"partitions"`
	ReplicationFactor int16             `json:"replication_factor"`
	Configs           map[string]string `json:"configs"`
	Placement         *Placement        `json:"placement,omitempty"`
}

// CreatePartitions grows a topic to Count partitions.
type CreatePartitions struct {
	Topic     string     `json:"topic"`
	Count     int32      `json:"count"`
	Placement *Placement `json:"placement,omitempty"`
}

// AlterTopicConfigs changes a topic's own configs (validated by the
// proposer): with Replace the topic's configs become exactly Set
// (AlterConfigs); otherwise Set entries are set and Delete entries removed
// (IncrementalAlterConfigs).
type AlterTopicConfigs struct {
	Topic   string            `json:"topic"`
	Set     map[string]string `json:"set,omitempty"`
	Delete  []string          `json:"delete,omitempty"`
	Replace bool              `json:"replace,omitempty"`
}

// AlterBrokerConfigs changes the cluster-wide dynamic broker configs
// (validated by the proposer), as AlterTopicConfigs changes a topic's.
type AlterBrokerConfigs struct {
	Set     map[string]string `json:"set,omitempty"`
	Delete  []string          `json:"delete,omitempty"`
	Replace bool              `json:"replace,omitempty"`
}

func (a *AlterBrokerConfigs) apply(cur map[string]string) map[string]string {
	out := map[string]string{}
	if !a.Replace {
		maps.Copy(out, cur)
	}
	for _, name := range a.Delete {
		delete(out, name)
	}
	maps.Copy(out, a.Set)
	if len(out) == 0 {
		return nil
	}
	return out
}

// AlterGroupConfigs changes one consumer group's configs (validated by the
// proposer), as AlterBrokerConfigs changes the broker configs.
type AlterGroupConfigs struct {
	Group   string            `json:"group"`
	Set     map[string]string `json:"set,omitempty"`
	Delete  []string          `json:"delete,omitempty"`
	Replace bool              `json:"replace,omitempty"`
}

func (s *State) alterGroupConfigs(a *AlterGroupConfigs) {
	configs := (&AlterBrokerConfigs{Set: a.Set, Delete: a.Delete, Replace: a.Replace}).apply(s.GroupConfigs[a.Group])
	switch {
	case configs != nil && s.GroupConfigs == nil:
		s.GroupConfigs = map[string]map[string]string{a.Group: configs}
	case configs != nil:
		s.GroupConfigs[a.Group] = configs
	default:
		delete(s.GroupConfigs, a.Group)
		if len(s.GroupConfigs) == 0 {
			s.GroupConfigs = nil
		}
	}
}

// AlterScram sets and removes SCRAM credentials (validated by the
// proposer; deleting a missing one is a no-op, so a retry is harmless).
type AlterScram struct {
	Upserts   []ScramUpsert   `json:"upserts,omitempty"`
	Deletions []ScramDeletion `json:"deletions,omitempty"`
}

// ScramUpsert sets one user's credential for one mechanism.
type ScramUpsert struct {
	User       string          `json:"user"`
	Mechanism  string          `json:"mechanism"`
	Credential sasl.Credential `json:"credential"`
}

// ScramDeletion removes one user's credential for one mechanism.
type ScramDeletion struct {
	User      string `json:"user"`
	Mechanism string `json:"mechanism"`
}

// ScramCredential returns a user's credential for a SCRAM mechanism.
func (s *State) ScramCredential(user, mechanism string) (sasl.Credential, bool) {
	c, ok := s.ScramUsers[user][mechanism]
	return c, ok
}

func (s *State) alterScram(a *AlterScram) {
	for _, d := range a.Deletions {
		old, ok := s.ScramUsers[d.User]
		if _, has := old[d.Mechanism]; !ok || !has {
			continue
		}
		m := make(map[string]sasl.Credential, len(old))
		for k, v := range old {
			if k != d.Mechanism {
				m[k] = v
			}
		}
		if len(m) == 0 {
			delete(s.ScramUsers, d.User)
			if len(s.ScramUsers) == 0 {
				s.ScramUsers = nil
			}
		} else {
			s.ScramUsers[d.User] = m
		}
	}
	for _, u := range a.Upserts {
		old := s.ScramUsers[u.User]
		m := make(map[string]sasl.Credential, len(old)+1)
		for k, v := range old {
			m[k] = v
		}
		m[u.Mechanism] = u.Credential
		if s.ScramUsers == nil {
			s.ScramUsers = map[string]map[string]sasl.Credential{}
		}
		s.ScramUsers[u.User] = m
	}
}

// EnsureGroupShards creates the consumer-group shards once; later commands
// are no-ops, so every broker may propose it.
type EnsureGroupShards struct {
	Count             int        `json:"count"`
	ReplicationFactor int        `json:"replication_factor"`
	Placement         *Placement `json:"placement,omitempty"`
}

// SetLeader records a partition's or a group shard's leader, reported by
// the leader itself; an older term never overwrites a newer one.
type SetLeader struct {
	ShardID uint64 `json:"shard_id"`
	Leader
}

// Encode marshals a command for proposal.
func (c Command) Encode() []byte {
	b, err := json.Marshal(c)
	if err != nil {
		panic(fmt.Sprintf("meta: command cannot be encoded: %v", err)) // only plain types: cannot happen
	}
	return b
}

// StateMachine is the __meta replica's state machine (dragonboat IStateMachine).
type StateMachine struct {
	state  atomic.Pointer[State]
	mu     sync.Mutex
	change chan struct{}
}

// New returns an empty state machine; wrap it in a dragonboat factory.
func New() *StateMachine {
	m := &StateMachine{change: make(chan struct{})}
	m.state.Store(newState())
	return m
}

// State returns the current applied view (never modified afterwards).
func (m *StateMachine) State() *State { return m.state.Load() }

// Changed returns a channel closed at the next applied change.
func (m *StateMachine) Changed() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.change
}

func (m *StateMachine) publish(s *State) {
	m.state.Store(s)
	m.mu.Lock()
	close(m.change)
	m.change = make(chan struct{})
	m.mu.Unlock()
}

// Update applies one committed command.
func (m *StateMachine) Update(e sm.Entry) (sm.Result, error) {
	var c Command
	s := m.State().clone()
	s.Index = e.Index
	if err := json.Unmarshal(e.Cmd, &c); err != nil {
		// A command this version cannot read is skipped on every replica alike.
		m.publish(s)
		return sm.Result{Value: ErrInvalidRequest, Data: []byte(err.Error())}, nil
	}
	code, data := s.apply(&c)
	m.publish(s)
	return sm.Result{Value: uint64(code), Data: data}, nil
}

func (s *State) apply(c *Command) (int, []byte) {
	switch {
	case c.RegisterBroker != nil:
		b := *c.RegisterBroker
		if slices.Contains(s.RemovedBrokers, b.ID) {
			// A removed broker still running re-registers at its restart.
			return ErrInvalidRequest, []byte(fmt.Sprintf("broker %d was removed from the cluster", b.ID))
		}
		s.Brokers[b.ID] = &b
		if s.ClusterID == "" {
			s.ClusterID = c.ClusterID
			s.alterScram(&AlterScram{Upserts: c.BootstrapScram})
		}
		return ErrNone, nil
	case c.CreateTopic != nil:
		return s.createTopic(c.CreateTopic)
	case c.DeleteTopic != nil:
		t, ok := s.Topics[*c.DeleteTopic]
		if !ok {
			return ErrUnknownTopic, []byte("unknown topic")
		}
		for _, p := range t.Partitions {
			delete(s.Leaders, p.ShardID)
			if _, moving := s.Reassignments[p.ShardID]; moving {
				s.cloneReassignments()
				delete(s.Reassignments, p.ShardID)
			}
		}
		delete(s.Topics, t.Name)
		return ErrNone, nil
	case c.CreatePartitions != nil:
		return s.createPartitions(c.CreatePartitions)
	case c.SetLeader != nil:
		cur, ok := s.Leaders[c.SetLeader.ShardID]
		if s.hasShard(c.SetLeader.ShardID) && (!ok || c.SetLeader.Term >= cur.Term) {
			s.Leaders[c.SetLeader.ShardID] = c.SetLeader.Leader
		}
		return ErrNone, nil
	case c.EnsureGroupShards != nil:
		eg := c.EnsureGroupShards
		if len(s.GroupShards) > 0 {
			return ErrNone, nil
		}
		if eg.Count < 1 || eg.Count > 1000 {
			return ErrInvalidRequest, []byte("group shards: count must be 1..1000")
		}
		sets, code, msg := s.placeWith(eg.Placement, eg.Count, eg.ReplicationFactor)
		if code != ErrNone {
			return ErrInvalidRequest, []byte("group shards: " + msg)
		}
		for _, set := range sets {
			s.GroupShards = append(s.GroupShards, Partition{Index: int32(len(s.GroupShards)), ShardID: s.NextShardID, Replicas: set})
			s.NextShardID++
		}
		return ErrNone, nil
	case c.AlterTopicConfigs != nil:
		return s.alterTopicConfigs(c.AlterTopicConfigs)
	case c.AlterScram != nil:
		s.alterScram(c.AlterScram)
		return ErrNone, nil
	case c.AlterBrokerConfigs != nil:
		s.BrokerConfigs = c.AlterBrokerConfigs.apply(s.BrokerConfigs)
		return ErrNone, nil
	case c.AlterGroupConfigs != nil:
		s.alterGroupConfigs(c.AlterGroupConfigs)
		return ErrNone, nil
	case c.AlterClientQuotas != nil:
		s.alterClientQuotas(c.AlterClientQuotas)
		return ErrNone, nil
	case c.CreateACLs != nil:
		s.createACLs(c.CreateACLs)
		return ErrNone, nil
	case c.DeleteACLs != nil:
		return s.deleteACLs(c.DeleteACLs)
	case c.Reassign != nil:
		return s.reassign(c.Reassign)
	case c.ReassignStep != nil:
		return s.reassignStep(c.ReassignStep)
	case c.SetDraining != nil:
		return s.setDraining(c.SetDraining)
	case c.RemoveBroker != nil:
		return s.removeBroker(*c.RemoveBroker)
	case c.AllocProducerIDs != nil:
		n := *c.AllocProducerIDs
		if n <= 0 || n > 1<<20 {
			return ErrInvalidRequest, []byte("producer id block size must be 1..1048576")
		}
		start := s.NextProducerID
		s.NextProducerID += n
		return ErrNone, []byte(fmt.Sprint(start))
	}
	return ErrInvalidRequest, []byte("empty command")
}

func (s *State) createTopic(ct *CreateTopic) (int, []byte) {
	if _, ok := s.Topics[ct.Name]; ok {
		return ErrTopicExists, []byte(fmt.Sprintf("topic %q already exists", ct.Name))
	}
	if ct.Partitions < 1 || ct.Partitions > MaxNewPartitions {
		return ErrInvalidPartitions, []byte(fmt.Sprintf("number of partitions must be 1..%d", MaxNewPartitions))
	}
	sets, code, msg := s.placeWith(ct.Placement, int(ct.Partitions), int(ct.ReplicationFactor))
	if code != ErrNone {
		return code, []byte(msg)
	}
	t := &Topic{Name: ct.Name, ID: ct.ID, Configs: ct.Configs}
	for i, set := range sets {
		t.Partitions = append(t.Partitions, Partition{Index: int32(i), ShardID: s.NextShardID, Replicas: set})
		s.NextShardID++
	}
	s.Topics[t.Name] = t
	return ErrNone, nil
}

func (s *State) alterTopicConfigs(ac *AlterTopicConfigs) (int, []byte) {
	old, ok := s.Topics[ac.Topic]
	if !ok {
		return ErrUnknownTopic, []byte("unknown topic")
	}
	t := *old
	t.Configs = map[string]string{}
	if !ac.Replace {
		for k, v := range old.Configs {
			t.Configs[k] = v
		}
	}
	for _, k := range ac.Delete {
		delete(t.Configs, k)
	}
	for k, v := range ac.Set {
		t.Configs[k] = v
	}
	s.Topics[t.Name] = &t
	return ErrNone, nil
}

func (s *State) createPartitions(cp *CreatePartitions) (int, []byte) {
	old, ok := s.Topics[cp.Topic]
	if !ok {
		return ErrUnknownTopic, []byte("unknown topic")
	}
	have := int32(len(old.Partitions))
	if cp.Count <= have || cp.Count-have > MaxNewPartitions {
		return ErrInvalidPartitions, []byte(fmt.Sprintf("topic has %d partitions; the new count must be larger, by at most %d", have, MaxNewPartitions))
	}
	rf := len(old.Partitions[0].Replicas)
	t := *old
	t.Partitions = append([]Partition(nil), old.Partitions...)
	sets, code, msg := s.placeWith(cp.Placement, int(cp.Count-have), rf)
	if code != ErrNone {
		return code, []byte(msg)
	}
	for i, set := range sets {
		t.Partitions = append(t.Partitions, Partition{Index: have + int32(i), ShardID: s.NextShardID, Replicas: set})
		s.NextShardID++
	}
	s.Topics[t.Name] = &t
	return ErrNone, nil
}

// Lookup returns the current *State; queries are ignored.
func (m *StateMachine) Lookup(interface{}) (interface{}, error) { return m.State(), nil }

// SaveSnapshot writes the whole state as JSON; __meta is small.
func (m *StateMachine) SaveSnapshot(w io.Writer, _ sm.ISnapshotFileCollection, _ <-chan struct{}) error {
	return json.NewEncoder(w).Encode(m.State())
}

// RecoverFromSnapshot replaces the state with a snapshot's.
func (m *StateMachine) RecoverFromSnapshot(r io.Reader, _ []sm.SnapshotFile, _ <-chan struct{}) error {
	s := newState()
	if err := json.NewDecoder(r).Decode(s); err != nil {
		return fmt.Errorf("meta snapshot: %w", err)
	}
	m.publish(s)
	return nil
}

// Close releases nothing; the state lives in memory.
func (m *StateMachine) Close() error { return nil }

// Package group is the consumer-group coordinator: the replicated state of
// groups and committed offsets (one Raft shard per group shard), and the
// in-memory join/sync protocol the coordinator runs on the shard's leader.
package group

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"

	sm "github.com/lni/dragonboat/v4/statemachine"
)

// Protocol is one assignment protocol a member supports, with its metadata.
type Protocol struct {
	Name     string `json:"name"`
	Metadata []byte `json:"metadata"`
}

// MemberRecord is a member as persisted at the end of a rebalance.
type MemberRecord struct {
	ID                 string     `json:"id"`
	InstanceID         *string    `json:"instance_id,omitempty"`
	ClientID           string     `json:"client_id"`
	ClientHost         string     `json:"client_host"`
	SessionTimeoutMs   int32      `json:"session_timeout_ms"`
	RebalanceTimeoutMs int32      `json:"rebalance_timeout_ms"`
	Protocols          []Protocol `json:"protocols"`
	Assignment         []byte     `json:"assignment"`
}

// OffsetRecord is one committed offset.
type OffsetRecord struct {
	Offset      int64  `json:"offset"`
	LeaderEpoch int32  `json:"leader_epoch"`
	Metadata    string `json:"metadata"`
	CommitMs    int64  `json:"commit_ms"`
}

// Record is a group as persisted: its last completed generation and offsets.
type Record struct {
	ProtocolType string                            `json:"protocol_type"`
	Protocol     string                            `json:"protocol"`
	Generation   int32                             `json:"generation"`
	Leader       string                            `json:"leader"`
	Members      []MemberRecord                    `json:"members"`
	Offsets      map[string]map[int32]OffsetRecord `json:"offsets"`
}

// Command is one proposal to a group shard. Exactly one field is set.
type Command struct {
	// StoreGroup replaces a group's generation and members (offsets kept).
	StoreGroup *StoreGroup `json:"store_group,omitempty"`
	// Commit stores offsets.
	Commit *Commit `json:"commit,omitempty"`
	// Delete removes a group and its offsets.
	Delete *string `json:"delete,omitempty"`
	// DeleteOffsets removes some of a group's offsets.
	DeleteOffsets *DeleteOffsets `json:"delete_offsets,omitempty"`
}

// StoreGroup persists a group's membership after a rebalance.
type StoreGroup struct {
	Group        string         `json:"group"`
	ProtocolType string         `json:"protocol_type"`
	Protocol     string         `json:"protocol"`
	Generation   int32          `json:"generation"`
	Leader       string         `json:"leader"`
	Members      []MemberRecord `json:"members"`
}

// Commit persists offsets for a group.
type Commit struct {
	Group   string                            `json:"group"`
	Offsets map[string]map[int32]OffsetRecord `json:"offsets"`
}

// DeleteOffsets removes offsets of the given partitions.
type DeleteOffsets struct {
	Group      string             `json:"group"`
	Partitions map[string][]int32 `json:"partitions"`
}

// Encode marshals a command for proposal.
func (c Command) Encode() []byte {
	b, err := json.Marshal(c)
	if err != nil {
		panic(fmt.Sprintf("group: command cannot be encoded: %v", err)) // plain types only: cannot happen
	}
	return b
}

// StateMachine is one group shard's replica (a dragonboat IStateMachine).
// Reads take the lock; records handed out are copies.
type StateMachine struct {
	mu     sync.RWMutex
	groups map[string]*Record
}

// NewStateMachine returns an empty group shard state machine.
func NewStateMachine() *StateMachine { return &StateMachine{groups: map[string]*Record{}} }

// Update applies one committed command.
func (m *StateMachine) Update(e sm.Entry) (sm.Result, error) {
	var c Command
	if err := json.Unmarshal(e.Cmd, &c); err != nil {
		return sm.Result{Value: 1, Data: []byte(err.Error())}, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case c.StoreGroup != nil:
		g := m.group(c.StoreGroup.Group)
		g.ProtocolType, g.Protocol = c.StoreGroup.ProtocolType, c.StoreGroup.Protocol
		g.Generation, g.Leader, g.Members = c.StoreGroup.Generation, c.StoreGroup.Leader, c.StoreGroup.Members
	case c.Commit != nil:
		g := m.group(c.Commit.Group)
		for topic, parts := range c.Commit.Offsets {
			if g.Offsets[topic] == nil {
				g.Offsets[topic] = map[int32]OffsetRecord{}
			}
			for p, o := range parts {
				g.Offsets[topic][p] = o
			}
		}
	case c.Delete != nil:
		delete(m.groups, *c.Delete)
	case c.DeleteOffsets != nil:
		if g, ok := m.groups[c.DeleteOffsets.Group]; ok {
			for topic, parts := range c.DeleteOffsets.Partitions {
				for _, p := range parts {
					delete(g.Offsets[topic], p)
				}
				if len(g.Offsets[topic]) == 0 {
					delete(g.Offsets, topic)
				}
			}
		}
	}
	return sm.Result{}, nil
}

func (m *StateMachine) group(name string) *Record {
	g, ok := m.groups[name]
	if !ok {
		g = &Record{Generation: 0, Offsets: map[string]map[int32]OffsetRecord{}}
		m.groups[name] = g
	}
	return g
}

// Group returns a copy of a group's persisted record.
func (m *StateMachine) Group(name string) (Record, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	g, ok := m.groups[name]
	if !ok {
		return Record{}, false
	}
	return g.copy(), true
}

// Groups returns the names of every group with persisted state.
func (m *StateMachine) Groups() []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]string, 0, len(m.groups))
	for name := range m.groups {
		out = append(out, name)
	}
	return out
}

func (g *Record) copy() Record {
	c := *g
	c.Members = append([]MemberRecord(nil), g.Members...)
	c.Offsets = make(map[string]map[int32]OffsetRecord, len(g.Offsets))
	for t, parts := range g.Offsets {
		c.Offsets[t] = make(map[int32]OffsetRecord, len(parts))
		for p, o := range parts {
			c.Offsets[t][p] = o
		}
	}
	return c
}

// Lookup is unused: reads go through Group after a ReadIndex.
func (m *StateMachine) Lookup(interface{}) (interface{}, error) { return nil, nil }

// SaveSnapshot writes every group as JSON.
func (m *StateMachine) SaveSnapshot(w io.Writer, _ sm.ISnapshotFileCollection, _ <-chan struct{}) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return json.NewEncoder(w).Encode(m.groups)
}

// RecoverFromSnapshot replaces every group with the snapshot's.
func (m *StateMachine) RecoverFromSnapshot(r io.Reader, _ []sm.SnapshotFile, _ <-chan struct{}) error {
	groups := map[string]*Record{}
	if err := json.NewDecoder(r).Decode(&groups); err != nil {
		return fmt.Errorf("group snapshot: %w", err)
	}
	m.mu.Lock()
	m.groups = groups
	m.mu.Unlock()
	return nil
}

// Close releases nothing.
func (m *StateMachine) Close() error { return nil }

// Package group is the consumer-group coordinator: the replicated state of
// groups and committed offsets (one Raft shard per group shard), and the
// in-memory join/sync protocol the coordinator runs on the shard's leader.
package group

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"sync/atomic"
	"time"

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
	// StateMs is when the membership was last stored (Kafka's
	// current_state_timestamp).
	StateMs int64 `json:"state_ms,omitempty"`
	// Consumer is the state of a KIP-848 consumer group (consumerstate.go).
	Consumer *ConsumerRecord `json:"consumer,omitempty"`
	// snap is the snapshot generation the record was made in: a record of
	// an older one may be held by a snapshot being saved and is copied
	// before it is changed (snapshot.go).
	snap uint64
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
	// ExpireOffsets removes the offsets of memberless groups past their
	// retention, judged by AtMs.
	ExpireOffsets *ExpireOffsets `json:"expire_offsets,omitempty"`
	// Txn changes a transaction's record or a group's transactional
	// offsets (txnstate.go).
	Txn *TxnCommand `json:"txn,omitempty"`
	// Consumer stores a KIP-848 consumer group's state.
	Consumer *StoreConsumer `json:"consumer,omitempty"`
	// AtMs is the proposer's clock when it proposed: the time of the
	// records the command writes to __consumer_offsets and the clock their
	// tombstones expire by, the same on every replica.
	AtMs int64 `json:"at_ms,omitempty"`
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
	// Generation is the generation a member's commit was accepted in (0
	// for a standalone consumer). The commit is refused once the group has
	// stored a later generation: a coordinator that lost its leadership
	// between checking and proposing cannot move offsets of a group a newer
	// coordinator already rebalanced.
	Generation int32 `json:"generation,omitempty"`
	// Member and MemberEpoch fence a KIP-848 member's commit the same way:
	// refused once the stored group no longer has the member at that
	// epoch (or the one before).
	Member      string `json:"member,omitempty"`
	MemberEpoch int32  `json:"member_epoch,omitempty"`
}

// ExpireOffsets is the periodic offsets.retention.minutes cleanup.
type ExpireOffsets struct {
	RetentionMs int64 `json:"retention_ms"`
	// Active names the groups the coordinator holds members of that are
	// not stored yet (a first rebalance in progress): not expired.
	Active []string `json:"active,omitempty"`
}

// DeleteOffsets removes offsets of the given partitions.
type DeleteOffsets struct {
	Group      string             `json:"group"`
	Partitions map[string][]int32 `json:"partitions"`
}

// Encode marshals a command for proposal, stamped with the current time
// unless AtMs is set.
func (c Command) Encode() []byte {
	if c.AtMs == 0 {
		c.AtMs = time.Now().UnixMilli()
	}
	b, err := json.Marshal(c)
	if err != nil {
		panic(fmt.Sprintf("group: command cannot be encoded: %v", err)) // plain types only: cannot happen
	}
	return b
}

// Results of a command the state machine refused (sm.Result.Value).
const (
	resultMalformed = 1
	resultFenced    = 2 // a commit of a generation older than the stored one
	resultStale     = 3 // a StoreGroup of a generation older than the stored one
)

// ErrFenced is a commit refused because its generation is no longer the
// group's; ErrStale a membership older than the stored one.
var (
	ErrFenced = errors.New("commit from an older generation than the stored one")
	ErrStale  = errors.New("membership older than the stored one")
)

// CommandError turns the result of an applied command into its error.
func CommandError(r sm.Result) error {
	switch r.Value {
	case 0:
		return nil
	case resultFenced:
		return ErrFenced
	case resultStale:
		return ErrStale
	case resultTxnConflict:
		return ErrTxnConflict
	case resultTxnEnded:
		return ErrTxnEnded
	default:
		return fmt.Errorf("group command refused: %s", r.Data)
	}
}

// StateMachine is one group shard's replica (a dragonboat
// IConcurrentStateMachine, so that a snapshot is written while commits
// apply: snapshot.go): its groups and its partition of __consumer_offsets.
// Reads take the lock; records handed out are copies.
type StateMachine struct {
	mu       sync.RWMutex
	groups   map[string]*Record
	log      *offsetsLog
	appended chan struct{} // closed and replaced when records are written
	txn      txnState
	snapGen  uint64 // bumped by PrepareSnapshot: see Record.snap
	// applied is the Raft index of the last entry applied (or of the
	// snapshot recovered): a leader compares its followers' to tell when
	// a replica a reassignment brings in has caught up.
	applied atomic.Uint64
}

// NewStateMachine returns an empty group shard state machine.
func NewStateMachine() *StateMachine {
	return &StateMachine{groups: map[string]*Record{}, log: newOffsetsLog(), appended: make(chan struct{})}
}

// Update applies a batch of committed commands in order.
func (m *StateMachine) Update(entries []sm.Entry) ([]sm.Entry, error) {
	for i := range entries {
		res, err := m.Apply(entries[i])
		if err != nil {
			return nil, err
		}
		entries[i].Result = res
	}
	if n := len(entries); n > 0 {
		m.applied.Store(entries[n-1].Index)
	}
	return entries, nil
}

// Applied is the Raft index of the last entry this replica applied; 0
// until the first entry after a snapshot from before it was recorded.
func (m *StateMachine) Applied() uint64 { return m.applied.Load() }

// Apply applies one committed command.
func (m *StateMachine) Apply(e sm.Entry) (sm.Result, error) {
	var c Command
	if err := json.Unmarshal(e.Cmd, &c); err != nil {
		return sm.Result{Value: resultMalformed, Data: []byte(err.Error())}, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	written := m.log.next
	var res sm.Result
	switch {
	case c.StoreGroup != nil:
		if g, ok := m.groups[c.StoreGroup.Group]; ok && g.Generation > c.StoreGroup.Generation {
			res.Value = resultStale
			break
		}
		g := m.group(c.StoreGroup.Group)
		g.ProtocolType, g.Protocol = c.StoreGroup.ProtocolType, c.StoreGroup.Protocol
		g.Generation, g.Leader, g.Members = c.StoreGroup.Generation, c.StoreGroup.Leader, c.StoreGroup.Members
		g.StateMs = c.AtMs
		g.Consumer = nil // an empty consumer group converted to classic
		m.log.write(LogKey{Group: c.StoreGroup.Group}, false, c.AtMs)
	case c.Commit != nil:
		if g, ok := m.groups[c.Commit.Group]; ok && c.Commit.Generation > 0 && g.Generation > c.Commit.Generation {
			res.Value = resultFenced
			break
		}
		if g, ok := m.groups[c.Commit.Group]; ok && c.Commit.Member != "" && !g.Consumer.memberAt(c.Commit.Member, c.Commit.MemberEpoch) {
			res.Value = resultFenced
			break
		}
		g := m.group(c.Commit.Group)
		forEachOffset(c.Commit.Offsets, func(topic string, p int32) {
			if g.Offsets[topic] == nil {
				g.Offsets[topic] = map[int32]OffsetRecord{}
			}
			g.Offsets[topic][p] = c.Commit.Offsets[topic][p]
			m.log.write(LogKey{Group: c.Commit.Group, Offset: true, Topic: topic, Partition: p}, false, c.AtMs)
		})
	case c.Delete != nil:
		if g, ok := m.groups[*c.Delete]; ok {
			// As Kafka's DeleteGroups: a tombstone per offset, then the group's.
			forEachOffset(g.Offsets, func(topic string, p int32) {
				m.log.write(LogKey{Group: *c.Delete, Offset: true, Topic: topic, Partition: p}, true, c.AtMs)
			})
			m.log.write(LogKey{Group: *c.Delete}, true, c.AtMs)
			delete(m.groups, *c.Delete)
		}
	case c.DeleteOffsets != nil:
		if _, ok := m.groups[c.DeleteOffsets.Group]; ok {
			g := m.group(c.DeleteOffsets.Group)
			forEachOffset(partitionSet(c.DeleteOffsets.Partitions), func(topic string, p int32) {
				if _, ok := g.Offsets[topic][p]; !ok {
					return
				}
				delete(g.Offsets[topic], p)
				if len(g.Offsets[topic]) == 0 {
					delete(g.Offsets, topic)
				}
				m.log.write(LogKey{Group: c.DeleteOffsets.Group, Offset: true, Topic: topic, Partition: p}, true, c.AtMs)
			})
		}
	case c.ExpireOffsets != nil:
		m.expireOffsets(*c.ExpireOffsets, c.AtMs)
	case c.Txn != nil:
		res.Value = m.applyTxn(c.Txn, c.AtMs)
	case c.Consumer != nil:
		res.Value = m.storeConsumer(c.Consumer, c.AtMs)
	}
	m.log.expire(c.AtMs)
	if m.log.next != written {
		close(m.appended)
		m.appended = make(chan struct{})
	}
	return res, nil
}

// expireOffsets removes, as Kafka's offsets cleanup does, the offsets of
// groups without members once retentionMs has passed since the group
// became empty (or, for a group only ever used to store offsets, since the
// offset was committed), each with its tombstone; an empty group left
// without offsets goes too, its metadata tombstoned. Groups are visited by
// name so that every replica writes the same records.
func (m *StateMachine) expireOffsets(e ExpireOffsets, nowMs int64) {
	active := make(map[string]bool, len(e.Active))
	for _, name := range e.Active {
		active[name] = true
	}
	names := make([]string, 0, len(m.groups))
	for name, g := range m.groups {
		if !active[name] && len(g.Members) == 0 && !g.Consumer.active() {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		g := m.groups[name]
		// Walks the record as it was; a record a snapshot may hold is
		// copied only once an offset goes.
		forEachOffset(g.Offsets, func(topic string, p int32) {
			base := g.Offsets[topic][p].CommitMs
			if g.hasMetadata() && g.StateMs != 0 {
				base = g.StateMs
			}
			if nowMs-base < e.RetentionMs {
				return
			}
			g = m.group(name)
			delete(g.Offsets[topic], p)
			if len(g.Offsets[topic]) == 0 {
				delete(g.Offsets, topic)
			}
			m.log.write(LogKey{Group: name, Offset: true, Topic: topic, Partition: p}, true, nowMs)
		})
		if len(g.Offsets) > 0 {
			continue
		}
		if _, ok := m.log.slots[LogKey{Group: name}]; ok && !m.log.slots[LogKey{Group: name}].Tombstone {
			m.log.write(LogKey{Group: name}, true, nowMs)
		}
		delete(m.groups, name)
	}
}

// partitionSet turns partition lists into the map forEachOffset walks.
func partitionSet(parts map[string][]int32) map[string]map[int32]struct{} {
	out := make(map[string]map[int32]struct{}, len(parts))
	for t, ps := range parts {
		out[t] = make(map[int32]struct{}, len(ps))
		for _, p := range ps {
			out[t][p] = struct{}{}
		}
	}
	return out
}

// group returns the named group's record to change, created if missing,
// copied first if a snapshot being saved may hold it.
func (m *StateMachine) group(name string) *Record {
	g, ok := m.groups[name]
	switch {
	case !ok:
		g = &Record{Generation: 0, Offsets: map[string]map[int32]OffsetRecord{}, snap: m.snapGen}
		m.groups[name] = g
	case g.snap != m.snapGen:
		c := g.copy()
		c.snap = m.snapGen
		g = &c
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

// RecoverFromSnapshot replaces the state with the snapshot's. A snapshot
// from before the __consumer_offsets index gets its records numbered from
// its groups.
func (m *StateMachine) RecoverFromSnapshot(r io.Reader, _ []sm.SnapshotFile, _ <-chan struct{}) error {
	br := bufio.NewReader(r)
	head, err := br.Peek(len(snapshotHeader))
	var (
		snap snapshot
		log  *offsetsLog
	)
	if err == nil && string(head) == snapshotHeader {
		_, _ = br.Discard(len(snapshotHeader))
		if err := json.NewDecoder(br).Decode(&snap); err != nil {
			return fmt.Errorf("group snapshot: %w", err)
		}
		log = loadOffsetsLog(snap.Log)
	} else {
		if err := json.NewDecoder(br).Decode(&snap.Groups); err != nil {
			return fmt.Errorf("group snapshot (without header): %w", err)
		}
		log = numberLegacy(snap.Groups)
	}
	if snap.Groups == nil {
		snap.Groups = map[string]*Record{}
	}
	m.mu.Lock()
	m.groups, m.log, m.txn = snap.Groups, log, snap.Txn
	m.applied.Store(snap.Applied)
	close(m.appended)
	m.appended = make(chan struct{})
	m.mu.Unlock()
	return nil
}

// Close releases nothing.
func (m *StateMachine) Close() error { return nil }

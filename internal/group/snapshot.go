package group

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"

	sm "github.com/lni/dragonboat/v4/statemachine"
)

// A group shard takes a snapshot every few hundred entries, and encoding
// thousands of groups takes tens of milliseconds: done under the lock it
// stalled every commit of the shard meanwhile. So the state machine is a
// dragonboat IConcurrentStateMachine. PrepareSnapshot, which dragonboat
// runs between Updates, only freezes the current state: a copy of the map
// of group pointers (records are copied on their next change instead:
// StateMachine.group), the __consumer_offsets index and the transactional
// state. SaveSnapshot then encodes that frozen state without the lock while
// commits go on. The format is unchanged.

// snapshotHeader starts a snapshot that holds the __consumer_offsets
// index; older snapshots are a bare JSON object of groups.
const snapshotHeader = "longboat-groups 2\n"

type snapshot struct {
	Groups map[string]*Record `json:"groups"`
	Log    logSnapshot        `json:"log"`
	Txn    txnState           `json:"txn"`
	// Applied is the index of the last entry the snapshot holds (absent
	// from older snapshots).
	Applied uint64 `json:"applied,omitempty"`
}

// PrepareSnapshot freezes the state for SaveSnapshot. Records of the map
// it copies belong to the snapshot from now on: the next change to one
// copies it first, since its snapshot generation is now older.
func (m *StateMachine) PrepareSnapshot() (interface{}, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.snapGen++
	return &snapshot{Groups: maps.Clone(m.groups), Log: m.log.save(), Txn: m.txn.clone(), Applied: m.applied.Load()}, nil
}

// SaveSnapshot writes the header, then the frozen groups, index and
// transactions as JSON, concurrently with Update.
func (m *StateMachine) SaveSnapshot(frozen interface{}, w io.Writer, _ sm.ISnapshotFileCollection, _ <-chan struct{}) error {
	snap, ok := frozen.(*snapshot)
	if !ok {
		return fmt.Errorf("group snapshot: prepared state is %T, not a group snapshot", frozen)
	}
	if _, err := io.WriteString(w, snapshotHeader); err != nil {
		return fmt.Errorf("group snapshot: %w", err)
	}
	if err := json.NewEncoder(w).Encode(snap); err != nil {
		return fmt.Errorf("group snapshot: %w", err)
	}
	return nil
}

// clone copies the transactional state: its records are replaced, never
// changed, so their map is copied; pending offsets change in place and are
// copied through.
func (t txnState) clone() txnState {
	out := txnState{Records: maps.Clone(t.Records), Ends: maps.Clone(t.Ends)}
	if t.EndSeq != nil {
		out.EndSeq = make(map[string]map[int64]int64, len(t.EndSeq))
		for name, seqs := range t.EndSeq {
			out.EndSeq[name] = maps.Clone(seqs)
		}
	}
	if t.Pending == nil {
		return out
	}
	out.Pending = make(map[string]map[int64]map[string]map[int32]OffsetRecord, len(t.Pending))
	for name, byProducer := range t.Pending {
		cp := make(map[int64]map[string]map[int32]OffsetRecord, len(byProducer))
		for pid, topics := range byProducer {
			ct := make(map[string]map[int32]OffsetRecord, len(topics))
			for topic, parts := range topics {
				ct[topic] = maps.Clone(parts)
			}
			cp[pid] = ct
		}
		out.Pending[name] = cp
	}
	return out
}

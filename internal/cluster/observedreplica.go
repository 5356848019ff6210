package cluster

import (
	"time"

	sm "github.com/lni/dragonboat/v4/statemachine"
	"github.com/prometheus/client_golang/prometheus"
)

// observedReplica is a partition replica as dragonboat runs it: its Update
// is timed (the apply stage of a produce) and counted towards a snapshot by
// bytes, which dragonboat's entry count cannot give; every other call
// passes through.
type observedReplica struct {
	sm.IOnDiskStateMachine
	apply  prometheus.Observer
	snap   *snapshotTrigger // nil: snapshots by entry count only
	growth *logGrowth       // nil: the replica has a Raft log of its own
}

func (t observedReplica) Update(ents []sm.Entry) ([]sm.Entry, error) {
	start := time.Now()
	out, err := t.IOnDiskStateMachine.Update(ents)
	t.apply.Observe(time.Since(start).Seconds())
	if t.snap != nil || t.growth != nil {
		n := entryBytes(ents)
		if t.growth != nil {
			t.growth.bytes.Add(n)
		}
		if t.snap != nil {
			t.snap.applied(n)
		}
	}
	return out, err
}

// observedGroup is a group replica as dragonboat runs it: with a shared
// Raft log it takes a snapshot by the log's growth too.
type observedGroup struct {
	sm.IConcurrentStateMachine
	snap *growthTrigger
}

func (g observedGroup) Update(ents []sm.Entry) ([]sm.Entry, error) {
	out, err := g.IConcurrentStateMachine.Update(ents)
	g.snap.updated()
	return out, err
}

func entryBytes(ents []sm.Entry) int64 {
	var n int64
	for i := range ents {
		n += int64(len(ents[i].Cmd))
	}
	return n
}

func (t observedReplica) Sync() error {
	err := t.IOnDiskStateMachine.Sync()
	if err == nil && t.snap != nil {
		t.snap.synced()
	}
	return err
}

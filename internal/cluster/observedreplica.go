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
	apply prometheus.Observer
	snap  *snapshotTrigger // nil: snapshots by entry count only
}

func (t observedReplica) Update(ents []sm.Entry) ([]sm.Entry, error) {
	start := time.Now()
	out, err := t.IOnDiskStateMachine.Update(ents)
	t.apply.Observe(time.Since(start).Seconds())
	if t.snap != nil {
		t.snap.applied(ents)
	}
	return out, err
}

func (t observedReplica) Sync() error {
	err := t.IOnDiskStateMachine.Sync()
	if err == nil && t.snap != nil {
		t.snap.synced()
	}
	return err
}

package metrics

import (
	"testing"
)

// TestStageObservesProduceStage: Stage observes into ProduceStage's series
// of that stage, for the known stages and any other name.
func TestStageObservesProduceStage(t *testing.T) {
	m := New("test")
	want := map[string]uint64{}
	for i, st := range []string{StageDecode, StageValidate, StagePropose, StageCommit, StageApply, StageRespond, StageWrite, "other"} {
		want[st] = uint64(i + 1)
		for range i + 1 {
			m.Stage(st).Observe(0.001)
		}
	}
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]uint64{}
	for _, f := range families {
		if f.GetName() != "longboat_produce_stage_seconds" {
			continue
		}
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == "stage" {
					got[l.GetValue()] = s.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	if len(got) != len(want) {
		t.Fatalf("stage series %v, want %v", got, want)
	}
	for st, n := range want {
		if got[st] != n {
			t.Fatalf("stage %s: %d observations, want %d (all: %v)", st, got[st], n, got)
		}
	}
}

package chaos

import (
	"strings"
	"testing"
)

// TestEOSCheck feeds the pipeline's checker final reads with one of each
// anomaly beside clean records, and checks that a pipeline that never
// caught up is not blamed for what it had not copied yet.
func TestEOSCheck(t *testing.T) {
	w := &eosWorkload{
		sent:   map[string]string{"E0": "ok", "E1": "ok", "E2": "info", "E3": "ok", "E4": "info", "E5": "ok", "E6": "fail"},
		input:  map[string]int{"E0": 1, "E1": 1, "E2": 1, "E3": 1, "E5": 1},
		output: map[string]int{"E0": 1, "E1": 2, "E2": 1, "X9": 1},
	}
	w.caughtUp = true
	rep := Check(nil)
	summary := w.check(rep)
	// E1 twice: duplicate; X9: not input; E3, E5 not copied: lost; E4 is
	// unknown and not in the input: nothing; E6 failed: nothing.
	want := map[string]int{AnEOSDuplicate: 1, AnEOSForeign: 1, AnEOSLost: 2}
	for _, a := range AnomalyNames {
		if rep.Anomalies[a] != want[a] {
			t.Errorf("%s = %d, want %d (%v)", a, rep.Anomalies[a], want[a], rep.Examples[a])
		}
	}
	if wantSum := "exactly-once pipeline: 7 input sends (4 acknowledged, 2 unknown, 1 failed)"; !strings.HasPrefix(summary, wantSum) {
		t.Errorf("summary %q, want it to start %q", summary, wantSum)
	}

	w.sent["E7"] = "ok"
	w.caughtUp = false
	rep = Check(nil)
	w.check(rep)
	want = map[string]int{AnEOSDuplicate: 1, AnEOSForeign: 1, AnEOSInputLost: 1}
	for _, a := range AnomalyNames {
		if rep.Anomalies[a] != want[a] {
			t.Errorf("not caught up: %s = %d, want %d (%v)", a, rep.Anomalies[a], want[a], rep.Examples[a])
		}
	}
}

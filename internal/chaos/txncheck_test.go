package chaos

import (
	"fmt"
	"testing"
)

// TestTxnCheck feeds the transactional checker a history with one of each
// anomaly and one clean case of each outcome.
func TestTxnCheck(t *testing.T) {
	values := func(n int64, k int) []string {
		var out []string
		for i := range k {
			out = append(out, fmt.Sprintf("T%d:%d", n, i))
		}
		return out
	}
	w := &txnWorkload{outcome: map[int64]string{
		0: txnCommitted, // whole: fine
		1: txnAborted,   // absent: fine
		2: txnUnknown,   // whole: fine (committed)
		3: txnUnknown,   // absent: fine (aborted)
		4: txnCommitted, // absent: lost
		5: txnCommitted, // partial
		6: txnAborted,   // read while running: aborted read
	}, seen: map[string]bool{"T6:0": true, "T0:1": true}, final: map[string]int{}, lsoAbove: []string{"partition 1: LSO 9, then high watermark 8"}}
	for _, n := range []int64{0, 2} {
		for _, v := range values(n, txnRecords) {
			w.final[v] = 1
		}
	}
	for _, v := range values(5, txnRecords-1) {
		w.final[v] = 1
	}
	w.final["T0:0"] = 2
	rep := Check(nil)
	summary := w.check(rep)
	want := map[string]int{AnTxnAbortedRead: 1, AnTxnLost: 1, AnTxnPartial: 1, AnTxnDuplicate: 1, AnLSOAboveHWM: 1}
	for _, a := range AnomalyNames {
		if rep.Anomalies[a] != want[a] {
			t.Errorf("%s = %d, want %d (%v)", a, rep.Anomalies[a], want[a], rep.Examples[a])
		}
	}
	if wantSum := "transactions: 3 committed, 2 aborted, 2 unknown (1 of them committed)"; len(summary) < len(wantSum) || summary[:len(wantSum)] != wantSum {
		t.Errorf("summary %q, want it to start %q", summary, wantSum)
	}
}

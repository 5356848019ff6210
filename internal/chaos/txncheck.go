package chaos

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Anomalies of the transactional workload.
const (
	AnTxnAbortedRead = "txn-aborted-read"   // read_committed returned a record of an aborted transaction
	AnTxnPartial     = "txn-partial"        // the final read holds part of a transaction
	AnTxnLost        = "txn-committed-lost" // an acknowledged commit missing from the final read
	AnTxnDuplicate   = "txn-duplicate"      // the final read holds a record twice
	AnLSOAboveHWM    = "lso-above-hwm"
)

// The transactional anomalies are reported with the others.
func init() {
	AnomalyNames = append(AnomalyNames, AnTxnAbortedRead, AnTxnPartial, AnTxnLost, AnTxnDuplicate, AnLSOAboveHWM)
}

// txnOf parses "T<txn>:<i>".
func txnOf(v string) (int64, bool) {
	rest, ok := strings.CutPrefix(v, "T")
	if !ok {
		return 0, false
	}
	n, _, ok := strings.Cut(rest, ":")
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(n, 10, 64)
	return id, err == nil
}

// check adds the workload's anomalies to rep and returns a one-line
// summary of its transactions.
func (w *txnWorkload) check(rep *Report) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	counts := map[string]int{}
	for _, o := range w.outcome {
		counts[o]++
	}
	aborted := func(v string) bool {
		n, ok := txnOf(v)
		return ok && w.outcome[n] == txnAborted
	}
	for _, v := range sortedValues(w.seen) {
		if aborted(v) {
			rep.note(AnTxnAbortedRead, "the read_committed consumer read %s of aborted transaction", v)
		}
	}
	for _, x := range w.lsoAbove {
		rep.note(AnLSOAboveHWM, "%s", x)
	}
	if w.final == nil {
		return fmt.Sprintf("transactions: %d committed, %d aborted, %d unknown; no final read", counts[txnCommitted], counts[txnAborted], counts[txnUnknown])
	}
	inFinal := map[int64]int{}
	for v, c := range w.final {
		if c > 1 {
			rep.note(AnTxnDuplicate, "the final read returned %s %d times", v, c)
		}
		if aborted(v) {
			rep.note(AnTxnAbortedRead, "the final read_committed read returned %s of aborted transaction", v)
		}
		if n, ok := txnOf(v); ok {
			inFinal[n]++
		}
	}
	unknownVisible := 0
	for n, o := range w.outcome {
		got := inFinal[n]
		switch {
		case got != 0 && got != txnRecords:
			rep.note(AnTxnPartial, "transaction %d (%s): %d of its %d records in the final read", n, o, got, txnRecords)
		case o == txnCommitted && got == 0:
			rep.note(AnTxnLost, "transaction %d: commit acknowledged, none of its records in the final read", n)
		case o == txnUnknown && got == txnRecords:
			unknownVisible++
		}
	}
	return fmt.Sprintf("transactions: %d committed, %d aborted, %d unknown (%d of them committed); %d records read while running, %d in the final read",
		counts[txnCommitted], counts[txnAborted], counts[txnUnknown], unknownVisible, w.polled.Load(), len(w.final))
}

func sortedValues(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for v := range m {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

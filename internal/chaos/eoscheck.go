package chaos

import (
	"fmt"
	"sort"
	"strings"
)

// Anomalies of the exactly-once pipeline.
const (
	AnEOSLost      = "eos-lost"       // an input record missing from the pipeline's output
	AnEOSDuplicate = "eos-duplicate"  // the output holds an input record more than once
	AnEOSForeign   = "eos-not-input"  // the output holds a record the input never held
	AnEOSInputLost = "eos-input-lost" // an acknowledged input send missing from the input topic
)

func init() {
	AnomalyNames = append(AnomalyNames, AnEOSLost, AnEOSDuplicate, AnEOSForeign, AnEOSInputLost)
}

// check adds the pipeline's anomalies to rep and returns a one-line
// summary. The output is compared with the input topic as it was finally
// read, so an unknown input send counts as whatever the input holds.
func (w *eosWorkload) check(rep *Report) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	sent := map[string]int{}
	for v, o := range w.sent {
		sent[o]++
		if o == "ok" && w.input != nil && w.input[v] == 0 {
			rep.note(AnEOSInputLost, "input send %s acknowledged, not in the input topic", v)
		}
	}
	head := fmt.Sprintf("exactly-once pipeline: %d input sends (%d acknowledged, %d unknown, %d failed); %d transactions committed, %d aborted, %d unknown (their end failed); %d sessions (%d ended by an error)",
		len(w.sent), sent["ok"], sent["info"]+sent["invoke"], sent["fail"], w.committed.Load(), w.aborted.Load(), w.unknown.Load(), w.sessions.Load(), w.replaced.Load())
	if w.input == nil || w.output == nil {
		return head + "; no final read"
	}
	for _, v := range sortedKeys(w.output) {
		switch in, out := w.input[v], w.output[v]; {
		case in == 0:
			rep.note(AnEOSForeign, "the output holds %s (%d times), the input does not", v, out)
		case out > in:
			rep.note(AnEOSDuplicate, "the output holds %s %d times, the input %d", v, out, in)
		}
	}
	if w.caughtUp {
		for _, v := range sortedKeys(w.input) {
			if in, out := w.input[v], w.output[v]; out < in && strings.HasPrefix(v, eosInputIDs) {
				rep.note(AnEOSLost, "input record %s: %d times in the input, %d in the output", v, in, out)
			}
		}
	}
	return fmt.Sprintf("%s; final read: input %d records, output %d", head, len(w.input), total(w.output))
}

func sortedKeys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for v := range m {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

func total(m map[string]int) int {
	n := 0
	for _, c := range m {
		n += c
	}
	return n
}

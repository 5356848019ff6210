package chaos

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// PrintSummary writes the run's table: workload, events by kind, every
// anomaly count, outages per leader fault and leadership changes in calm.
func PrintSummary(w io.Writer, res *Result) {
	rep := res.Report
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "backend\t%s\n", res.Backend)
	fmt.Fprintf(tw, "seed\t%d\n", res.Seed)
	fmt.Fprintf(tw, "elapsed\t%s\n", res.Elapsed.Round(time.Second))
	for _, n := range res.Notes {
		fmt.Fprintf(tw, "note\t%s\n", n)
	}
	if rep == nil {
		tw.Flush()
		return
	}
	fmt.Fprintf(tw, "sends invoked / acknowledged / failed / unknown\t%d / %d / %d / %d\n", rep.Invoked, rep.Acked, rep.Failed, rep.Unknown)
	fmt.Fprintf(tw, "unknown sends found in the final read\t%d\n", rep.UnknownWritten)
	fmt.Fprintf(tw, "records polled / group commits acknowledged\t%d / %d\n", rep.Polled, rep.Commits)
	fmt.Fprintf(tw, "records in the final read\t%d\n", rep.FinalRecords)
	total := 0
	kinds := make([]string, 0, len(rep.Events))
	for k, n := range rep.Events {
		kinds = append(kinds, k)
		total += n
	}
	sort.Strings(kinds)
	var ev []string
	for _, k := range kinds {
		ev = append(ev, fmt.Sprintf("%s %d", k, rep.Events[k]))
	}
	fmt.Fprintf(tw, "nemesis events\t%d (%s)\n", total, strings.Join(ev, ", "))
	fmt.Fprintln(tw, "\t")
	fmt.Fprintln(tw, "ANOMALY\tCOUNT")
	for _, a := range AnomalyNames {
		fmt.Fprintf(tw, "%s\t%d\n", a, rep.Anomalies[a])
	}
	fmt.Fprintln(tw, "\t")
	fmt.Fprintln(tw, "PRODUCE OUTAGE (fault -> first ack again on every partition the victim led)\tWORST / MEDIAN / N")
	byKind := map[string][]time.Duration{}
	noAck := map[string]int{}
	for _, o := range rep.Outages {
		if o.NoAck {
			noAck[o.Kind]++
			continue
		}
		byKind[o.Kind] = append(byKind[o.Kind], o.Worst)
	}
	var ok []string
	for k := range byKind {
		ok = append(ok, k)
	}
	for k := range noAck {
		if _, seen := byKind[k]; !seen {
			ok = append(ok, k)
		}
	}
	sort.Strings(ok)
	for _, k := range ok {
		d := byKind[k]
		worst, median := Stats(d)
		line := fmt.Sprintf("%s / %s / %d", fmtDur(worst), fmtDur(median), len(d))
		if noAck[k] > 0 {
			line += fmt.Sprintf(" (+%d with no ack again before the end)", noAck[k])
		}
		fmt.Fprintf(tw, "%s\t%s\n", k, line)
	}
	fmt.Fprintln(tw, "\t")
	fmt.Fprintln(tw, "CATCH-UP (restart -> its replicas hold what the leaders hold, every partition)\tWORST / MEDIAN / N (broker down: median)")
	catchKinds := map[string][]CatchUp{}
	for _, c := range rep.CatchUps {
		catchKinds[c.Kind] = append(catchKinds[c.Kind], c)
	}
	ck := make([]string, 0, len(catchKinds))
	for k := range catchKinds {
		ck = append(ck, k)
	}
	sort.Strings(ck)
	for _, k := range ck {
		var took, down []time.Duration
		never := 0
		for _, c := range catchKinds[k] {
			if c.Never {
				never++
				continue
			}
			took = append(took, c.Took)
			if c.Down > 0 {
				down = append(down, c.Down)
			}
		}
		worst, median := Stats(took)
		line := fmt.Sprintf("%s / %s / %d", fmtDur(worst), fmtDur(median), len(took))
		if len(down) > 0 {
			_, downMedian := Stats(down)
			line += fmt.Sprintf(" (down %s)", fmtDur(downMedian))
		}
		if never > 0 {
			line += fmt.Sprintf(" (+%d not caught up within 120 s)", never)
		}
		fmt.Fprintf(tw, "%s\t%s\n", k, line)
	}
	fmt.Fprintln(tw, "\t")
	fmt.Fprintf(tw, "leadership changes while no fault was active\tmeta %.0f, partitions+groups %.0f in %.0fs of calm\n", rep.QuietMetaChanges, rep.QuietPartitionChanges, rep.QuietSeconds)
	verdict := "PASS"
	if !res.Passed() {
		verdict = "FAIL"
	}
	for _, e := range res.Errors {
		fmt.Fprintf(tw, "run error\t%s\n", e)
	}
	fmt.Fprintf(tw, "verdict\t%s\n", verdict)
	tw.Flush()
	for _, a := range AnomalyNames {
		for i, ex := range rep.Examples[a] {
			if i == 0 {
				fmt.Fprintf(w, "\n%s, first examples:\n", a)
			}
			fmt.Fprintf(w, "  %s\n", ex)
		}
	}
}

// Stats returns the largest and the (lower) median duration.
func Stats(d []time.Duration) (worst, median time.Duration) {
	if len(d) == 0 {
		return 0, 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)-1], s[(len(s)-1)/2]
}

func fmtDur(d time.Duration) string { return fmt.Sprintf("%.2fs", d.Seconds()) }

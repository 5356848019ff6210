package chaos

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Anomaly names, as docs/CHAOS.md lists them.
const (
	AnLost          = "lost-write"
	AnInconsistent  = "inconsistent-offset"
	AnDuplicate     = "duplicate"
	AnAborted       = "aborted-read"
	AnNonMonotonic  = "non-monotonic-poll"
	AnGap           = "offset-gap"
	AnCommitBack    = "commit-backwards"
	AnSkipCommit    = "skip-past-commit"
	AnUnseen        = "unseen"
	AnReplicaDiffer = "replica-divergence"
	AnWipeAccepted  = "wiped-broker-started"
	AnReassign      = "reassign-outcome"
)

// AnomalyNames in report order.
var AnomalyNames = []string{AnLost, AnInconsistent, AnDuplicate, AnAborted, AnNonMonotonic, AnGap, AnCommitBack, AnSkipCommit, AnUnseen, AnReplicaDiffer, AnWipeAccepted, AnReassign}

// Outage is the produce outage after a fault aimed at a leader: from the
// fault to the first acknowledgement again on every partition it led.
type Outage struct {
	Event  int           `json:"event"`
	Kind   string        `json:"kind"`
	Broker int           `json:"broker"`
	Led    []int32       `json:"led"`
	Worst  time.Duration `json:"worst_ns"`
	NoAck  bool          `json:"no_ack,omitempty"` // some partition never acknowledged again
}

// CatchUp is how long a restarted broker took to hold, on every partition,
// what the leaders held.
type CatchUp struct {
	Event  int           `json:"event"`
	Kind   string        `json:"kind"`
	Broker int           `json:"broker"`
	Down   time.Duration `json:"down_ns"` // from the fault to the restart
	Took   time.Duration `json:"took_ns"` // from the restart
	Never  bool          `json:"never,omitempty"`
}

// Report is what the checker found.
type Report struct {
	Invoked, Acked, Failed, Unknown int
	UnknownWritten                  int // unknown sends the final read contains
	Polled                          int
	Commits                         int
	FinalRecords                    int
	Anomalies                       map[string]int
	Examples                        map[string][]string
	Outages                         []Outage
	CatchUps                        []CatchUp
	Events                          map[string]int
	QuietSeconds                    float64
	QuietMetaChanges                float64
	QuietPartitionChanges           float64
}

// Bad tells whether any anomaly was found.
func (r *Report) Bad() bool {
	for _, n := range r.Anomalies {
		if n > 0 {
			return true
		}
	}
	return false
}

func (r *Report) note(kind, format string, args ...any) {
	r.Anomalies[kind]++
	if len(r.Examples[kind]) < 10 {
		r.Examples[kind] = append(r.Examples[kind], fmt.Sprintf(format, args...))
	}
}

type pos struct {
	p   int32
	off int64
}

type sendState struct {
	status string // ok, fail, info, "" (invoked only)
	p      int32
	off    int64
}

// Check computes every anomaly docs/CHAOS.md lists from a history.
func Check(ops []Op) *Report {
	r := &Report{Anomalies: map[string]int{}, Examples: map[string][]string{}, Events: map[string]int{}}
	for _, a := range AnomalyNames {
		r.Anomalies[a] = 0
	}
	sends := map[string]*sendState{}
	at := map[pos]string{}
	badPos := map[pos]bool{}
	valuePos := map[string]map[pos]bool{}
	// Every observation of value v at (p, off) from any source.
	observe := func(src string, p int32, off int64, v string) {
		k := pos{p, off}
		if prev, ok := at[k]; ok && prev != v {
			if !badPos[k] {
				badPos[k] = true
				r.note(AnInconsistent, "partition %d offset %d: %q and %q (%s)", p, off, prev, v, src)
			}
		} else if !ok {
			at[k] = v
		}
		m := valuePos[v]
		if m == nil {
			m = map[pos]bool{}
			valuePos[v] = m
		}
		m[k] = true
	}
	seenBy := map[string]map[string]bool{} // consumer kind/name -> values
	addSeen := func(who, v string) {
		m := seenBy[who]
		if m == nil {
			m = map[string]bool{}
			seenBy[who] = m
		}
		m[v] = true
	}
	finalBy := map[int]map[string]bool{}
	replicaBy := map[int]map[string]bool{}
	finalNext := map[[2]int64]int64{}   // (broker, partition) -> next expected offset
	replicaNext := map[[2]int64]int64{} // same for replica logs
	assignNext := map[string]map[int32]int64{}
	// Commit state is per group (groupOf) and partition.
	type gp struct {
		g string
		p int32
	}
	watched := map[gp]int64{}
	maxCommit := map[gp]int64{}       // highest offset any commit attempt carried
	ackedCommit := map[gp]int64{}     // highest offset a commit acknowledged
	assignFloor := map[string]int64{} // member|partition -> ackedCommit when assigned
	awaiting := map[string]bool{}     // member|partition assigned, first poll not seen yet
	var nemesis []Op
	// Final replica sets ("replicas" ops): after moves, only these
	// brokers must hold a partition's log. Without them every broker that
	// logged anything must.
	holders := map[int32]map[int]bool{}
	for _, op := range ops {
		if op.F != "replicas" {
			continue
		}
		holders[op.Partition] = map[int]bool{}
		for _, v := range op.Values {
			if b, err := strconv.Atoi(v); err == nil {
				holders[op.Partition][b] = true
			}
		}
	}
	holds := func(b int, p int32) bool { return holders[p] == nil || holders[p][b] }
	for _, op := range ops {
		switch op.F {
		case "send":
			s := sends[op.Value]
			if s == nil {
				s = &sendState{p: op.Partition, off: -1}
				sends[op.Value] = s
			}
			switch op.Type {
			case "invoke":
				r.Invoked++
			case "ok":
				s.status, s.off = "ok", op.Offset
				r.Acked++
				observe("ack", op.Partition, op.Offset, op.Value)
			case "fail":
				s.status = "fail"
				r.Failed++
			case "info":
				s.status = "info"
				r.Unknown++
			}
		case "poll":
			if op.Type != "ok" {
				continue
			}
			r.Polled += len(op.Values)
			assign := strings.HasPrefix(op.Process, "assign")
			group := strings.HasPrefix(op.Process, "group")
			key := op.Process + "|" + strconv.Itoa(int(op.Partition))
			if awaiting[key] && group {
				// The member's start was fetched between its assignment and
				// this poll: it must not lie past every commit attempted.
				delete(awaiting, key)
				if first, ceiling := op.Offsets[0], maxCommit[gp{groupOf(op.Process), op.Partition}]; first > ceiling {
					r.note(AnSkipCommit, "%s resumed partition %d at offset %d, past the highest commit %d", op.Process, op.Partition, first, ceiling)
				}
				// Every commit acknowledged before this member was assigned the
				// partition came from an owner that gave it up since: the member
				// must resume at or past the highest of them, or the group's
				// committed offset went back.
				if first, floor := op.Offsets[0], assignFloor[key]; first < floor {
					r.note(AnCommitBack, "%s resumed partition %d at offset %d, below the commit of %d acknowledged before its assignment", op.Process, op.Partition, first, floor)
				}
			}
			for i, v := range op.Values {
				off := op.Offsets[i]
				observe(op.Process, op.Partition, off, v)
				if assign {
					addSeen(op.Process, v)
					n := assignNext[op.Process]
					if n == nil {
						n = map[int32]int64{}
						assignNext[op.Process] = n
					}
					want := n[op.Partition]
					switch {
					case off < want:
						r.note(AnNonMonotonic, "%s partition %d: offset %d after %d", op.Process, op.Partition, off, want-1)
					case off > want:
						r.note(AnGap, "%s partition %d: offset %d after %d", op.Process, op.Partition, off, want-1)
					}
					n[op.Partition] = max(want, off+1)
				}
				if group {
					addSeen("group"+groupOf(op.Process), v)
				}
			}
		case "assign":
			key := op.Process + "|" + strconv.Itoa(int(op.Partition))
			awaiting[key] = true
			assignFloor[key] = ackedCommit[gp{groupOf(op.Process), op.Partition}]
		case "commit":
			k := gp{groupOf(op.Process), op.Partition}
			if op.Type == "invoke" {
				maxCommit[k] = max(maxCommit[k], op.Offset)
			}
			if op.Type == "ok" {
				r.Commits++
				ackedCommit[k] = max(ackedCommit[k], op.Offset)
			}
		case "committed":
			k := gp{groupOf(op.Process), op.Partition}
			if last, ok := watched[k]; ok && op.Offset < last {
				r.note(AnCommitBack, "%s partition %d: committed offset %d after %d (t=%.3fs)", op.Process, op.Partition, op.Offset, last, float64(op.T)/1e6)
			}
			watched[k] = op.Offset
		case "final-read", "replica-read":
			final := op.F == "final-read"
			sets, next := finalBy, finalNext
			if !final {
				sets, next = replicaBy, replicaNext
			}
			m := sets[op.Broker]
			if m == nil {
				m = map[string]bool{}
				sets[op.Broker] = m
			}
			for i, v := range op.Values {
				off := op.Offsets[i]
				observe(op.F+fmt.Sprint(op.Broker), op.Partition, off, v)
				m[v] = true
				k := [2]int64{int64(op.Broker), int64(op.Partition)}
				if off != next[k] {
					r.note(AnGap, "%s of broker %d partition %d: offset %d where %d was expected", op.F, op.Broker, op.Partition, off, next[k])
				}
				next[k] = off + 1
			}
		case "nemesis":
			if op.Type == "invoke" {
				nemesis = append(nemesis, op)
				r.Events[op.Value]++
			}
		case "wipe-check":
			if op.Type == "fail" {
				r.note(AnWipeAccepted, "event %d: broker %d %s", op.ID, op.Broker, op.Detail)
			}
		case "reassign-check":
			if op.Type == "fail" {
				r.note(AnReassign, "event %d: partition %d moving from %s to %s: %s", op.ID, op.Partition, op.Values[0], op.Values[1], op.Detail)
			}
		case "catchup":
			c := CatchUp{Event: int(op.ID), Kind: op.Value, Broker: op.Broker, Took: time.Duration(op.Offset) * time.Microsecond, Never: op.Type != "ok"}
			if us, err := strconv.ParseInt(op.Detail, 10, 64); err == nil {
				c.Down = time.Duration(us) * time.Microsecond
			}
			r.CatchUps = append(r.CatchUps, c)
		case "quiet":
			r.QuietSeconds += float64(op.Offset) / 1e6
			r.QuietMetaChanges += float64(op.ID)
			if len(op.Values) == 1 {
				n, _ := strconv.ParseFloat(op.Values[0], 64)
				r.QuietPartitionChanges += n
			}
		}
	}
	// Duplicates: a value at two offsets.
	for v, ps := range valuePos {
		if len(ps) > 1 {
			var list []string
			for k := range ps {
				list = append(list, fmt.Sprintf("%d@%d", k.p, k.off))
			}
			sort.Strings(list)
			r.note(AnDuplicate, "%q at %s", v, strings.Join(list, " "))
		}
	}
	final := map[string]bool{}
	for _, m := range finalBy {
		for v := range m {
			final[v] = true
		}
	}
	r.FinalRecords = len(final)
	var acked []string
	for v, s := range sends {
		switch s.status {
		case "ok":
			acked = append(acked, v)
		case "fail":
			if valuePos[v] != nil {
				r.note(AnAborted, "%q was read although its send failed definitively", v)
			}
		case "info":
			if final[v] {
				r.UnknownWritten++
			}
		}
	}
	sort.Strings(acked)
	for _, v := range acked {
		var missing []string
		for b, m := range finalBy {
			if !m[v] {
				missing = append(missing, fmt.Sprintf("final read via broker %d", b))
			}
		}
		for b, m := range replicaBy {
			if !m[v] && holds(b, sends[v].p) {
				missing = append(missing, fmt.Sprintf("replica on broker %d", b))
			}
		}
		if len(finalBy) == 0 && valuePos[v] == nil {
			missing = append(missing, "every read")
		}
		if len(missing) > 0 {
			sort.Strings(missing)
			s := sends[v]
			r.note(AnLost, "%q acknowledged at partition %d offset %d, missing from %s", v, s.p, s.off, strings.Join(missing, ", "))
		}
		for who, m := range seenBy {
			if !m[v] {
				r.note(AnUnseen, "%q acknowledged but never polled by %s", v, who)
			}
		}
	}
	// Every replica must hold the same log: same length per partition.
	ends := map[int64]map[int64]int64{} // partition -> broker -> end
	for k, n := range replicaNext {
		if !holds(int(k[0]), int32(k[1])) {
			continue // a replica moved away; its copy is not compared
		}
		if ends[k[1]] == nil {
			ends[k[1]] = map[int64]int64{}
		}
		ends[k[1]][k[0]] = n
	}
	for p, m := range ends {
		var lo, hi int64 = -1, -1
		for _, e := range m {
			if lo < 0 || e < lo {
				lo = e
			}
			hi = max(hi, e)
		}
		want := len(replicaBy)
		if h := holders[int32(p)]; h != nil {
			want = len(h)
		}
		if lo != hi || len(m) != want {
			r.note(AnReplicaDiffer, "partition %d: replica logs end at %v (broker -> end offset)", p, m)
		}
	}
	r.Outages = outages(ops, nemesis)
	return r
}

// outages measures, for each fault aimed at a leader, the time from the
// fault to the first acknowledgement again on each partition it led.
func outages(ops []Op, nemesis []Op) []Outage {
	var out []Outage
	for _, n := range nemesis {
		if n.Detail == "" {
			continue
		}
		o := Outage{Event: int(n.ID), Kind: n.Value, Broker: n.Broker}
		for _, s := range strings.Split(n.Detail, ",") {
			p, err := strconv.Atoi(s)
			if err == nil {
				o.Led = append(o.Led, int32(p))
			}
		}
		for _, p := range o.Led {
			i := sort.Search(len(ops), func(i int) bool { return ops[i].T > n.T })
			found := false
			for ; i < len(ops); i++ {
				if ops[i].F == "send" && ops[i].Type == "ok" && ops[i].Partition == p {
					o.Worst = max(o.Worst, time.Duration(ops[i].T-n.T)*time.Microsecond)
					found = true
					break
				}
			}
			if !found {
				o.NoAck = true
			}
		}
		out = append(out, o)
	}
	return out
}

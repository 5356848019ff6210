package chaos

import (
	"fmt"
	"testing"
	"time"
)

// clean builds a history where producer values v0..v(n-1) on partition 0
// are acknowledged at offsets 0..n-1, read by an assign consumer, a group
// member (committing as it goes) and a final read through broker 1.
func clean(n int) []Op {
	var ops []Op
	t := int64(0)
	add := func(op Op) { t++; op.T = t; ops = append(ops, op) }
	var vals []string
	var offs []int64
	for i := 0; i < n; i++ {
		v := fmt.Sprintf("P0:producer-1:%d", i)
		add(Op{Process: "producer-1", Type: "invoke", F: "send", ID: int64(i), Value: v, Offset: -1})
		add(Op{Process: "producer-1", Type: "ok", F: "send", ID: int64(i), Value: v, Offset: int64(i)})
		vals = append(vals, v)
		offs = append(offs, int64(i))
	}
	add(Op{Process: "assign-1", Type: "ok", F: "poll", Offset: 0, Offsets: offs, Values: vals})
	add(Op{Process: "group-1.1", Type: "ok", F: "assign", Offset: -1})
	add(Op{Process: "group-1.1", Type: "ok", F: "poll", Offset: 0, Offsets: offs, Values: vals})
	add(Op{Process: "group-1.1", Type: "invoke", F: "commit", Offset: int64(n)})
	add(Op{Process: "group-1.1", Type: "ok", F: "commit", Offset: int64(n)})
	add(Op{Process: "watcher", Type: "ok", F: "committed", Offset: int64(n)})
	add(Op{Process: "final-1", Type: "ok", F: "final-read", Broker: 1, Offset: 0, Offsets: offs, Values: vals})
	for b := 1; b <= 3; b++ {
		add(Op{Process: "replica", Type: "ok", F: "replica-read", Broker: b, Offset: 0, Offsets: offs, Values: vals})
	}
	return ops
}

// without drops value index i from every read op (not from the sends).
func without(ops []Op, f string, i int) []Op {
	out := make([]Op, 0, len(ops))
	for _, op := range ops {
		if op.F == f {
			op.Values = append(append([]string{}, op.Values[:i]...), op.Values[i+1:]...)
			op.Offsets = append(append([]int64{}, op.Offsets[:i]...), op.Offsets[i+1:]...)
		}
		out = append(out, op)
	}
	return out
}

func only(t *testing.T, r *Report, want string) {
	t.Helper()
	for _, a := range AnomalyNames {
		if a == want && r.Anomalies[a] == 0 {
			t.Errorf("%s not detected; report %v", want, r.Anomalies)
		}
	}
	if !r.Bad() {
		t.Errorf("report says nothing is wrong")
	}
}

func TestCheckCleanHistory(t *testing.T) {
	r := Check(clean(10))
	if r.Bad() {
		t.Fatalf("clean history has anomalies: %v %v", r.Anomalies, r.Examples)
	}
	if r.Acked != 10 || r.FinalRecords != 10 {
		t.Fatalf("acked %d final %d, want 10 and 10", r.Acked, r.FinalRecords)
	}
}

func TestCheckLostWrite(t *testing.T) {
	r := Check(without(clean(10), "final-read", 9))
	only(t, r, AnLost)
}

func TestCheckLostOnOneReplica(t *testing.T) {
	ops := clean(10)
	for i := range ops {
		if ops[i].F == "replica-read" && ops[i].Broker == 2 {
			ops[i].Values, ops[i].Offsets = ops[i].Values[:9], ops[i].Offsets[:9]
		}
	}
	r := Check(ops)
	only(t, r, AnLost)
	only(t, r, AnReplicaDiffer)
}

func TestCheckInconsistentOffset(t *testing.T) {
	ops := clean(10)
	for i := range ops {
		if ops[i].F == "final-read" {
			ops[i].Values = append([]string{}, ops[i].Values...)
			ops[i].Values[3], ops[i].Values[4] = ops[i].Values[4], ops[i].Values[3]
		}
	}
	only(t, Check(ops), AnInconsistent)
}

func TestCheckDuplicate(t *testing.T) {
	ops := clean(10)
	for i := range ops {
		if ops[i].F == "final-read" {
			ops[i].Values = append(append([]string{}, ops[i].Values...), ops[i].Values[0])
			ops[i].Offsets = append(append([]int64{}, ops[i].Offsets...), 10)
		}
	}
	only(t, Check(ops), AnDuplicate)
}

func TestCheckAbortedRead(t *testing.T) {
	ops := clean(10)
	ops = append(ops, Op{T: 1000, Process: "producer-1", Type: "invoke", F: "send", Value: "P0:producer-1:99"},
		Op{T: 1001, Process: "producer-1", Type: "fail", F: "send", Value: "P0:producer-1:99", Err: "MESSAGE_TOO_LARGE"},
		Op{T: 1002, Process: "assign-1", Type: "ok", F: "poll", Offset: 10, Offsets: []int64{10}, Values: []string{"P0:producer-1:99"}})
	only(t, Check(ops), AnAborted)
}

func TestCheckNonMonotonicAndGap(t *testing.T) {
	ops := clean(10)
	ops = append(ops, Op{T: 1000, Process: "assign-1", Type: "ok", F: "poll", Offset: 5, Offsets: []int64{5}, Values: []string{"P0:producer-1:5"}})
	only(t, Check(ops), AnNonMonotonic)
	only(t, Check(without(clean(10), "poll", 4)), AnGap)
	only(t, Check(without(clean(10), "final-read", 4)), AnGap)
}

func TestCheckCommitBackwards(t *testing.T) {
	ops := append(clean(10), Op{T: 1000, Process: "watcher", Type: "ok", F: "committed", Offset: 4})
	only(t, Check(ops), AnCommitBack)
}

func TestCheckSkipPastCommit(t *testing.T) {
	ops := clean(10)
	// A new member is assigned partition 0 after the commit of 10 and
	// starts at 12: it skipped offsets 10 and 11.
	ops = append(ops,
		Op{T: 1000, Process: "group-2.1", Type: "ok", F: "assign", Offset: -1},
		Op{T: 1001, Process: "group-2.1", Type: "ok", F: "poll", Offset: 12, Offsets: []int64{12}, Values: []string{"x"}})
	only(t, Check(ops), AnSkipCommit)
}

func TestCheckUnseen(t *testing.T) {
	only(t, Check(without(clean(10), "poll", 9)), AnUnseen)
}

func TestOutageIsFaultToFirstAck(t *testing.T) {
	ops := []Op{
		{T: 1_000_000, Process: "nemesis", Type: "invoke", F: "nemesis", ID: 1, Value: KillLeader, Broker: 2, Detail: "0,1"},
		{T: 1_300_000, Process: "p", Type: "ok", F: "send", Partition: 1, Offset: 5, Value: "a"},
		{T: 1_800_000, Process: "p", Type: "ok", F: "send", Partition: 0, Offset: 9, Value: "b"},
	}
	r := Check(ops)
	if len(r.Outages) != 1 || r.Outages[0].Worst != 800*time.Millisecond || r.Outages[0].NoAck {
		t.Fatalf("outages %+v, want one of 800ms", r.Outages)
	}
}

func TestScheduleIsSeeded(t *testing.T) {
	kinds := []string{KillLeader, PauseRandom, IsolateMeta, LongKill}
	r := [2]time.Duration{time.Second, 3 * time.Second}
	long := [2]time.Duration{15 * time.Second, 30 * time.Second}
	a, b := Schedule(7, kinds, 12, r, long, r), Schedule(7, kinds, 12, r, long, r)
	c := Schedule(8, kinds, 12, r, long, r)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatal("same seed, different schedules")
	}
	if fmt.Sprint(a) == fmt.Sprint(c) {
		t.Fatal("different seeds, same schedule")
	}
	seen := map[string]bool{}
	for _, e := range a[:4] {
		seen[e.Kind] = true
		want := r
		if e.Kind == LongKill {
			want = long
		}
		if e.Fault < want[0] || e.Fault >= want[1] {
			t.Fatalf("%s fault length %v outside %v", e.Kind, e.Fault, want)
		}
	}
	if len(seen) != 4 {
		t.Fatalf("first round %v does not cover every kind", a[:4])
	}
}

// A member that resumes a partition below a commit acknowledged before its
// assignment saw the group's committed offset go back (issue 23: a stale
// coordinator accepting a fenced generation's commit).
func TestCheckCommitBackwardsSeenByConsumer(t *testing.T) {
	ops := clean(10)
	var vals []string
	var offs []int64
	for _, op := range ops {
		if op.F == "poll" && op.Process == "assign-1" {
			vals, offs = op.Values[4:], op.Offsets[4:]
		}
	}
	tail := ops[len(ops)-4:]
	ops = append(append([]Op{}, ops[:len(ops)-4]...),
		Op{Process: "group-2.1", Type: "ok", F: "assign", Offset: -1},
		Op{Process: "group-2.1", Type: "ok", F: "poll", Offset: 4, Offsets: offs, Values: vals})
	ops = append(ops, tail...)
	for i := range ops {
		ops[i].T = int64(i + 1)
	}
	only(t, Check(ops), AnCommitBack)
	// Resuming at the acknowledged commit is what must happen.
	clean := Check(append(clean(10)[:len(clean(10))-4], Op{T: 1000, Process: "group-2.1", Type: "ok", F: "assign", Offset: -1}))
	if clean.Anomalies[AnCommitBack] != 0 {
		t.Fatalf("commit-backwards without a resumed member: %v", clean.Examples[AnCommitBack])
	}
}

func TestCheckWipedBrokerStarted(t *testing.T) {
	ops := append(clean(5), Op{T: 1000, Process: "nemesis", Type: "fail", F: "wipe-check", ID: 3, Broker: 2, Offset: -1, Detail: "still running"})
	only(t, Check(ops), AnWipeAccepted)
	ok := append(clean(5), Op{T: 1000, Process: "nemesis", Type: "ok", F: "wipe-check", ID: 3, Broker: 2, Offset: -1, Detail: "refused"})
	if r := Check(ok); r.Bad() {
		t.Fatalf("a refused wipe is an anomaly: %v", r.Anomalies)
	}
}

func TestCatchUpReported(t *testing.T) {
	ops := []Op{
		{T: 1, Process: "nemesis", Type: "ok", F: "catchup", ID: 4, Value: LongKill, Broker: 2, Offset: 2_500_000, Detail: "20000000"},
		{T: 2, Process: "nemesis", Type: "info", F: "catchup", ID: 5, Value: KillRandom, Broker: 1, Offset: 120_000_000},
	}
	r := Check(ops)
	if len(r.CatchUps) != 2 || r.CatchUps[0].Took != 2500*time.Millisecond || r.CatchUps[0].Down != 20*time.Second || r.CatchUps[0].Never || !r.CatchUps[1].Never {
		t.Fatalf("catch-ups %+v", r.CatchUps)
	}
	if r.Bad() {
		t.Fatal("a slow catch-up is a figure, not an anomaly")
	}
}

// moveTo4 is clean(n) after partition 0 moved from brokers 1,2,3 to 4,2,3:
// broker 4 holds the log too, and the final replica set says so.
func moveTo4(n int) []Op {
	ops := clean(n)
	for _, op := range ops {
		if op.F == "replica-read" && op.Broker == 1 {
			op.Broker = 4
			ops = append(ops, op)
			break
		}
	}
	return append(ops, Op{Process: "observer", Type: "ok", F: "replicas", Partition: 0, Offset: -1, Values: []string{"4", "2", "3"}})
}

func TestCheckMovedPartition(t *testing.T) {
	ops := moveTo4(5)
	// Broker 1's copy is gone (the move deleted it): nothing to compare.
	var kept []Op
	for _, op := range ops {
		if !(op.F == "replica-read" && op.Broker == 1) {
			kept = append(kept, op)
		}
	}
	if r := Check(kept); r.Bad() {
		t.Fatalf("moved partition reported: %v %v", r.Anomalies, r.Examples)
	}
	// A leftover shorter copy on broker 1 is not a replica any more.
	if r := Check(without(ops, "replica-read", 4)); r.Anomalies[AnReplicaDiffer] != 0 {
		t.Errorf("a copy off the final replica set was compared: %v", r.Examples)
	}
}

func TestCheckMovedPartitionLostOnNewReplica(t *testing.T) {
	ops := moveTo4(5)
	for i, op := range ops {
		if op.F == "replica-read" && op.Broker == 4 {
			ops[i].Values, ops[i].Offsets = op.Values[:3], op.Offsets[:3]
		}
	}
	r := Check(ops)
	only(t, r, AnLost)
	only(t, r, AnReplicaDiffer)
}

func TestCheckReassignOutcome(t *testing.T) {
	ops := append(clean(3), Op{Process: "nemesis", Type: "fail", F: "reassign-check", ID: 1, Partition: 0, Offset: -1,
		Values: []string{"1,2,3", "4,2,3"}, Detail: "ended on 2,3 (neither old nor new)"})
	only(t, Check(ops), AnReassign)
}

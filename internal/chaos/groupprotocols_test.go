package chaos

import "testing"

// withConsumerGroup adds to a clean history a KIP-848 group that read the
// records up to offset upTo and committed committed, as the workload's
// second group does.
func withConsumerGroup(ops []Op, upTo, committed int) []Op {
	var vals []string
	var offs []int64
	for _, op := range ops {
		if op.F == "poll" && op.Process == "assign-1" {
			vals, offs = op.Values[:upTo], op.Offsets[:upTo]
		}
	}
	tail := ops[len(ops)-4:] // the final and replica reads
	out := append([]Op{}, ops[:len(ops)-4]...)
	out = append(out,
		Op{Process: "group848-1.1", Type: "ok", F: "assign", Offset: -1},
		Op{Process: "group848-1.1", Type: "ok", F: "poll", Offset: 0, Offsets: offs, Values: vals},
		Op{Process: "group848-1.1", Type: "invoke", F: "commit", Offset: int64(committed)},
		Op{Process: "group848-1.1", Type: "ok", F: "commit", Offset: int64(committed)},
		Op{Process: "watcher848", Type: "ok", F: "committed", Offset: int64(committed)})
	out = append(out, tail...)
	for i := range out {
		out[i].T = int64(i + 1)
	}
	return out
}

// The two groups' commits are checked apart: the KIP-848 group's committed
// offset below the classic group's is no commit going back, but each group
// must poll every acknowledged record, and its own committed offset must
// not go back.
func TestCheckGroupsPerProtocol(t *testing.T) {
	for _, committed := range []int{10, 6} {
		if r := Check(withConsumerGroup(clean(10), 10, committed)); r.Bad() {
			t.Fatalf("a KIP-848 group that read everything and committed %d: %v %v", committed, r.Anomalies, r.Examples)
		}
	}
	only(t, Check(withConsumerGroup(clean(10), 6, 6)), AnUnseen)
	ops := withConsumerGroup(clean(10), 10, 10)
	ops = append(ops, Op{T: int64(len(ops) + 1), Process: "watcher848", Type: "ok", F: "committed", Offset: 7})
	only(t, Check(ops), AnCommitBack)
	// A KIP-848 member resuming below its group's acknowledged commit.
	full := withConsumerGroup(clean(10), 10, 10)
	reads := full[len(full)-4:]
	ops = append(append([]Op{}, full[:len(full)-4]...),
		Op{Process: "group848-2.1", Type: "ok", F: "assign", Offset: -1},
		Op{Process: "group848-2.1", Type: "ok", F: "poll", Offset: 8, Offsets: []int64{8}, Values: []string{"P0:producer-1:8"}})
	ops = append(ops, reads...)
	for i := range ops {
		ops[i].T = int64(i + 1)
	}
	only(t, Check(ops), AnCommitBack)
}

package chaos

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"time"
)

// Nemesis kinds.
const (
	KillRandom    = "kill"           // kill -9 any broker, restart it later
	KillLeader    = "kill-leader"    // kill -9 a partition's leader
	PauseRandom   = "pause"          // SIGSTOP any broker
	PauseLeader   = "pause-leader"   // SIGSTOP a partition's leader
	IsolateRandom = "isolate"        // cut one broker off from everyone
	IsolateLeader = "isolate-leader" // cut a partition's leader off
	IsolateMeta   = "isolate-meta"   // cut the __meta leader off
	OneWayLeader  = "one-way-leader" // a partition's leader hears nothing from its peers
	LongKill      = "long-kill"      // kill -9 any broker for --long-fault under load, measure its catch-up
	Wipe          = "wipe"           // restart a broker with an empty data directory: it must be refused
	GroupLeader   = "group-leader"   // bounce the group shard's leadership A -> B -> A while members commit
	DiskFull      = "disk-full"      // fill one broker's filesystem
	IOError       = "io-error"       // every I/O on one broker's filesystem fails with EIO
	// TxnCoordinator kills -9 the transaction coordinator of the
	// transactional workload (the leader of its id's group shard), mid
	// transaction or mid commit; TxnLeader cuts off (without network
	// namespaces: kills) the leader of a partition of its topic.
	TxnCoordinator = "txn-coordinator"
	TxnLeader      = "txn-leader"
	// Reassign moves a partition of the workload's topic onto a broker
	// that never held it, and kills its leader, kills the joining broker
	// or cancels the move while it runs. It needs a broker beyond the
	// replication factor (a fourth, which joins with --join).
	Reassign = "reassign"
)

// AllKinds lists every nemesis.
var AllKinds = []string{KillRandom, KillLeader, PauseRandom, PauseLeader, IsolateRandom, IsolateLeader, IsolateMeta, OneWayLeader, LongKill, Wipe, GroupLeader, DiskFull, IOError, TxnCoordinator, TxnLeader, Reassign}

// Kinds lists the nemeses a backend supports by default. The disk faults
// need a filesystem per broker, which the caller asks for (--disk-size),
// so they are not among them.
func Kinds(b Backend) []string {
	k := []string{KillRandom, KillLeader, PauseRandom, PauseLeader, LongKill, GroupLeader, TxnCoordinator, TxnLeader}
	if b.Partitions() {
		k = append(k, IsolateRandom, IsolateLeader, IsolateMeta)
	}
	if b.OneWay() {
		k = append(k, OneWayLeader)
	}
	if _, ok := b.(ProcessControl); ok && b.DataDir(1) != "" {
		k = append(k, Wipe)
	}
	if b.Brokers() > replicationFactor(b) {
		k = append(k, Reassign)
	}
	return k
}

// Supported tells why a backend cannot run a nemesis kind ("" if it can).
func Supported(b Backend, kind string) string {
	_, pc := b.(ProcessControl)
	df, disks := b.(DiskFaults)
	switch kind {
	case IsolateRandom, IsolateLeader, IsolateMeta:
		if !b.Partitions() {
			return "needs network partitions (network namespaces)"
		}
	case OneWayLeader:
		if !b.OneWay() {
			return "needs one-way partitions (network namespaces)"
		}
	case Wipe:
		if !pc || b.DataDir(1) == "" {
			return "needs the process backend"
		}
	case Reassign:
		if b.Brokers() <= replicationFactor(b) {
			return "needs a broker beyond the replication factor (--brokers 4)"
		}
	case DiskFull, IOError:
		if !disks || !df.Disks() {
			return "needs a filesystem per broker (process backend, --disk-size, root)"
		}
	}
	return ""
}

// Event is one scheduled fault: after Quiet of calm, Kind strikes for
// Fault. Pick chooses the target (a broker or a partition) by index, so the
// same seed aims at the same role each time.
type Event struct {
	N     int           `json:"n"`
	Kind  string        `json:"kind"`
	Quiet time.Duration `json:"quiet_ns"`
	Fault time.Duration `json:"fault_ns"`
	Pick  int           `json:"pick"`
}

// Schedule draws events from seed: kinds come in shuffled rounds so a short
// run sees every kind, fault and calm lengths are drawn from their ranges.
func Schedule(seed uint64, kinds []string, n int, fault, longFault, quiet [2]time.Duration) []Event {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	dur := func(r [2]time.Duration) time.Duration {
		if r[1] <= r[0] {
			return r[0]
		}
		return r[0] + time.Duration(rng.Int64N(int64(r[1]-r[0])))
	}
	var out []Event
	var round []string
	for len(out) < n {
		if len(round) == 0 {
			round = slices.Clone(kinds)
			rng.Shuffle(len(round), func(i, j int) { round[i], round[j] = round[j], round[i] })
		}
		e := Event{N: len(out) + 1, Kind: round[0], Quiet: dur(quiet), Fault: dur(fault), Pick: rng.IntN(1 << 20)}
		if e.Kind == LongKill {
			e.Fault = dur(longFault)
		}
		out = append(out, e)
		round = round[1:]
	}
	return out
}

// WriteSchedule saves the schedule as JSON lines.
func WriteSchedule(path string, evs []Event) error {
	var sb strings.Builder
	for _, e := range evs {
		b, _ := json.Marshal(e)
		sb.Write(b)
		sb.WriteByte('\n')
	}
	return os.WriteFile(path, []byte(sb.String()), 0o644)
}

// ledString renders partitions as "0,3,5" for the history.
func ledString(led []int32) string {
	s := make([]string, len(led))
	for i, p := range led {
		s[i] = fmt.Sprint(p)
	}
	return strings.Join(s, ",")
}

package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strings"
	"time"
)

// Nemesis kinds.
const (
	KillRandom      = "kill"           // kill -9 any broker, restart it later
	KillLeader      = "kill-leader"    // kill -9 a partition's leader
	PauseRandom     = "pause"          // SIGSTOP any broker
	PauseLeader     = "pause-leader"   // SIGSTOP a partition's leader
	IsolateRandom   = "isolate"        // cut one broker off from everyone
	IsolateLeader   = "isolate-leader" // cut a partition's leader off
	IsolateMeta     = "isolate-meta"   // cut the __meta leader off
	OneWayLeader    = "one-way-leader" // a partition's leader hears nothing from its peers
	killKindsPrefix = "kill"
)

// AllKinds lists every nemesis.
var AllKinds = []string{KillRandom, KillLeader, PauseRandom, PauseLeader, IsolateRandom, IsolateLeader, IsolateMeta, OneWayLeader}

// Kinds lists the nemeses a backend supports.
func Kinds(b Backend) []string {
	k := []string{KillRandom, KillLeader, PauseRandom, PauseLeader}
	if b.Partitions() {
		k = append(k, IsolateRandom, IsolateLeader, IsolateMeta)
	}
	if b.OneWay() {
		k = append(k, OneWayLeader)
	}
	return k
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
func Schedule(seed uint64, kinds []string, n int, fault, quiet [2]time.Duration) []Event {
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
		out = append(out, Event{N: len(out) + 1, Kind: round[0], Quiet: dur(quiet), Fault: dur(fault), Pick: rng.IntN(1 << 20)})
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

// strike carries out the fault of e, returning the victim and the heal
// action. Every fault and heal is recorded in the history.
func strike(ctx context.Context, b Backend, o *observer, h *History, e Event, partitions int32) (victim int, led []int32, heal func() error, err error) {
	leaders, lerr := o.leaders(ctx)
	partitionLeader := func() (int, error) {
		if lerr != nil {
			return 0, lerr
		}
		l := leaders[int32(e.Pick%int(partitions))]
		if l <= 0 {
			return 0, fmt.Errorf("partition %d has no leader", e.Pick%int(partitions))
		}
		return l, nil
	}
	switch e.Kind {
	case KillLeader, PauseLeader, IsolateLeader, OneWayLeader:
		victim, err = partitionLeader()
	case IsolateMeta:
		victim, err = o.metaLeader()
	default:
		victim = 1 + e.Pick%b.Brokers()
	}
	if err != nil {
		return 0, nil, nil, err
	}
	for p, l := range leaders {
		if l == victim {
			led = append(led, p)
		}
	}
	sort.Slice(led, func(i, j int) bool { return led[i] < led[j] })
	switch e.Kind {
	case KillRandom, KillLeader:
		err = b.Kill(victim)
		heal = func() error { return b.Restart(victim) }
	case PauseRandom, PauseLeader:
		err = b.Pause(victim)
		heal = func() error { return b.Resume(victim) }
	case IsolateRandom, IsolateLeader, IsolateMeta:
		err = b.Isolate(victim)
		heal = func() error { return b.Heal(victim) }
	case OneWayLeader:
		err = b.CutInbound(victim)
		heal = func() error { return b.Heal(victim) }
	default:
		err = fmt.Errorf("unknown nemesis %q", e.Kind)
	}
	return victim, led, heal, err
}

// ledString renders partitions as "0,3,5" for the history.
func ledString(led []int32) string {
	s := make([]string, len(led))
	for i, p := range led {
		s[i] = fmt.Sprint(p)
	}
	return strings.Join(s, ",")
}

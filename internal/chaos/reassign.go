package chaos

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Ways the reassign nemesis disturbs the move it starts.
const (
	reassignKillLeader = iota // kill -9 the partition's leader mid-move
	reassignKillJoiner        // kill -9 the broker being added mid-move
	reassignCancel            // cancel the move mid-way
	reassignWays
)

var reassignWayNames = [reassignWays]string{"kill the leader", "kill the joining broker", "cancel"}

// reassignSettle bounds how long a disturbed move may take to end after
// heal.
const reassignSettle = 90 * time.Second

// moved records, per partition of the workload's topic, every broker that
// was ever among its replicas or a move's targets: Raft never takes back a
// member id it removed, so none of them can be a move's new broker.
type moved map[int32]map[int32]bool

func (m moved) note(p int32, brokers ...int32) {
	if m[p] == nil {
		m[p] = map[int32]bool{}
	}
	for _, b := range brokers {
		m[p][b] = true
	}
}

// reassign starts a move of one partition of the workload's topic onto a
// broker that never held it (one replica replaced, which one drawn from
// Pick), then, while it runs, kills its leader, kills the joining broker or
// cancels it. heal restarts a killed broker, waits until the move has ended
// and records a reassign-check op: the partition must end on its old or its
// new replica set, with every acknowledged record (which the checker reads
// on the replicas of the final set).
func (r *runner) reassign(ctx context.Context, o *observer, e Event, st *struck) (func() error, error) {
	if r.moved == nil {
		r.moved = moved{}
	}
	sets, err := o.replicaSets(ctx)
	if err != nil {
		return nil, err
	}
	moving, err := o.moving(ctx)
	if err != nil {
		return nil, err
	}
	rf := replicationFactor(r.b)
	type plan struct {
		p           int32
		old, target []int32
	}
	var plans []plan
	for p := int32(0); p < r.cfg.Partitions; p++ {
		old := sets[p]
		if len(old) != rf || moving[p] {
			continue
		}
		r.moved.note(p, old...)
		for _, b := range allBrokers(r.b) {
			if !r.moved[p][int32(b)] {
				target := slices.Clone(old)
				target[(e.Pick/7)%len(target)] = int32(b)
				plans = append(plans, plan{p: p, old: old, target: target})
				break
			}
		}
	}
	if len(plans) == 0 {
		return nil, fmt.Errorf("no partition of %s has a broker left that never held it (Raft does not take a removed member back)", r.cfg.Topic)
	}
	pl := plans[e.Pick%len(plans)]
	var joiner int32
	for _, b := range pl.target {
		if !slices.Contains(pl.old, b) {
			joiner = b
		}
	}
	r.moved.note(pl.p, joiner)
	if err := o.alterAssignment(ctx, pl.p, pl.target); err != nil {
		return nil, err
	}
	way := (e.Pick / 131) % reassignWays
	r.h.Add(Op{Process: "nemesis", Type: "invoke", F: "reassign", ID: int64(e.N), Partition: pl.p, Offset: -1,
		Values: []string{idList(pl.old), idList(pl.target)}, Detail: reassignWayNames[way]})
	r.logf("event %d: moving %s/%d from %s to %s; then: %s", e.N, r.cfg.Topic, pl.p, idList(pl.old), idList(pl.target), reassignWayNames[way])
	// Strike at a different stage of the move each time: adding the
	// joiner, its catch-up, its promotion, or the removal.
	sleep(ctx, time.Duration(e.Pick%1500)*time.Millisecond)

	st.victim = int(joiner)
	leaders, lerr := o.leaders(ctx)
	switch way {
	case reassignKillLeader:
		if lerr == nil && leaders[pl.p] > 0 {
			st.victim = leaders[pl.p]
		}
		fallthrough
	case reassignKillJoiner:
		// The produce outage is measured on what the victim led.
		st.led = nil
		for p, l := range leaders {
			if l == st.victim {
				st.led = append(st.led, p)
			}
		}
		slices.Sort(st.led)
		st.note = fmt.Sprintf("killed broker %d", st.victim)
		if err := r.b.Kill(st.victim); err != nil {
			return r.settleMove(o, e, pl.p, pl.old, pl.target, st, nil), err
		}
		st.down = time.Now()
		v := st.victim
		return r.settleMove(o, e, pl.p, pl.old, pl.target, st, func() error {
			if err := r.b.Restart(v); err != nil {
				return err
			}
			st.restarted = time.Now()
			return nil
		}), nil
	default:
		st.led = nil // nothing is down: no outage to measure
		cerr := o.alterAssignment(ctx, pl.p, nil)
		switch {
		case cerr == nil:
			st.note = "cancelled"
		case errors.Is(cerr, kerr.ReassignmentInProgress), errors.Is(cerr, kerr.NoReassignmentInProgress):
			// Past the removal of an old replica the move must complete;
			// already over, there is nothing to cancel.
			st.note = "cancel refused: " + cerr.Error()
		default:
			return r.settleMove(o, e, pl.p, pl.old, pl.target, st, nil), cerr
		}
		return r.settleMove(o, e, pl.p, pl.old, pl.target, st, nil), nil
	}
}

// settleMove is the heal of a reassign event: restart (if any), then wait
// until partition p is no longer moving and check where it ended.
func (r *runner) settleMove(o *observer, e Event, p int32, old, target []int32, st *struck, restart func() error) func() error {
	return func() error {
		var rerr error
		if restart != nil {
			rerr = restart()
		}
		t0 := time.Now()
		op := Op{Process: "nemesis", Type: "ok", F: "reassign-check", ID: int64(e.N), Partition: p, Offset: -1, Values: []string{idList(old), idList(target)}}
		var final []int32
		for {
			// ListPartitionReassignments reads __meta linearizably, Metadata
			// answers from the broker's own copy: a broker still replaying
			// __meta (the one just restarted) can list the move's replicas
			// after it ended. The outcome is the set every broker agrees on.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			moving, err := o.moving(ctx)
			agreed := false
			if err == nil && !moving[p] {
				final, agreed, err = o.agreedReplicas(ctx, p)
			}
			cancel()
			if agreed {
				break
			}
			if time.Since(t0) > reassignSettle {
				op.Type, op.Detail = "fail", fmt.Sprintf("still moving, or brokers disagreeing on its replicas (last seen %s), %s after heal (last error: %v)", idList(final), reassignSettle, err)
				r.h.Add(op)
				return rerr
			}
			time.Sleep(250 * time.Millisecond)
		}
		outcome := ""
		switch {
		case sameSet(final, target):
			outcome = "completed"
		case sameSet(final, old):
			outcome = "rolled back"
		default:
			op.Type = "fail"
		}
		op.Detail = fmt.Sprintf("ended on %s (%s) %.1fs after heal", idList(final), orWord(outcome, "neither old nor new"), time.Since(t0).Seconds())
		r.h.Add(op)
		r.logf("event %d: %s/%d %s", e.N, r.cfg.Topic, p, op.Detail)
		st.note = strings.TrimPrefix(st.note+"; "+op.Detail, "; ")
		return rerr
	}
}

// moving is the workload topic's partitions with a move in progress.
func (o *observer) moving(ctx context.Context) (map[int32]bool, error) {
	ps := map[int32]struct{}{}
	sets, err := o.replicaSets(ctx)
	if err != nil {
		return nil, err
	}
	for p := range sets {
		ps[p] = struct{}{}
	}
	listed, err := o.adm.ListPartitionReassignments(ctx, kadm.TopicsSet{o.topic: ps})
	if err != nil {
		return nil, fmt.Errorf("list partition reassignments: %w", err)
	}
	out := map[int32]bool{}
	for _, l := range listed.Sorted() {
		out[l.Partition] = true
	}
	return out, nil
}

// agreedReplicas asks every broker's Metadata for partition p's replicas
// and tells whether they all answered the same set (in any order).
func (o *observer) agreedReplicas(ctx context.Context, p int32) ([]int32, bool, error) {
	var first []int32
	for i, b := range allBrokers(o.b) {
		req := kmsg.NewPtrMetadataRequest()
		t := kmsg.NewMetadataRequestTopic()
		t.Topic = kmsg.StringPtr(o.topic)
		req.Topics = append(req.Topics, t)
		resp, err := req.RequestWith(ctx, o.cl.Broker(b))
		if err != nil {
			return first, false, fmt.Errorf("metadata from broker %d: %w", b, err)
		}
		var set []int32
		for _, rt := range resp.Topics {
			for _, rp := range rt.Partitions {
				if rp.Partition == p {
					set = rp.Replicas
				}
			}
		}
		if i == 0 {
			first = set
		} else if !sameSet(first, set) {
			return set, false, nil
		}
	}
	return first, len(first) > 0, nil
}

// alterAssignment asks for partition p of the workload's topic to move to
// replicas (nil: cancel its move).
func (o *observer) alterAssignment(ctx context.Context, p int32, replicas []int32) error {
	var req kadm.AlterPartitionAssignmentsReq
	req.Assign(o.topic, p, replicas)
	resp, err := o.adm.AlterPartitionAssignments(ctx, req)
	if err != nil {
		return fmt.Errorf("alter partition assignments: %w", err)
	}
	for _, r := range resp.Sorted() {
		if r.Err != nil {
			return fmt.Errorf("%s/%d: %w: %s", r.Topic, r.Partition, r.Err, r.ErrMessage)
		}
	}
	return nil
}

func sameSet(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

func idList(ids []int32) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = fmt.Sprint(id)
	}
	return strings.Join(s, ",")
}

func orWord(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}

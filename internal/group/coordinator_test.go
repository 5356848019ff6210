package group

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	sm "github.com/lni/dragonboat/v4/statemachine"
	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// localShard is one group shard without Raft: this broker always leads
// it, and a proposal is applied to the real state machine before it
// returns, as a committed SyncPropose is on the leader's replica.
type localShard struct {
	mu    sync.Mutex
	index uint64
	smr   *StateMachine
}

func (l *localShard) IsLeader(uint64) (uint64, bool)          { return 1, true }
func (l *localShard) Leader(uint64) (uint64, uint64, bool)    { return 1, 1, true }
func (l *localShard) ReadIndex(context.Context, uint64) error { return nil }
func (l *localShard) GroupStateMachine(uint64) (*StateMachine, bool) {
	return l.smr, true
}

func (l *localShard) ProposeGroup(_ context.Context, _ uint64, cmd []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.index++
	res, err := l.smr.Apply(sm.Entry{Index: l.index, Cmd: cmd})
	if err != nil {
		return err
	}
	return CommandError(res)
}

// generationView is what one member saw of a completed generation.
type generationView struct {
	leader, protocol string
}

// TestCoordinatorConcurrentRebalances runs members that join, sync and
// rejoin at once, each encoding its responses (as the server does after
// the coordinator returns) while the others' rejoins rebalance the group.
// Every member of a generation must see the same leader and protocol and
// receive exactly the assignment the leader made for it; under -race the
// responses must not share memory the next rebalance writes.
func TestCoordinatorConcurrentRebalances(t *testing.T) {
	const (
		members = 4
		rounds  = 15
		group   = "g"
	)
	shard := &localShard{smr: NewStateMachine()}
	c := NewCoordinator(Config{}, shard, zerolog.Nop())
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	var (
		mu   sync.Mutex
		seen = map[int32]generationView{}
	)
	record := func(gen int32, v generationView) error {
		mu.Lock()
		defer mu.Unlock()
		if prev, ok := seen[gen]; ok && prev != v {
			return fmt.Errorf("generation %d: %+v and %+v", gen, prev, v)
		}
		seen[gen] = v
		return nil
	}

	// Members list the two protocols in different orders: the one chosen
	// depends on who is in the generation.
	protocolOrders := [][]string{{"range", "roundrobin"}, {"roundrobin", "range"}}
	run := func(i int) error {
		memberID := ""
		var lastGen int32 = -1
		for done := 0; done < rounds; {
			if ctx.Err() != nil {
				return fmt.Errorf("member %d: %d of %d rounds: %w", i, done, rounds, ctx.Err())
			}
			join := kmsg.NewPtrJoinGroupRequest()
			join.Version = 5
			join.Group, join.MemberID, join.ProtocolType = group, memberID, "consumer"
			join.SessionTimeoutMillis, join.RebalanceTimeoutMillis = 10000, 10000
			for _, name := range protocolOrders[i%2] {
				p := kmsg.NewJoinGroupRequestProtocol()
				p.Name, p.Metadata = name, []byte(fmt.Sprintf("member-%d", i))
				join.Protocols = append(join.Protocols, p)
			}
			jr := c.JoinGroup(ctx, 0, join, Client{ID: fmt.Sprintf("client-%d", i), Host: "127.0.0.1"}, nil)
			jr.AppendTo(nil)
			switch jr.ErrorCode {
			case 0:
			case kerr.MemberIDRequired.Code, kerr.RebalanceInProgress.Code:
				memberID = jr.MemberID
				continue
			default:
				return fmt.Errorf("member %d: join: %v", i, kerr.ErrorForCode(jr.ErrorCode))
			}
			memberID = jr.MemberID
			if jr.Generation <= lastGen {
				return fmt.Errorf("member %d: generation %d after %d", i, jr.Generation, lastGen)
			}
			lastGen = jr.Generation
			sync := kmsg.NewPtrSyncGroupRequest()
			sync.Version = 5
			sync.Group, sync.MemberID, sync.Generation = group, memberID, jr.Generation
			if memberID == jr.LeaderID {
				for _, m := range jr.Members {
					a := kmsg.NewSyncGroupRequestGroupAssignment()
					a.MemberID, a.MemberAssignment = m.MemberID, []byte(fmt.Sprintf("%s@%d", m.MemberID, jr.Generation))
					sync.GroupAssignment = append(sync.GroupAssignment, a)
				}
			}
			sr := c.SyncGroup(ctx, 0, sync)
			sr.AppendTo(nil)
			if sr.ErrorCode == kerr.RebalanceInProgress.Code {
				continue // another member rejoined first
			}
			if sr.ErrorCode != 0 {
				return fmt.Errorf("member %d: sync generation %d: %v", i, jr.Generation, kerr.ErrorForCode(sr.ErrorCode))
			}
			if want := fmt.Sprintf("%s@%d", memberID, jr.Generation); string(sr.MemberAssignment) != want {
				return fmt.Errorf("member %d: assignment %q, want %q", i, sr.MemberAssignment, want)
			}
			if sr.Protocol == nil || *sr.Protocol != *jr.Protocol {
				return fmt.Errorf("member %d: sync protocol %v, join chose %q", i, sr.Protocol, *jr.Protocol)
			}
			if err := record(jr.Generation, generationView{leader: jr.LeaderID, protocol: *jr.Protocol}); err != nil {
				return err
			}
			done++
		}
		leave := kmsg.NewPtrLeaveGroupRequest()
		leave.Version = 3
		leave.Group = group
		lm := kmsg.NewLeaveGroupRequestMember()
		lm.MemberID = memberID
		leave.Members = append(leave.Members, lm)
		if lr := c.LeaveGroup(ctx, 0, leave); lr.ErrorCode != 0 || lr.Members[0].ErrorCode != 0 {
			return fmt.Errorf("member %d: leave: %d/%d", i, lr.ErrorCode, lr.Members[0].ErrorCode)
		}
		return nil
	}

	errs := make(chan error, members)
	for i := range members {
		go func() { errs <- run(i) }()
	}
	for range members {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if t.Failed() {
		return
	}
	if len(seen) < rounds {
		t.Fatalf("%d generations completed, want at least %d", len(seen), rounds)
	}
	d, code := c.Describe(ctx, 0, group)
	if code != 0 || d.State != StateEmpty || len(d.Members) != 0 {
		t.Fatalf("after every member left: %+v, code %d", d, code)
	}
}

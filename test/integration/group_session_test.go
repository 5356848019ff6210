package integration

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// joinGroup sends JoinGroup v5 (through the coordinator) until it has a
// member id and an answer, and returns that answer.
func joinGroup(ctx context.Context, t *testing.T, cl interface {
	Request(context.Context, kmsg.Request) (kmsg.Response, error)
}, group string, sessionMs, rebalanceMs int32) *kmsg.JoinGroupResponse {
	t.Helper()
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Topics = []string{"t"}
	memberID := ""
	for {
		req := kmsg.NewPtrJoinGroupRequest()
		req.Version = 5
		req.Group, req.MemberID, req.ProtocolType = group, memberID, "consumer"
		req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = sessionMs, rebalanceMs
		p := kmsg.NewJoinGroupRequestProtocol()
		p.Name, p.Metadata = "range", meta.AppendTo(nil)
		req.Protocols = append(req.Protocols, p)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatalf("join group: %v", err)
		}
		if resp.ErrorCode == kerr.MemberIDRequired.Code {
			memberID = resp.MemberID
			continue
		}
		if resp.ErrorCode == kerr.UnknownMemberID.Code && memberID != "" {
			// The coordinator moved between the two joins (a new cluster
			// still places its group leaders) and the new one never saw
			// the pending member: start over, as Kafka clients do.
			memberID = ""
			continue
		}
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			t.Fatalf("join group: %v", err)
		}
		return resp
	}
}

// TestDeadMemberExpiresDuringRebalance: a member that stops heartbeating
// while the group rebalances is dropped after its session timeout, so the
// members that did rejoin are not held until the (much longer) rebalance
// timeout. Found by longboat-chaos: a consumer whose LeaveGroup was lost
// during a partition held each later rebalance for 60 s.
func TestDeadMemberExpiresDuringRebalance(t *testing.T) {
	c := sharedCluster(t)
	cl := newClient(t, c.Addrs())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const session, rebalance = 6000, 90000

	ghost := joinGroup(ctx, t, cl, "g-ghost", session, rebalance)
	sync := kmsg.NewPtrSyncGroupRequest()
	sync.Group, sync.Generation, sync.MemberID = "g-ghost", ghost.Generation, ghost.MemberID
	a := kmsg.NewSyncGroupRequestGroupAssignment()
	a.MemberID = ghost.MemberID
	sync.GroupAssignment = append(sync.GroupAssignment, a)
	if resp, err := sync.RequestWith(ctx, cl); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("sync group: %v %v", err, resp)
	}
	// The ghost now falls silent: no heartbeat, no rejoin, no leave.
	start := time.Now()
	live := joinGroup(ctx, t, cl, "g-ghost", session, rebalance)
	took := time.Since(start)
	if live.Generation <= ghost.Generation || live.LeaderID != live.MemberID || len(live.Members) != 1 {
		t.Fatalf("rejoin answered generation %d (ghost's %d), leader %s (me %s), %d members; want only the live member",
			live.Generation, ghost.Generation, live.LeaderID, live.MemberID, len(live.Members))
	}
	// Session timeout plus the coordinator's 100 ms tick and scheduling;
	// far below the 90 s rebalance timeout the ghost asked for.
	if took > 20*time.Second {
		t.Fatalf("join completed after %v; the silent member should expire after its %d ms session", took, session)
	}
	t.Logf("join completed after %v without the silent member", took.Round(100*time.Millisecond))
}

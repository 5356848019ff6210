package cluster

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lni/dragonboat/v4"
	"github.com/lni/dragonboat/v4/client"
	sm "github.com/lni/dragonboat/v4/statemachine"

	"github.com/longboat/longboat/internal/meta"
)

// notHosting is a NodeHost whose __meta replica was removed: dragonboat
// stopped the shard, so every call on it is "shard not found".
type notHosting struct{}

func (notHosting) GetLeaderID(uint64) (uint64, uint64, bool, error) {
	return 0, 0, false, dragonboat.ErrShardNotFound
}

func (notHosting) SyncPropose(context.Context, *client.Session, []byte) (sm.Result, error) {
	return sm.Result{}, dragonboat.ErrShardNotFound
}

func (notHosting) SyncRead(context.Context, uint64, interface{}) (interface{}, error) {
	return nil, dragonboat.ErrShardNotFound
}

func (notHosting) GetNoOPSession(uint64) *client.Session { return nil }

// A broker out of __meta's Raft group names no controller (its view of
// __meta records no leader of __meta itself), and its __meta reads and
// writes fail with ErrNotMetaMember, which the Kafka layer answers
// NOT_CONTROLLER and the HTTP one 503 (ask another broker).
func TestOutOfMetaNamesNoLeader(t *testing.T) {
	st := &meta.State{Leaders: map[uint64]meta.Leader{}}
	v := leaderView{self: 1, nh: notHosting{}, hosts: func(uint64) bool { return false }, meta: fixedState{st}}
	if id, _, ok := v.leader(meta.ShardID); ok {
		t.Fatalf("__meta's leader on a broker out of it: %d, want none", id)
	}
	p := &metaProposer{nh: notHosting{}, leaders: notHosting{}, attempt: time.Second}
	if err := p.sync(context.Background()); !errors.Is(err, ErrNotMetaMember) {
		t.Fatalf("sync: %v, want ErrNotMetaMember", err)
	}
	if _, err := p.propose(context.Background(), meta.Command{RemoveBroker: new(uint64)}); !errors.Is(err, ErrNotMetaMember) {
		t.Fatalf("propose: %v, want ErrNotMetaMember", err)
	}
}

// loseFirstRead is a NodeHost whose __meta leader never changes and whose
// first ReadIndex is lost on the way (dragonboat then waits out the
// deadline); the next ones are answered.
type loseFirstRead struct{ reads atomic.Int32 }

func (*loseFirstRead) GetLeaderID(uint64) (uint64, uint64, bool, error) { return 1, 3, true, nil }

func (*loseFirstRead) SyncPropose(context.Context, *client.Session, []byte) (sm.Result, error) {
	return sm.Result{}, nil
}

func (l *loseFirstRead) SyncRead(ctx context.Context, _ uint64, _ interface{}) (interface{}, error) {
	if l.reads.Add(1) == 1 {
		<-ctx.Done()
		return nil, dragonboat.ErrTimeout
	}
	return nil, nil
}

func (*loseFirstRead) GetNoOPSession(uint64) *client.Session { return nil }

// A lost ReadIndex costs one attempt, not the caller's whole deadline.
func TestMetaSyncAsksAgainAfterALostRead(t *testing.T) {
	nh := &loseFirstRead{}
	p := &metaProposer{nh: nh, leaders: nh, attempt: 100 * time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if err := p.sync(ctx); err != nil {
		t.Fatalf("sync: %v after %v", err, time.Since(start))
	}
	if took := time.Since(start); took > 5*time.Second || nh.reads.Load() != 2 {
		t.Fatalf("sync took %v and %d reads, want one lost attempt and a second read", took, nh.reads.Load())
	}
}

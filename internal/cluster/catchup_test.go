package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/longboat/longboat/internal/meta"
	"github.com/longboat/longboat/internal/partition"
)

// closedAddr is a loopback address nothing listens at.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// A leader asking where its followers' logs end leaves out a follower
// whose broker is gone (HTTP and Raft ports refuse), answers
// partition.ErrFollowerDown when every follower is, and fails the question
// when a follower's broker is up (its Raft port listens) but its HTTP
// listener does not answer yet: only then does the leader's patience run.
func TestFollowerLogsLeaveOutDownBrokers(t *testing.T) {
	answering := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(partition.LogPosition{NextOffset: 5})
	}))
	defer answering.Close()
	raftUp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer raftUp.Close()
	st := &meta.State{
		Brokers: map[uint64]*meta.Broker{
			1: {ID: 1},
			2: {ID: 2, AdvertisedHTTPAddr: answering.Listener.Addr().String(), RaftAddr: closedAddr(t)},
			3: {ID: 3, AdvertisedHTTPAddr: closedAddr(t), RaftAddr: closedAddr(t)},
			4: {ID: 4, AdvertisedHTTPAddr: closedAddr(t), RaftAddr: raftUp.Addr().String()},
		},
		Topics: map[string]*meta.Topic{"t": {Name: "t", Partitions: []meta.Partition{
			{Index: 0, ShardID: 10, Replicas: []uint64{1, 2, 3}},
			{Index: 1, ShardID: 11, Replicas: []uint64{1, 3}},
			{Index: 2, ShardID: 12, Replicas: []uint64{1, 2, 4}},
		}}},
	}
	f := followerLogs{self: 1, meta: fixedState{st}, client: newPeerHTTP(nil)}
	ask := func(shard uint64) ([]partition.LogPosition, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		return f.Positions(ctx, shard)
	}
	if got, err := ask(10); err != nil || len(got) != 1 || got[0].NextOffset != 5 {
		t.Errorf("one follower down, one answering: %+v, %v; want the answering one's position alone", got, err)
	}
	if got, err := ask(11); !errors.Is(err, partition.ErrFollowerDown) {
		t.Errorf("the only follower down: %+v, %v; want ErrFollowerDown", got, err)
	}
	if got, err := ask(12); err == nil || errors.Is(err, partition.ErrFollowerDown) {
		t.Errorf("a follower whose Raft port listens but HTTP does not answer: %+v, %v; want an error that is not ErrFollowerDown", got, err)
	}
}

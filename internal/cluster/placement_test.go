package cluster

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/longboat/longboat/internal/meta"
)

// A placement leaves out a broker whose /livez refuses connections and
// one that keeps failing, but not one that missed a single probe.
func TestPlacementExcludesOnlyBrokersThatStayDown(t *testing.T) {
	live := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer live.Close()
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "stopping", http.StatusServiceUnavailable)
	}))
	defer failing.Close()
	var calls atomic.Int32
	oneMiss := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if calls.Add(1) == 1 {
			http.Error(w, "slow start", http.StatusServiceUnavailable)
		}
	}))
	defer oneMiss.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone := l.Addr().String()
	l.Close()

	st := &meta.State{Brokers: map[uint64]*meta.Broker{1: {ID: 1}}}
	for id, addr := range map[uint64]string{2: live.URL, 3: gone, 4: failing.URL, 5: oneMiss.URL} {
		st.Brokers[id] = &meta.Broker{ID: id, AdvertisedHTTPAddr: strings.TrimPrefix(addr, "http://")}
	}
	p := placementStamp{self: 1, meta: fixedState{st}, peers: prober{client: newPeerHTTP(nil).timeout(peerAskTimeout)}}
	c := meta.Command{CreateTopic: &meta.CreateTopic{Name: "t", Partitions: 1, ReplicationFactor: 1}}
	start := time.Now()
	p.stamp(context.Background(), &c)
	if got := c.CreateTopic.Placement; got == nil || !got.Spread || !reflect.DeepEqual(got.Exclude, []uint64{3, 4}) {
		t.Fatalf("placement %+v, want spread excluding [3 4]", got)
	}
	if took := time.Since(start); took < peerSlowDownAfter {
		t.Errorf("broker 4 excluded after %s of failures, before %s", took, peerSlowDownAfter)
	}
	preset := &meta.Placement{Exclude: []uint64{2}}
	c = meta.Command{CreatePartitions: &meta.CreatePartitions{Topic: "t", Count: 2, Placement: preset}}
	p.stamp(context.Background(), &c)
	if c.CreatePartitions.Placement != preset {
		t.Errorf("a command's own placement was replaced")
	}
}

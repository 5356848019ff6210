package cluster

import (
	"bytes"
	"context"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lni/dragonboat/v4/raftio"
	"github.com/rs/zerolog"

	"github.com/longboat/longboat/internal/config"
	"github.com/longboat/longboat/internal/meta"
)

// TestBrokerURLUsesAdvertisedHTTP: peers are reached at the address a
// broker advertises; a registration from before it existed falls back to
// its HTTP address, a wildcard host replaced by the Raft host.
func TestBrokerURLUsesAdvertisedHTTP(t *testing.T) {
	for _, tc := range []struct {
		b    meta.Broker
		want string
	}{
		{meta.Broker{ID: 1, RaftAddr: "broker1:9192", HTTPAddr: "127.0.0.1:13092", AdvertisedHTTPAddr: "broker1:13092"}, "http://broker1:13092/livez"},
		{meta.Broker{ID: 1, RaftAddr: "broker1:9192", HTTPAddr: "0.0.0.0:13092"}, "http://broker1:13092/livez"},
		{meta.Broker{ID: 1, RaftAddr: "broker1:9192", HTTPAddr: "10.0.0.5:13092"}, "http://10.0.0.5:13092/livez"},
	} {
		got, err := newPeerHTTP(nil).brokerURL(&tc.b, "/livez")
		if err != nil || got != tc.want {
			t.Errorf("brokerURL(%+v) = %q, %v; want %q", tc.b, got, err, tc.want)
		}
	}
	if _, err := newPeerHTTP(nil).brokerURL(&meta.Broker{ID: 2, AdvertisedHTTPAddr: "no-port"}, "/livez"); err == nil {
		t.Error("an advertised address without a port was accepted")
	}

	cfg, err := config.Parse([]string{"--raft-addr=broker1:9192", "--initial-members=1=broker1:9192,2=broker2:9292", "--http-addr=0.0.0.0:13092"}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if reg := registeredBroker(cfg, "inc"); reg.AdvertisedHTTPAddr != "broker1:13092" || reg.HTTPAddr != "0.0.0.0:13092" {
		t.Errorf("registration %+v, want advertised broker1:13092 beside the bind address", reg)
	}
}

// peer is a broker whose /livez and Raft address the test controls.
type peer struct {
	http *httptest.Server
	raft net.Listener
}

func newPeer(t *testing.T, live http.HandlerFunc) *peer {
	t.Helper()
	p := &peer{http: httptest.NewServer(live)}
	t.Cleanup(p.http.Close)
	var err error
	if p.raft, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.raft.Close() })
	go func() {
		for {
			c, err := p.raft.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return p
}

func (p *peer) broker(id uint64) *meta.Broker {
	return &meta.Broker{ID: id, RaftAddr: p.raft.Addr().String(), AdvertisedHTTPAddr: strings.TrimPrefix(p.http.URL, "http://")}
}

// rounds probes st n times, peerProbeInterval apart, and returns the
// changes seen.
func rounds(l *peerLiveness, st *meta.State, n int) []string {
	var seen []string
	for i := 0; i < n; i++ {
		l.round(context.Background(), st, func(id uint64, down bool, why error) {
			if down {
				seen = append(seen, "down: "+why.Error())
			} else {
				seen = append(seen, "up")
			}
		})
		time.Sleep(peerProbeInterval)
	}
	return seen
}

// TestPeerLivenessRaftPortAndSlowness: a peer whose /livez answers but
// whose Raft address accepts nothing is down; one that refuses is down
// after two probes; one that is only slow or unhealthy is down only after
// its probes failed for the slow threshold, and up at its next answer.
func TestPeerLivenessRaftPortAndSlowness(t *testing.T) {
	ok := func(w http.ResponseWriter, _ *http.Request) {}

	// Raft port closed (refused), HTTP fine: down after two probes.
	cut := newPeer(t, ok)
	cut.raft.Close()
	l := newPeerLiveness(1, prober{client: newPeerHTTP(nil).timeout(200 * time.Millisecond)})
	st := &meta.State{Brokers: map[uint64]*meta.Broker{2: cut.broker(2)}}
	if got := rounds(l, st, 2); len(got) != 1 || !strings.Contains(got[0], "dial Raft address") {
		t.Fatalf("a peer whose Raft port refuses: changes %q, want one down naming the Raft address", got)
	}

	// Slow (503s): not down before slowAfter, down after it, up again.
	healthy := true
	slow := newPeer(t, func(w http.ResponseWriter, _ *http.Request) {
		if !healthy {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	l = newPeerLiveness(1, prober{client: newPeerHTTP(nil).timeout(200 * time.Millisecond)})
	l.slowAfter = 800 * time.Millisecond
	st = &meta.State{Brokers: map[uint64]*meta.Broker{3: slow.broker(3)}}
	healthy = false
	if got := rounds(l, st, 3); len(got) != 0 {
		t.Fatalf("a peer failing for less than the slow threshold: changes %q, want none", got)
	}
	if got := rounds(l, st, 3); len(got) != 1 || !strings.Contains(got[0], "503") {
		t.Fatalf("a peer failing past the slow threshold: changes %q, want one down", got)
	}
	healthy = true
	if got := rounds(l, st, 1); len(got) != 1 || got[0] != "up" {
		t.Fatalf("a peer answering again: changes %q, want up", got)
	}
}

// TestDownPeersAsksASlowPeerTwice: a peer that fails one /livez (slow or
// unhealthy for a moment) is not down when it answers the second time; one
// that keeps failing is, and so is one whose port refuses.
func TestDownPeersAsksASlowPeerTwice(t *testing.T) {
	var asked atomic.Int32
	once := newPeer(t, func(w http.ResponseWriter, _ *http.Request) {
		if asked.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	never := newPeer(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	gone := newPeer(t, func(http.ResponseWriter, *http.Request) {})
	gone.http.Close()
	st := &meta.State{Brokers: map[uint64]*meta.Broker{1: {ID: 1}, 2: once.broker(2), 3: never.broker(3), 4: gone.broker(4)}}
	down := prober{client: newPeerHTTP(nil).timeout(time.Second)}.downPeers(context.Background(), 1, st)
	if want := map[uint64]bool{3: true, 4: true}; !maps.Equal(down, want) {
		t.Fatalf("down %v, want %v (broker 2 failed once, then answered)", down, want)
	}
	if n := asked.Load(); n != 2 {
		t.Fatalf("broker 2 asked %d times, want 2", n)
	}
}

// TestElectionTrailCauses: each leadership change is logged with the cause
// this broker knows of.
func TestElectionTrailCauses(t *testing.T) {
	var buf bytes.Buffer
	trail := newElectionTrail(time.Second, func(shard uint64) uint64 { return 1 }, zerolog.New(&buf))
	ev := func(leader, term uint64) bool {
		return trail.observe(raftio.LeaderInfo{ShardID: 1000, ReplicaID: 2, LeaderID: leader, Term: term})
	}
	if !ev(1, 2) {
		t.Error("the first leader a replica hears of does not count as a change")
	}
	ev(0, 3)
	ev(3, 3) // nothing asked for it
	trail.transferring(1000, 2)
	ev(2, 4)
	ev(1, 5) // back to the preferred replica
	trail.woke(1000, "broker 1 does not answer")
	ev(0, 6)
	ev(3, 6)
	if ev(0, 6) || ev(3, 6) {
		t.Error("a replica that lost its leader and found the same one in the same term counts as a change")
	}
	out := buf.String()
	for _, want := range []string{
		`"leader_before":1,"term_before":2,"leader":3,"term":3,`,
		`"cause":"election not asked for by this broker"`,
		`"cause":"transfer requested by this broker"`,
		`"cause":"back to the preferred replica (the previous leader's balancer)"`,
		`"cause":"election after this broker woke its replica: broker 1 does not answer"`,
		`found the same one again`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "partition leadership changed"); n != 4 {
		t.Errorf("%d leadership changes logged, want 4:\n%s", n, out)
	}
}

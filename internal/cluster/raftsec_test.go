package cluster_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lni/dragonboat/v4"
	dbconfig "github.com/lni/dragonboat/v4/config"
	"github.com/lni/dragonboat/v4/raftio"
	sm "github.com/lni/dragonboat/v4/statemachine"
	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/longboat/longboat/internal/cluster"
	"github.com/longboat/longboat/internal/config"
	"github.com/longboat/longboat/internal/logging"
	"github.com/longboat/longboat/internal/meta"
	"github.com/longboat/longboat/internal/testcluster"
	"github.com/longboat/longboat/internal/testutil"
	"github.com/longboat/longboat/internal/tlscert/tlstest"
)

// Three brokers with --raft-tls and --http-tls elect and replicate; the
// Raft port refuses a connection without a client certificate of the
// cluster's CA, a Raft node with another CA's certificate cannot connect,
// and one with the cluster's certificate but another deployment id has its
// messages dropped without disturbing the cluster. The HTTP port speaks
// only HTTPS, serves probes to any TLS client and the cluster endpoints
// only to a broker's certificate; the brokers' own HTTP traffic (identity
// exchange, follower reports, --join) goes over it.
func TestRaftMutualTLSAndDeploymentID(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three brokers")
	}
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "cluster")
	other := tlstest.NewCA(t, dir, "other")
	peers := map[uint64]tlstest.Pair{}
	for i := uint64(1); i <= 3; i++ {
		peers[i] = ca.Peer(t, fmt.Sprintf("broker%d", i))
	}
	c := testcluster.Start(t, testcluster.Options{Nodes: 3, Adjust: func(cfg *config.Config) {
		cfg.RaftTLS, cfg.HTTPTLS = true, true
		cfg.TLS.CertFile, cfg.TLS.KeyFile, cfg.TLS.ClientCAFile = peers[cfg.NodeID].CertFile, peers[cfg.NodeID].KeyFile, ca.CertFile
	}})

	// Elects and replicates: an RF=3 topic takes and returns records.
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.ConsumeTopics("secure"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 3, 3, nil, "secure"); err != nil {
		t.Fatal(err)
	}
	const records = 60
	for i := range records {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "secure", Value: fmt.Appendf(nil, "r%d", i)}).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}
	got := 0
	for got < records {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d: %v", got, records, err)
		}
		got += fs.NumRecords()
	}

	// Every broker runs the same deployment id, a derived one (not
	// dragonboat's default), and names the same cluster.
	var did uint64
	var cid string
	for i := range 3 {
		r := identityOf(t, c, i)
		if i == 0 {
			did, cid = r.DeploymentID, r.ClusterID
		}
		if r.DeploymentID != did || r.ClusterID != cid || did <= 1 || cid == "" {
			t.Fatalf("broker %d: deployment id %d, cluster %q; broker 1: %d, %q", i+1, r.DeploymentID, r.ClusterID, did, cid)
		}
	}

	raftAddr := c.Configs[0].RaftAddr
	t.Run("TLS clients", func(t *testing.T) {
		own := peers[2].TLSCert(t)
		foreign := other.Peer(t, "intruder").TLSCert(t)
		for _, tc := range []struct {
			name    string
			certs   []tls.Certificate
			refused string
		}{
			{"no client certificate", nil, "certificate required"},
			{"another CA's certificate", []tls.Certificate{foreign}, "unknown certificate authority"},
			{"the cluster's certificate", []tls.Certificate{own}, ""},
		} {
			// Sent even where the server's list of acceptable CAs does not match.
			send := func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				if tc.certs == nil {
					return &tls.Certificate{}, nil
				}
				return &tc.certs[0], nil
			}
			err := raftHandshake(raftAddr, &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1", GetClientCertificate: send, MinVersion: tls.VersionTLS12})
			switch {
			case tc.refused == "" && err != nil:
				t.Errorf("%s: %v, want the connection kept open", tc.name, err)
			case tc.refused != "" && (err == nil || !strings.Contains(err.Error(), tc.refused)):
				t.Errorf("%s: %v, want refused with %q", tc.name, err, tc.refused)
			}
		}
	})

	metaTerm := func() uint64 {
		_, term, ok := c.Brokers[0].Node.Leader(meta.ShardID)
		if !ok {
			t.Fatal("__meta has no leader")
		}
		return term
	}
	termBefore := metaTerm()

	t.Run("Raft node with another CA", func(t *testing.T) {
		ev := &connEvents{}
		intruder := other.Peer(t, "intruder")
		nh := startIntruder(t, intruder, other.CertFile, did, ev, c)
		defer nh.Close()
		testutil.Eventually(t, 20*time.Second, func() error {
			if ev.failed(raftAddr) == 0 {
				return errors.New("no failed connection to broker 1 yet")
			}
			return nil
		})
		if n := ev.established(raftAddr); n != 0 {
			t.Fatalf("%d Raft connections to broker 1 established with another CA's certificate", n)
		}
	})

	t.Run("Raft node of another deployment", func(t *testing.T) {
		var buf syncBuffer
		log, err := logging.New(&buf, "warn", "json")
		if err != nil {
			t.Fatal(err)
		}
		logging.RouteDragonboat(log)
		defer logging.RouteDragonboat(zerolog.Nop())
		ev := &connEvents{}
		nh := startIntruder(t, ca.Peer(t, "impostor"), ca.CertFile, did+1, ev, c)
		defer nh.Close()
		want := fmt.Sprintf("deployment id does not match %d vs %d, message dropped", did+1, did)
		testutil.Eventually(t, 20*time.Second, func() error {
			if ev.established(raftAddr) == 0 {
				return errors.New("no TLS connection to broker 1 yet")
			}
			if !strings.Contains(buf.String(), want) {
				return fmt.Errorf("brokers have not logged %q", want)
			}
			return nil
		})
	})

	t.Run("HTTPS port", func(t *testing.T) {
		httpAddr := c.HTTPAddr(0)
		plain, err := http.Get("http://" + httpAddr + "/livez")
		if err == nil {
			plain.Body.Close()
			if plain.StatusCode == http.StatusOK {
				t.Fatal("plain HTTP /livez answered 200")
			}
		}
		client := func(certs ...tls.Certificate) *http.Client {
			return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
				TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), Certificates: certs, MinVersion: tls.VersionTLS12}}}
		}
		anon, broker := client(), client(peers[2].TLSCert(t))
		defer anon.CloseIdleConnections()
		defer broker.CloseIdleConnections()
		do := func(cl *http.Client, method, path, body string) (int, string) {
			t.Helper()
			req, err := http.NewRequest(method, "https://"+httpAddr+path, strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := cl.Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		for _, path := range []string{"/livez", "/readyz", "/metrics", "/v1/status"} {
			if code, body := do(anon, http.MethodGet, path, ""); code != http.StatusOK {
				t.Errorf("GET %s without a client certificate: %d %s, want 200", path, code, body)
			}
		}
		join := `{"node_id":9,"raft_addr":"127.0.0.1:1","incarnation":""}`
		for _, r := range [][3]string{{http.MethodPost, "/v1/join", join}, {http.MethodPost, "/v1/replicas", "{}"}, {http.MethodGet, "/v1/identity", ""}, {http.MethodGet, "/ui/", ""}} {
			if code, body := do(anon, r[0], r[1], r[2]); code != http.StatusForbidden || !strings.Contains(body, "requires a client certificate") {
				t.Errorf("%s %s without a client certificate: %d %q, want 403", r[0], r[1], code, body)
			}
		}
		// A broker's certificate passes: the join is judged (and refused,
		// since it names no incarnation).
		if code, body := do(broker, http.MethodPost, "/v1/join", join); code != http.StatusConflict || !strings.Contains(body, "incarnation") {
			t.Errorf("POST /v1/join with a broker's certificate: %d %q, want 409 naming the incarnation", code, body)
		}
		// Sent even though the server names another CA as acceptable.
		intruder := other.Peer(t, "intruder").TLSCert(t)
		foreign := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12,
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &intruder, nil }}}}
		defer foreign.CloseIdleConnections()
		if resp, err := foreign.Post("https://"+httpAddr+"/v1/join", "application/json", strings.NewReader(join)); err == nil {
			resp.Body.Close()
			t.Errorf("POST /v1/join with another CA's certificate: %s, want the handshake refused", resp.Status)
		} else if !strings.Contains(err.Error(), "unknown certificate authority") {
			t.Errorf("POST /v1/join with another CA's certificate: %v, want unknown certificate authority", err)
		}
	})

	// The brokers' reports to each other (POST /v1/replicas every second
	// over HTTPS) keep every follower in the ISR: a peer that could not be
	// asked five times in a row would be out of it.
	testutil.Eventually(t, 20*time.Second, func() error {
		md, err := kadm.NewClient(cl).Metadata(ctx, "secure")
		if err != nil {
			return err
		}
		for _, p := range md.Topics["secure"].Partitions {
			if len(p.ISR) != 3 {
				return fmt.Errorf("partition %d ISR %v", p.Partition, p.ISR)
			}
		}
		return nil
	})
	for i := range 3 {
		if code := httpStatus(t, c, i, "/readyz"); code != http.StatusOK {
			t.Fatalf("broker %d /readyz %d", i+1, code)
		}
	}

	if after := metaTerm(); after != termBefore {
		t.Fatalf("__meta term moved from %d to %d while the intruders campaigned", termBefore, after)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "secure", Value: []byte("after")}).FirstErr(); err != nil {
		t.Fatalf("produce after the intruders: %v", err)
	}

	// A fourth broker joins over HTTPS (--join, POST /v1/join with its
	// certificate).
	peers[4] = ca.Peer(t, "broker4")
	joined := c.Join(0)
	c.WaitReady(60 * time.Second)
	if r := identityOf(t, c, joined); r.ClusterID != cid || r.DeploymentID != did {
		t.Fatalf("joined broker: cluster %q deployment id %d, want %q %d", r.ClusterID, r.DeploymentID, cid, did)
	}
}

func identityOf(t *testing.T, c *testcluster.Cluster, i int) cluster.IdentityReport {
	t.Helper()
	resp, err := c.HTTPGet(i, "/v1/identity")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r cluster.IdentityReport
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	return r
}

// raftHandshake completes a TLS handshake with a Raft port and reads: with
// TLS 1.3 a refused client certificate shows as the server's alert on the
// first read; a connection the server keeps just times out (nil).
func raftHandshake(addr string, cfg *tls.Config) error {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(time.Second))
	_, err = conn.Read(make([]byte, 1))
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return nil
	}
	if err == nil {
		return errors.New("the server sent data")
	}
	return err
}

// startIntruder runs a dragonboat NodeHost outside the cluster with mutual
// TLS (pair, caFile) and deploymentID, and a replica that claims to be a
// fourth member of __meta: it campaigns, sending Raft messages to every
// broker.
func startIntruder(t *testing.T, pair tlstest.Pair, caFile string, deploymentID uint64, ev *connEvents, c *testcluster.Cluster) *dragonboat.NodeHost {
	t.Helper()
	addr := testcluster.FreeAddrs(t, 1)[0]
	nh, err := dragonboat.NewNodeHost(dbconfig.NodeHostConfig{
		NodeHostDir: t.TempDir(), RTTMillisecond: 20, RaftAddress: addr, DeploymentID: deploymentID,
		MutualTLS: true, CAFile: caFile, CertFile: pair.CertFile, KeyFile: pair.KeyFile,
		SystemEventListener: ev,
	})
	if err != nil {
		t.Fatal(err)
	}
	members := map[uint64]dragonboat.Target{4: addr}
	for i, cfg := range c.Configs {
		members[uint64(i+1)] = cfg.RaftAddr
	}
	err = nh.StartReplica(members, false, func(uint64, uint64) sm.IStateMachine { return nopSM{} },
		dbconfig.Config{ShardID: meta.ShardID, ReplicaID: 4, ElectionRTT: 10, HeartbeatRTT: 1})
	if err != nil {
		nh.Close()
		t.Fatal(err)
	}
	return nh
}

type nopSM struct{}

func (nopSM) Update(e sm.Entry) (sm.Result, error)                                      { return sm.Result{}, nil }
func (nopSM) Lookup(any) (any, error)                                                   { return nil, nil }
func (nopSM) SaveSnapshot(io.Writer, sm.ISnapshotFileCollection, <-chan struct{}) error { return nil }
func (nopSM) RecoverFromSnapshot(io.Reader, []sm.SnapshotFile, <-chan struct{}) error   { return nil }
func (nopSM) Close() error                                                              { return nil }

// connEvents counts the NodeHost's Raft connections by target address.
type connEvents struct {
	mu            sync.Mutex
	opened, fails map[string]int
}

func (e *connEvents) count(m *map[string]int, addr string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if *m == nil {
		*m = map[string]int{}
	}
	(*m)[addr]++
}

func (e *connEvents) established(addr string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.opened[addr]
}

func (e *connEvents) failed(addr string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.fails[addr]
}

func (e *connEvents) ConnectionEstablished(i raftio.ConnectionInfo) { e.count(&e.opened, i.Address) }
func (e *connEvents) ConnectionFailed(i raftio.ConnectionInfo)      { e.count(&e.fails, i.Address) }
func (*connEvents) NodeHostShuttingDown()                           {}
func (*connEvents) NodeUnloaded(raftio.NodeInfo)                    {}
func (*connEvents) NodeDeleted(raftio.NodeInfo)                     {}
func (*connEvents) NodeReady(raftio.NodeInfo)                       {}
func (*connEvents) MembershipChanged(raftio.NodeInfo)               {}
func (*connEvents) SendSnapshotStarted(raftio.SnapshotInfo)         {}
func (*connEvents) SendSnapshotCompleted(raftio.SnapshotInfo)       {}
func (*connEvents) SendSnapshotAborted(raftio.SnapshotInfo)         {}
func (*connEvents) SnapshotReceived(raftio.SnapshotInfo)            {}
func (*connEvents) SnapshotRecovered(raftio.SnapshotInfo)           {}
func (*connEvents) SnapshotCreated(raftio.SnapshotInfo)             {}
func (*connEvents) SnapshotCompacted(raftio.SnapshotInfo)           {}
func (*connEvents) LogCompacted(raftio.EntryInfo)                   {}
func (*connEvents) LogDBCompacted(raftio.EntryInfo)                 {}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func httpStatus(t *testing.T, c *testcluster.Cluster, i int, path string) int {
	t.Helper()
	resp, err := c.HTTPGet(i, path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

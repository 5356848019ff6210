package integration

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/longboat/longboat/internal/config"
	"github.com/longboat/longboat/internal/testcluster"
	"github.com/longboat/longboat/internal/testutil"
)

// netnsEnv marks the copy of a test that runs inside its own network
// namespace.
const netnsEnv = "LONGBOAT_TEST_NETNS"

// inOwnNetns re-runs the calling test in a new network namespace (unshare
// --net), where firewall rules on loopback touch nothing outside it, and
// reports whether this is that copy. The outer run returns false after
// the copy ended, failed with it or skipped when namespaces or iptables
// are not available.
func inOwnNetns(t *testing.T) bool {
	t.Helper()
	if os.Getenv(netnsEnv) == "1" {
		if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
			t.Fatalf("bring up loopback in the namespace: %v: %s", err, out)
		}
		return true
	}
	if out, err := exec.Command("unshare", "--net", "iptables", "-L", "INPUT", "-n").CombinedOutput(); err != nil {
		t.Skipf("needs unshare --net and iptables (root): %v: %s", err, out)
	}
	cmd := exec.Command("unshare", "--net", "--", os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v", "-test.timeout=3m")
	cmd.Env = append(os.Environ(), netnsEnv+"=1")
	out, err := cmd.CombinedOutput()
	t.Logf("in its own network namespace:\n%s", out)
	if err != nil {
		t.Fatalf("test in its own network namespace: %v", err)
	}
	if strings.Contains(string(out), "--- SKIP: "+t.Name()) {
		t.Skip("skipped in its namespace")
	}
	return false
}

// iptables runs iptables with args (in the test's own namespace).
func iptables(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("iptables", args...).CombinedOutput(); err != nil {
		t.Fatalf("iptables %v: %v: %s", args, err, out)
	}
}

// TestRaftPortCutFailsOverQuiescedPartitions: a broker whose Raft port
// alone is cut off (its HTTP and Kafka ports still answer) loses the
// leadership of the quiesced partitions it led to the other brokers,
// with no client traffic to wake them: the peers' probe dials the Raft
// address too. Broker 1 advertises its HTTP address under another name
// than it binds, and every broker finds that name in __meta.
//
// Runs in its own network namespace (it adds an iptables rule on
// loopback); not parallel: quiescing needs an idle cluster.
func TestRaftPortCutFailsOverQuiescedPartitions(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for partitions to quiesce")
	}
	if !inOwnNetns(t) {
		return
	}
	c := testcluster.Start(t, testcluster.Options{Nodes: 3, Adjust: func(cfg *config.Config) {
		if cfg.NodeID == 1 {
			_, port, _ := net.SplitHostPort(cfg.HTTPAddr)
			cfg.AdvertisedHTTPAddr = net.JoinHostPort("localhost", port)
		}
	}})
	_, httpPort, _ := net.SplitHostPort(c.HTTPAddr(0))
	testutil.Eventually(t, 10*time.Second, func() error {
		for i, b := range c.Brokers {
			reg := b.Node.Meta().Brokers[1]
			if reg == nil || reg.AdvertisedHTTPAddr != "localhost:"+httpPort {
				return fmt.Errorf("broker %d's __meta holds broker 1 as %+v, want advertised HTTP address localhost:%s", i+1, reg, httpPort)
			}
			if other := b.Node.Meta().Brokers[2]; other == nil || other.AdvertisedHTTPAddr != c.HTTPAddr(1) {
				return fmt.Errorf("broker %d's __meta holds broker 2 as %+v, want the default advertised HTTP address %s", i+1, other, c.HTTPAddr(1))
			}
		}
		return nil
	})

	const topic, partitions = "raftcut", 6
	createTopic(t, c.Addrs(), topic, partitions, 3)
	waitAllPreferred(t, c, 30*time.Second)
	// Deliberately idle: quiescing is visible to no client or metric, so
	// wait until no leadership has moved for well past the threshold (a
	// loaded machine ticks late, which stretches it).
	for quiet := 20 * time.Second; ; {
		before := leadershipChanges(c)
		time.Sleep(quiet)
		if leadershipChanges(c) == before {
			break
		}
	}
	var led []uint64
	for _, shard := range c.Brokers[0].Node.HostedShards() {
		if _, leader := c.Brokers[0].Node.IsLeader(shard); leader {
			led = append(led, shard)
		}
	}
	if len(led) == 0 {
		t.Fatal("broker 1 leads no shard")
	}
	_, raftPort, _ := net.SplitHostPort(c.Configs[0].RaftAddr)
	iptables(t, "-A", "INPUT", "-p", "tcp", "--dport", raftPort, "-j", "DROP")
	t.Cleanup(func() { iptables(t, "-D", "INPUT", "-p", "tcp", "--dport", raftPort, "-j", "DROP") })
	cut := time.Now()
	t.Logf("cut broker 1's Raft port %s; it led shards %v", raftPort, led)

	// No client traffic: only the peers' probes can wake these shards.
	testutil.Eventually(t, 20*time.Second, func() error {
		for _, shard := range led {
			for _, i := range []int{1, 2} {
				leader, _, ok := c.Brokers[i].Node.Leader(shard)
				if !ok || leader == 1 {
					return fmt.Errorf("broker %d sees shard %d led by %d (known %v)", i+1, shard, leader, ok)
				}
			}
		}
		return nil
	})
	t.Logf("every shard broker 1 led has a new leader %v after its Raft port was cut", time.Since(cut).Round(10*time.Millisecond))

	survivors := []string{c.Addrs()[1], c.Addrs()[2]}
	cl := newClient(t, survivors, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.MetadataMinAge(100*time.Millisecond))
	produceEach(t, cl, topic, partitions, "after-cut")
}

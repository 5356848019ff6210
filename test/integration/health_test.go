package integration

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/longboat/longboat/internal/config"
	"github.com/longboat/longboat/internal/testcluster"
	"github.com/longboat/longboat/internal/testutil"
)

func readyz(t *testing.T, addr string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/readyz?verbose")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func waitStatus(t *testing.T, addr string, want int, within time.Duration) string {
	t.Helper()
	var body string
	testutil.Eventually(t, within, func() error {
		var code int
		code, body = readyz(t, addr)
		if code != want {
			return fmt.Errorf("/readyz on %s: %d, want %d:\n%s", addr, code, want, body)
		}
		return nil
	})
	return body
}

// TestReadyzFollowsQuorum: a broker that loses both peers loses its quorum
// and answers 503; when they return it answers 200 again.
func TestReadyzFollowsQuorum(t *testing.T) {
	t.Parallel()
	c := testcluster.Start(t, testcluster.Options{Nodes: 3, Adjust: func(cfg *config.Config) {
		// The second broker stopped has no live target for its leadership
		// hand-off and would wait out half of this (5 s of the default
		// 10 s). What is tested is /readyz, not the hand-off.
		cfg.ShutdownTimeout = time.Second
	}})
	createTopic(t, c.Addrs(), "health", 3, 3)
	waitStatus(t, c.HTTPAddr(0), http.StatusOK, 10*time.Second)

	c.StopBroker(1)
	c.StopBroker(2)
	body := waitStatus(t, c.HTTPAddr(0), http.StatusServiceUnavailable, 15*time.Second)
	if !strings.Contains(body, "[FAILED]") {
		t.Fatalf("verbose /readyz names no failed check:\n%s", body)
	}
	c.StartBroker(1)
	c.StartBroker(2)
	waitStatus(t, c.HTTPAddr(0), http.StatusOK, 60*time.Second)
}

// metricSum adds up every sample of a metric family on the running brokers.
func metricSum(t *testing.T, c *testcluster.Cluster, name string) float64 {
	t.Helper()
	var sum float64
	for i, b := range c.Brokers {
		if b != nil {
			sum += metricAt(t, c.HTTPAddr(i), name)
		}
	}
	return sum
}

// metricAt adds up every sample of a metric family on one broker.
func metricAt(t *testing.T, httpAddr, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var sum float64
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, name+" ") && !strings.HasPrefix(line, name+"{") {
			continue
		}
		var v float64
		fields := strings.Fields(line)
		if _, err := fmt.Sscan(fields[len(fields)-1], &v); err == nil {
			sum += v
		}
	}
	return sum
}

func waitMetric(t *testing.T, c *testcluster.Cluster, name string, ok func(float64) bool, within time.Duration) float64 {
	t.Helper()
	var v float64
	testutil.Eventually(t, within, func() error {
		if v = metricSum(t, c, name); !ok(v) {
			return fmt.Errorf("%s = %v", name, v)
		}
		return nil
	})
	return v
}

// TestUnderReplicatedAndOfflineGauges: with one broker down, every
// partition with a replica there counts as under-replicated (reported once,
// by its leader) and none is offline; after it returns, both are zero.
func TestUnderReplicatedAndOfflineGauges(t *testing.T) {
	t.Parallel()
	c := testcluster.Start(t, testcluster.Options{Nodes: 3})
	createTopic(t, c.Addrs(), "urp", 6, 3)
	if v := metricSum(t, c, "longboat_under_replicated_partitions"); v != 0 {
		t.Fatalf("under-replicated partitions %v on a healthy cluster", v)
	}
	if v := metricSum(t, c, "longboat_cluster_partitions"); v != 6 {
		t.Fatalf("longboat_cluster_partitions = %v, want 6 (reported once, by the __meta leader)", v)
	}
	c.StopBroker(2)
	// All six partitions have a replica on broker 3.
	waitMetric(t, c, "longboat_under_replicated_partitions", func(v float64) bool { return v == 6 }, 20*time.Second)
	if v := metricSum(t, c, "longboat_offline_partitions"); v != 0 {
		t.Fatalf("offline partitions %v with a quorum up", v)
	}
	c.StartBroker(2)
	c.WaitReady(60 * time.Second)
	waitMetric(t, c, "longboat_under_replicated_partitions", func(v float64) bool { return v == 0 }, 20*time.Second)
}

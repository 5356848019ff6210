package integration

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/longboat/longboat/internal/testcluster"
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
	deadline := time.Now().Add(within)
	for {
		code, body := readyz(t, addr)
		if code == want {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz on %s: %d, want %d:\n%s", addr, code, want, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestReadyzFollowsQuorum: a broker that loses both peers loses its quorum
// and answers 503; when they return it answers 200 again.
func TestReadyzFollowsQuorum(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Nodes: 3})
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

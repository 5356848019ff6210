package broker_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/longboat/longboat/internal/config"
	"github.com/longboat/longboat/internal/testcluster"
)

type coordinator struct {
	Shard  uint64 `json:"shard"`
	Leader uint64 `json:"leader"`
	Term   uint64 `json:"term"`
}

func getCoordinator(t *testing.T, httpAddr, group string) coordinator {
	t.Helper()
	resp, err := http.Get("http://" + httpAddr + "/v1/groups/" + group + "/coordinator")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("coordinator of %s: %s", group, resp.Status)
	}
	var c coordinator
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
		t.Fatal(err)
	}
	return c
}

func transfer(t *testing.T, httpAddr, group string, to uint64) int {
	t.Helper()
	resp, err := http.Post(fmt.Sprintf("http://%s/v1/groups/%s/transfer-leader?to=%d", httpAddr, group, to), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// awaitLeader polls every broker until all report leader of the group's
// shard, in a term after minTerm. A Raft leader transfer is a request the
// leader may drop (one already pending, a step-down in between), so resend
// asks again every 3 s, as an operator would.
func awaitLeader(t *testing.T, c *testcluster.Cluster, group string, leader, minTerm uint64, resend func()) uint64 {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	next := time.Now().Add(3 * time.Second)
	for {
		agree, term := true, uint64(0)
		for i := range c.Configs {
			co := getCoordinator(t, c.HTTPAddr(i), group)
			agree = agree && co.Leader == leader && co.Term > minTerm
			term = co.Term
		}
		if agree {
			return term
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s: leadership did not move to broker %d within 15 s", group, leader)
		}
		if time.Now().After(next) {
			resend()
			next = time.Now().Add(3 * time.Second)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A group shard's leadership moves A -> B -> A through the HTTP endpoint
// the chaos suite's group-leader nemesis uses; without the flag the
// endpoint does not exist.
func TestGroupLeaderTransferOverHTTP(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Nodes: 3, Adjust: func(cfg *config.Config) {
		// The balancer would move leadership on its own and race the test.
		cfg.LeaderBalanceInterval = time.Hour
		cfg.DebugLeaderTransfer = cfg.NodeID != 3
	}})
	const group = "transfer-me"
	co := getCoordinator(t, c.HTTPAddr(0), group)
	for co.Leader == 0 {
		time.Sleep(50 * time.Millisecond)
		co = getCoordinator(t, c.HTTPAddr(0), group)
	}
	a := co.Leader
	b := a%3 + 1
	if got := transfer(t, c.HTTPAddr(2), group, b); got != http.StatusNotFound && got != http.StatusMethodNotAllowed {
		t.Fatalf("broker 3 runs without --debug-leader-transfer but answered %d", got)
	}
	if got := transfer(t, c.HTTPAddr(0), group, b); got != http.StatusAccepted {
		t.Fatalf("transfer to %d: %d", b, got)
	}
	term := awaitLeader(t, c, group, b, co.Term, func() { transfer(t, c.HTTPAddr(0), group, b) })
	if got := transfer(t, c.HTTPAddr(1), group, a); got != http.StatusAccepted {
		t.Fatalf("transfer back to %d: %d", a, got)
	}
	awaitLeader(t, c, group, a, term, func() { transfer(t, c.HTTPAddr(1), group, a) })
	if got := transfer(t, c.HTTPAddr(0), group, 0); got != http.StatusBadRequest {
		t.Fatalf("transfer to broker 0: %d, want 400", got)
	}
}

package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// On the shared three-broker cluster (every broker a __meta voter):
// rebalance --dry-run prints a plan over the three brokers and starts no
// move; remove-broker refuses a voter before changing anything, as no
// broker that joined can take its vote (__meta keeps three voters), and
// the broker's DELETE /v1/brokers/N refuses a voter not drained; bad usage
// is exit 2.
func TestRebalanceDryRunAndRemoveBrokerRefusals(t *testing.T) {
	c := shared.Get(t)
	bs := bootstrap(t)
	var https []string
	for i := range c.Brokers {
		https = append(https, c.HTTPAddr(i))
	}
	addrs := strings.Join(https, ",")
	var doc rebalanceDoc
	lbJSON(t, &doc, "cluster", "rebalance", "--dry-run", "--bootstrap-server", bs, "--http", addrs)
	if !doc.DryRun || joinIDs(doc.Eligible) != "1,2,3" || len(doc.Results) != 0 {
		t.Fatalf("rebalance --dry-run: %+v, want a dry run over brokers 1,2,3 with no results", doc)
	}
	if moves := c.Brokers[0].Node.Meta().Reassignments; len(moves) != 0 {
		t.Fatalf("rebalance --dry-run started %d moves", len(moves))
	}
	lbFails(t, 1, "no live, non-draining broker that joined can take its vote: __meta keeps --meta-voters voters, so join another broker first",
		"cluster", "remove-broker", "2", "--bootstrap-server", bs, "--http", addrs)
	if d := c.Brokers[0].Node.Meta().Draining; len(d) != 0 {
		t.Fatalf("a refused remove-broker left draining brokers %v", d)
	}
	req, err := http.NewRequest(http.MethodDelete, "http://"+c.HTTPAddr(0)+"/v1/brokers/2", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict || !strings.Contains(string(body), "broker 2 is a voter of __meta (voters [1 2 3]): mark it draining first") {
		t.Fatalf("DELETE /v1/brokers/2 (a voter, not draining): %s %q, want 409 and the reason", resp.Status, body)
	}
	lbFails(t, 1, "broker 9 is not registered", "cluster", "remove-broker", "9", "--bootstrap-server", bs, "--http", addrs)
	lbFails(t, 2, "remove-broker takes a broker id", "cluster", "remove-broker", "--bootstrap-server", bs)
	lbFails(t, 2, `"x" is not a broker id`, "cluster", "remove-broker", "x", "--bootstrap-server", bs)
	lbFails(t, 2, "no broker answered /v1/status", "cluster", "rebalance", "--bootstrap-server", bs, "--http", "127.0.0.1:1")
}

package main

import (
	"strings"
	"testing"
)

// On the shared three-broker cluster (every broker a __meta voter):
// rebalance --dry-run prints a plan over the three brokers and starts no
// move; remove-broker refuses a voter before changing anything; bad usage
// is exit 2.
func TestRebalanceDryRunAndRemoveBrokerRefusals(t *testing.T) {
	c := shared.Get(t)
	bs := bootstrap(t)
	var https []string
	for i := range c.Brokers {
		https = append(https, c.HTTPAddr(i))
	}
	http := strings.Join(https, ",")
	var doc rebalanceDoc
	lbJSON(t, &doc, "cluster", "rebalance", "--dry-run", "--bootstrap-server", bs, "--http", http)
	if !doc.DryRun || joinIDs(doc.Eligible) != "1,2,3" || len(doc.Results) != 0 {
		t.Fatalf("rebalance --dry-run: %+v, want a dry run over brokers 1,2,3 with no results", doc)
	}
	if moves := c.Brokers[0].Node.Meta().Reassignments; len(moves) != 0 {
		t.Fatalf("rebalance --dry-run started %d moves", len(moves))
	}
	lbFails(t, 1, "broker 2 is a voter of __meta", "cluster", "remove-broker", "2", "--bootstrap-server", bs, "--http", http)
	if d := c.Brokers[0].Node.Meta().Draining; len(d) != 0 {
		t.Fatalf("a refused remove-broker left draining brokers %v", d)
	}
	lbFails(t, 1, "broker 9 is not registered", "cluster", "remove-broker", "9", "--bootstrap-server", bs, "--http", http)
	lbFails(t, 2, "remove-broker takes a broker id", "cluster", "remove-broker", "--bootstrap-server", bs)
	lbFails(t, 2, `"x" is not a broker id`, "cluster", "remove-broker", "x", "--bootstrap-server", bs)
	lbFails(t, 2, "no broker answered /v1/status", "cluster", "rebalance", "--bootstrap-server", bs, "--http", "127.0.0.1:1")
}

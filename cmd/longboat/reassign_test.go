package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// `topics reassign` moves a partition onto another broker, shows the
// move while it runs and ends with a summary; cluster status then shows no
// move in flight; a cancel without a move and bad usage are refused.
func TestTopicsReassign(t *testing.T) {
	t.Parallel()
	c := shared.Get(t)
	bs := bootstrap(t)
	lbOK(t, "", "topics", "create", "--bootstrap-server", bs, "--topic", "cli-reassign", "--partitions", "1", "--replication-factor", "2")
	lbOK(t, "", "produce", "--bootstrap-server", bs, "--topic", "cli-reassign", "--records", "100")
	orig := c.Brokers[0].Node.Meta().Topics["cli-reassign"].Partitions[0].Replicas
	var spare uint64
	for id := uint64(1); id <= 3; id++ {
		if !slices.Contains(orig, id) {
			spare = id
		}
	}
	target := fmt.Sprintf("%d,%d", spare, orig[0])
	out, errs, code := lb(t, "", "topics", "reassign", "--bootstrap-server", bs, "--topic", "cli-reassign", "--partition", "0", "--replicas", target, "--output", "json")
	if code != 0 {
		t.Fatalf("topics reassign: exit %d, stderr %q", code, errs)
	}
	var results []reassignResult
	if err := json.Unmarshal([]byte(out), &results); err != nil {
		t.Fatalf("%v in %q", err, out)
	}
	if len(results) != 1 || results[0].Outcome != "completed" || joinIDs(results[0].To) != target || !slices.Equal(results[0].From, []int32{int32(orig[0]), int32(orig[1])}) {
		t.Fatalf("summary %+v, want a completed move from %v to %s", results, orig, target)
	}
	if !strings.Contains(errs, "cli-reassign/0 done: replicas "+target) {
		t.Fatalf("progress on stderr %q: want the end of the move", errs)
	}
	t.Logf("progress:\n%s", errs)
	var doc clusterDoc
	lbJSON(t, &doc, "cluster", "status", "--bootstrap-server", bs, "--http", "")
	if len(doc.Reassignments) != 0 {
		t.Fatalf("cluster status shows moves after the move ended: %+v", doc.Reassignments)
	}
	lbFails(t, 1, "NO_REASSIGNMENT_IN_PROGRESS", "topics", "reassign", "--bootstrap-server", bs, "--topic", "cli-reassign", "--partition", "0", "--cancel")
	lbFails(t, 1, "INVALID_REPLICA_ASSIGNMENT", "topics", "reassign", "--bootstrap-server", bs, "--topic", "cli-reassign", "--partition", "0", "--replicas", "1,1")
	lbFails(t, 2, "--replicas is required", "topics", "reassign", "--bootstrap-server", bs, "--topic", "cli-reassign", "--partition", "0")
	lbFails(t, 2, "--cancel takes no --replicas", "topics", "reassign", "--bootstrap-server", bs, "--topic", "cli-reassign", "--partition", "0", "--cancel", "--replicas", "1")
}

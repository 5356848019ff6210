package cluster

import (
	"fmt"
	"testing"

	sm "github.com/lni/dragonboat/v4/statemachine"

	"github.com/longboat/longboat/internal/group"
	"github.com/longboat/longboat/internal/testutil"
)

// TestGroupSnapshotByLogGrowth: a group replica asks for a snapshot once
// the shared log grew the threshold since its last one, one request at a
// time, and after a request that took none asks again once snapshotRetry
// passed.
func TestGroupSnapshotByLogGrowth(t *testing.T) {
	growth := &logGrowth{}
	var requests []func(bool)
	g := observedGroup{IConcurrentStateMachine: group.NewStateMachine(),
		snap: &growthTrigger{log: growth, every: 1000, request: func(done func(bool)) { requests = append(requests, done) }}}
	// step grows the log by n bytes, applies a batch on the group replica
	// and wants as many snapshot requests in all.
	step := func(n, want int, when string) {
		t.Helper()
		growth.bytes.Add(entryBytes([]sm.Entry{{Cmd: make([]byte, n)}}))
		if _, err := g.Update(nil); err != nil {
			t.Fatal(err)
		}
		if len(requests) != want {
			t.Fatalf("%d snapshot requests %s, want %d", len(requests), when, want)
		}
	}
	step(999, 0, "after 999 bytes of growth")
	step(1, 1, "at 1000 bytes")
	step(0, 1, "with one pending")
	requests[0](true)
	step(500, 1, "500 bytes after a snapshot")
	step(500, 2, "1000 bytes after a snapshot")
	requests[1](false)
	step(0, 2, "right after a request that took no snapshot")
	testutil.Eventually(t, 5*snapshotRetry, func() error {
		if _, err := g.Update(nil); err != nil {
			return err
		}
		if len(requests) != 3 {
			return fmt.Errorf("%d requests, want a third after snapshotRetry", len(requests))
		}
		return nil
	})
}

package cluster

import (
	"fmt"
	"testing"

	sm "github.com/lni/dragonboat/v4/statemachine"

	"github.com/longboat/longboat/internal/group"
	"github.com/longboat/longboat/internal/testutil"
)

// TestGroupSnapshotByLogGrowth: a group replica asks for a snapshot once
// the shared log grew the threshold since its last one (counted from what
// partition replicas apply), one request at a time, and after a request
// that took none asks again once snapshotRetry passed.
func TestGroupSnapshotByLogGrowth(t *testing.T) {
	growth := &logGrowth{}
	var requests []func(bool)
	g := observedGroup{IConcurrentStateMachine: group.NewStateMachine(),
		snap: &growthTrigger{log: growth, every: 1000, request: func(done func(bool)) { requests = append(requests, done) }}}
	apply := func() {
		t.Helper()
		if _, err := g.Update(nil); err != nil {
			t.Fatal(err)
		}
	}
	grow := func(n int) { growth.bytes.Add(entryBytes([]sm.Entry{{Cmd: make([]byte, n)}})) }

	grow(999)
	apply()
	if len(requests) != 0 {
		t.Fatalf("%d snapshot requests after 999 bytes of growth, want none below 1000", len(requests))
	}
	grow(1)
	apply()
	apply()
	if len(requests) != 1 {
		t.Fatalf("%d snapshot requests at 1000 bytes, want 1 (one at a time)", len(requests))
	}
	requests[0](true)
	grow(500)
	apply()
	if len(requests) != 1 {
		t.Fatalf("%d snapshot requests 500 bytes after a snapshot, want still 1", len(requests))
	}
	grow(500)
	apply()
	if len(requests) != 2 {
		t.Fatalf("%d snapshot requests 1000 bytes after a snapshot, want 2", len(requests))
	}
	requests[1](false)
	apply()
	if len(requests) != 2 {
		t.Fatal("asked again at once after a request that took no snapshot")
	}
	testutil.Eventually(t, 5*snapshotRetry, func() error {
		apply()
		if len(requests) != 3 {
			return fmt.Errorf("%d requests, want a third after snapshotRetry", len(requests))
		}
		return nil
	})
}

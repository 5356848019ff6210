// Package testutil holds the waiting every integration test needs: poll a
// condition until it holds or a timeout passes, instead of sleeping a fixed
// time or writing the deadline loop again.
package testutil

import (
	"fmt"
	"testing"
	"time"
)

// Backoff bounds between polls: a condition that holds almost at once is
// seen within milliseconds, one that takes seconds is not polled hundreds of
// times (each poll may be a network round trip to every broker).
const (
	firstWait = 10 * time.Millisecond
	maxWait   = 200 * time.Millisecond
)

// Poll calls cond until it returns nil or timeout has passed, waiting a
// little longer after each failed call, and returns cond's last error
// wrapped with how long it waited. cond is called at least once.
func Poll(timeout time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	wait := firstWait
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("still failing after %v: %w", timeout, err)
		}
		time.Sleep(min(wait, time.Until(deadline)+time.Millisecond))
		wait = min(2*wait, maxWait)
	}
}

// Eventually fails the test with cond's last error unless cond returns nil
// within timeout. cond may itself call t.Fatal for an error no waiting can
// mend.
func Eventually(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	if err := Poll(timeout, cond); err != nil {
		t.Fatal(err)
	}
}

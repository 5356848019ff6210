package testutil

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestPollReturnsOnceTheConditionHolds(t *testing.T) {
	calls := 0
	err := Poll(5*time.Second, func() error {
		calls++
		if calls < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("Poll: %v after %d calls, want nil after 3", err, calls)
	}
}

func TestPollReportsTheLastErrorAtTheTimeout(t *testing.T) {
	calls := 0
	start := time.Now()
	err := Poll(100*time.Millisecond, func() error {
		calls++
		return errors.New("attempt " + strings.Repeat("i", calls))
	})
	took := time.Since(start)
	if err == nil || !strings.HasSuffix(err.Error(), "attempt "+strings.Repeat("i", calls)) {
		t.Fatalf("Poll: %v after %d calls, want the last attempt's error", err, calls)
	}
	if took < 100*time.Millisecond || took > time.Second {
		t.Fatalf("Poll gave up after %v, want about 100ms", took)
	}
}

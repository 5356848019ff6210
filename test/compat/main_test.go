package compat

import (
	"os"
	"testing"

	"github.com/longboat/longboat/internal/testutil"
)

// TestMain runs the parallel tests (the security matrix, the Java security
// tests and the transactions, each on a broker or cluster of its own)
// three at a time: they mostly wait on brokers and client processes.
// TestCompat runs alone before them; its clients run side by side inside it.
func TestMain(m *testing.M) {
	testutil.DefaultParallel(3)
	code := m.Run()
	txnCluster.Close()
	closeJava()
	os.Exit(code)
}

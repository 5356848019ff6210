package kafka_test

import (
	"os"
	"testing"

	"github.com/longboat/longboat/internal/testcluster"
	"github.com/longboat/longboat/internal/testutil"
)

// oneBroker is the one-broker cluster that the tests needing a plain
// broker and their own topics share (brokerWithTopic, TestBadInput):
// starting a broker per test cost more than the tests themselves. A test
// that counts metrics, changes the broker's configuration or stops it
// starts its own.
var oneBroker = testcluster.Shared{Options: testcluster.Options{Nodes: 1}}

// TestMain runs the tests that start brokers three at a time: they mostly
// wait on Raft and on clients, not on the CPU. The ones left sequential run
// alone before them: TestHostileClients and the decoder's allocation tests
// measure the process's heap, and TestErrorsCountedPerAPI checks every
// request it sends is counted. An explicit -parallel wins.
func TestMain(m *testing.M) {
	testutil.DefaultParallel(3)
	code := m.Run()
	oneBroker.Close()
	os.Exit(code)
}

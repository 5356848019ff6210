package kafka_test

import (
	"os"
	"testing"

	"github.com/longboat/longboat/internal/testcluster"
)

// oneBroker is the one-broker cluster that the tests needing a plain
// broker and their own topics share (brokerWithTopic, TestBadInput):
// starting a broker per test cost more than the tests themselves. A test
// that counts metrics, changes the broker's configuration or stops it
// starts its own.
var oneBroker = testcluster.Shared{Options: testcluster.Options{Nodes: 1}}

func TestMain(m *testing.M) {
	code := m.Run()
	oneBroker.Close()
	os.Exit(code)
}

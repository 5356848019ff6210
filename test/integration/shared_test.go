package integration

import (
	"os"
	"testing"
	"time"

	"github.com/longboat/longboat/internal/config"
	"github.com/longboat/longboat/internal/testcluster"
	"github.com/longboat/longboat/internal/testutil"
)

// shared is the one three-broker cluster that the tests which never stop a
// broker and look only at their own topics and groups run on together;
// starting a cluster per test cost most of this package's run time.
var shared = testcluster.Shared{Options: testcluster.Options{Nodes: 3, Adjust: func(cfg *config.Config) {
	// A static broker retention.bytes, for TestTopicConfigsAlterAndDescribe
	// to see its source; 1 GiB deletes nothing that any test here writes.
	cfg.RetentionBytes = 1 << 30
	// KIP-848 members learn of partitions freed by others at their next
	// heartbeat: Kafka's 5 s interval would make those tests slow.
	cfg.GroupConsumerHeartbeat = 500 * time.Millisecond
}}}

func TestMain(m *testing.M) {
	// Three at a time: more starves Raft ticks on two cores.
	testutil.DefaultParallel(3)
	code := m.Run()
	shared.Close()
	if longboatBinary.dir != "" {
		os.RemoveAll(longboatBinary.dir)
	}
	os.Exit(code)
}

// sharedCluster marks t parallel and returns the shared cluster. Parallel
// tests, these and the ones that stop brokers of their own cluster, run
// after the few sequential ones (whose assertions are about timing), at
// most -parallel (see TestMain) at a time. A test using it must not stop brokers and must name its topics
// and groups uniquely in the package.
func sharedCluster(t *testing.T) *testcluster.Cluster {
	t.Helper()
	t.Parallel()
	return shared.Get(t)
}

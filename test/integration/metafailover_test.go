package integration

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestInitProducerIDWhileMetaLeaderKilled kills the __meta leader with
// SIGKILL and at once asks each survivor for a producer id, as a client
// starting an idempotent producer would. A survivor has no id block yet,
// so it must take one through __meta, whose leader it still believes to
// be the dead broker: the proposal is lost there and must be made again
// once a new leader is elected, within the request's own 10 s deadline
// (it used to wait out that deadline and answer REQUEST_TIMED_OUT).
//
// Not parallel: the election must fit in the request's 10 s.
func TestInitProducerIDWhileMetaLeaderKilled(t *testing.T) {
	pc := startProcCluster(t, 3)
	leader := -1
	for i := range pc.http {
		if metricAt(t, pc.http[i], "longboat_raft_meta_is_leader") == 1 {
			leader = i
		}
	}
	if leader < 0 {
		t.Fatal("no broker reports longboat_raft_meta_is_leader 1")
	}
	pc.kill(leader)
	killed := time.Now()

	var wg sync.WaitGroup
	for i := range pc.kafka {
		if i == leader {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl, err := kgo.NewClient(kgo.SeedBrokers(pc.kafka[i]))
			if err != nil {
				t.Error(err)
				return
			}
			defer cl.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			resp, err := kmsg.NewPtrInitProducerIDRequest().RequestWith(ctx, cl.SeedBrokers()[0])
			if err != nil {
				t.Errorf("broker %d: InitProducerID: %v", i+1, err)
				return
			}
			if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
				t.Errorf("broker %d: InitProducerID answered %v after %v; want a producer id", i+1, err, time.Since(killed).Round(time.Millisecond))
				return
			}
			t.Logf("broker %d: producer id %d, %v after the kill", i+1, resp.ProducerID, time.Since(killed).Round(time.Millisecond))
		}()
	}
	wg.Wait()
}

package integration

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestKilledLeaderCampaignAtOnce kills (SIGKILL) the broker leading the
// most partitions of a busy topic and requires every one of them to take
// an acks=all produce again well before any follower's election timeout
// could have run out: the election timeout is raised to 20 ticks (4-8 s
// after the last heartbeat), so only the campaign the surviving brokers
// start when they find the killed broker's process gone (campaign.go) can
// make it in time. Each partition's leader epoch (its Raft term) must rise
// by one, or two when the first campaigner's log was behind and the next
// replica in order took over: campaigns come one at a time, so no vote
// is split and no election repeats.
func TestKilledLeaderCampaignAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs broker processes")
	}
	t.Parallel()
	pc := startProcCluster(t, 3, "--raft-election-rtt", "20")
	const topic, partitions = "campaign", 6
	createTopic(t, pc.kafka, topic, partitions, 3)
	r := killLeader(t, pc, topic, partitions, true)
	t.Logf("broker %d killed; its %d partitions acknowledged again within %v", r.victim, len(r.partitions), r.slowest)
	if r.slowest > 3500*time.Millisecond {
		t.Errorf("partitions of a killed leader took %v to acknowledge again; the election timeout alone takes 4 s or more", r.slowest)
	}
	for p, before := range r.epochBefore {
		if after := r.epochAfter[p]; after <= before || after > before+2 {
			t.Errorf("partition %d: leader epoch %d before the kill, %d after: want one election, at most two", p, before, after)
		}
	}

	// __meta's leader (the controller) too: an idempotent producer's
	// InitProducerID and every topic change wait for it. The broker just
	// restarted holds no block of producer ids, so its InitProducerID is
	// a __meta proposal; made right after the kill, it first goes to the
	// dead leader, where dragonboat drops it without a word, and must be
	// proposed again once the campaign has elected another.
	restarted := r.victim
	pc.start(int(restarted - 1))
	pc.waitReady(60 * time.Second)
	cl := newClient(t, []string{pc.kafka[restarted-1]})
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	md, err := kadm.NewClient(cl).BrokerMetadata(ctx)
	if err != nil || md.Controller <= 0 {
		t.Fatalf("controller in metadata: %d, %v", md.Controller, err)
	}
	if md.Controller == restarted {
		t.Logf("the restarted broker %d leads __meta: no __meta kill this time", restarted)
		return
	}
	start := time.Now()
	pc.kill(int(md.Controller - 1))
	req := kmsg.NewPtrInitProducerIDRequest()
	req.TransactionTimeoutMillis, req.ProducerID, req.ProducerEpoch = 60000, -1, -1
	resp, err := req.RequestWith(ctx, cl.Broker(int(restarted)))
	if err == nil {
		err = kerr.ErrorForCode(resp.ErrorCode)
	}
	took := time.Since(start)
	if err != nil {
		t.Fatalf("InitProducerID on broker %d after the controller %d was killed: %v", restarted, md.Controller, err)
	}
	t.Logf("controller %d killed; an InitProducerID on broker %d took %v", md.Controller, restarted, took)
	if took > 3500*time.Millisecond {
		t.Errorf("InitProducerID took %v after the controller was killed; the election timeout alone takes 4 s or more", took)
	}
}

// TestFailoverFigures prints, per SIGKILL of the broker leading the most
// partitions, how long until every partition it led acknowledged an
// acks=all produce again, for a franz-go client that refreshes metadata on
// NOT_LEADER (100 ms metadata min age, 50 ms retry backoff). Figures, not
// a check: LONGBOAT_FAILOVER_FIGURES=1; LONGBOAT_FAILOVER_ROUNDS (10),
// LONGBOAT_FAILOVER_ARGS (extra broker flags, e.g.
// "--raft-campaign-on-peer-exit=false") and
// LONGBOAT_FAILOVER_CLIENT_DEFAULTS=1 (franz-go's default metadata min age
// and retry backoff) change it.
func TestFailoverFigures(t *testing.T) {
	if os.Getenv("LONGBOAT_FAILOVER_FIGURES") == "" {
		t.Skip("figures only: set LONGBOAT_FAILOVER_FIGURES=1")
	}
	args := strings.Fields(os.Getenv("LONGBOAT_FAILOVER_ARGS"))
	rounds := envInt("LONGBOAT_FAILOVER_ROUNDS", 10)
	fast := os.Getenv("LONGBOAT_FAILOVER_CLIENT_DEFAULTS") == ""
	pc := startProcCluster(t, 3, args...)
	const topic, partitions = "failover", 12
	createTopic(t, pc.kafka, topic, partitions, 3)
	var times, fromExit []time.Duration
	for i := 0; i < rounds; i++ {
		r := killLeader(t, pc, topic, partitions, fast)
		elections := 0
		for p, before := range r.epochBefore {
			elections += int(r.epochAfter[p] - before)
		}
		t.Logf("round %d: broker %d (leader of %d) killed; all acknowledged again after %v (its process was gone after %v); terms gained %d; per partition %v",
			i+1, r.victim, len(r.partitions), r.slowest, r.reaped, elections, r.acked)
		fromExit = append(fromExit, r.slowest-r.reaped)
		times = append(times, r.slowest)
		if d := os.Getenv("DIAG_LOGS"); d != "" {
			for b := 1; b <= 3; b++ {
				data, _ := os.ReadFile(fmt.Sprintf("%s/broker%d.log", pc.dir, b))
				_ = os.WriteFile(fmt.Sprintf("%s/r%d-b%d.log", d, i+1, b), data, 0o644)
			}
		}
		pc.start(int(r.victim - 1))
		pc.waitReady(60 * time.Second)
		time.Sleep(3 * time.Second) // the leader balancer moves leaderships back
	}
	slices.Sort(times)
	slices.Sort(fromExit)
	t.Logf("FAILOVER args=%q fast_client=%v rounds=%d median=%v worst=%v all=%v", args, fast, len(times), times[len(times)/2], times[len(times)-1], times)
	t.Logf("FAILOVER from the process's exit: median=%v worst=%v all=%v", fromExit[len(fromExit)/2], fromExit[len(fromExit)-1], fromExit)
}

type killed struct {
	victim                  int32
	partitions              []int32
	slowest                 time.Duration
	acked                   map[int32]time.Duration // per partition, from the kill
	reaped                  time.Duration           // from SIGKILL until the process was gone
	epochBefore, epochAfter map[int32]int32
}

// killLeader produces to every partition (so none has quiesced), SIGKILLs
// the broker leading the most, and times one acks=all produce to each of
// those partitions through the survivors; fast sets the client's metadata
// min age and retry backoff as docs/OPERATIONS.md advises.
func killLeader(t *testing.T, pc *procCluster, topic string, partitions int32, fast bool) killed {
	t.Helper()
	opts := []kgo.Opt{kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RecordDeliveryTimeout(30 * time.Second)}
	if fast {
		opts = append(opts, kgo.MetadataMinAge(100*time.Millisecond), kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }))
	}
	var running []string
	for i, p := range pc.procs {
		if p != nil {
			running = append(running, pc.kafka[i])
		}
	}
	cl := newClient(t, running, opts...)
	produceEach(t, cl, topic, partitions, "before")
	cl.Close()
	epochs := func(seeds []string) (map[int32]int32, map[int32][]int32) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		adm := kadm.NewClient(newClient(t, seeds))
		defer adm.Close()
		md, err := adm.Metadata(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		ep, led := map[int32]int32{}, map[int32][]int32{}
		for _, p := range md.Topics[topic].Partitions.Sorted() {
			ep[p.Partition] = p.LeaderEpoch
			led[p.Leader] = append(led[p.Leader], p.Partition)
		}
		return ep, led
	}
	before, led := epochs(running)
	var k killed
	for b, ps := range led {
		if len(ps) > len(k.partitions) {
			k.victim, k.partitions = b, ps
		}
	}
	if k.victim <= 0 {
		t.Fatalf("no partition leaders in metadata: %v", led)
	}
	var survivors []string
	for i, addr := range pc.kafka {
		if int32(i+1) != k.victim && pc.procs[i] != nil {
			survivors = append(survivors, addr)
		}
	}
	after := newClient(t, survivors, opts...)
	defer after.Close()
	if err := after.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	k.acked = map[int32]time.Duration{}
	start := time.Now()
	t.Logf("killing broker %d at %s", k.victim, start.UTC().Format("15:04:05.000"))
	pc.kill(int(k.victim - 1))
	k.reaped = time.Since(start)
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, p := range k.partitions {
		wg.Add(1)
		after.Produce(ctx, &kgo.Record{Topic: topic, Partition: p, Value: []byte(fmt.Sprintf("after-kill-%d", p))}, func(r *kgo.Record, err error) {
			defer wg.Done()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Errorf("partition %d after the kill: %v", r.Partition, err)
				return
			}
			k.acked[r.Partition] = time.Since(start)
			k.slowest = max(k.slowest, k.acked[r.Partition])
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	k.epochBefore = map[int32]int32{}
	for _, p := range k.partitions {
		k.epochBefore[p] = before[p]
	}
	k.epochAfter, _ = epochs(survivors)
	return k
}

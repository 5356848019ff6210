package integration

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/longboat/longboat/internal/testutil"
)

// TestClientFailoverFigures prints how long a producer writing to every
// partition all the time stalls when the broker leading the most
// partitions is SIGKILLed, for franz-go, librdkafka (confluent-kafka-python,
// testdata/failover_producer.py) and the Java client
// (testdata/java/FailoverProducer.java), each with its defaults and with
// the settings docs/OPERATIONS.md advises (two producers of the client at
// once, so both see the same kills): per kill, the time from the kill until
// every partition the killed broker led acknowledged (acks=all) a record
// sent after the kill; median and worst over the kills. Figures, not
// a check: LONGBOAT_CLIENT_FAILOVER_FIGURES=1; LONGBOAT_FAILOVER_ROUNDS
// (kills per client, 8) and LONGBOAT_FAILOVER_CLIENTS (a
// comma-separated subset of franz-go,librdkafka,java) change it.
func TestClientFailoverFigures(t *testing.T) {
	if os.Getenv("LONGBOAT_CLIENT_FAILOVER_FIGURES") == "" {
		t.Skip("figures only: set LONGBOAT_CLIENT_FAILOVER_FIGURES=1")
	}
	rounds := envInt("LONGBOAT_FAILOVER_ROUNDS", 8)
	clients := strings.Split(os.Getenv("LONGBOAT_FAILOVER_CLIENTS"), ",")
	if clients[0] == "" {
		clients = []string{"franz-go", "librdkafka", "java"}
	}
	pc := startProcCluster(t, 3)
	const topic, partitions = "client-failover", 12
	createTopic(t, pc.kafka, topic, partitions, 3)
	var summary []string
	for _, client := range clients {
		// Both settings' producers run side by side: each kill, and the
		// load of the moment, is measured by both.
		settings := []string{"defaults", "fast"}
		producers := map[string]*failoverProducer{}
		for _, s := range settings {
			producers[s] = startFailoverProducer(t, client, s, pc.kafka, topic, partitions)
		}
		stalls := map[string][]time.Duration{}
		for i := 0; i < rounds; i++ {
			for _, s := range settings {
				producers[s].waitAllAcking(t, partitions)
			}
			victim, led := leaderOfMost(t, pc, topic)
			kill := time.Now()
			pc.kill(int(victim - 1))
			for _, s := range settings {
				per := producers[s].waitAcked(t, led, kill)
				worst := slices.Max(per)
				t.Logf("%s %s kill %d: broker %d (leader of %v) killed; all acknowledged again after %v; per partition %v",
					client, s, i+1, victim, led, worst, per)
				stalls[s] = append(stalls[s], worst)
			}
			pc.start(int(victim - 1))
			pc.waitReady(60 * time.Second)
			time.Sleep(3 * time.Second) // the leader balancer moves leaderships back
		}
		for _, s := range settings {
			producers[s].stop(t)
			all := stalls[s]
			slices.Sort(all)
			line := fmt.Sprintf("CLIENT_FAILOVER client=%s settings=%s kills=%d median=%v worst=%v all=%v",
				client, s, len(all), all[len(all)/2], all[len(all)-1], all)
			t.Log(line)
			summary = append(summary, line)
		}
	}
	t.Logf("summary:\n%s", strings.Join(summary, "\n"))
}

// leaderOfMost is the broker leading the most partitions of topic, and those.
func leaderOfMost(t *testing.T, pc *procCluster, topic string) (int32, []int32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	adm := kadm.NewClient(newClient(t, pc.kafka))
	defer adm.Close()
	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	led := map[int32][]int32{}
	for _, p := range md.Topics[topic].Partitions.Sorted() {
		led[p.Leader] = append(led[p.Leader], p.Partition)
	}
	var victim int32
	for b, ps := range led {
		if b > 0 && len(ps) > len(led[victim]) {
			victim = b
		}
	}
	if victim <= 0 {
		t.Fatalf("no partition leaders in metadata: %v", led)
	}
	return victim, led[victim]
}

// ack is one acknowledged record: when it was handed to the client and
// when the client reported it acknowledged (Unix nanoseconds, the same
// clock in every process here).
type ack struct{ sent, acked int64 }

// failoverProducer is one client producing to every partition, as a
// process printing "A partition sent acked" / "E partition error" lines or,
// for franz-go, in this process.
type failoverProducer struct {
	mu     sync.Mutex
	acks   map[int32][]ack
	errs   []string
	stopFn func() error
}

func startFailoverProducer(t *testing.T, client, settings string, seeds []string, topic string, partitions int32) *failoverProducer {
	t.Helper()
	p := &failoverProducer{acks: map[int32][]ack{}}
	args := []string{strings.Join(seeds, ","), topic, fmt.Sprint(partitions), settings}
	switch client {
	case "franz-go":
		p.runFranz(t, settings == "fast", seeds, topic, partitions)
	case "librdkafka":
		if out, err := exec.Command(debianPython, "-c", "import confluent_kafka").CombinedOutput(); err != nil {
			t.Fatalf("librdkafka: %v %s(apt-get install python3-confluent-kafka)", err, out)
		}
		p.runProcess(t, client, append([]string{debianPython, "testdata/failover_producer.py"}, args...))
	case "java":
		p.runProcess(t, client, append(javaProgram(t, "FailoverProducer"), args...))
	default:
		t.Fatalf("unknown client %q (franz-go, librdkafka, java)", client)
	}
	return p
}

// debianPython is the interpreter Debian's python3-confluent-kafka is
// installed for.
const debianPython = "/usr/bin/python3"

func (p *failoverProducer) record(part int32, a ack) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.acks[part] = append(p.acks[part], a)
}

func (p *failoverProducer) fail(msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.errs = append(p.errs, msg)
}

// runFranz produces from this process, with franz-go's defaults or with
// the metadata min age, retry backoff and delivery timeout advised.
func (p *failoverProducer) runFranz(t *testing.T, fast bool, seeds []string, topic string, partitions int32) {
	opts := []kgo.Opt{kgo.RecordPartitioner(kgo.ManualPartitioner())}
	if fast {
		opts = append(opts, kgo.MetadataMinAge(100*time.Millisecond),
			kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }),
			kgo.RecordDeliveryTimeout(30*time.Second))
	}
	cl := newClient(t, seeds, opts...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for n := 0; ctx.Err() == nil; n++ {
			for part := range partitions {
				sent := time.Now().UnixNano()
				cl.Produce(ctx, &kgo.Record{Topic: topic, Partition: part, Value: []byte(fmt.Sprintf("r%d", n))}, func(_ *kgo.Record, err error) {
					if err != nil {
						if ctx.Err() == nil {
							p.fail(fmt.Sprintf("partition %d: %v", part, err))
						}
						return
					}
					p.record(part, ack{sent, time.Now().UnixNano()})
				})
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	p.stopFn = func() error {
		cancel()
		<-done
		cl.Close()
		return nil
	}
}

// runProcess starts argv and reads its acknowledgements; closing its stdin
// stops it.
func (p *failoverProducer) runProcess(t *testing.T, name string, argv []string) {
	cmd := exec.Command(argv[0], argv[1:]...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = testWriter{t, name}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var part int32
			var a ack
			if _, err := fmt.Sscanf(sc.Text(), "A %d %d %d", &part, &a.sent, &a.acked); err == nil {
				p.record(part, a)
			} else {
				p.fail(sc.Text())
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	p.stopFn = func() error {
		stdin.Close()
		<-read
		return cmd.Wait()
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
}

// waitAllAcking waits until every partition acknowledged a record sent
// from now on: the producer is up and no earlier failover or leadership
// move still holds any partition.
func (p *failoverProducer) waitAllAcking(t *testing.T, partitions int32) {
	t.Helper()
	from := time.Now().UnixNano()
	err := testutil.Poll(90*time.Second, func() error {
		p.mu.Lock()
		defer p.mu.Unlock()
		if len(p.errs) > 0 {
			t.Fatalf("records failed: %v", p.errs)
		}
		for part := range partitions {
			if a := p.acks[part]; len(a) == 0 || a[len(a)-1].sent < from {
				return fmt.Errorf("partition %d has acknowledged nothing sent since %v", part, time.Unix(0, from).UTC())
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// waitAcked waits until each of parts acknowledged a record sent at kill
// or later and returns, per partition, the time from kill to the first
// such acknowledgement.
func (p *failoverProducer) waitAcked(t *testing.T, parts []int32, kill time.Time) []time.Duration {
	t.Helper()
	from := kill.UnixNano()
	per := make([]time.Duration, len(parts))
	err := testutil.Poll(90*time.Second, func() error {
		p.mu.Lock()
		defer p.mu.Unlock()
		if len(p.errs) > 0 {
			t.Fatalf("records failed: %v", p.errs)
		}
		for i, part := range parts {
			acks := p.acks[part]
			j := len(acks)
			for j > 0 && acks[j-1].sent >= from {
				j--
			}
			if j == len(acks) {
				return fmt.Errorf("partition %d has acknowledged nothing sent since the kill", part)
			}
			// A partition's records are acknowledged in the order sent
			// (the producers are idempotent): the first sent is the first acknowledged.
			per[i] = time.Duration(acks[j].acked - from).Round(time.Millisecond)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return per
}

func (p *failoverProducer) stop(t *testing.T) {
	t.Helper()
	if err := p.stopFn(); err != nil {
		t.Errorf("producer exit: %v", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.errs) > 0 {
		t.Errorf("records failed: %v", p.errs)
	}
}

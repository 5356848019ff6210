package integration

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/longboat/longboat/internal/testcluster"
	"github.com/longboat/longboat/internal/testutil"
)

// procCluster runs brokers as real `longboat serve` processes so that a
// broker can be killed with SIGKILL: no graceful hand-off, no final sync.
type procCluster struct {
	t       *testing.T
	bin     string
	dir     string
	kafka   []string
	raft    []string
	http    []string
	members string
	// membersHTTP is every broker's HTTP address (--initial-members-http).
	membersHTTP string
	procs       []*exec.Cmd
	// args are added to every broker's command line.
	args []string
}

// longboatBinary is the longboat binary that the process tests run, built once for
// the package; TestMain removes its directory.
var longboatBinary struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func buildBinary(t *testing.T) string {
	t.Helper()
	longboatBinary.once.Do(func() {
		longboatBinary.dir, longboatBinary.err = os.MkdirTemp("", "longboat-bin-")
		if longboatBinary.err != nil {
			return
		}
		longboatBinary.path = filepath.Join(longboatBinary.dir, "longboat")
		out, err := exec.Command("go", "build", "-o", longboatBinary.path, "../../cmd/longboat").CombinedOutput()
		if err != nil {
			longboatBinary.err = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if longboatBinary.err != nil {
		t.Fatal(longboatBinary.err)
	}
	return longboatBinary.path
}

func startProcCluster(t *testing.T, n int, args ...string) *procCluster {
	pc := &procCluster{t: t, bin: buildBinary(t), dir: t.TempDir(), procs: make([]*exec.Cmd, n), args: args}
	var members, membersHTTP []string
	addrs := testcluster.FreeAddrs(t, 3*n)
	for i := 0; i < n; i++ {
		pc.kafka = append(pc.kafka, addrs[3*i])
		pc.raft = append(pc.raft, addrs[3*i+1])
		pc.http = append(pc.http, addrs[3*i+2])
		members = append(members, fmt.Sprintf("%d=%s", i+1, pc.raft[i]))
		membersHTTP = append(membersHTTP, fmt.Sprintf("%d=%s", i+1, pc.http[i]))
	}
	pc.members = strings.Join(members, ",")
	pc.membersHTTP = strings.Join(membersHTTP, ",")
	for i := 0; i < n; i++ {
		pc.start(i)
	}
	t.Cleanup(func() {
		for i := range pc.procs {
			pc.kill(i)
		}
		if t.Failed() {
			for i := range pc.procs {
				log, _ := os.ReadFile(filepath.Join(pc.dir, fmt.Sprintf("broker%d.log", i+1)))
				lines := strings.Split(strings.TrimSpace(string(log)), "\n")
				t.Logf("last lines of broker %d's log:\n%s", i+1, strings.Join(lines[max(0, len(lines)-40):], "\n"))
			}
		}
	})
	pc.waitReady(60 * time.Second)
	return pc
}

func (pc *procCluster) start(i int) {
	cmd := exec.Command(pc.bin, append([]string{"serve",
		"--node-id", fmt.Sprint(i + 1),
		"--data-dir", filepath.Join(pc.dir, fmt.Sprintf("node%d", i+1)),
		"--listeners", "PLAINTEXT://" + pc.kafka[i],
		"--raft-addr", pc.raft[i],
		"--initial-members", pc.members,
		"--initial-members-http", pc.membersHTTP,
		"--http-addr", pc.http[i],
		"--leader-balance-interval", "1s",
		"--log-format", "json", "--log-level", "info"}, pc.args...)...)
	logf, err := os.Create(filepath.Join(pc.dir, fmt.Sprintf("broker%d.log", i+1)))
	if err != nil {
		pc.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		pc.t.Fatal(err)
	}
	pc.procs[i] = cmd
}

func (pc *procCluster) kill(i int) {
	if p := pc.procs[i]; p != nil {
		_ = p.Process.Signal(syscall.SIGKILL)
		_ = p.Wait()
		pc.procs[i] = nil
	}
}

func (pc *procCluster) waitReady(timeout time.Duration) {
	pc.t.Helper()
	notReady := -1
	err := testutil.Poll(timeout, func() error {
		for i, p := range pc.procs {
			if p == nil {
				continue
			}
			resp, err := http.Get("http://" + pc.http[i] + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					continue
				}
				err = fmt.Errorf("/readyz %s", resp.Status)
			}
			notReady = i
			return fmt.Errorf("broker %d not ready: %w", i+1, err)
		}
		return nil
	})
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(pc.dir, fmt.Sprintf("broker%d.log", notReady+1)))
		pc.t.Fatalf("%v; log:\n%s", err, log)
	}
}

// TestKill9BrokerMidStream kills a broker process with SIGKILL several
// times while a producer with retries sends; every acknowledged record must
// be read back at its acknowledged offset afterwards.
func TestKill9BrokerMidStream(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs broker processes")
	}
	t.Parallel()
	pc := startProcCluster(t, 3)
	createTopic(t, pc.kafka, "crash", 6, 3)
	cl := newClient(t, pc.kafka, kgo.RecordRetries(100), kgo.RetryTimeout(60*time.Second))
	var mu sync.Mutex
	var acked []record
	failed := 0
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			cl.Produce(ctx, &kgo.Record{Topic: "crash", Value: []byte(fmt.Sprintf("k-%d", i))}, func(r *kgo.Record, err error) {
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					failed++
					return
				}
				acked = append(acked, record{r.Partition, r.Offset, string(r.Value)})
			})
			if i%50 == 49 { // pace the producer: load, not a flood
				time.Sleep(5 * time.Millisecond)
			}
		}
	}()
	ackedCount := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	waitAcked := func(n int) {
		t.Helper()
		testutil.Eventually(t, 60*time.Second, func() error { return atLeast("records acknowledged", ackedCount(), n) })
	}
	waitAcked(2000)
	for round, victim := range []int{0, 1, 2} {
		t.Logf("round %d: SIGKILL broker %d", round+1, victim+1)
		pc.kill(victim)
		waitAcked(ackedCount() + 2000)
		pc.start(victim)
		pc.waitReady(60 * time.Second)
		waitAcked(ackedCount() + 2000)
	}
	close(stop)
	<-done
	if err := cl.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
	mu.Lock()
	produced := append([]record(nil), acked...)
	t.Logf("acknowledged %d, failed %d", len(produced), failed)
	mu.Unlock()
	consumed := consumeAll(t, pc.kafka, "crash", len(produced))
	// The producer is idempotent: retries after a kill must not duplicate.
	checkSameRecords(t, produced, consumed)
	t.Logf("consumed %d, no duplicates", len(consumed))
}

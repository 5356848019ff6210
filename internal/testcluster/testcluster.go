// Package testcluster starts real brokers in-process for tests: real TCP
// listeners, real Raft between NodeHosts, data in temporary directories.
package testcluster

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/longboat/longboat/internal/broker"
	"github.com/longboat/longboat/internal/config"
	"github.com/longboat/longboat/internal/logging"
	"github.com/longboat/longboat/internal/testutil"
)

// Cluster is N brokers in this process.
type Cluster struct {
	t       testing.TB // nil for a shared cluster, which outlives every test
	Configs []*config.Config
	Brokers []*broker.Broker // nil while stopped
	log     zerolog.Logger
	tempDir string               // made by StartShared, removed by Close
	adjust  func(*config.Config) // Options.Adjust, for brokers that join
}

// Options adjust the brokers' configuration before start.
type Options struct {
	Nodes  int
	Dir    string               // default t.TempDir()
	Adjust func(*config.Config) // applied to every broker's config
}

// Start starts opts.Nodes brokers, waits until every one is ready, and
// closes them when t ends.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	c, err := launch(t, opts)
	if c != nil {
		t.Cleanup(c.Close)
	}
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// StartShared starts a cluster that belongs to no single test, for a
// package's tests to share: the package's TestMain must Close it. Its
// brokers must never be stopped (StopBroker and StartBroker report failures
// through the test that started a cluster, and a shared one has none), and
// the tests using it must keep to their own topics and groups.
func StartShared(opts Options) (*Cluster, error) {
	var made string
	if opts.Dir == "" {
		dir, err := os.MkdirTemp("", "longboat-shared-")
		if err != nil {
			return nil, fmt.Errorf("shared cluster directory: %w", err)
		}
		opts.Dir, made = dir, dir
	}
	c, err := launch(nil, opts)
	if c != nil {
		c.tempDir = made
	}
	if err != nil {
		if c != nil {
			c.Close()
		} else if made != "" {
			os.RemoveAll(made)
		}
		return nil, err
	}
	return c, nil
}

// Shared is one cluster for a package's tests, started by the first test
// that asks for it; the package's TestMain must Close it after the tests.
// The tests sharing it must not stop its brokers and must keep to their own
// topics and groups.
type Shared struct {
	Options Options
	once    sync.Once
	cluster *Cluster
	err     error
}

// Get returns the shared cluster, starting it on first use.
func (s *Shared) Get(t testing.TB) *Cluster {
	t.Helper()
	s.once.Do(func() { s.cluster, s.err = StartShared(s.Options) })
	if s.err != nil {
		t.Fatalf("shared cluster: %v", s.err)
	}
	return s.cluster
}

// Close stops the shared cluster if a test started it.
func (s *Shared) Close() {
	s.once.Do(func() {}) // no test asked: none may start it now
	if s.cluster != nil {
		s.cluster.Close()
	}
}

// testLog is the one logger of every cluster in the process, built once:
// logging.New sets zerolog's global time format, which clusters started by
// parallel tests must not each write.
var testLog struct {
	once sync.Once
	log  zerolog.Logger
	err  error
}

// processLogger returns testLog, at the level LONGBOAT_TEST_LOG names
// (default: disabled), with dragonboat's logging routed into it.
func processLogger() (zerolog.Logger, error) {
	testLog.once.Do(func() {
		level := "disabled"
		if os.Getenv("LONGBOAT_TEST_LOG") != "" {
			level = os.Getenv("LONGBOAT_TEST_LOG")
		}
		testLog.log, testLog.err = logging.New(os.Stderr, level, "console")
		if testLog.err == nil {
			logging.RouteDragonboat(testLog.log)
		}
	})
	return testLog.log, testLog.err
}

// launch configures and starts the brokers. A non-nil Cluster returned with
// an error has brokers running that the caller must Close.
func launch(t testing.TB, opts Options) (*Cluster, error) {
	if opts.Nodes == 0 {
		opts.Nodes = 3
	}
	log, err := processLogger()
	if err != nil {
		return nil, err
	}
	c := &Cluster{t: t, log: log, adjust: opts.Adjust}
	addrs, err := freeAddrs(3 * opts.Nodes)
	if err != nil {
		return nil, err
	}
	var members, membersHTTP []string
	for i := 1; i <= opts.Nodes; i++ {
		raft, kafkaAddr, httpAddr := addrs[3*i-3], addrs[3*i-2], addrs[3*i-1]
		members = append(members, fmt.Sprintf("%d=%s", i, raft))
		membersHTTP = append(membersHTTP, fmt.Sprintf("%d=%s", i, httpAddr))
		args := brokerArgs(i, filepath.Join(opts.Dir, fmt.Sprintf("node%d", i)), raft, kafkaAddr, httpAddr, min(3, opts.Nodes))
		cfg, err := config.Parse(args, func(string) string { return "" })
		if err != nil {
			return nil, fmt.Errorf("broker %d config: %w", i, err)
		}
		c.Configs = append(c.Configs, cfg)
	}
	for _, cfg := range c.Configs {
		cfg.InitialMembers, err = config.ParseMembers(strings.Join(members, ","))
		if err != nil {
			return nil, err
		}
		if cfg.InitialMembersHTTP, err = config.ParseMembers(strings.Join(membersHTTP, ",")); err != nil {
			return nil, err
		}
		if opts.Adjust != nil {
			opts.Adjust(cfg)
		}
	}
	c.Brokers = make([]*broker.Broker, opts.Nodes)
	// At once, as a new cluster's brokers start: each one's identity check
	// waits to hear from the others.
	errs := make([]error, opts.Nodes)
	var wg sync.WaitGroup
	for i := range c.Configs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.startBroker(i)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return c, err
	}
	return c, c.waitReady(readyTimeout)
}

// Generous bounds for a start on a loaded machine (CI's two cores running
// other clusters, or a developer's full suite): they cost nothing when the
// brokers come up, and a start that times out fails whichever test asked.
const (
	// startRetry is how long a broker's start is tried again: a
	// just-closed listener's port can take a moment to be free, and the
	// identity exchange of brokers starting together can run out when
	// their peers answer late.
	startRetry = 30 * time.Second
	// readyTimeout is how long a new cluster's brokers get to pass /readyz.
	readyTimeout = 120 * time.Second
)

// brokerArgs are a test broker's flags.
func brokerArgs(id int, dir, raft, kafkaAddr, httpAddr string, rf int) []string {
	return []string{
		"--node-id", fmt.Sprint(id),
		"--data-dir", dir,
		"--listeners", "PLAINTEXT://" + kafkaAddr,
		"--raft-addr", raft,
		"--http-addr", httpAddr,
		"--default-replication-factor", fmt.Sprint(rf),
		"--leader-balance-interval", "1s",
		"--min-free-disk-bytes", "0",
	}
}

// FreeAddrs returns n distinct free 127.0.0.1 ports below the kernel's
// ephemeral range (32768+), so that a client socket cannot take one while
// its broker is stopped and block the restart. All are held open until all
// are chosen. LONGBOAT_TEST_PORTS ("41000-41999") picks them from that
// range instead, for runs that must share the machine's ports with others.
func FreeAddrs(t testing.TB, n int) []string {
	t.Helper()
	out, err := freeAddrs(n)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// handedOut holds every port FreeAddrs has returned in this process: tests
// run in parallel, and a port free only because another test's broker is
// stopped must not go to a new broker.
var handedOut = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

func freeAddrs(n int) ([]string, error) {
	handedOut.Lock()
	defer handedOut.Unlock()
	lo, hi := 20000, 32767
	if r := os.Getenv("LONGBOAT_TEST_PORTS"); r != "" {
		if _, err := fmt.Sscanf(r, "%d-%d", &lo, &hi); err != nil || lo <= 0 || hi < lo {
			return nil, fmt.Errorf("LONGBOAT_TEST_PORTS %q: want LOW-HIGH", r)
		}
	}
	out := make([]string, 0, n)
	for tries := 0; len(out) < n; tries++ {
		if tries > 1000 {
			return nil, fmt.Errorf("no free ports in %d-%d", lo, hi)
		}
		port := lo + rand.IntN(hi-lo+1)
		if handedOut.ports[port] {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		defer l.Close()
		handedOut.ports[port] = true
		out = append(out, l.Addr().String())
	}
	return out, nil
}

// Join starts one more broker, with the next node id, that joins the
// cluster through broker via's HTTP address (--join), and returns its
// index. It does not wait for the broker to be ready.
func (c *Cluster) Join(via int) int {
	c.t.Helper()
	addrs, err := freeAddrs(3)
	if err != nil {
		c.t.Fatal(err)
	}
	id := len(c.Configs) + 1
	dir := filepath.Join(filepath.Dir(c.Configs[0].DataDir), fmt.Sprintf("node%d", id))
	cfg, err := config.Parse(append(brokerArgs(id, dir, addrs[0], addrs[1], addrs[2], min(3, len(c.Configs))),
		"--join", c.HTTPAddr(via)), func(string) string { return "" })
	if err != nil {
		c.t.Fatalf("broker %d config: %v", id, err)
	}
	if c.adjust != nil {
		c.adjust(cfg)
	}
	c.Configs = append(c.Configs, cfg)
	c.Brokers = append(c.Brokers, nil)
	c.StartBroker(id - 1)
	return id - 1
}

// StartBroker starts broker i (0-based) on its configured dirs and ports.
func (c *Cluster) StartBroker(i int) {
	c.t.Helper()
	if err := c.startBroker(i); err != nil {
		c.t.Fatal(err)
	}
}

func (c *Cluster) startBroker(i int) error {
	err := testutil.Poll(startRetry, func() error {
		var err error
		c.Brokers[i], err = broker.Start(c.Configs[i], c.log.With().Uint64("node", c.Configs[i].NodeID).Logger())
		return err
	})
	if err != nil {
		return fmt.Errorf("start broker %d: %w", i+1, err)
	}
	return nil
}

// StopBroker stops broker i gracefully (as SIGTERM would).
func (c *Cluster) StopBroker(i int) {
	if c.Brokers[i] != nil {
		c.Brokers[i].Close()
		c.Brokers[i] = nil
	}
}

// Addrs returns every broker's Kafka address, running or not.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Configs))
	for i, cfg := range c.Configs {
		out[i] = cfg.AdvertisedListeners[0].Addr()
	}
	return out
}

// HTTPAddr returns broker i's HTTP address.
func (c *Cluster) HTTPAddr(i int) string { return c.Configs[i].HTTPAddr }

// HTTPGet asks broker i's HTTP port for path: over HTTPS when it runs
// --http-tls, trusting its CA and presenting its own certificate (as its
// peers do).
func (c *Cluster) HTTPGet(i int, path string) (*http.Response, error) {
	cfg := c.Configs[i]
	if !cfg.HTTPTLS {
		return http.Get("http://" + cfg.HTTPAddr + path)
	}
	pem, err := os.ReadFile(cfg.TLS.ClientCAFile)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	cert, err := tls.LoadX509KeyPair(cfg.TLS.CertFile, cfg.TLS.KeyFile)
	if err != nil {
		return nil, err
	}
	cl := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}}
	defer cl.CloseIdleConnections()
	return cl.Get("https://" + cfg.HTTPAddr + path)
}

// WaitReady waits until every running broker's /readyz answers 200.
func (c *Cluster) WaitReady(timeout time.Duration) {
	c.t.Helper()
	if err := c.waitReady(timeout); err != nil {
		c.t.Fatal(err)
	}
}

func (c *Cluster) waitReady(timeout time.Duration) error {
	return testutil.Poll(timeout, func() error {
		for i, b := range c.Brokers {
			if b == nil {
				continue
			}
			resp, err := c.HTTPGet(i, "/readyz?verbose")
			if err != nil {
				return fmt.Errorf("broker %d not ready: %w", i+1, err)
			}
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				var failed []string
				for _, line := range strings.Split(string(body), "\n") {
					if strings.HasPrefix(line, "[FAILED]") {
						failed = append(failed, line)
					}
				}
				return fmt.Errorf("broker %d not ready: /readyz %s %q", i+1, resp.Status, failed)
			}
		}
		return nil
	})
}

// teardownShutdown is the --shutdown-timeout of brokers stopped by Close.
// A graceful stop first hands its leaderships off for half of it, and at
// teardown the brokers stopped before have left it no one to hand to:
// with the default 10 s the second broker waited out 5 s and the last ~2 s
// (until CheckQuorum deposed it), ~7 s per cluster, and no test looks at a
// hand-off once it has ended.
const teardownShutdown = 200 * time.Millisecond

// Close stops every running broker, without waiting for leadership
// hand-offs (teardownShutdown), and removes the data of a shared cluster.
func (c *Cluster) Close() {
	for i := range c.Brokers {
		if c.Brokers[i] != nil {
			// Read by the broker's Close alone, on this goroutine.
			c.Configs[i].ShutdownTimeout = teardownShutdown
		}
		c.StopBroker(i)
	}
	if c.tempDir != "" {
		os.RemoveAll(c.tempDir)
	}
}

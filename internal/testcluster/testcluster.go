// Package testcluster starts real brokers in-process for tests: real TCP
// listeners, real Raft between NodeHosts, data in temporary directories.
package testcluster

import (
	"errors"
	"fmt"
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
)

// Cluster is N brokers in this process.
type Cluster struct {
	t       testing.TB
	Configs []*config.Config
	Brokers []*broker.Broker // nil while stopped
	log     zerolog.Logger
}

// Options adjust the brokers' configuration before start.
type Options struct {
	Nodes  int
	Dir    string               // default t.TempDir()
	Adjust func(*config.Config) // applied to every broker's config
}

// Start starts opts.Nodes brokers and waits until every one is ready.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if opts.Nodes == 0 {
		opts.Nodes = 3
	}
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	level := "disabled"
	if os.Getenv("LONGBOAT_TEST_LOG") != "" {
		level = os.Getenv("LONGBOAT_TEST_LOG")
	}
	log, err := logging.New(os.Stderr, level, "console")
	if err != nil {
		t.Fatal(err)
	}
	logging.RouteDragonboat(log)
	c := &Cluster{t: t, log: log}
	addrs := FreeAddrs(t, 3*opts.Nodes)
	var members, membersHTTP []string
	for i := 1; i <= opts.Nodes; i++ {
		raft, kafkaAddr, httpAddr := addrs[3*i-3], addrs[3*i-2], addrs[3*i-1]
		members = append(members, fmt.Sprintf("%d=%s", i, raft))
		membersHTTP = append(membersHTTP, fmt.Sprintf("%d=%s", i, httpAddr))
		args := []string{
			"--node-id", fmt.Sprint(i),
			"--data-dir", filepath.Join(opts.Dir, fmt.Sprintf("node%d", i)),
			"--listeners", "PLAINTEXT://" + kafkaAddr,
			"--raft-addr", raft,
			"--http-addr", httpAddr,
			"--default-replication-factor", fmt.Sprint(min(3, opts.Nodes)),
			"--leader-balance-interval", "1s",
		}
		c.Configs = append(c.Configs, mustParse(t, args))
	}
	for _, cfg := range c.Configs {
		cfg.InitialMembers, err = config.ParseMembers(strings.Join(members, ","))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.InitialMembersHTTP, err = config.ParseMembers(strings.Join(membersHTTP, ",")); err != nil {
			t.Fatal(err)
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
	t.Cleanup(c.Close)
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	c.WaitReady(60 * time.Second)
	return c
}

func mustParse(t testing.TB, args []string) *config.Config {
	cfg, err := config.Parse(args, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// FreeAddrs returns n distinct free 127.0.0.1 ports below the kernel's
// ephemeral range (32768+), so that a client socket cannot take one while
// its broker is stopped and block the restart. All are held open until all
// are chosen.
func FreeAddrs(t testing.TB, n int) []string {
	t.Helper()
	out := make([]string, 0, n)
	for tries := 0; len(out) < n; tries++ {
		if tries > 1000 {
			t.Fatal("no free ports in 20000-32767")
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", 20000+rand.IntN(12768)))
		if err != nil {
			continue
		}
		defer l.Close()
		out = append(out, l.Addr().String())
	}
	return out
}

// StartBroker starts broker i (0-based) on its configured dirs and ports.
func (c *Cluster) StartBroker(i int) {
	c.t.Helper()
	if err := c.startBroker(i); err != nil {
		c.t.Fatal(err)
	}
}

func (c *Cluster) startBroker(i int) error {
	var err error
	for attempt := 0; attempt < 50; attempt++ {
		// A just-closed listener's port can take a moment to be free again.
		c.Brokers[i], err = broker.Start(c.Configs[i], c.log.With().Uint64("node", c.Configs[i].NodeID).Logger())
		if err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("start broker %d: %w", i+1, err)
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

// WaitReady waits until every running broker's /readyz answers 200.
func (c *Cluster) WaitReady(timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for i, b := range c.Brokers {
		if b == nil {
			continue
		}
		for {
			resp, err := http.Get("http://" + c.HTTPAddr(i) + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			if time.Now().After(deadline) {
				c.t.Fatalf("broker %d not ready after %v", i+1, timeout)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// Close stops every running broker.
func (c *Cluster) Close() {
	for i := range c.Brokers {
		c.StopBroker(i)
	}
}

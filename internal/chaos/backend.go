// Package chaos runs the fault-injection workload of docs/CHAOS.md against a
// three-broker cluster: producers and consumers record every operation to a
// history, nemeses (kill -9, pause, network partitions) strike on a seeded
// schedule, and after healing and draining a checker looks for every
// anomaly the safety invariants name.
package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Backend runs the brokers and carries out faults on them. Brokers are
// numbered 1..Brokers().
type Backend interface {
	Name() string
	Brokers() int
	// Start brings every broker up; Ready is checked by the caller.
	Start(ctx context.Context) error
	KafkaAddr(i int) string
	HTTPAddr(i int) string
	Kill(i int) error
	Restart(i int) error
	Pause(i int) error
	Resume(i int) error
	// Isolate cuts broker i off from its peers and from clients (the
	// observer keeps reaching its HTTP port where the backend allows).
	Isolate(i int) error
	// CutInbound drops everything broker i's peers send it, while it still
	// sends to them: a one-way partition. ErrUnsupported when impossible.
	CutInbound(i int) error
	// Heal removes every partition rule on broker i.
	Heal(i int) error
	Partitions() bool
	OneWay() bool
	// Stop ends every broker gracefully (SIGTERM) so their on-disk logs can
	// be compared; Cleanup removes everything the backend made.
	Stop() error
	Cleanup()
	// DataDir is broker i's data directory on this machine, "" when the
	// backend cannot reach it.
	DataDir(i int) string
	// CollectLogs copies the brokers' logs into dir.
	CollectLogs(dir string) error
	// Notes says what the backend could not do (shown in the summary).
	Notes() []string
}

// ErrUnsupported marks a fault a backend cannot inject.
var ErrUnsupported = errors.New("not supported by this backend")

var httpClient = &http.Client{Timeout: 2 * time.Second}

// httpGet returns the body of a 200 answer.
func httpGet(addr, path string) ([]byte, error) {
	resp, err := httpClient.Get("http://" + addr + path)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return body, fmt.Errorf("GET %s%s: %s", addr, path, resp.Status)
	}
	return body, nil
}

// waitReady polls every broker's /readyz until all answer 200.
func waitReady(ctx context.Context, b Backend, brokers []int) error {
	for _, i := range brokers {
		for {
			if _, err := httpGet(b.HTTPAddr(i), "/readyz"); err == nil {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("broker %d not ready: %w", i, ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}

func allBrokers(b Backend) []int {
	out := make([]int, b.Brokers())
	for i := range out {
		out[i] = i + 1
	}
	return out
}

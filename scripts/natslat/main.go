// Command natslat measures NATS JetStream publish latency at a fixed rate,
// the way `longboat bench --rate` measures Longboat: open-loop pacing, one
// schedule shared by all clients (message n is due at start + n/rate),
// asynchronous publishes, and each message's latency counted from its due
// time to its JetStream ack, so a backlog shows in the latency instead of
// slowing the schedule (coordinated omission). `nats bench js pub async
// --throughput` cannot stand in: it times whole batches, waits for a batch's
// acks before sending the next, and leaves its throttle sleeps out.
//
// It is its own Go module so that Longboat's go.mod does not gain nats.go;
// scripts/bench-compare.sh builds and runs it.
package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

type options struct {
	servers    string
	stream     string
	replicas   int
	size       int
	clients    int
	rate       float64
	duration   time.Duration
	maxPending int
	name       string
	jsonOut    string
}

// The JSON matches `longboat bench --json` so the script reads both alike.
type latency struct{ Avg, P50, P95, P99, P999, Max float64 }

type pacing struct {
	TargetPerSec   float64 `json:"target_records_per_sec"`
	AchievedPerSec float64 `json:"achieved_records_per_sec"`
	Held           bool    `json:"held"`
	MaxSendLagMs   float64 `json:"max_send_lag_ms"`
}

type result struct {
	Records       int64   `json:"records"`
	Errors        int64   `json:"errors"`
	Seconds       float64 `json:"seconds"`
	RecordsPerSec float64 `json:"records_per_sec"`
	MBPerSec      float64 `json:"mb_per_sec"`
	LatencyMs     latency `json:"latency_ms"`
	Pacing        pacing  `json:"pacing"`
}

// heldFraction is the share of the target a run must achieve to count as
// held, as in internal/bench.
const heldFraction = 0.95

func main() {
	var o options
	flag.StringVar(&o.servers, "server", "nats://127.0.0.1:4222", "comma-separated NATS URLs")
	flag.StringVar(&o.stream, "stream", "latency", "stream to create (subject <stream>.bench)")
	flag.IntVar(&o.replicas, "replicas", 3, "stream replicas")
	flag.IntVar(&o.size, "size", 1024, "bytes per message")
	flag.IntVar(&o.clients, "clients", 4, "publishing connections")
	flag.Float64Var(&o.rate, "rate", 1000, "messages/s across all clients (> 0)")
	flag.DurationVar(&o.duration, "duration", 20*time.Second, "how long to publish")
	flag.IntVar(&o.maxPending, "max-pending", 10000, "unacknowledged publishes per client before it blocks (longboat bench buffers 10000 records per producer)")
	flag.StringVar(&o.name, "name", "JetStream R3", "label for this run")
	flag.StringVar(&o.jsonOut, "json", "", "also write the result as JSON to this file")
	flag.Parse()
	res, err := run(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "natslat:", err)
		os.Exit(1)
	}
	l := res.LatencyMs
	fmt.Printf("%s: %.0f msgs/s (target %.0f, held %v, max send lag %.1f ms), %d errors; latency ms avg %.2f p50 %.2f p95 %.2f p99 %.2f p99.9 %.2f max %.2f\n",
		o.name, res.RecordsPerSec, o.rate, res.Pacing.Held, res.Pacing.MaxSendLagMs, res.Errors, l.Avg, l.P50, l.P95, l.P99, l.P999, l.Max)
	if o.jsonOut != "" {
		b, err := json.MarshalIndent(map[string]*result{o.name: res}, "", "  ")
		if err == nil {
			err = os.WriteFile(o.jsonOut, append(b, '\n'), 0o644)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "natslat:", err)
			os.Exit(1)
		}
	}
}

func run(o options) (*result, error) {
	if o.rate <= 0 || o.size < 8 || o.clients < 1 {
		return nil, fmt.Errorf("need -rate > 0, -size >= 8 (the due time rides in the payload), -clients >= 1")
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.duration+5*time.Minute)
	defer cancel()
	subject := o.stream + ".bench"
	if err := createStream(ctx, o, subject); err != nil {
		return nil, err
	}
	payload := make([]byte, o.size)
	_, _ = rand.Read(payload)
	// Each in-flight message carries its own copy of the payload with its
	// due time in the first 8 bytes, which the ack handler reads back.
	bufs := sync.Pool{New: func() any { b := make([]byte, o.size); copy(b, payload); return &b }}

	var sent, acked, errs atomic.Int64
	var mu sync.Mutex
	var lats []time.Duration
	var maxLag time.Duration
	start := time.Now()
	deadline := start.Add(o.duration)
	var wg sync.WaitGroup
	for c := 0; c < o.clients; c++ {
		var lmu sync.Mutex
		local := make([]time.Duration, 0, 1<<16)
		done := func(m *nats.Msg) {
			b := m.Data
			bufs.Put(&b)
		}
		nc, err := nats.Connect(o.servers, nats.Name(fmt.Sprintf("natslat-%d", c)))
		if err != nil {
			return nil, fmt.Errorf("connect: %w", err)
		}
		js, err := jetstream.New(nc,
			jetstream.WithPublishAsyncMaxPending(o.maxPending),
			jetstream.WithPublishAsyncTimeout(30*time.Second),
			jetstream.WithPublishAsyncAckHandler(func(_ jetstream.JetStream, m *nats.Msg, _ *jetstream.PubAck) {
				due := time.Unix(0, int64(binary.BigEndian.Uint64(m.Data)))
				lmu.Lock()
				local = append(local, time.Since(due))
				lmu.Unlock()
				acked.Add(1)
				done(m)
			}),
			jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, m *nats.Msg, _ error) {
				errs.Add(1)
				done(m)
			}))
		if err != nil {
			nc.Close()
			return nil, fmt.Errorf("jetstream: %w", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer nc.Close()
			var localLag time.Duration
			timer := time.NewTimer(time.Hour)
			defer timer.Stop()
			for ctx.Err() == nil {
				n := sent.Add(1)
				due := start.Add(time.Duration(float64(n-1) / o.rate * float64(time.Second)))
				if !due.Before(deadline) {
					break
				}
				if d := time.Until(due); d > 0 {
					timer.Reset(d)
					<-timer.C
				}
				b := *bufs.Get().(*[]byte)
				binary.BigEndian.PutUint64(b, uint64(due.UnixNano()))
				m := &nats.Msg{Subject: subject, Data: b}
				for {
					_, err := js.PublishMsgAsync(m)
					// Too many unacknowledged: wait as a full franz-go
					// buffer does; the wait counts in this message's latency.
					if errors.Is(err, jetstream.ErrTooManyStalledMsgs) && ctx.Err() == nil {
						continue
					}
					if err != nil {
						errs.Add(1)
					}
					break
				}
				localLag = max(localLag, time.Since(due))
			}
			select {
			case <-js.PublishAsyncComplete():
			case <-ctx.Done():
			}
			lmu.Lock()
			mu.Lock()
			lats = append(lats, local...)
			maxLag = max(maxLag, localLag)
			mu.Unlock()
			lmu.Unlock()
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("acks still missing after %s", time.Since(start).Round(time.Second))
	}
	secs := time.Since(start).Seconds()
	res := &result{Records: acked.Load(), Errors: errs.Load(), Seconds: secs}
	res.RecordsPerSec = float64(res.Records) / secs
	res.MBPerSec = res.RecordsPerSec * float64(o.size) / 1e6
	res.LatencyMs = summarize(lats)
	res.Pacing = pacing{TargetPerSec: o.rate, AchievedPerSec: res.RecordsPerSec,
		Held: res.RecordsPerSec >= heldFraction*o.rate, MaxSendLagMs: ms(maxLag)}
	return res, nil
}

// createStream makes a fresh file stream (deleting any left from an earlier
// run), retrying while the cluster's meta leader settles.
func createStream(ctx context.Context, o options, subject string) error {
	nc, err := nats.Connect(o.servers)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	cfg := jetstream.StreamConfig{Name: o.stream, Subjects: []string{subject}, Storage: jetstream.FileStorage,
		Replicas: o.replicas, MaxBytes: 16 << 30}
	for try := 1; ; try++ {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = js.DeleteStream(cctx, o.stream)
		if err == nil || errors.Is(err, jetstream.ErrStreamNotFound) {
			_, err = js.CreateStream(cctx, cfg)
		}
		cancel()
		if err == nil {
			return nil
		}
		if try == 10 {
			return fmt.Errorf("create stream %s: %w", o.stream, err)
		}
		time.Sleep(2 * time.Second)
	}
}

func ms(x time.Duration) float64 { return float64(x.Microseconds()) / 1000 }

func summarize(d []time.Duration) latency {
	if len(d) == 0 {
		return latency{}
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	at := func(p float64) float64 { return ms(d[int(float64(len(d)-1)*p)]) }
	return latency{Avg: ms(sum / time.Duration(len(d))), P50: at(0.5), P95: at(0.95), P99: at(0.99), P999: at(0.999), Max: ms(d[len(d)-1])}
}

// Package bench measures produce and consume performance against any Kafka
// cluster with franz-go, reporting like kafka-producer-perf-test.
package bench

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Options describe one benchmark run.
type Options struct {
	Brokers           []string
	Topic             string
	Partitions        int32
	ReplicationFactor int16
	RecordSize        int
	Records           int           // stop after this many (0: use Duration)
	Duration          time.Duration // stop after this long
	Acks              string        // all, 1, 0
	Compression       string        // none, gzip, snappy, lz4, zstd
	Producers         int
	InFlight          int           // produce requests in flight per broker per producer
	BatchBytes        int           // largest record batch a producer builds per partition
	Linger            time.Duration // how long a partition's batch waits for more records (linger.ms)
	// Rate paces the producers open-loop at this many records per second
	// in total (0: as fast as they go). Record n is due at start + n/Rate
	// whether or not earlier ones were acknowledged, and its latency counts
	// from that due time, so a backlog shows in the latency instead of
	// silently slowing the schedule (coordinated omission). The record's
	// timestamp is its due time too, so end-to-end latency counts alike.
	Rate     float64
	Consume  bool
	Progress io.Writer
	// Idempotent keeps franz-go's idempotent producer on (the default
	// run turns it off to measure plain acks=all produce).
	Idempotent bool
	// Transactional wraps every RecordsPerTxn records of a producer in a
	// transaction (begin, produce, flush, commit); consumers read
	// read_committed.
	Transactional bool
	RecordsPerTxn int
	// Security are client options every client of the run gets (TLS,
	// SASL: the CLI's --command-config).
	Security []kgo.Opt
}

// seeds are the options every client starts from: the brokers and Security.
func (o Options) seeds() []kgo.Opt {
	return append([]kgo.Opt{kgo.SeedBrokers(o.Brokers...)}, o.Security...)
}

// Result is one run's figures.
type Result struct {
	Options       Options `json:"-"`
	Records       int64   `json:"records"`
	Errors        int64   `json:"errors"`
	Seconds       float64 `json:"seconds"`
	RecordsPerSec float64 `json:"records_per_sec"`
	MBPerSec      float64 `json:"mb_per_sec"`
	LatencyMs     Latency `json:"latency_ms"`
	ConsumeMBs    float64 `json:"consume_mb_per_sec,omitempty"`
	ConsumeRecs   int64   `json:"consumed_records,omitempty"`
	EndToEndMs    Latency `json:"end_to_end_ms,omitempty"`
	Pacing        *Pacing `json:"pacing,omitempty"`       // set when Options.Rate > 0
	Transactions  int64   `json:"transactions,omitempty"` // committed, when Options.Transactional
	// TxnSteps is where a transactional run's time went.
	TxnSteps *TxnSteps `json:"txn_steps,omitempty"`
}

// Pacing reports how well an open-loop run kept its target rate.
type Pacing struct {
	TargetPerSec   float64 `json:"target_records_per_sec"`
	AchievedPerSec float64 `json:"achieved_records_per_sec"` // acknowledged records / seconds from start to the last ack
	// Held: achieved >= HeldFraction x target. When the cluster cannot keep
	// up, the backlog drains after the schedule ends and stretches the run,
	// so achieved falls towards what the cluster sustains.
	Held bool `json:"held"`
	// MaxSendLagMs is how far behind its due time a record was handed to
	// the client at worst (client buffer full, or the pacer starved of CPU).
	MaxSendLagMs float64 `json:"max_send_lag_ms"`
}

// HeldFraction of the target rate a paced run must achieve to count as held.
const HeldFraction = 0.95

// Latency is a distribution summary in milliseconds.
type Latency struct {
	Avg, P50, P95, P99, P999, Max float64
}

func ms(x time.Duration) float64 { return float64(x.Microseconds()) / 1000 }

func summarize(d []time.Duration) Latency {
	if len(d) == 0 {
		return Latency{}
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	at := func(p float64) float64 { return ms(d[int(float64(len(d)-1)*p)]) }
	return Latency{Avg: ms(sum / time.Duration(len(d))), P50: at(0.5), P95: at(0.95), P99: at(0.99), P999: at(0.999), Max: ms(d[len(d)-1])}
}

func (o Options) clientOpts() ([]kgo.Opt, error) {
	if o.Rate < 0 {
		return nil, fmt.Errorf("--rate %v: use 0 (unlimited) or a positive records/s", o.Rate)
	}
	if err := o.checkTxn(); err != nil {
		return nil, err
	}
	if o.Idempotent && o.Acks != "all" && o.Acks != "-1" {
		return nil, fmt.Errorf("--acks %s with --idempotent: the idempotent producer needs acks=all", o.Acks)
	}
	opts := append(o.seeds(),
		kgo.ProducerBatchMaxBytes(int32(max(o.BatchBytes, 1024))),
		kgo.ProducerLinger(max(o.Linger, 0)),
		kgo.MaxBufferedRecords(MaxBufferedRecords), kgo.RecordRetries(10))
	if !o.Idempotent && !o.Transactional {
		// franz-go's idempotent producer keeps one request in flight
		// per broker; only a plain producer takes --in-flight.
		opts = append(opts, kgo.DisableIdempotentWrite(), kgo.MaxProduceRequestsInflightPerBroker(max(o.InFlight, 1)))
	}
	more, err := ProducerOpts(o.Acks, o.Compression)
	if err != nil {
		return nil, err
	}
	return append(opts, more...), nil
}

// ProducerOpts are the kgo options for an --acks and a --compression flag
// (all, 1 or 0; none, gzip, snappy, lz4 or zstd).
func ProducerOpts(acks, compression string) ([]kgo.Opt, error) {
	var opts []kgo.Opt
	switch acks {
	case "all", "-1":
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	case "1":
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()))
	case "0":
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()))
	default:
		return nil, fmt.Errorf("--acks %q: use all, 1 or 0", acks)
	}
	codecs := map[string]kgo.CompressionCodec{"none": kgo.NoCompression(), "gzip": kgo.GzipCompression(),
		"snappy": kgo.SnappyCompression(), "lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression()}
	c, ok := codecs[compression]
	if !ok {
		return nil, fmt.Errorf("--compression %q: use none, gzip, snappy, lz4 or zstd", compression)
	}
	return append(opts, kgo.ProducerBatchCompression(c)), nil
}

// Run creates the topic (if missing), produces, optionally consumes, and
// returns the figures.
func Run(ctx context.Context, o Options) (*Result, error) {
	copts, err := o.clientOpts()
	if err != nil {
		return nil, err
	}
	admin, err := kgo.NewClient(o.seeds()...)
	if err != nil {
		return nil, err
	}
	defer admin.Close()
	adm := kadm.NewClient(admin)
	if _, err := adm.CreateTopic(ctx, o.Partitions, o.ReplicationFactor, nil, o.Topic); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return nil, fmt.Errorf("create topic: %w", err)
	}
	res := &Result{Options: o}
	var tailed chan []time.Duration
	produced := make(chan struct{})
	if o.Consume {
		// End-to-end latency needs a consumer reading while the producers
		// write; the read-back afterwards only measures consumer MB/s.
		tailed = make(chan []time.Duration, 1)
		go func() { tailed <- tail(ctx, o, produced) }()
	}
	if o.Transactional {
		err = produceTxn(ctx, o, copts, res)
	} else {
		err = produce(ctx, o, copts, res)
	}
	close(produced)
	if o.Consume {
		res.EndToEndMs = summarize(<-tailed)
	}
	if err != nil {
		return nil, err
	}
	if o.Consume {
		if err := consume(ctx, o, res); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// tailIdle is how long the tailing consumer keeps reading after the
// producers finished and a poll came back empty.
const tailIdle = 2 * time.Second

// tail reads the topic from its end while the producers run and returns,
// for each record it saw, the time from the record's timestamp (its send
// time, or its due time when paced) to its arrival.
func tail(ctx context.Context, o Options, produced <-chan struct{}) []time.Duration {
	cl, err := kgo.NewClient(append(o.seeds(), kgo.ConsumeTopics(o.Topic), o.isolation(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()), kgo.FetchMaxWait(100*time.Millisecond))...)
	if err != nil {
		return nil
	}
	defer cl.Close()
	var e2e []time.Duration
	for ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, tailIdle)
		fs := cl.PollFetches(pctx)
		cancel()
		now := time.Now()
		got := 0
		fs.EachRecord(func(r *kgo.Record) {
			got++
			e2e = append(e2e, now.Sub(r.Timestamp))
		})
		select {
		case <-produced:
			if got == 0 {
				return e2e
			}
		default:
		}
	}
	return e2e
}

func produce(ctx context.Context, o Options, copts []kgo.Opt, res *Result) error {
	payload := make([]byte, o.RecordSize)
	_, _ = rand.Read(payload)
	var sent, acked, errs atomic.Int64
	var mu sync.Mutex
	var lats []time.Duration
	var maxLag time.Duration
	start := time.Now()
	deadline := start.Add(o.Duration)
	label := "produce"
	if o.Rate > 0 {
		label = fmt.Sprintf("produce (target %.0f/s)", o.Rate)
	}
	stopProgress := progress(o.Progress, label, func() (int64, int64) { return acked.Load(), errs.Load() }, o.RecordSize)
	var wg sync.WaitGroup
	for p := 0; p < max(o.Producers, 1); p++ {
		cl, err := kgo.NewClient(copts...)
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer cl.Close()
			local := make([]time.Duration, 0, 1<<16)
			var lmu sync.Mutex
			var localLag time.Duration
			timer := time.NewTimer(time.Hour)
			defer timer.Stop()
			for ctx.Err() == nil {
				// One schedule shared by all producers: each takes the
				// next slot, so a producer blocked on a full buffer does
				// not hold the others back, and its late slot is charged
				// from its due time.
				n := sent.Add(1)
				if o.Records > 0 && n > int64(o.Records) {
					break
				}
				t0 := time.Now()
				if o.Rate > 0 {
					t0 = start.Add(time.Duration(float64(n-1) / o.Rate * float64(time.Second)))
					if o.Records == 0 && !t0.Before(deadline) {
						break
					}
					if d := time.Until(t0); d > 0 {
						timer.Reset(d)
						select {
						case <-timer.C:
						case <-ctx.Done():
						}
						if ctx.Err() != nil {
							break
						}
					}
				} else if o.Records == 0 && t0.After(deadline) {
					break
				}
				cl.Produce(ctx, &kgo.Record{Topic: o.Topic, Value: payload, Timestamp: t0}, func(_ *kgo.Record, err error) {
					if err != nil {
						errs.Add(1)
						return
					}
					acked.Add(1)
					lmu.Lock()
					local = append(local, time.Since(t0))
					lmu.Unlock()
				})
				if o.Rate > 0 {
					localLag = max(localLag, time.Since(t0))
				}
			}
			_ = cl.Flush(ctx)
			lmu.Lock()
			mu.Lock()
			lats = append(lats, local...)
			maxLag = max(maxLag, localLag)
			mu.Unlock()
			lmu.Unlock()
		}()
	}
	wg.Wait()
	stopProgress()
	res.Seconds = time.Since(start).Seconds()
	res.Records, res.Errors = acked.Load(), errs.Load()
	res.RecordsPerSec = float64(res.Records) / res.Seconds
	res.MBPerSec = res.RecordsPerSec * float64(o.RecordSize) / 1e6
	res.LatencyMs = summarize(lats)
	if o.Rate > 0 {
		res.Pacing = &Pacing{TargetPerSec: o.Rate, AchievedPerSec: res.RecordsPerSec,
			Held: res.RecordsPerSec >= HeldFraction*o.Rate, MaxSendLagMs: ms(maxLag)}
	}
	return nil
}

func consume(ctx context.Context, o Options, res *Result) error {
	cl, err := kgo.NewClient(append(o.seeds(), kgo.ConsumeTopics(o.Topic), o.isolation(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(64<<20))...)
	if err != nil {
		return err
	}
	defer cl.Close()
	var n atomic.Int64
	stopProgress := progress(o.Progress, "consume", func() (int64, int64) { return n.Load(), 0 }, o.RecordSize)
	defer stopProgress()
	start := time.Now()
	cctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	var bytes int64
	for n.Load() < res.Records && cctx.Err() == nil {
		fs := cl.PollFetches(cctx)
		fs.EachRecord(func(r *kgo.Record) {
			n.Add(1)
			bytes += int64(len(r.Value))
		})
	}
	secs := time.Since(start).Seconds()
	res.ConsumeRecs = n.Load()
	res.ConsumeMBs = float64(bytes) / secs / 1e6
	return nil
}

// progress prints a line a second until the returned func is called.
func progress(w io.Writer, what string, count func() (int64, int64), size int) func() {
	if w == nil {
		return func() {}
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		var last int64
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				n, errs := count()
				fmt.Fprintf(w, "%s: %d records (%d/s, %.1f MB/s), %d errors\n", what, n, n-last, float64(n-last)*float64(size)/1e6, errs)
				last = n
			}
		}
	}()
	return func() { close(stop); <-done }
}

// WriteTable prints results side by side, with each run's throughput as a
// ratio of the first. When any run was paced (--rate), three columns say
// its target, whether it held, and its worst send lag.
func WriteTable(w io.Writer, names []string, results []*Result) {
	paced := false
	for _, r := range results {
		paced = paced || r.Pacing != nil
	}
	fmt.Fprintf(w, "%-28s %10s %8s %7s %8s %8s %8s %8s %8s %8s %9s %9s %7s",
		"run", "records/s", "MB/s", "ratio", "avg ms", "p50", "p95", "p99", "p99.9", "max", "cons MB/s", "e2e p99", "errors")
	if paced {
		fmt.Fprintf(w, " %10s %6s %8s", "target/s", "held", "lag ms")
	}
	fmt.Fprintln(w)
	for i, r := range results {
		ratio := 1.0
		if results[0].MBPerSec > 0 {
			ratio = r.MBPerSec / results[0].MBPerSec
		}
		l := r.LatencyMs
		fmt.Fprintf(w, "%-28s %10.0f %8.1f %7.2f %8.1f %8.1f %8.1f %8.1f %8.1f %8.1f %9.1f %9.1f %7d",
			names[i], r.RecordsPerSec, r.MBPerSec, ratio, l.Avg, l.P50, l.P95, l.P99, l.P999, l.Max, r.ConsumeMBs, r.EndToEndMs.P99, r.Errors)
		switch {
		case r.Pacing != nil:
			held := "yes"
			if !r.Pacing.Held {
				held = "NO"
			}
			fmt.Fprintf(w, " %10.0f %6s %8.1f", r.Pacing.TargetPerSec, held, r.Pacing.MaxSendLagMs)
		case paced:
			fmt.Fprintf(w, " %10s %6s %8s", "-", "-", "-")
		}
		fmt.Fprintln(w)
	}
}

// WriteJSON writes the results keyed by run name.
func WriteJSON(w io.Writer, names []string, results []*Result) error {
	out := map[string]*Result{}
	for i, r := range results {
		out[names[i]] = r
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

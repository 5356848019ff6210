package main

import (
	"bufio"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/longboat/longboat/internal/bench"
	"github.com/longboat/longboat/internal/cli"
)

// lineFlags shape the records produce makes from stdin lines.
type lineFlags struct {
	keySep      string
	headers     multiFlag
	compression string
	idempotent  bool
}

// produceSummary is what produce prints when stdin ends.
type produceSummary struct {
	Topic        string  `json:"topic"`
	Records      int     `json:"records"`
	Acknowledged int     `json:"acknowledged"`
	Failed       int     `json:"failed"`
	Bytes        int64   `json:"bytes"`
	Seconds      float64 `json:"seconds"`
	FirstError   string  `json:"first_error,omitempty"`
}

// produceLines sends each line of stdin as one record with kgo and waits
// for every acknowledgement before it prints the summary.
func produceLines(cf *clientFlags, topic string, partition int32, acks string, lf lineFlags, s *stdio) error {
	f, err := cf.format()
	if err != nil {
		return err
	}
	opts, err := producerOpts(acks, lf)
	if err != nil {
		return err
	}
	var headers []kgo.RecordHeader
	for _, h := range lf.headers {
		k, v, ok := strings.Cut(h, "=")
		if !ok || k == "" {
			return usagef("--header %q: want key=value", h)
		}
		headers = append(headers, kgo.RecordHeader{Key: k, Value: []byte(v)})
	}
	if partition >= 0 {
		opts = append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	}
	base, err := cf.clientOpts()
	if err != nil {
		return err
	}
	opts = append(opts, base...)
	opts = append(opts, kgo.DefaultProduceTopic(topic), kgo.ClientID("longboat-produce"),
		kgo.RecordDeliveryTimeout(cf.timeout), kgo.ProduceRequestTimeout(min(cf.timeout, 30*time.Second)))
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return usagef("%w", err)
	}
	defer cl.Close()
	ctx, cancel := clientContext(cf.timeout)
	defer cancel()
	// A missing topic or partition fails here, not after --timeout.
	sel := topicSel{Topic: topic}
	if partition >= 0 {
		sel.Partitions = []int32{partition}
	}
	if _, err := resolve(ctx, kadm.NewClient(cl), []topicSel{sel}); err != nil {
		return cf.explain(err)
	}

	sum := produceSummary{Topic: topic}
	var mu sync.Mutex
	done := func(r *kgo.Record, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			sum.Failed++
			if sum.FirstError == "" {
				sum.FirstError = cf.explain(err).Error()
			}
			return
		}
		sum.Acknowledged++
		sum.Bytes += int64(len(r.Key) + len(r.Value))
	}
	start := time.Now()
	sc := bufio.NewScanner(s.in)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() && ctx.Err() == nil {
		line := sc.Text()
		r := &kgo.Record{Value: []byte(line), Headers: headers, Partition: partition}
		if lf.keySep != "" {
			if k, v, ok := strings.Cut(line, lf.keySep); ok {
				r.Key, r.Value = []byte(k), []byte(v)
			}
		}
		sum.Records++
		cl.Produce(ctx, r, done)
	}
	readErr := sc.Err()
	if err := cl.Flush(ctx); err != nil && readErr == nil {
		readErr = err
	}
	sum.Seconds = time.Since(start).Seconds()
	mu.Lock()
	defer mu.Unlock()
	g := &cli.Grid{Header: []string{"TOPIC", "RECORDS", "ACKNOWLEDGED", "FAILED", "BYTES", "SECONDS"}}
	g.Add(topic, sum.Records, sum.Acknowledged, sum.Failed, sum.Bytes, fmt.Sprintf("%.2f", sum.Seconds))
	if err := cli.Print(s.out, f, sum, g); err != nil {
		return err
	}
	switch {
	case readErr != nil:
		return fmt.Errorf("after %d records: %w", sum.Records, readErr)
	case sum.Failed > 0:
		return fmt.Errorf("%d of %d records not acknowledged (first error: %s)", sum.Failed, sum.Records, sum.FirstError)
	}
	return nil
}

func producerOpts(acks string, lf lineFlags) ([]kgo.Opt, error) {
	opts, err := bench.ProducerOpts(acks, lf.compression)
	if err != nil {
		return nil, usageError{err}
	}
	if !lf.idempotent {
		return append(opts, kgo.DisableIdempotentWrite()), nil
	}
	if acks != "all" && acks != "-1" {
		return nil, usagef("--idempotent needs --acks all (or give --idempotent=false)")
	}
	return opts, nil
}

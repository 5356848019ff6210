package main

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/segmentio/kafka-go"
)

// Records written by `produce` carry the value "<prefix>-<seq>" (seq zero
// padded, 0..N-1), so `consume --prefix P --expect N` can prove that every
// acknowledged record arrived exactly once.
const seqDigits = 9

func recordValue(prefix string, seq int) string {
	return fmt.Sprintf("%s-%0*d", prefix, seqDigits, seq)
}

// parseRecordValue returns seq for a value written with prefix, or false.
func parseRecordValue(prefix string, value []byte) (int, bool) {
	rest, ok := strings.CutPrefix(string(value), prefix+"-")
	if !ok || len(rest) != seqDigits {
		return 0, false
	}
	seq, err := strconv.Atoi(rest)
	return seq, err == nil
}

// fixedPartition sends every record to one partition.
type fixedPartition int

func (p fixedPartition) Balance(_ kafka.Message, _ ...int) int { return int(p) }

// produceCmd writes records, like kafka-console-producer.sh: each line of
// stdin by default, or with --records/--prefix N numbered records whose
// arrival `consume --prefix --expect` can prove.
func produceCmd(args []string, s *stdio) error {
	fs := flag.NewFlagSet("produce", flag.ContinueOnError)
	fs.SetOutput(s.err)
	cf := addClientFlags(fs, 2*time.Minute)
	topic := fs.String("topic", "", "topic (must exist)")
	partition := fs.Int("partition", -1, "write only to this partition (-1: spread over all)")
	acks := fs.String("acks", "all", "all, 1 or 0")
	lf := lineFlags{}
	fs.StringVar(&lf.keySep, "key-separator", "", "split each line at the first SEP into key and value (default: no key)")
	fs.Var(&lf.headers, "header", "k=v header on every record (repeatable)")
	fs.StringVar(&lf.compression, "compression", "none", "none, gzip, snappy, lz4 or zstd")
	fs.BoolVar(&lf.idempotent, "idempotent", true, "idempotent producer (needs --acks all)")
	records := fs.Int("records", 1000, "numbered mode: records to write")
	prefix := fs.String("prefix", "", "numbered mode: value prefix; records are <prefix>-<seq> (default: produce-<unix time>)")
	chunk := fs.Int("chunk", 200, "numbered mode: records per WriteMessages call (one progress step)")
	if done, err := parseFlags(fs, args); done {
		return err
	}
	if *topic == "" {
		return usagef("--topic is required")
	}
	numbered := false
	fs.Visit(func(f *flag.Flag) {
		numbered = numbered || f.Name == "records" || f.Name == "prefix" || f.Name == "chunk"
	})
	if !numbered {
		return produceLines(cf, *topic, int32(*partition), *acks, lf, s)
	}
	if *records < 1 || *chunk < 1 {
		return usagef("--records and --chunk must be 1 or more")
	}
	brokers, timeout := &cf.bootstrap, &cf.timeout
	required, err := parseAcks(*acks)
	if err != nil {
		return err
	}
	if *prefix == "" {
		*prefix = fmt.Sprintf("produce-%d", time.Now().Unix())
	}
	transport, err := cf.kafkaGoTransport()
	if err != nil {
		return err
	}
	var balancer kafka.Balancer = &kafka.RoundRobin{}
	if *partition >= 0 {
		balancer = fixedPartition(*partition)
	}
	w := &kafka.Writer{
		Addr:         kafka.TCP(strings.Split(*brokers, ",")...),
		Topic:        *topic,
		Balancer:     balancer,
		RequiredAcks: required,
		BatchSize:    *chunk,
		BatchTimeout: 5 * time.Millisecond,
		MaxAttempts:  10,
		Transport:    transport,
	}
	defer w.Close()

	ctx, cancel := clientContext(*timeout)
	defer cancel()

	start := time.Now()
	acked, failed := 0, 0
	var firstErr error
	last := time.Now()
	for next := 0; next < *records && ctx.Err() == nil; next += *chunk {
		n := min(*chunk, *records-next)
		msgs := make([]kafka.Message, n)
		for i := range msgs {
			v := recordValue(*prefix, next+i)
			msgs[i] = kafka.Message{Key: []byte(v), Value: []byte(v)}
		}
		err := w.WriteMessages(ctx, msgs...)
		var werrs kafka.WriteErrors
		switch {
		case err == nil:
			acked += n
		case errors.As(err, &werrs):
			failed += werrs.Count()
			acked += n - werrs.Count()
			// One record's error, not all of them.
			for _, e := range werrs {
				if e != nil && firstErr == nil {
					firstErr = e
				}
			}
		default:
			failed += n
		}
		if err != nil && firstErr == nil {
			firstErr = err
		}
		if time.Since(last) >= time.Second {
			fmt.Fprintf(s.err, "produce: %d/%d acknowledged, %d failed\n", acked, *records, failed)
			last = time.Now()
		}
	}
	elapsed := time.Since(start)
	unsent := *records - acked - failed

	tw := tabwriter.NewWriter(s.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tBROKERS\tPREFIX\tACKS\tREQUESTED\tACKNOWLEDGED\tFAILED\tUNSENT\tSECONDS\tRECORDS/S")
	fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%.1f\t%.0f\n", *topic, *brokers, *prefix, *acks,
		*records, acked, failed, unsent, elapsed.Seconds(), float64(acked)/elapsed.Seconds())
	if err := tw.Flush(); err != nil {
		return err
	}
	if failed > 0 || unsent > 0 {
		if firstErr == nil {
			firstErr = ctx.Err()
		}
		return fmt.Errorf("%d of %d records not acknowledged (first error: %v)", failed+unsent, *records, firstErr)
	}
	return nil
}

func parseAcks(s string) (kafka.RequiredAcks, error) {
	switch s {
	case "all", "-1":
		return kafka.RequireAll, nil
	case "1":
		return kafka.RequireOne, nil
	case "0":
		return kafka.RequireNone, nil
	}
	return 0, usagef("--acks %q: use all, 1 or 0", s)
}

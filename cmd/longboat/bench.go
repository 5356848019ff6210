package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"time"

	"github.com/longboat/longboat/internal/bench"
)

func benchCmd(args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	var o bench.Options
	brokers := fs.String("brokers", "localhost:9092", "comma-separated bootstrap servers")
	fs.StringVar(brokers, "bootstrap-server", "localhost:9092", "alias of --brokers")
	name := fs.String("name", "", "label for this run in the table (default: a summary of the settings)")
	jsonOut := fs.String("json", "", "also write the result as JSON to this file")
	fs.StringVar(&o.Topic, "topic", "bench", "topic (created if missing)")
	var partitions, rf int
	fs.IntVar(&partitions, "partitions", 6, "partitions when creating the topic")
	fs.IntVar(&rf, "replication-factor", 3, "replication factor when creating the topic")
	fs.IntVar(&o.RecordSize, "record-size", 1024, "bytes per record value")
	fs.IntVar(&o.Records, "records", 0, "records to send (0: run for --duration)")
	fs.DurationVar(&o.Duration, "duration", 20*time.Second, "how long to produce when --records is 0")
	fs.StringVar(&o.Acks, "acks", "all", "all, 1 or 0")
	fs.StringVar(&o.Compression, "compression", "none", "none, gzip, snappy, lz4 or zstd")
	fs.IntVar(&o.Producers, "producers", 1, "producer clients")
	fs.IntVar(&o.InFlight, "in-flight", 5, "produce requests in flight per broker per producer (idempotent and transactional producers: franz-go's own limit, 5 once the broker answered Produce v4+)")
	fs.IntVar(&o.BatchBytes, "batch-bytes", 64<<10, "largest record batch per partition (producer batch.size); each becomes one Raft entry")
	fs.DurationVar(&o.Linger, "linger", 5*time.Millisecond, "how long a partition's batch waits for more records before it is sent (linger.ms; Kafka 4's default is 5ms)")
	fs.Float64Var(&o.Rate, "rate", 0, "records/s across all producers, paced open-loop with latency counted from each record's due time (0: unlimited)")
	fs.BoolVar(&o.Idempotent, "idempotent", false, "keep the client's idempotent producer on, the baseline scripts/bench-txn.sh compares --transactional with (--in-flight is then franz-go's own, as with --transactional)")
	fs.BoolVar(&o.Transactional, "transactional", false, "produce in transactions of --records-per-txn records per producer (begin, produce, commit); consumers read read_committed")
	fs.IntVar(&o.RecordsPerTxn, "records-per-txn", bench.DefaultRecordsPerTxn, "records per transaction with --transactional")
	compare := fs.Bool("compare-idempotent", false, "with --transactional: run the idempotent producer with the same settings on topic <topic>-idempotent before and after the transactional run, then print all three and the ratio to the idempotent runs' mean")
	warmup := fs.Duration("warmup", 3*time.Second, "with --compare-idempotent: produce this long with each producer kind first, unmeasured (topics created, leaders settled, connections open)")
	commandConfig := fs.String("command-config", "", "Kafka client properties for TLS and SASL listeners (as the other client commands take)")
	comparePlain := fs.String("compare-plaintext", "", "host:port,... of the same cluster's PLAINTEXT listeners: first run the same settings there on topic <topic>-plaintext, then on --brokers with --command-config, and print both and the ratio")
	fs.BoolVar(&o.Consume, "consume", true, "read everything back afterwards and report consumer MB/s and end-to-end latency")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return nil
		}
		return err
	}
	o.Brokers = strings.Split(*brokers, ",")
	o.Partitions, o.ReplicationFactor = int32(partitions), int16(rf)
	o.Progress = os.Stderr
	if *commandConfig != "" {
		security, err := (&clientFlags{commandConfig: *commandConfig}).securityOpts()
		if err != nil {
			return err
		}
		o.Security = security
	}
	if *comparePlain != "" && (*compare || *commandConfig == "") {
		return fmt.Errorf("--compare-plaintext compares a secured listener (--brokers with --command-config) with a PLAINTEXT one; it does not combine with --compare-idempotent")
	}
	if *compare && !o.Transactional {
		return fmt.Errorf("--compare-idempotent compares the transactional producer with the idempotent one: add --transactional")
	}
	if *name == "" {
		*name = fmt.Sprintf("p%d rf%d acks=%s %dB", partitions, rf, o.Acks, o.RecordSize)
		if o.Idempotent {
			*name = fmt.Sprintf("idempotent p%d rf%d %dB", partitions, rf, o.RecordSize)
		}
		if o.Transactional {
			*name = fmt.Sprintf("txn %d/txn p%d rf%d %dB", o.RecordsPerTxn, partitions, rf, o.RecordSize)
		}
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	rate := "unlimited"
	if o.Rate > 0 {
		rate = fmt.Sprintf("%.0f records/s", o.Rate)
	}
	fmt.Fprintf(os.Stderr, "bench %s: %s, %d producers, %d in flight, linger %v, compression %s, rate %s, %d CPUs\n",
		*name, *brokers, o.Producers, o.InFlight, o.Linger, o.Compression, rate, runtime.NumCPU())
	// The baseline runs first: refuse bad transactional settings before it.
	if err := o.Validate(); err != nil {
		return err
	}
	var names []string
	var results []*bench.Result
	if *comparePlain != "" {
		base := o
		base.Brokers, base.Security, base.Topic = strings.Split(*comparePlain, ","), nil, o.Topic+"-plaintext"
		res, err := bench.Run(ctx, base)
		if err != nil {
			return fmt.Errorf("plaintext baseline: %w", err)
		}
		names = append(names, "PLAINTEXT "+*name)
		results = append(results, res)
		*name = "secured " + *name
	}
	base := o
	base.Transactional, base.Idempotent, base.Topic = false, true, o.Topic+"-idempotent"
	baseName := fmt.Sprintf("idempotent p%d rf%d %dB", partitions, rf, o.RecordSize)
	if *compare && *warmup > 0 {
		// A fresh cluster elects and balances leaders and the clients
		// open connections in the first seconds: unmeasured here, so
		// that neither run pays for them.
		for _, w := range []bench.Options{base, o} {
			w.Duration, w.Records, w.Consume, w.Progress = *warmup, 0, false, nil
			if _, err := bench.Run(ctx, w); err != nil {
				return fmt.Errorf("warm-up: %w", err)
			}
		}
	}
	if *compare {
		// The baseline first, so the table's ratio column is
		// transactional / idempotent; its own topic keeps the
		// read-back of each run to its own records.
		res, err := bench.Run(ctx, base)
		if err != nil {
			return fmt.Errorf("idempotent baseline: %w", err)
		}
		names = append(names, baseName+" (before)")
		results = append(results, res)
	}
	res, err := bench.Run(ctx, o)
	if err != nil {
		return err
	}
	names, results = append(names, *name), append(results, res)
	if *compare {
		// Again after: on a shared machine the load drifts during a
		// run, and the mean of a run before and one after cancels a
		// steady drift that would favour whichever kind ran second.
		res, err := bench.Run(ctx, base)
		if err != nil {
			return fmt.Errorf("idempotent baseline (after): %w", err)
		}
		names = append(names, baseName+" (after)")
		results = append(results, res)
	}
	bench.WriteTable(os.Stdout, names, results)
	if o.Transactional {
		fmt.Printf("%d transactions committed (%.1f/s)\n", res.Transactions, float64(res.Transactions)/res.Seconds)
		bench.WriteTxnSteps(os.Stdout, res.TxnSteps)
	}
	if *compare {
		fmt.Printf("transactional / idempotent throughput: %.2f (to the runs before and after: %.2f, %.2f)\n",
			bench.Ratio(results[1], bench.Mean(results[0], results[2])), bench.Ratio(results[1], results[0]), bench.Ratio(results[1], results[2]))
		fmt.Printf("producers: %d. Each transactional producer commits before it begins its next transaction, so it has at most %d records in flight,"+
			" an idempotent one up to %d; the ratio rises with --producers until both load the brokers (scripts/bench-txn.sh runs several counts)\n",
			o.Producers, min(o.RecordsPerTxn, bench.MaxBufferedRecords), bench.MaxBufferedRecords)
	}
	if *comparePlain != "" {
		fmt.Printf("secured / plaintext throughput: %.2f\n", bench.Ratio(results[1], results[0]))
	}
	if *jsonOut != "" {
		f, err := os.Create(*jsonOut)
		if err != nil {
			return err
		}
		defer f.Close()
		return bench.WriteJSON(f, names, results)
	}
	return nil
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/segmentio/kafka-go"
)

// consumeState is what the per-partition readers have seen so far.
type consumeState struct {
	mu       sync.Mutex
	prefix   string
	seen     map[int]int // seq -> times seen
	parts    map[int]*partitionRead
	foreign  int // records without the prefix (other runs, other tools)
	readErrs []error
}

type partitionRead struct {
	records  int
	matched  int
	first    int64 // offset of the first record read, -1 before any
	next     int64 // next offset to read
	end      int64 // high watermark at the last check
	disorder int   // offsets that did not increase
}

// consumeCmd prints records, like kcat -C, or with --prefix/--expect
// checks the records written by `produce --records`: it reads a topic from
// the earliest offset with kafka-go (one reader per partition, no group) up
// to its end, and wants each of seq 0..expect-1 exactly once.
func consumeCmd(args []string, s *stdio) error {
	fs := flag.NewFlagSet("consume", flag.ContinueOnError)
	fs.SetOutput(s.err)
	cf := addClientFlags(fs, 0)
	topic := fs.String("topic", "", "topic")
	partition := fs.Int("partition", -1, "read only this partition (-1: all)")
	var pf printFlags
	fs.StringVar(&pf.format, "format", `%s\n`, "how to print each record: %t topic, %p partition, %o offset, %k key, %s value, %K/%S key/value size, %h headers, %T timestamp (ms), \\n \\t")
	fs.StringVar(&pf.format, "f", `%s\n`, "alias of --format")
	fs.StringVar(&pf.offset, "offset", "beginning", "where to start: beginning, end or an offset")
	fs.StringVar(&pf.timestamp, "timestamp", "", "start at the first record at or after this time (RFC3339 or Unix ms)")
	fs.StringVar(&pf.group, "group", "", "consume as this group, from its committed offsets (committed as it goes)")
	fs.IntVar(&pf.count, "count", 0, "exit after this many records (0: no limit)")
	fs.BoolVar(&pf.exitAtEnd, "exit-at-end", false, "exit once every partition is read up to its end as of the start")
	prefix := fs.String("prefix", "", "check mode: count records written by `produce --prefix`")
	expect := fs.Int("expect", 0, "check mode, with --prefix: wait until seq 0..expect-1 are all seen, and fail on any missing or duplicate")
	if done, err := parseFlags(fs, args); done {
		return err
	}
	if *topic == "" {
		return usagef("--topic is required")
	}
	if *expect > 0 && *prefix == "" {
		return usagef("--expect needs --prefix")
	}
	if *prefix == "" {
		return consumePrint(cf, *topic, int32(*partition), pf, s)
	}
	timeout, brokers := cf.timeout, &cf.bootstrap
	if timeout == 0 {
		timeout = time.Minute
	}
	ctx, cancel := clientContext(timeout)
	defer cancel()

	addrs := strings.Split(*brokers, ",")
	transport, err := cf.kafkaGoTransport()
	if err != nil {
		return err
	}
	cl := &kafka.Client{Addr: kafka.TCP(addrs...), Timeout: 10 * time.Second, Transport: transport}
	dialer := &kafka.Dialer{Timeout: 10 * time.Second, DualStack: true, TLS: transport.TLS, SASLMechanism: transport.SASL}
	ids, err := partitionIDs(ctx, cl, *topic, *partition)
	if err != nil {
		return err
	}
	st := &consumeState{prefix: *prefix, seen: map[int]int{}, parts: map[int]*partitionRead{}}
	for _, id := range ids {
		st.parts[id] = &partitionRead{first: -1, end: -1}
	}

	readCtx, stopReaders := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st.read(readCtx, dialer, addrs, *topic, id)
		}()
	}
	start := time.Now()
	done := false
	for !done && ctx.Err() == nil {
		if err := st.refreshEnds(ctx, cl, *topic, ids); err != nil {
			st.mu.Lock()
			st.readErrs = append(st.readErrs, err)
			st.mu.Unlock()
		}
		done = st.finished(*expect)
		fmt.Fprintln(s.err, "consume: "+st.progress(*expect))
		if !done {
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
	stopReaders()
	wg.Wait()
	return st.report(s.out, *topic, *expect, time.Since(start), done)
}

func partitionIDs(ctx context.Context, cl *kafka.Client, topic string, only int) ([]int, error) {
	md, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	var ids []int
	for _, t := range md.Topics {
		if t.Error != nil {
			return nil, fmt.Errorf("topic %s: %w", topic, t.Error)
		}
		for _, p := range t.Partitions {
			if only < 0 || p.ID == only {
				ids = append(ids, p.ID)
			}
		}
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("topic %s has no partition %d", topic, only)
	}
	sort.Ints(ids)
	return ids, nil
}

func (st *consumeState) read(ctx context.Context, dialer *kafka.Dialer, brokers []string, topic string, partition int) {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: brokers, Topic: topic, Partition: partition, Dialer: dialer,
		MinBytes: 1, MaxBytes: 8 << 20, MaxWait: 500 * time.Millisecond,
		StartOffset: kafka.FirstOffset,
	})
	defer r.Close()
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() == nil {
				st.mu.Lock()
				st.readErrs = append(st.readErrs, fmt.Errorf("partition %d: %w", partition, err))
				st.mu.Unlock()
			}
			return
		}
		st.mu.Lock()
		p := st.parts[partition]
		if m.Offset < p.next {
			p.disorder++
		}
		if p.first < 0 {
			p.first = m.Offset
		}
		p.next = m.Offset + 1
		p.records++
		if st.prefix == "" {
			p.matched++
		} else if seq, ok := parseRecordValue(st.prefix, m.Value); ok {
			p.matched++
			st.seen[seq]++
		} else {
			st.foreign++
		}
		st.mu.Unlock()
	}
}

// refreshEnds asks each partition's leader for its high watermark.
func (st *consumeState) refreshEnds(ctx context.Context, cl *kafka.Client, topic string, ids []int) error {
	reqs := make([]kafka.OffsetRequest, len(ids))
	for i, id := range ids {
		reqs[i] = kafka.LastOffsetOf(id)
	}
	resp, err := cl.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return fmt.Errorf("list offsets: %w", err)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, po := range resp.Topics[topic] {
		if po.Error != nil {
			continue // leader moving; the next round asks again
		}
		if p, ok := st.parts[po.Partition]; ok {
			p.end = po.LastOffset
		}
	}
	return nil
}

// finished: every partition read up to its known end, and with expect
// every expected record seen.
func (st *consumeState) finished(expect int) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, p := range st.parts {
		if p.end < 0 || p.next < p.end {
			return false
		}
	}
	return expect == 0 || st.distinct(expect) == expect
}

// distinct counts seq 0..expect-1 seen at least once; callers hold mu.
func (st *consumeState) distinct(expect int) int {
	n := 0
	for seq := range st.seen {
		if seq < expect {
			n++
		}
	}
	return n
}

func (st *consumeState) progress(expect int) string {
	st.mu.Lock()
	defer st.mu.Unlock()
	records := 0
	for _, p := range st.parts {
		records += p.records
	}
	if expect > 0 {
		return fmt.Sprintf("%d records read, %d/%d expected seen", records, st.distinct(expect), expect)
	}
	return fmt.Sprintf("%d records read", records)
}

func (st *consumeState) report(out io.Writer, topic string, expect int, elapsed time.Duration, done bool) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	ids := make([]int, 0, len(st.parts))
	for id := range st.parts {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tRECORDS\tMATCHED\tFIRST OFFSET\tNEXT OFFSET\tHIGH WATERMARK")
	total, disorder := 0, 0
	for _, id := range ids {
		p := st.parts[id]
		total += p.records
		disorder += p.disorder
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\n", topic, id, p.records, p.matched, p.first, p.next, p.end)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var problems []string
	if expect > 0 {
		var missing []int
		dups := 0
		for seq := 0; seq < expect; seq++ {
			switch n := st.seen[seq]; {
			case n == 0:
				missing = append(missing, seq)
			case n > 1:
				dups += n - 1
			}
		}
		extra := 0
		for seq, n := range st.seen {
			if seq >= expect {
				extra += n
			}
		}
		fmt.Fprintf(out, "expected %d (prefix %q): seen %d distinct, missing %d, duplicates %d, beyond expected %d, other records %d, %d records in %.1fs\n",
			expect, st.prefix, expect-len(missing), len(missing), dups, extra, st.foreign, total, elapsed.Seconds())
		if len(missing) > 0 {
			problems = append(problems, fmt.Sprintf("%d missing (first: %v)", len(missing), missing[:min(10, len(missing))]))
		}
		if dups > 0 {
			problems = append(problems, fmt.Sprintf("%d duplicates", dups))
		}
	} else {
		fmt.Fprintf(out, "read %d records in %.1fs\n", total, elapsed.Seconds())
	}
	if disorder > 0 {
		problems = append(problems, fmt.Sprintf("%d records with non-increasing offsets", disorder))
	}
	for _, id := range ids {
		if p := st.parts[id]; !done && (p.end < 0 || p.next < p.end) {
			problems = append(problems, fmt.Sprintf("timed out before reaching the end of partition %d", id))
		}
	}
	if len(problems) == 0 {
		return nil
	}
	if len(st.readErrs) > 0 {
		problems = append(problems, fmt.Sprintf("first read error: %v", st.readErrs[0]))
	}
	return errors.New(strings.Join(problems, "; "))
}

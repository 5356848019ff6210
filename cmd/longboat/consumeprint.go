package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/longboat/longboat/internal/cli"
)

// printFlags choose where consume starts, when it stops and how it prints.
type printFlags struct {
	format, offset, timestamp, group string
	count                            int
	exitAtEnd                        bool
}

// recordDoc is a record as --output json prints it, one object a line.
type recordDoc struct {
	Topic     string            `json:"topic"`
	Partition int32             `json:"partition"`
	Offset    int64             `json:"offset"`
	Timestamp int64             `json:"timestamp_ms"`
	Key       string            `json:"key"`
	Value     string            `json:"value"`
	Headers   map[string]string `json:"headers,omitempty"`
}

// consumePrint prints records with kgo, from --offset, --timestamp or the
// group's committed offsets, until --count records, the end (--exit-at-end),
// --timeout or Ctrl-C.
func consumePrint(cf *clientFlags, topic string, partition int32, pf printFlags, s *stdio) error {
	f, err := cf.format()
	if err != nil {
		return err
	}
	rf, err := cli.ParseRecordFormat(pf.format)
	if err != nil {
		return usageError{err}
	}
	start, err := startOffset(pf)
	if err != nil {
		return err
	}
	if pf.group != "" && partition >= 0 {
		return usagef("--group and --partition do not go together: the group assigns partitions")
	}
	ctx, cancel := clientContext(cf.timeout)
	defer cancel()

	base, err := cf.clientOpts()
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(base...)
	if err != nil {
		return usagef("--bootstrap-server %q: %w", cf.bootstrap, err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	sel := topicSel{Topic: topic}
	if partition >= 0 {
		sel.Partitions = []int32{partition}
	}
	set, err := resolve(ctx, adm, []topicSel{sel})
	if err != nil {
		return cf.explain(err)
	}
	// Until the end as of now: each partition's start position and end.
	var pending map[int32]int64
	if pf.exitAtEnd {
		if pending, err = unreadEnds(ctx, adm, set, topic, pf); err != nil {
			return cf.explain(err)
		}
	}

	opts := append(base, kgo.ConsumeResetOffset(start), kgo.ClientID("longboat-consume"))
	switch {
	case pf.group != "":
		// Commit only what was printed: a poll can return more than --count.
		opts = append(opts, kgo.ConsumerGroup(pf.group), kgo.ConsumeTopics(topic), kgo.AutoCommitMarks())
	case partition >= 0:
		opts = append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {partition: start}}))
	default:
		opts = append(opts, kgo.ConsumeTopics(topic))
	}
	cons, err := kgo.NewClient(opts...)
	if err != nil {
		return usagef("%w", err)
	}
	defer cons.Close()

	out := bufio.NewWriter(s.out)
	printed := 0
	var buf []byte
	finished := func() bool {
		return (pf.count > 0 && printed >= pf.count) || (pf.exitAtEnd && len(pending) == 0)
	}
	for !finished() {
		fetches := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			break
		}
		var ferr error
		fetches.EachError(func(t string, p int32, err error) {
			ferr = firstErr(ferr, fmt.Errorf("%s partition %d: %w", t, p, err))
		})
		if ferr != nil {
			out.Flush()
			return cf.explain(ferr)
		}
		for it := fetches.RecordIter(); !it.Done() && !(pf.count > 0 && printed >= pf.count); {
			r := it.Next()
			buf = appendRecord(buf[:0], f, rf, r)
			out.Write(buf)
			printed++
			cons.MarkCommitRecords(r)
			if end, ok := pending[r.Partition]; ok && r.Offset+1 >= end {
				delete(pending, r.Partition)
			}
		}
		if err := out.Flush(); err != nil {
			return err
		}
	}
	if pf.group != "" {
		if err := cons.CommitMarkedOffsets(context.WithoutCancel(ctx)); err != nil {
			return fmt.Errorf("commit offsets of group %s: %w", pf.group, err)
		}
	}
	fmt.Fprintf(s.err, "consume: %d records\n", printed)
	if !finished() && (pf.count > 0 || pf.exitAtEnd) {
		return fmt.Errorf("stopped after %d records (%w) before --count or the end was reached", printed, context.Cause(ctx))
	}
	return nil
}

func appendRecord(b []byte, f cli.Format, rf *cli.RecordFormat, r *kgo.Record) []byte {
	if f == cli.JSON {
		d := recordDoc{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp.UnixMilli(), Key: string(r.Key), Value: string(r.Value)}
		if len(r.Headers) > 0 {
			d.Headers = map[string]string{}
			for _, h := range r.Headers {
				d.Headers[h.Key] = string(h.Value)
			}
		}
		j, _ := json.Marshal(d)
		return append(append(b, j...), '\n')
	}
	cr := cli.Record{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Key: r.Key, Value: r.Value, Timestamp: r.Timestamp}
	for _, h := range r.Headers {
		cr.Headers = append(cr.Headers, cli.Header{Key: h.Key, Value: h.Value})
	}
	return rf.Append(b, &cr)
}

func startOffset(pf printFlags) (kgo.Offset, error) {
	if pf.timestamp != "" {
		ms, err := parseTime(pf.timestamp)
		if err != nil {
			return kgo.Offset{}, err
		}
		return kgo.NewOffset().AfterMilli(ms), nil
	}
	switch pf.offset {
	case "beginning":
		return kgo.NewOffset().AtStart(), nil
	case "end":
		return kgo.NewOffset().AtEnd(), nil
	}
	n, err := strconv.ParseInt(pf.offset, 10, 64)
	if err != nil || n < 0 {
		return kgo.Offset{}, usagef("--offset %q: use beginning, end or an offset of 0 or more", pf.offset)
	}
	return kgo.NewOffset().At(n), nil
}

func parseTime(s string) (int64, error) {
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return ms, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return 0, usagef("--timestamp %q: want RFC3339 (2026-12-02T09:00:00Z) or Unix milliseconds", s)
	}
	return t.UnixMilli(), nil
}

// unreadEnds returns, for each partition with records between where this
// consume starts and its end now, that end.
func unreadEnds(ctx context.Context, adm *kadm.Client, set kadm.TopicsSet, topic string, pf printFlags) (map[int32]int64, error) {
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	var from kadm.ListedOffsets
	switch {
	case pf.timestamp != "":
		ms, _ := parseTime(pf.timestamp)
		from, err = adm.ListOffsetsAfterMilli(ctx, ms, topic)
	default:
		from, err = adm.ListStartOffsets(ctx, topic)
	}
	if err != nil {
		return nil, err
	}
	var committed kadm.OffsetResponses
	if pf.group != "" {
		if committed, err = adm.FetchOffsets(ctx, pf.group); err != nil {
			return nil, fmt.Errorf("committed offsets of group %s: %w", pf.group, err)
		}
	}
	pending := map[int32]int64{}
	for _, p := range set.Sorted()[0].Partitions {
		end, err := offsetAt(ends, topic, p)
		if err != nil {
			return nil, err
		}
		pos, err := offsetAt(from, topic, p)
		if err != nil {
			return nil, err
		}
		switch n, perr := strconv.ParseInt(pf.offset, 10, 64); {
		case pf.timestamp != "" && pos < 0:
			pos = end
		case pf.timestamp != "":
		case pf.offset == "end":
			pos = end
		case perr == nil:
			pos = max(pos, n)
		}
		if c, ok := committed.Lookup(topic, p); ok && c.Err == nil && c.At >= 0 {
			pos = c.At
		}
		if pos < end {
			pending[p] = end
		}
	}
	return pending, nil
}

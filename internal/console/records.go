package console

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	defaultRecords = 20
	maxRecords     = 200
	// maxShownBytes cuts a long key, value or header in the table; the
	// page says how many bytes there were.
	maxShownBytes = 2048
)

// shown is a key, value or header value as the page prints it: text when
// it is printable UTF-8, else hex.
type shown struct {
	Null bool
	Hex  bool
	Text string
	Len  int
	Cut  bool
}

func show(b []byte, null bool) shown {
	s := shown{Null: null, Len: len(b)}
	if null {
		return s
	}
	if len(b) > maxShownBytes {
		b, s.Cut = b[:maxShownBytes], true
	}
	if printable(b) {
		s.Text = string(b)
	} else {
		s.Hex, s.Text = true, hex.EncodeToString(b)
	}
	return s
}

func printable(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if !unicode.IsPrint(r) && !unicode.IsSpace(r) {
			return false
		}
	}
	return true
}

type headerShown struct {
	Key   string
	Value shown
}

type recordRow struct {
	Offset    int64
	Timestamp time.Time
	Key       shown
	Value     shown
	Headers   []headerShown
}

type recordsData struct {
	Topic      string
	Partition  int32
	Partitions []int32
	LogStart   int64
	LogEnd     int64
	From       int64
	Limit      int
	Records    []recordRow
	Prev, Next int64 // -1: no such page
	Latest     bool
}

// records reads up to limit records of one partition from offset (default:
// the latest limit records) through a short-lived consumer on this
// broker's own listener: the Fetch path clients use, so what the page shows
// is what a consumer gets, with no second read path to keep in step.
func (c *Console) records(ctx context.Context, r *http.Request) (string, any, error) {
	name := r.PathValue("topic")
	q := r.URL.Query()
	d := recordsData{Topic: name, Limit: defaultRecords, Prev: -1, Next: -1}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxRecords {
			return "", nil, badRequest("limit %q: give 1 to %d", v, maxRecords)
		}
		d.Limit = n
	}
	if v := q.Get("partition"); v != "" {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || n < 0 {
			return "", nil, badRequest("partition %q: give a partition number", v)
		}
		d.Partition = int32(n)
	}
	tds, err := c.adm.ListTopics(ctx, name)
	if err != nil {
		return "", nil, fmt.Errorf("describe topic: %w", err)
	}
	td, ok := tds[name]
	if !ok || td.Err != nil {
		return "", nil, notFound("topic %q: %v", name, firstErr(td.Err, "no such topic"))
	}
	if _, ok := td.Partitions[d.Partition]; !ok {
		return "", nil, notFound("topic %q has no partition %d", name, d.Partition)
	}
	for _, pd := range td.Partitions.Sorted() {
		d.Partitions = append(d.Partitions, pd.Partition)
	}
	one := kadm.TopicsSet{}
	one.Add(name, d.Partition)
	starts, ends, err := c.offsets(ctx, one)
	if err != nil {
		return "", nil, err
	}
	so, sok := starts.Lookup(name, d.Partition)
	eo, eok := ends.Lookup(name, d.Partition)
	if !sok || !eok || so.Err != nil || eo.Err != nil {
		return "", nil, fmt.Errorf("offsets of %s/%d: %v", name, d.Partition, firstErr(so.Err, firstErr(eo.Err, "its leader did not answer")))
	}
	d.LogStart, d.LogEnd = so.Offset, eo.Offset
	d.From = max(d.LogStart, d.LogEnd-int64(d.Limit))
	d.Latest = true
	if v := q.Get("offset"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return "", nil, badRequest("offset %q: give an offset of 0 or more", v)
		}
		d.From, d.Latest = min(max(n, d.LogStart), d.LogEnd), false
	}
	if d.From > d.LogStart {
		d.Prev = max(d.LogStart, d.From-int64(d.Limit))
	}
	if d.From+int64(d.Limit) < d.LogEnd {
		d.Next = d.From + int64(d.Limit)
	}
	if d.From < d.LogEnd {
		want := min(int64(d.Limit), d.LogEnd-d.From)
		if d.Records, err = c.read(ctx, name, d.Partition, d.From, d.LogEnd, int(want)); err != nil {
			return "", nil, err
		}
	}
	return "Records of " + name, d, nil
}

// read fetches want records from offset, stopping early at end (fewer
// when the log has gaps, as after compaction or transaction markers).
func (c *Console) read(ctx context.Context, topic string, partition int32, offset, end int64, want int) ([]recordRow, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.cfg.Seed), kgo.DialTLSConfig(c.cfg.TLS), kgo.ClientID("longboat-console"),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {partition: kgo.NewOffset().At(offset)}}),
		kgo.FetchMaxWait(200*time.Millisecond), kgo.FetchIsolationLevel(kgo.ReadUncommitted()))
	if err != nil {
		return nil, fmt.Errorf("consumer: %w", err)
	}
	defer cl.Close()
	var rows []recordRow
	for len(rows) < want && (len(rows) == 0 || rows[len(rows)-1].Offset < end-1) {
		fs := cl.PollRecords(ctx, want-len(rows))
		if err := ctx.Err(); err != nil {
			if len(rows) == 0 {
				return nil, fmt.Errorf("no record of %s/%d from offset %d within the page's time: %w", topic, partition, offset, err)
			}
			// The records read so far are the page; the rest of the range
			// holds gaps or transaction markers, or came too late.
			break
		}
		for _, e := range fs.Errors() {
			return nil, fmt.Errorf("fetch %s/%d at %d: %w", topic, partition, offset, e.Err)
		}
		for _, rec := range fs.Records() {
			row := recordRow{Offset: rec.Offset, Timestamp: rec.Timestamp, Key: show(rec.Key, rec.Key == nil), Value: show(rec.Value, rec.Value == nil)}
			for _, h := range rec.Headers {
				row.Headers = append(row.Headers, headerShown{Key: h.Key, Value: show(h.Value, h.Value == nil)})
			}
			rows = append(rows, row)
		}
	}
	return rows, nil
}

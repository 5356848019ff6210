package integration

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/config"
	"github.com/longboat/longboat/internal/partition"
	"github.com/longboat/longboat/internal/testcluster"
	"github.com/longboat/longboat/internal/testutil"
)

// lifecycleCluster starts three brokers that check retention every 200 ms,
// allow 4 KiB segments and snapshot often, so a returning broker catches
// up by snapshot.
func lifecycleCluster(t *testing.T) *testcluster.Cluster {
	return testcluster.Start(t, testcluster.Options{Nodes: 3, Adjust: func(cfg *config.Config) {
		cfg.RetentionCheckInterval = 200 * time.Millisecond
		cfg.MinSegmentBytes = 4096
		cfg.SnapshotEntries = 20
		cfg.CompactionOverheadEntries = 5
	}})
}

// replicas returns every running broker's replica of topic's partition 0.
func replicas(t *testing.T, c *testcluster.Cluster, topic string) map[int]*partition.StateMachine {
	t.Helper()
	out := map[int]*partition.StateMachine{}
	for i, b := range c.Brokers {
		if b == nil {
			continue
		}
		if p, ok := b.Node.PartitionByName(topic, 0); ok {
			out[i] = p
		}
	}
	return out
}

// waitLogStart waits until every running replica of topic/0 has the same
// log start offset satisfying ok, and returns it.
func waitLogStart(t *testing.T, c *testcluster.Cluster, topic string, ok func(int64) bool) int64 {
	t.Helper()
	var start int64
	testutil.Eventually(t, 30*time.Second, func() error {
		starts := map[int64]int{}
		reps := replicas(t, c, topic)
		for _, p := range reps {
			starts[p.LogStartOffset()]++
		}
		if len(reps) == 3 && len(starts) == 1 {
			for s := range starts {
				if ok(s) {
					start = s
					return nil
				}
			}
		}
		return fmt.Errorf("%s: log start offsets by value %v (replicas %d) not settled", topic, starts, len(reps))
	})
	return start
}

func createWithConfigs(t *testing.T, adm *kadm.Client, topic string, configs map[string]*string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := adm.CreateTopic(ctx, 1, 3, configs, topic)
	if err != nil || resp.Err != nil {
		t.Fatalf("create %s: %v %v", topic, err, resp.Err)
	}
}

func str(s string) *string { return &s }

// produceValues sends n records of size bytes each (a unique name, then
// padding) with the given timestamp (zero: now), ten per request, records
// each acknowledged value in acked by offset and returns the offsets.
func produceValues(t *testing.T, cl *kgo.Client, acked map[int64]string, topic string, n, size int, ts time.Time) []int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var offsets []int64
	for i := 0; i < n; i += 10 {
		var rs []*kgo.Record
		for j := i; j < min(i+10, n); j++ {
			v := make([]byte, size)
			copy(v, fmt.Sprintf("%s-%d-%d;", topic, time.Now().UnixNano(), j))
			rs = append(rs, &kgo.Record{Topic: topic, Value: v, Timestamp: ts})
		}
		res := cl.ProduceSync(ctx, rs...)
		if err := res.FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
		for _, r := range res {
			offsets = append(offsets, r.Record.Offset)
			acked[r.Record.Offset] = name(r.Record.Value)
		}
	}
	return offsets
}

// name is a produced value without its padding.
func name(v []byte) string {
	for i, b := range v {
		if b == ';' {
			return string(v[:i])
		}
	}
	return string(v)
}

// consumeFrom reads topic/0 from offset to end and returns the offsets
// and values read.
func consumeFrom(t *testing.T, seeds []string, topic string, from, end int64) map[int64]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := newClient(t, seeds, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().At(from)}}))
	out := map[int64]string{}
	for int64(len(out)) < end-from {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%s: read %d of %d records from %d", topic, len(out), end-from, from)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Logf("fetch %s from %d: %v", topic, from, err) })
		fs.EachRecord(func(r *kgo.Record) { out[r.Offset] = name(r.Value) })
	}
	return out
}

// fetchAt sends one Fetch for topic/0 at offset to the partition leader
// and returns its error code and log start offset.
func fetchAt(t *testing.T, cl *kgo.Client, topic string, offset int64) (int16, int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	adm := kadm.NewClient(cl)
	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	leader := md.Topics[topic].Partitions[0].Leader
	req := kmsg.NewPtrFetchRequest()
	req.MaxBytes, req.MaxWaitMillis = 1<<20, 0
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = topic, md.Topics[topic].ID
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.FetchOffset, rp.PartitionMaxBytes = offset, 1<<20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl.Broker(int(leader)))
	if err != nil {
		t.Fatal(err)
	}
	p := resp.Topics[0].Partitions[0]
	return p.ErrorCode, p.LogStartOffset
}

func TestTopicConfigsAlterAndDescribe(t *testing.T) {
	c := sharedCluster(t)
	adm := kadm.NewClient(newClient(t, c.Addrs()))
	ctx := context.Background()
	createWithConfigs(t, adm, "cfg", map[string]*string{"retention.ms": str("3600000")})
	describe := func() map[string]kadm.Config {
		t.Helper()
		rcs, err := adm.DescribeTopicConfigs(ctx, "cfg")
		if err != nil {
			t.Fatal(err)
		}
		rc, err := rcs.On("cfg", nil)
		if err != nil || rc.Err != nil {
			t.Fatalf("describe: %v %v", err, rc.Err)
		}
		out := map[string]kadm.Config{}
		for _, c := range rc.Configs {
			out[c.Key] = c
		}
		return out
	}
	expect := func(got map[string]kadm.Config, name, value string, src kmsg.ConfigSource) {
		t.Helper()
		if c := got[name]; c.MaybeValue() != value || c.Source != src {
			t.Errorf("%s = %q (source %v), want %q (%v)", name, c.MaybeValue(), c.Source, value, src)
		}
	}
	got := describe()
	expect(got, "retention.ms", "3600000", kmsg.ConfigSourceDynamicTopicConfig)
	expect(got, "retention.bytes", "1073741824", kmsg.ConfigSourceStaticBrokerConfig)
	expect(got, "segment.bytes", "1073741824", kmsg.ConfigSourceDefaultConfig)
	expect(got, "cleanup.policy", "delete", kmsg.ConfigSourceDefaultConfig)

	// IncrementalAlterConfigs: set one, delete another.
	resp, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "segment.bytes", Value: str("2097152")},
		{Op: kadm.DeleteConfig, Name: "retention.ms"},
		{Op: kadm.SetConfig, Name: "message.timestamp.type", Value: str("LogAppendTime")},
	}, "cfg")
	if err != nil || resp[0].Err != nil {
		t.Fatalf("incremental alter: %v %+v", err, resp)
	}
	got = describe()
	expect(got, "segment.bytes", "2097152", kmsg.ConfigSourceDynamicTopicConfig)
	expect(got, "retention.ms", "604800000", kmsg.ConfigSourceDefaultConfig)
	expect(got, "message.timestamp.type", "LogAppendTime", kmsg.ConfigSourceDynamicTopicConfig)

	// AlterConfigs replaces the whole set.
	resp, err = adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: "retention.bytes", Value: str("123456")}}, "cfg")
	if err != nil || resp[0].Err != nil {
		t.Fatalf("alter: %v %+v", err, resp)
	}
	got = describe()
	expect(got, "retention.bytes", "123456", kmsg.ConfigSourceDynamicTopicConfig)
	expect(got, "segment.bytes", "1073741824", kmsg.ConfigSourceDefaultConfig)
	expect(got, "message.timestamp.type", "CreateTime", kmsg.ConfigSourceDefaultConfig)

	// Refused: values Kafka refuses, APPEND to a non-list, unknown names;
	// nothing changes.
	for _, bad := range []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "cleanup.policy", Value: str("compacted")},
		{Op: kadm.AppendConfig, Name: "retention.ms", Value: str("1")},
		{Op: kadm.SetConfig, Name: "segment.bytes", Value: str("65536")},
		{Op: kadm.SetConfig, Name: "retention.ms", Value: str("soon")},
		{Op: kadm.SetConfig, Name: "no.such.config", Value: str("1")},
	} {
		resp, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{bad}, "cfg")
		if err != nil || !errors.Is(resp[0].Err, kerr.InvalidConfig) {
			t.Errorf("%s %s: %v %v, want INVALID_CONFIG", bad.Name, *bad.Value, err, resp[0].Err)
		}
	}
	resp, _ = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: str("1")}}, "missing")
	if !errors.Is(resp[0].Err, kerr.UnknownTopicOrPartition) {
		t.Errorf("alter unknown topic: %v", resp[0].Err)
	}
	expect(describe(), "cleanup.policy", "delete", kmsg.ConfigSourceDefaultConfig)
	// Creating with compaction is accepted (retention leaves such a topic alone).
	cr, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"cleanup.policy": str("compact")}, "compacted")
	if err != nil || cr.Err != nil {
		t.Errorf("create compacted topic: %v %v", err, cr.Err)
	}
}

func TestRetentionAndDeleteRecords(t *testing.T) {
	t.Parallel()
	c := lifecycleCluster(t)
	seeds := c.Addrs()
	// Uncompressed, so the padding fills segments as the sizes say.
	cl := newClient(t, seeds, kgo.ProducerBatchCompression(kgo.NoCompression()))
	adm := kadm.NewClient(cl)
	ctx := context.Background()

	t.Run("by size", func(t *testing.T) {
		acked := map[int64]string{}
		createWithConfigs(t, adm, "bysize", map[string]*string{"segment.bytes": str("4096")})
		offsets := produceValues(t, cl, acked, "bysize", 200, 200, time.Time{})
		end := offsets[len(offsets)-1] + 1
		before := map[int]int64{}
		for i, p := range replicas(t, c, "bysize") {
			waitHighWatermark(t, p, end, 10*time.Second)
			before[i] = p.LogSize()
		}
		if _, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.bytes", Value: str("10000")}}, "bysize"); err != nil {
			t.Fatal(err)
		}
		start := waitLogStart(t, c, "bysize", func(s int64) bool { return s > 0 })
		for i, p := range replicas(t, c, "bysize") {
			// A replica publishes the new log start before it has deleted
			// the segments below it (checkpoint first), so wait a little.
			var size int64
			_ = testutil.Poll(5*time.Second, func() error {
				if size = p.LogSize(); size > 10000+4096 {
					return errors.New("segments below the log start not deleted yet")
				}
				return nil
			})
			t.Logf("broker %d: %d bytes before, %d after; log start %d of %d", i+1, before[i], size, start, end)
			if size > 10000+4096 || size >= before[i] {
				t.Errorf("broker %d holds %d bytes (was %d) with retention.bytes 10000", i+1, size, before[i])
			}
		}
		checkRetained(t, c, cl, acked, "bysize", start, end)
	})

	t.Run("segment settings altered on a live topic", func(t *testing.T) {
		acked := map[int64]string{}
		createWithConfigs(t, adm, "roll", nil)
		produceValues(t, cl, acked, "roll", 20, 200, time.Time{})
		if n := minSegments(t, c, "roll"); n != 1 {
			t.Fatalf("%d segments before any change, want 1", n)
		}
		if _, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "segment.bytes", Value: str("4096")}}, "roll"); err != nil {
			t.Fatal(err)
		}
		waitConfig(t, c, "roll", "segment.bytes", "4096")
		produceValues(t, cl, acked, "roll", 100, 200, time.Time{})
		bySize := minSegments(t, c, "roll")
		if bySize < 4 {
			t.Fatalf("%d segments after segment.bytes 4096 and 20 KB more, want several", bySize)
		}
		// segment.ms: the next append rolls a segment whose first batch is older.
		if _, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "segment.bytes", Value: str("1048576")}, {Op: kadm.SetConfig, Name: "segment.ms", Value: str("1")}}, "roll"); err != nil {
			t.Fatal(err)
		}
		waitConfig(t, c, "roll", "segment.ms", "1")
		// One batch a request; allow a few for the loop to apply the change.
		var offsets []int64
		for tries := 0; minSegments(t, c, "roll") < bySize+3; tries++ {
			if tries == 20 {
				t.Fatalf("%d segments after 20 appends with segment.ms 1, want %d", minSegments(t, c, "roll"), bySize+3)
			}
			// Let segment.ms (1 ms) pass since the segment's first batch.
			time.Sleep(5 * time.Millisecond)
			offsets = produceValues(t, cl, acked, "roll", 1, 10, time.Time{})
		}
		checkRetained(t, c, cl, acked, "roll", 0, offsets[len(offsets)-1]+1)
	})

	t.Run("by time", func(t *testing.T) {
		acked := map[int64]string{}
		createWithConfigs(t, adm, "bytime", map[string]*string{"segment.bytes": str("4096")})
		old := produceValues(t, cl, acked, "bytime", 100, 200, time.Now().Add(-time.Hour))
		fresh := produceValues(t, cl, acked, "bytime", 30, 200, time.Time{})
		end := fresh[len(fresh)-1] + 1
		if _, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: str("600000")}}, "bytime"); err != nil {
			t.Fatal(err)
		}
		start := waitLogStart(t, c, "bytime", func(s int64) bool { return s > 0 })
		// Whole segments only: the segment holding the first fresh record
		// stays, so nothing fresh is lost, and only old records went.
		if start > fresh[0] || start < old[0]+1 {
			t.Fatalf("log start %d: want within (%d, %d]", start, old[0], fresh[0])
		}
		checkRetained(t, c, cl, acked, "bytime", start, end)
	})

	t.Run("delete records", func(t *testing.T) {
		acked := map[int64]string{}
		createWithConfigs(t, adm, "delrec", map[string]*string{"segment.bytes": str("4096")})
		offsets := produceValues(t, cl, acked, "delrec", 100, 200, time.Time{})
		end := offsets[len(offsets)-1] + 1
		var os kadm.Offsets
		os.AddOffset("delrec", 0, 37, -1)
		resp, err := adm.DeleteRecords(ctx, os)
		if err != nil {
			t.Fatal(err)
		}
		r, _ := resp.Lookup("delrec", 0)
		if r.Err != nil || r.LowWatermark != 37 {
			t.Fatalf("DeleteRecords: low watermark %d, %v", r.LowWatermark, r.Err)
		}
		waitLogStart(t, c, "delrec", func(s int64) bool { return s == 37 })
		checkRetained(t, c, cl, acked, "delrec", 37, end)
		// Past the end is refused; -1 means the high watermark.
		os = nil
		os.AddOffset("delrec", 0, end+1, -1)
		resp, _ = adm.DeleteRecords(ctx, os)
		if r, _ := resp.Lookup("delrec", 0); !errors.Is(r.Err, kerr.OffsetOutOfRange) {
			t.Errorf("delete past the end: %v", r.Err)
		}
		os = nil
		os.AddOffset("delrec", 0, -1, -1)
		resp, _ = adm.DeleteRecords(ctx, os)
		if r, _ := resp.Lookup("delrec", 0); r.Err != nil || r.LowWatermark != end {
			t.Errorf("delete all: %d %v", r.LowWatermark, r.Err)
		}
		waitLogStart(t, c, "delrec", func(s int64) bool { return s == end })
	})

	t.Run("broker down through a retention pass catches up by snapshot", func(t *testing.T) {
		acked := map[int64]string{}
		createWithConfigs(t, adm, "away", map[string]*string{"segment.bytes": str("4096")})
		produceValues(t, cl, acked, "away", 50, 200, time.Time{})
		c.StopBroker(2)
		live := newClient(t, seeds[:2], kgo.ProducerBatchCompression(kgo.NoCompression()))
		liveAdm := kadm.NewClient(live)
		offsets := produceValues(t, live, acked, "away", 300, 200, time.Time{}) // 30 entries: beyond what the Raft log keeps
		end := offsets[len(offsets)-1] + 1
		if _, err := liveAdm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.bytes", Value: str("20000")}}, "away"); err != nil {
			t.Fatal(err)
		}
		var lead int64
		testutil.Eventually(t, 30*time.Second, func() error {
			for _, p := range replicas(t, c, "away") {
				lead = max(lead, p.LogStartOffset())
			}
			if lead == 0 {
				return errors.New("retention never ran while broker 3 was down")
			}
			return nil
		})
		c.StartBroker(2)
		c.WaitReady(60 * time.Second)
		start := waitLogStart(t, c, "away", func(s int64) bool { return s >= lead })
		if n := c.Brokers[2].Node.Events.SnapshotsReceived.Load(); n == 0 {
			t.Fatal("broker 3 caught up without a snapshot")
		}
		p := replicas(t, c, "away")[2]
		waitHighWatermark(t, p, end, 30*time.Second)
		if p.HighWatermark() != end || p.LogSize() > 20000+4096 {
			t.Fatalf("broker 3 after catching up: hw %d (want %d), %d bytes", p.HighWatermark(), end, p.LogSize())
		}
		checkRetained(t, c, cl, acked, "away", start, end)
	})
}

// waitConfig waits until every broker's __meta replica holds a topic config
// value; its lifecycle loop applies it to the replicas at once.
func waitConfig(t *testing.T, c *testcluster.Cluster, topic, name, value string) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, func() error {
		for i, b := range c.Brokers {
			if got := b.Node.Meta().Topics[topic].Configs[name]; got != value {
				return fmt.Errorf("%s %s=%q on broker %d, want %q", topic, name, got, i+1, value)
			}
		}
		return nil
	})
}

// minSegments waits until every replica of topic/0 has applied what the
// first has and returns the fewest segment files any replica holds.
func minSegments(t *testing.T, c *testcluster.Cluster, topic string) int {
	t.Helper()
	reps := replicas(t, c, topic)
	hw := int64(0)
	for _, p := range reps {
		hw = max(hw, p.HighWatermark())
	}
	fewest := -1
	for i, p := range reps {
		waitHighWatermark(t, p, hw, 10*time.Second)
		files, err := filepath.Glob(filepath.Join(c.Configs[i].DataDir, "partitions", fmt.Sprint(p.ShardID), "log", "*.log"))
		if err != nil {
			t.Fatal(err)
		}
		if fewest < 0 || len(files) < fewest {
			fewest = len(files)
		}
	}
	return fewest
}

// checkRetained asserts what every broker must now answer for topic/0:
// ListOffsets earliest is the log start, a fetch below it is
// OFFSET_OUT_OF_RANGE with the log start, and everything from it to end
// reads back with the values produced at those offsets.
func checkRetained(t *testing.T, c *testcluster.Cluster, cl *kgo.Client, acked map[int64]string, topic string, start, end int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, addr := range c.Addrs() {
		adm := kadm.NewClient(newClient(t, []string{addr}))
		starts, err := adm.ListStartOffsets(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		if o, _ := starts.Lookup(topic, 0); o.Err != nil || o.Offset != start {
			t.Errorf("ListOffsets earliest via %s: %d %v, want %d", addr, o.Offset, o.Err, start)
		}
	}
	if start > 0 {
		if code, lso := fetchAt(t, cl, topic, start-1); code != kerr.OffsetOutOfRange.Code || lso != start {
			t.Errorf("fetch at %d: code %d log start %d, want OFFSET_OUT_OF_RANGE and %d", start-1, code, lso, start)
		}
	}
	got := consumeFrom(t, c.Addrs(), topic, start, end)
	for off := start; off < end; off++ {
		if v, ok := got[off]; !ok || v != acked[off] {
			t.Fatalf("%s offset %d: read %q, acknowledged %q", topic, off, v, acked[off])
		}
	}
}

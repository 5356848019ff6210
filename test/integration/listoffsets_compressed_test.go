package integration

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// kcatOffsetForTime asks `kcat -Q` for the offset of the first record of
// topic/0 with timestamp >= ts.
func kcatOffsetForTime(t *testing.T, addrs []string, topic string, ts int64) int64 {
	t.Helper()
	out, _ := runKcat(t, 20*time.Second, nil, "-Q", "-b", strings.Join(addrs, ","), "-t", fmt.Sprintf("%s:0:%d", topic, ts))
	// "<topic> [0] offset <n>"
	f := strings.Fields(out)
	if len(f) < 4 || f[2] != "offset" {
		t.Fatalf("kcat -Q: unexpected output %q", out)
	}
	off, err := strconv.ParseInt(f[3], 10, 64)
	if err != nil {
		t.Fatalf("kcat -Q: %q: %v", out, err)
	}
	return off
}

// checkOffsetsForTimes asks franz-go (kadm) and kcat for the offset of each
// record's timestamp and of one millisecond before it: both must name that
// record, not its batch's first one.
func checkOffsetsForTimes(t *testing.T, addrs []string, topic string, stamps []int64) {
	t.Helper()
	adm := kadm.NewClient(newClient(t, addrs))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i, ts := range stamps {
		for _, q := range []int64{ts - 1, ts} {
			res, err := adm.ListOffsetsAfterMilli(ctx, q, topic)
			if err != nil {
				t.Fatal(err)
			}
			lo, _ := res.Lookup(topic, 0)
			if lo.Err != nil || lo.Offset != int64(i) || lo.Timestamp != ts {
				t.Fatalf("%s: ListOffsets(%d) = offset %d ts %d (%v); want record %d at %d", topic, q, lo.Offset, lo.Timestamp, lo.Err, i, ts)
			}
			if got := kcatOffsetForTime(t, addrs, topic, q); got != int64(i) {
				t.Fatalf("%s: kcat -Q at %d: offset %d, want %d", topic, q, got, i)
			}
		}
	}
}

// TestListOffsetsInsideCompressedBatch: ListOffsets by timestamp finds the
// record inside a compressed batch (the broker decompresses it, as
// Kafka's does), for a batch of each codec written by franz-go with
// distinct record timestamps, asked by franz-go (kadm) and by kcat -Q
// (librdkafka). kcat does not produce here: it cannot set a record's
// timestamp, and the ones librdkafka stamps while reading stdin came out
// equal in bursts on a loaded machine.
func TestListOffsetsInsideCompressedBatch(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	kcatPath(t)
	addrs := sharedCluster(t).Addrs()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	base := time.Now().Add(-time.Hour).UnixMilli()
	for id, codec := range map[int16]kgo.CompressionCodec{1: kgo.GzipCompression(), 2: kgo.SnappyCompression(), 3: kgo.Lz4Compression(), 4: kgo.ZstdCompression()} {
		topic := fmt.Sprintf("ts-compressed-%d", id)
		createTopic(t, addrs, topic, 1, 1)
		cl := newClient(t, addrs, kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(codec))
		var rs []*kgo.Record
		var stamps []int64
		for i := 0; i < 8; i++ {
			ts := base + int64(i)*10
			stamps = append(stamps, ts)
			rs = append(rs, &kgo.Record{Timestamp: time.UnixMilli(ts), Value: fmt.Appendf(nil, "record %d %s", i, strings.Repeat("x", 200))})
		}
		if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if got := storedCodecs(t, addrs, topic); len(got) != 1 || got[id] != 1 {
			t.Fatalf("%s: stored batches per codec %v, want one batch of codec %d", topic, got, id)
		}
		checkOffsetsForTimes(t, addrs, topic, stamps)
	}
}

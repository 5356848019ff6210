package kafka_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/config"
)

// TestCompressionType: the partition leader stores batches with the
// topic's compression.type (the broker's --compression-type when the topic
// sets none), whatever codec the producer used, and consumers read the
// producer's records unchanged; compacted topics refuse keyless records in
// compressed batches.
func TestCompressionType(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	e := newAdminEnv(t, func(cfg *config.Config) { cfg.CompressionType = "lz4" },
		kgo.ProducerBatchCompression(kgo.SnappyCompression()), kgo.ProducerLinger(0))
	ctx := ctxT(t, 90*time.Second)
	// topic -> its compression.type (none: the broker's lz4) and the codec
	// a consumer must see on its batches (snappy: the producer's).
	cases := []struct {
		topic, own string
		want       kgo.CompressionCodecType
	}{
		{"ct-zstd", "zstd", kgo.CodecZstd},
		{"ct-broker", "", kgo.CodecLz4},
		{"ct-producer", "producer", kgo.CodecSnappy},
		{"ct-uncompressed", "uncompressed", kgo.CodecNone},
		{"ct-gzip", "gzip", kgo.CodecGzip},
	}
	for _, c := range cases {
		cfgs := map[string]*string{}
		if c.own != "" {
			cfgs["compression.type"] = sp(c.own)
		}
		if c.own == "gzip" {
			cfgs["compression.gzip.level"] = sp("1")
		}
		if _, err := e.adm.CreateTopic(ctx, 1, 3, cfgs, c.topic); err != nil {
			t.Fatalf("create %s: %v", c.topic, err)
		}
	}
	for _, c := range cases {
		sent := produceMixed(t, ctx, e.cl, c.topic, 120)
		got := consumeAll(t, ctx, e.c.Addrs(), c.topic, len(sent))
		for i, r := range got {
			if codec := r.Attrs.CompressionType(); codec != uint8(c.want) {
				t.Fatalf("%s offset %d: stored with codec %d, want %d", c.topic, r.Offset, codec, c.want)
			}
			s := sent[i]
			if r.Offset != s.Offset || !bytes.Equal(r.Key, s.Key) || !bytes.Equal(r.Value, s.Value) ||
				r.Timestamp.UnixMilli() != s.Timestamp.UnixMilli() || fmt.Sprint(r.Headers) != fmt.Sprint(s.Headers) {
				t.Fatalf("%s record %d: read %+v, sent %+v", c.topic, i, r, s)
			}
		}
	}
	// The broker default shows as compression.type's static broker synonym.
	got := e.describeConfigs(t, kmsg.ConfigResourceTypeTopic, "ct-broker")["compression.type"]
	if value(got) != "lz4" || got.Source != kmsg.ConfigSourceStaticBrokerConfig || len(got.ConfigSynonyms) != 2 ||
		got.ConfigSynonyms[0].Name != "compression.type" || deref(got.ConfigSynonyms[0].Value) != "lz4" ||
		got.ConfigSynonyms[0].Source != kmsg.ConfigSourceStaticBrokerConfig || deref(got.ConfigSynonyms[1].Value) != "producer" {
		t.Fatalf("ct-broker compression.type: %q from %v, synonyms %+v", value(got), got.Source, got.ConfigSynonyms)
	}

	t.Run("CompactedRefusesKeylessCompressed", func(t *testing.T) {
		if _, err := e.adm.CreateTopic(ctx, 1, 3, map[string]*string{"cleanup.policy": sp("compact")}, "ct-compact"); err != nil {
			t.Fatal(err)
		}
		err := e.cl.ProduceSync(ctx, &kgo.Record{Topic: "ct-compact", Value: []byte("no key")}).FirstErr()
		if !errors.Is(err, kerr.InvalidRecord) {
			t.Fatalf("keyless record in a snappy batch on a compacted topic: %v, want INVALID_RECORD", err)
		}
		if err := e.cl.ProduceSync(ctx, &kgo.Record{Topic: "ct-compact", Key: []byte("k"), Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatalf("keyed record: %v", err)
		}
	})
	t.Run("Transactional", func(t *testing.T) { testTransactionalRecompressed(t, e) })
	t.Run("Kcat", func(t *testing.T) { testKcatCompression(t, e) })
}

// testTransactionalRecompressed: a transaction's snappy batches are
// stored as zstd with their transactional bit, and a read_committed
// consumer reads the committed records.
func testTransactionalRecompressed(t *testing.T, e *adminEnv) {
	ctx := ctxT(t, 60*time.Second)
	const topic = "ct-zstd" // compression.type=zstd, created above
	tx, err := kgo.NewClient(kgo.SeedBrokers(e.c.Addrs()...), kgo.TransactionalID("ct-txn"),
		kgo.ProducerBatchCompression(kgo.SnappyCompression()), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	if err := tx.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	var sent []string
	for i := 0; i < 20; i++ {
		v := fmt.Sprintf("txn-%d %s", i, strings.Repeat("x", 100))
		sent = append(sent, v)
		if err := tx.ProduceSync(ctx, &kgo.Record{Key: []byte("k"), Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatalf("transactional produce: %v", err)
		}
	}
	if err := tx.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatalf("commit: %v", err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.c.Addrs()...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var got []string
	for len(got) < len(sent) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read_committed: read %d of %d transactional records", len(got), len(sent))
		}
		for _, r := range fs.Records() {
			if !strings.HasPrefix(string(r.Value), "txn-") {
				continue
			}
			if r.Attrs.CompressionType() != uint8(kgo.CodecZstd) || !r.Attrs.IsTransactional() {
				t.Fatalf("offset %d: codec %d, transactional %v; want zstd and transactional", r.Offset, r.Attrs.CompressionType(), r.Attrs.IsTransactional())
			}
			got = append(got, string(r.Value))
		}
	}
	if strings.Join(got, ",") != strings.Join(sent, ",") {
		t.Fatalf("read_committed read %v", got)
	}
}

// produceMixed produces n compressible records with keys, headers and
// distinct timestamps in several batches, and returns them as acknowledged.
func produceMixed(t *testing.T, ctx context.Context, cl *kgo.Client, topic string, n int) []*kgo.Record {
	t.Helper()
	base := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	var out []*kgo.Record
	for b := 0; b < 4; b++ {
		var recs []*kgo.Record
		for i := b * n / 4; i < (b+1)*n/4; i++ {
			recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(fmt.Sprintf("key-%d", i)),
				Value:     []byte(strings.Repeat(fmt.Sprintf("value %d ", i), 20)),
				Headers:   []kgo.RecordHeader{{Key: "h", Value: []byte(fmt.Sprint(i))}},
				Timestamp: base.Add(time.Duration(i) * time.Millisecond)})
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("produce to %s: %v", topic, err)
		}
		out = append(out, recs...)
	}
	return out
}

// consumeAll reads n records of a topic from the start with a new client.
func consumeAll(t *testing.T, ctx context.Context, addrs []string, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var got []*kgo.Record
	for len(got) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%s: read %d of %d records", topic, len(got), n)
		}
		for _, fe := range fs.Errors() {
			t.Fatalf("%s: fetch: %v", topic, fe.Err)
		}
		got = append(got, fs.Records()...)
	}
	return got
}

// testKcatCompression: librdkafka's batches in every codec (its snappy
// framing included) are recompressed to the topic's codec, and kcat reads
// the broker's zstd, snappy (xerial-framed) and lz4 batches back.
func testKcatCompression(t *testing.T, e *adminEnv) {
	if _, err := exec.LookPath("kcat"); err != nil {
		t.Skip("kcat not installed")
	}
	ctx := ctxT(t, 60*time.Second)
	brokers := strings.Join(e.c.Addrs(), ",")
	for _, target := range []struct {
		name  string
		codec kgo.CompressionCodecType
	}{{"zstd", kgo.CodecZstd}, {"snappy", kgo.CodecSnappy}, {"lz4", kgo.CodecLz4}} {
		topic := "ct-kcat-" + target.name
		if _, err := e.adm.CreateTopic(ctx, 1, 3, map[string]*string{"compression.type": sp(target.name)}, topic); err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, codec := range []string{"snappy", "gzip", "lz4", "zstd", "none"} {
			var in bytes.Buffer
			for i := 0; i < 30; i++ {
				line := fmt.Sprintf("%s-%d=%s", codec, i, strings.Repeat(codec, 10))
				in.WriteString(line + "\n")
				want = append(want, line)
			}
			cmd := exec.CommandContext(ctx, "kcat", "-b", brokers, "-P", "-t", topic, "-K", "=", "-z", codec, "-X", "request.required.acks=-1")
			cmd.Stdin = &in
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("kcat -z %s to %s: %v: %s", codec, topic, err, out)
			}
		}
		out, err := exec.CommandContext(ctx, "kcat", "-b", brokers, "-C", "-t", topic, "-o", "beginning", "-e", "-f", "%k=%s\n").Output()
		if err != nil {
			t.Fatalf("kcat -C %s: %v", topic, err)
		}
		if got := strings.TrimSpace(string(out)); got != strings.Join(want, "\n") {
			t.Fatalf("kcat read from %s:\n%s\nwant %d records", topic, got[max(0, len(got)-500):], len(want))
		}
		for _, r := range consumeAll(t, ctx, e.c.Addrs(), topic, len(want)) {
			if r.Attrs.CompressionType() != uint8(target.codec) {
				t.Fatalf("%s offset %d stored with codec %d, want %s", topic, r.Offset, r.Attrs.CompressionType(), target.name)
			}
		}
	}
}

package recordbatch_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/longboat/longboat/internal/recordbatch"
	"github.com/longboat/longboat/internal/recordbatch/batchtest"
)

var kgoCodecs = map[recordbatch.Codec]kgo.CompressionCodec{
	recordbatch.CodecGzip: kgo.GzipCompression(), recordbatch.CodecSnappy: kgo.SnappyCompression(),
	recordbatch.CodecLz4: kgo.Lz4Compression(), recordbatch.CodecZstd: kgo.ZstdCompression(),
}

// TestCodecsAgainstFranzGo decodes what franz-go's compressor writes and
// has franz-go's decompressor decode what Compress writes, for each codec
// and a payload larger than one snappy (xerial) and lz4 block.
func TestCodecsAgainstFranzGo(t *testing.T) {
	src := bytes.Repeat([]byte("longboat records compress "), 10000) // 260 kB
	src = append(src, batchtest.Simple(50, 1, 7)...)
	dec := kgo.DefaultDecompressor()
	for c, kc := range kgoCodecs {
		comp, err := kgo.DefaultCompressor(kc)
		if err != nil {
			t.Fatal(err)
		}
		theirs, used := comp.Compress(new(bytes.Buffer), src)
		if int(used) != int(c) {
			t.Fatalf("franz-go used codec %d, want %d", used, c)
		}
		got, err := recordbatch.Decompress(c, theirs)
		if err != nil || !bytes.Equal(got, src) {
			t.Fatalf("codec %d: decoding franz-go's bytes: %v (equal %v)", c, err, bytes.Equal(got, src))
		}
		for _, lv := range []recordbatch.Levels{{}, {Gzip: 1, Lz4: 1, Zstd: 1}, {Gzip: 9, Lz4: 17, Zstd: 19}} {
			ours, err := recordbatch.Compress(nil, c, lv, src)
			if err != nil {
				t.Fatalf("codec %d levels %+v: %v", c, lv, err)
			}
			back, err := dec.Decompress(ours, kgo.CompressionCodecType(c))
			if err != nil || !bytes.Equal(back, src) {
				t.Fatalf("codec %d levels %+v: franz-go decoding ours: %v", c, lv, err)
			}
			if len(ours) >= len(src)/4 {
				t.Fatalf("codec %d levels %+v: %d bytes from %d, not compressed", c, lv, len(ours), len(src))
			}
		}
	}
}

// TestSnappyRawAndXerial: a raw snappy block (franz-go, sarama) and the
// xerial framing (Java, librdkafka) both decode.
func TestSnappyRawAndXerial(t *testing.T) {
	src := bytes.Repeat([]byte("abc"), 50000)
	xerial, err := recordbatch.Compress(nil, recordbatch.CodecSnappy, recordbatch.Levels{}, src)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(xerial, []byte("\x82SNAPPY\x00")) {
		t.Fatalf("Compress did not frame snappy as xerial: % x", xerial[:8])
	}
	got, err := recordbatch.Decompress(recordbatch.CodecSnappy, xerial)
	if err != nil || !bytes.Equal(got, src) {
		t.Fatalf("xerial: %v", err)
	}
	// A xerial block whose length runs past the end is corrupt, not a panic.
	if _, err := recordbatch.Decompress(recordbatch.CodecSnappy, xerial[:40]); !errors.Is(err, recordbatch.ErrCorrupt) {
		t.Fatalf("cut xerial: %v, want ErrCorrupt", err)
	}
	for c := recordbatch.CodecGzip; c <= recordbatch.CodecZstd; c++ {
		if _, err := recordbatch.Decompress(c, []byte("not compressed at all")); !errors.Is(err, recordbatch.ErrCorrupt) {
			t.Fatalf("codec %d garbage: %v, want ErrCorrupt", c, err)
		}
	}
}

// TestDecompressBomb: records that inflate past the limit are refused.
func TestDecompressBomb(t *testing.T) {
	const limit = 1 << 20
	defer recordbatch.SetMaxDecompressed(limit)()
	zeros := make([]byte, limit+1)
	for c := recordbatch.CodecGzip; c <= recordbatch.CodecZstd; c++ {
		bomb, err := recordbatch.Compress(nil, c, recordbatch.Levels{Gzip: 1, Zstd: 1}, zeros)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := recordbatch.Decompress(c, bomb); !errors.Is(err, recordbatch.ErrTooLarge) {
			t.Fatalf("codec %d: %d compressed bytes inflating past the limit were accepted", c, len(bomb))
		}
	}
}

// TestPrepareClientRecompresses: a batch in another codec than the
// target is rewritten with the target codec; its header fields other
// than codec, length and CRC, and its records, stay.
func TestPrepareClientRecompresses(t *testing.T) {
	const now = 1700000000000
	in := batchtest.Batch{FirstTimestamp: now, TsDeltas: []int64{0, 5, 2}, ProducerID: 7, ProducerEpoch: 3,
		BaseSequence: 11, Sequenced: true, Attributes: recordbatch.AttrTransactional, Gzip: true}.Build()
	plain := batchtest.Simple(3, now, 1)
	set := append(append([]byte{}, in...), plain...)
	rules := recordbatch.ClientRules{NowMs: now, CreateTime: true, TimestampBeforeMaxMs: 1 << 40, TimestampAfterMaxMs: 1 << 40}
	for c := recordbatch.CodecNone; c <= recordbatch.CodecZstd; c++ {
		rules.Target = c
		out, err := recordbatch.PrepareClient(set, rules)
		if err != nil {
			t.Fatalf("target %d: %v", c, err)
		}
		if _, err := recordbatch.Validate(out); err != nil {
			t.Fatalf("target %d: output invalid: %v", c, err)
		}
		var hs []recordbatch.Header
		var bodies [][]byte
		for h, b := range recordbatch.All(out) {
			recs, err := recordbatch.Decompress(h.Codec(), b[recordbatch.HeaderSize:])
			if err != nil {
				t.Fatal(err)
			}
			hs, bodies = append(hs, h), append(bodies, recs)
		}
		if len(hs) != 2 || hs[0].Codec() != c || hs[1].Codec() != c {
			t.Fatalf("target %d: headers %+v", c, hs)
		}
		for i, orig := range [][]byte{in, plain} {
			oh := recordbatch.ParseHeader(orig)
			want, _ := recordbatch.Decompress(oh.Codec(), orig[recordbatch.HeaderSize:])
			if !bytes.Equal(bodies[i], want) {
				t.Fatalf("target %d batch %d: records changed", c, i)
			}
			got := hs[i]
			got.Attributes &^= recordbatch.AttrCompression
			oh.Attributes &^= recordbatch.AttrCompression
			got.Length, got.CRC, oh.Length, oh.CRC = 0, 0, 0, 0
			if got != oh {
				t.Fatalf("target %d batch %d: header %+v, want %+v", c, i, got, oh)
			}
		}
	}
	rules.Target = recordbatch.CodecProducer
	if out, err := recordbatch.PrepareClient(set, rules); err != nil || &out[0] != &set[0] {
		t.Fatalf("producer: %v, or the set was copied", err)
	}
}

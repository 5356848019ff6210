package storage

import (
	"context"
	"fmt"
	"testing"

	"github.com/longboat/longboat/internal/recordbatch"
)

// TestCleanCompressedBatches: batches in every codec are compacted like
// uncompressed ones; a rebuilt batch keeps its codec, and the log shrinks.
func TestCleanCompressedBatches(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{SegmentBytes: 4096})
	for v := 0; v < 40; v++ {
		var recs []kv
		for i := 0; i < 8; i++ {
			k := (v*3 + i) % 20 // keys overlap between batches: survivors spread over several
			recs = append(recs, kv{fmt.Sprintf("k%d", k), fmt.Appendf(nil, "k%d=v%d padding padding padding", k, v)})
		}
		if v%5 == 4 {
			recs[3].value = nil // a tombstone now and then
		}
		codec := recordbatch.Codec(v % 5)
		b, err := recordbatch.Recompress(keyedBatch(l.NextOffset(), 1000, -1, recs...), codec, recordbatch.Levels{})
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Append(b); err != nil {
			t.Fatal(err)
		}
	}
	activeBase := l.Segments()[len(l.Segments())-1].BaseOffset
	before, _ := readRecords(t, l)
	codecOf := map[int64]recordbatch.Codec{} // batch base offset -> codec written
	for off := l.StartOffset(); off < l.NextOffset(); {
		data, err := l.Read(off, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		for h := range recordbatch.All(data) {
			codecOf[h.BaseOffset] = h.Codec()
			off = h.LastOffset() + 1
		}
	}
	sizeBefore := l.Size()
	res, err := l.Clean(context.Background(), cleanCfg(l), NewOffsetMap(1<<20), nil)
	if err != nil || !res.Cleaned {
		t.Fatalf("Clean = %+v, %v", res, err)
	}
	after, _ := readRecords(t, l)
	if want := expectCompacted(before, activeBase); fmt.Sprint(after) != fmt.Sprint(want) {
		t.Fatalf("after cleaning:\n got %v\nwant %v", after, want)
	}
	if l.Size() >= sizeBefore || res.RecordsRemoved == 0 {
		t.Fatalf("size %d -> %d, %d records removed", sizeBefore, l.Size(), res.RecordsRemoved)
	}
	rebuilt := map[recordbatch.Codec]bool{}
	for off := l.StartOffset(); off < l.NextOffset(); {
		data, err := l.Read(off, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		for h := range recordbatch.All(data) {
			if h.Records > 0 && h.Codec() != codecOf[h.BaseOffset] {
				t.Fatalf("batch %d: codec %d after cleaning, was %d", h.BaseOffset, h.Codec(), codecOf[h.BaseOffset])
			}
			if h.BaseOffset < activeBase && h.Records > 0 {
				rebuilt[h.Codec()] = true
			}
			off = h.LastOffset() + 1
		}
	}
	if len(rebuilt) < 2 {
		t.Fatalf("cleaned segments hold batches of codecs %v only", rebuilt)
	}
}

// TestCleanKeepsUndecodableBatch: a compressed batch whose records do not
// decompress (its CRC is right: the producer wrote it so) is kept whole,
// and the rest of the log is cleaned.
func TestCleanKeepsUndecodableBatch(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{SegmentBytes: 1024})
	bad := keyedBatch(l.NextOffset(), 1000, -1, kv{"k0", []byte("x")})
	h := recordbatch.ParseHeader(bad)
	h.Attributes |= int16(recordbatch.CodecZstd)
	bad = recordbatch.FinishBatch(bad, h, 1) // the plain records now claim to be zstd
	if err := l.Append(bad); err != nil {
		t.Fatal(err)
	}
	fillVersions(t, l, 4, 20, 1000)
	res, err := l.Clean(context.Background(), cleanCfg(l), NewOffsetMap(1<<20), nil)
	if err != nil || !res.Cleaned || res.RecordsRemoved == 0 {
		t.Fatalf("Clean = %+v, %v", res, err)
	}
	data, err := l.Read(0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	for first := range recordbatch.All(data) {
		if first.BaseOffset != 0 || first.Codec() != recordbatch.CodecZstd || first.Records != 1 {
			t.Fatalf("first batch after cleaning: %+v", first)
		}
		break
	}
}

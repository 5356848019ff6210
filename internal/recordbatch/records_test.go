package recordbatch_test

import (
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/recordbatch"
	"github.com/longboat/longboat/internal/recordbatch/batchtest"
)

// keyed builds an uncompressed batch whose records have the given keys
// (nil: no key) and values (nil: a tombstone).
func keyed(ts int64, keys, values [][]byte) []byte {
	var body []byte
	for i := range keys {
		r := kmsg.Record{OffsetDelta: int32(i), Key: keys[i], Value: values[i]}
		r.Length = int32(len(r.AppendTo(nil)) - 1)
		body = r.AppendTo(body)
	}
	h := recordbatch.Header{LastOffsetDelta: int32(len(keys) - 1), BaseTimestamp: ts, MaxTimestamp: ts,
		ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}
	return recordbatch.FinishBatch(append(make([]byte, recordbatch.HeaderSize), body...), h, int32(len(keys)))
}

func TestRecordsWalksKeysAndTombstones(t *testing.T) {
	b := keyed(1000, [][]byte{[]byte("a"), nil, []byte("")}, [][]byte{[]byte("1"), []byte("2"), nil})
	if !recordbatch.ValidCRC(b) {
		t.Fatal("FinishBatch left a bad CRC")
	}
	h := recordbatch.ParseHeader(b)
	var got []recordbatch.Record
	if err := recordbatch.Records(b[recordbatch.HeaderSize:], h.Records, func(r recordbatch.Record) bool {
		got = append(got, r)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || string(got[0].Key) != "a" || got[0].NullValue || got[1].Key != nil || got[2].Key == nil || !got[2].NullValue || got[2].OffsetDelta != 2 {
		t.Fatalf("records %+v", got)
	}
	// Truncated record bytes are corrupt, not a panic.
	if err := recordbatch.Records(b[recordbatch.HeaderSize:len(b)-3], h.Records, func(recordbatch.Record) bool { return true }); !errors.Is(err, recordbatch.ErrCorrupt) {
		t.Fatalf("truncated: %v, want ErrCorrupt", err)
	}
}

func TestCheckClientRequireKeys(t *testing.T) {
	const now = 1700000000000
	rules := recordbatch.ClientRules{NowMs: now, CreateTime: true, TimestampBeforeMaxMs: 1 << 40, TimestampAfterMaxMs: 1 << 40, RequireKeys: true}
	withKeys := keyed(now, [][]byte{[]byte("a"), []byte("")}, [][]byte{[]byte("1"), nil})
	if err := recordbatch.CheckClient(withKeys, rules); err != nil {
		t.Fatalf("keyed records (an empty key and a tombstone included): %v", err)
	}
	keyless := keyed(now, [][]byte{[]byte("a"), nil}, [][]byte{[]byte("1"), []byte("2")})
	if err := recordbatch.CheckClient(keyless, rules); !errors.Is(err, recordbatch.ErrInvalidRecord) {
		t.Fatalf("a keyless record on a compacted topic: %v, want ErrInvalidRecord", err)
	}
	rules.RequireKeys = false
	if err := recordbatch.CheckClient(keyless, rules); err != nil {
		t.Fatalf("a keyless record elsewhere: %v", err)
	}
	// Compressed batches are decompressed and checked too, with every codec.
	rules.RequireKeys = true
	zipped := batchtest.Batch{FirstTimestamp: now, TsDeltas: []int64{0, 1}, Gzip: true}.Build()
	if err := recordbatch.CheckClient(zipped, rules); err != nil {
		t.Fatalf("gzip batch with keys: %v", err)
	}
	for c := recordbatch.CodecGzip; c <= recordbatch.CodecZstd; c++ {
		z, err := recordbatch.Recompress(keyless, c, recordbatch.Levels{})
		if err != nil {
			t.Fatal(err)
		}
		if err := recordbatch.CheckClient(z, rules); !errors.Is(err, recordbatch.ErrInvalidRecord) {
			t.Fatalf("codec %d batch with a keyless record on a compacted topic: %v, want ErrInvalidRecord", c, err)
		}
	}
}

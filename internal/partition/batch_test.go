package partition

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// testBatch describes a v2 record batch to build as a client would.
type testBatch struct {
	FirstTimestamp int64
	TsDeltas       []int64 // one per record; len is the record count
	Attributes     int16   // compression codec in bits 0-2, LogAppendTime bit 3
	ValueSize      int     // bytes per record value (0: a short value)
	Seed           byte    // varies the payload
	ProducerID     int64   // 0 means -1 (non-idempotent)
	Gzip           bool    // compress the records (and set codec 1)
}

// encodeRecords returns the records array of a batch, as kmsg.Records.
func encodeRecords(tb testBatch) []byte {
	var recs []byte
	for i, d := range tb.TsDeltas {
		value := []byte(fmt.Sprintf("value-%d-%d", tb.Seed, i))
		if tb.ValueSize > 0 {
			value = bytes.Repeat([]byte{tb.Seed + byte(i)}, tb.ValueSize)
		}
		r := kmsg.Record{
			TimestampDelta64: d,
			OffsetDelta:      int32(i),
			Key:              []byte(fmt.Sprintf("key-%d", i)),
			Value:            value,
			Headers:          []kmsg.Header{{Key: "h", Value: []byte{tb.Seed}}},
		}
		// Length counts everything after the varint; a zero Length encodes
		// as one byte.
		r.Length = int32(len(r.AppendTo(nil)) - 1)
		recs = r.AppendTo(recs)
	}
	return recs
}

// build returns a valid Kafka v2 record batch (base offset 0, leader epoch -1).
func (tb testBatch) build() []byte {
	n := len(tb.TsDeltas)
	maxDelta := int64(0)
	for i, d := range tb.TsDeltas {
		if i == 0 || d > maxDelta {
			maxDelta = d
		}
	}
	recs := encodeRecords(tb)
	attrs := tb.Attributes
	if tb.Gzip {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(recs)
		zw.Close()
		recs = buf.Bytes()
		attrs = attrs&^7 | 1
	}
	pid := tb.ProducerID
	if pid == 0 {
		pid = -1
	}
	rb := kmsg.RecordBatch{
		FirstOffset:          0,
		PartitionLeaderEpoch: -1,
		Magic:                2,
		Attributes:           attrs,
		LastOffsetDelta:      int32(n - 1),
		FirstTimestamp:       tb.FirstTimestamp,
		MaxTimestamp:         tb.FirstTimestamp + maxDelta,
		ProducerID:           pid,
		ProducerEpoch:        -1,
		FirstSequence:        -1,
		NumRecords:           int32(n),
		Records:              recs,
	}
	b := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	fixCRC(b)
	return b
}

// fixCRC recomputes a v2 batch's CRC-32C (Castagnoli) over bytes [21:].
func fixCRC(b []byte) {
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
}

// simple returns a batch of n records with timestamps base, base+1, ...
func simple(n int, base int64, seed byte) []byte {
	d := make([]int64, n)
	for i := range d {
		d[i] = int64(i)
	}
	return testBatch{FirstTimestamp: base, TsDeltas: d, Seed: seed}.build()
}

func concat(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

// The helper itself must produce batches kmsg parses back with a valid CRC.
func TestBatchHelperRoundTrips(t *testing.T) {
	b := testBatch{FirstTimestamp: 1000, TsDeltas: []int64{0, 5, 3}, Seed: 9}.build()
	var rb kmsg.RecordBatch
	if err := rb.ReadFrom(b); err != nil {
		t.Fatalf("kmsg cannot read the batch: %v", err)
	}
	if rb.Magic != 2 || rb.NumRecords != 3 || rb.LastOffsetDelta != 2 || rb.MaxTimestamp != 1005 || int(rb.Length) != len(b)-12 {
		t.Fatalf("header = %+v", rb)
	}
	if uint32(rb.CRC) != crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)) {
		t.Fatalf("CRC does not cover [21:]")
	}
	recs := rb.Records
	for i := 0; i < 3; i++ {
		var r kmsg.Record
		l, k := binary.Varint(recs)
		if err := r.ReadFrom(recs[:k+int(l)]); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if r.OffsetDelta != int32(i) || string(r.Key) != fmt.Sprintf("key-%d", i) {
			t.Errorf("record %d = %+v", i, r)
		}
		recs = recs[k+int(l):]
	}
	if len(recs) != 0 {
		t.Errorf("%d bytes after the last record", len(recs))
	}
}

func TestValidateBatches(t *testing.T) {
	one := simple(1, 100, 1)
	five := testBatch{FirstTimestamp: 200, TsDeltas: []int64{0, 1, 2, 3, 4}, ValueSize: 300, Seed: 2}.build()
	two := simple(2, 300, 3)
	zipped := testBatch{FirstTimestamp: 400, TsDeltas: []int64{0, 1, 2}, Gzip: true, Seed: 4}.build()

	good := []struct {
		name string
		b    []byte
		want RecordSet
	}{
		{"one record", one, RecordSet{Records: 1, Batches: 1, LargestBatch: len(one)}},
		{"five records", five, RecordSet{Records: 5, Batches: 1, LargestBatch: len(five)}},
		{"gzip batch", zipped, RecordSet{Records: 3, Batches: 1, LargestBatch: len(zipped)}},
		{"three batches", concat(one, five, two), RecordSet{Records: 8, Batches: 3, LargestBatch: len(five)}},
		{"largest last", concat(two, one, five), RecordSet{Records: 8, Batches: 3, LargestBatch: len(five)}},
		// A producer id without a sequence is not an idempotent batch.
		{"producer id, no sequence", testBatch{FirstTimestamp: 1, TsDeltas: []int64{0}, ProducerID: 77}.build(), RecordSet{Records: 1, Batches: 1}},
		{"idempotent producer", producerBatch(77, 0, 0, 2), RecordSet{Records: 2, Batches: 1, Idempotent: true}},
	}
	for _, tc := range good {
		t.Run(tc.name, func(t *testing.T) {
			if tc.want.LargestBatch == 0 {
				tc.want.LargestBatch = len(tc.b)
			}
			rs, err := ValidateBatches(tc.b)
			if err != nil {
				t.Fatalf("ValidateBatches: %v", err)
			}
			if rs != tc.want {
				t.Errorf("RecordSet = %+v, want %+v", rs, tc.want)
			}
		})
	}

	corrupt := func(b []byte, f func([]byte)) []byte {
		c := bytes.Clone(b)
		f(c)
		return c
	}
	bad := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrCorruptBatch},
		{"flipped record byte", corrupt(five, func(b []byte) { b[len(b)-10] ^= 0x40 }), ErrCorruptBatch},
		{"flipped attributes", corrupt(one, func(b []byte) { b[22] ^= 1 }), ErrCorruptBatch},
		{"wrong CRC field", corrupt(one, func(b []byte) { b[17]++ }), ErrCorruptBatch},
		{"CRC over whole batch", corrupt(one, func(b []byte) {
			binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
		}), ErrCorruptBatch},
		{"IEEE CRC", corrupt(one, func(b []byte) { binary.BigEndian.PutUint32(b[17:], crc32.ChecksumIEEE(b[21:])) }), ErrCorruptBatch},
		{"bad CRC in second of three", concat(one, corrupt(five, func(b []byte) { b[100] ^= 1 }), two), ErrCorruptBatch},
		{"truncated by one byte", five[:len(five)-1], ErrCorruptBatch},
		{"truncated inside header", five[:40], ErrCorruptBatch},
		{"second batch truncated", concat(one, five[:len(five)-20]), ErrCorruptBatch},
		{"trailing garbage", concat(one, []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}), ErrCorruptBatch},
		{"length larger than data", corrupt(one, func(b []byte) { binary.BigEndian.PutUint32(b[8:], uint32(len(b))) }), ErrCorruptBatch},
		{"length below header", corrupt(one, func(b []byte) { binary.BigEndian.PutUint32(b[8:], 10) }), ErrCorruptBatch},
		{"negative length", corrupt(one, func(b []byte) { binary.BigEndian.PutUint32(b[8:], 0xfffffff0) }), ErrCorruptBatch},
		{"magic 1 header", corrupt(five, func(b []byte) { b[16] = 1 }), ErrUnsupportedMessage},
		{"magic 0 header", corrupt(five, func(b []byte) { b[16] = 0 }), ErrUnsupportedMessage},
		{"magic 3", corrupt(five, func(b []byte) { b[16] = 3 }), ErrUnsupportedMessage},
		{"lastOffsetDelta too large", corrupt(five, func(b []byte) { binary.BigEndian.PutUint32(b[23:], 5); fixCRC(b) }), ErrCorruptBatch},
		{"lastOffsetDelta too small", corrupt(five, func(b []byte) { binary.BigEndian.PutUint32(b[23:], 3); fixCRC(b) }), ErrCorruptBatch},
		{"lastOffsetDelta negative", corrupt(one, func(b []byte) { binary.BigEndian.PutUint32(b[23:], 0xffffffff); fixCRC(b) }), ErrCorruptBatch},
		{"zero records", corrupt(one, func(b []byte) {
			binary.BigEndian.PutUint32(b[23:], 0xffffffff)
			binary.BigEndian.PutUint32(b[57:], 0)
			fixCRC(b)
		}), ErrCorruptBatch},
		{"count mismatch in third batch", concat(one, two, corrupt(five, func(b []byte) { binary.BigEndian.PutUint32(b[57:], 4); fixCRC(b) })), ErrCorruptBatch},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			rs, err := ValidateBatches(tc.b)
			if !errors.Is(err, tc.want) {
				t.Fatalf("ValidateBatches = %+v, %v; want %v", rs, err, tc.want)
			}
		})
	}
}

// messageV1 builds a legacy magic-1 message set of one message as an old
// producer sends it (IEEE CRC over magic..end).
func messageV1(value []byte) []byte {
	m := kmsg.MessageV1{Magic: 1, Timestamp: 1000, Key: []byte("k"), Value: value}
	b := m.AppendTo(nil)
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	binary.BigEndian.PutUint32(b[12:], crc32.ChecksumIEEE(b[16:]))
	return b
}

// Magic sits at byte 16 in every message format, so a legacy message set is
// reported as unsupported (Kafka's UNSUPPORTED_FOR_MESSAGE_FORMAT), not as a
// corrupt batch, whatever its size.
func TestValidateBatchesLegacyMessageSet(t *testing.T) {
	for _, size := range []int{200, 1} {
		t.Run(fmt.Sprintf("value %d bytes", size), func(t *testing.T) {
			b := messageV1(bytes.Repeat([]byte{'v'}, size))
			var m kmsg.MessageV1
			if err := m.ReadFrom(b); err != nil || m.Magic != 1 {
				t.Fatalf("helper built a bad v1 message: %v", err)
			}
			_, err := ValidateBatches(b)
			if !errors.Is(err, ErrUnsupportedMessage) {
				t.Errorf("%d-byte magic-1 message set: err = %v, want ErrUnsupportedMessage", len(b), err)
			}
		})
	}
}

func TestEncodeAppendLayout(t *testing.T) {
	b := concat(simple(2, 10, 1), simple(3, 20, 2))
	cmd := EncodeAppend(0x0102030405060708, 1700000000123, false, b)
	if cmd[0] != cmdAppend {
		t.Errorf("type byte %d", cmd[0])
	}
	if got := binary.BigEndian.Uint64(cmd[1:]); got != 0x0102030405060708 {
		t.Errorf("term %x", got)
	}
	if got := int64(binary.BigEndian.Uint64(cmd[9:])); got != 1700000000123 {
		t.Errorf("append time %d", got)
	}
	if !bytes.Equal(cmd[appendHeaderSize:], b) {
		t.Errorf("batches not carried verbatim")
	}
	b[0] = 0xff
	if cmd[appendHeaderSize] == 0xff {
		t.Errorf("EncodeAppend aliases the caller's buffer")
	}
}

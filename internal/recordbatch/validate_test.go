package recordbatch_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/recordbatch"
	"github.com/longboat/longboat/internal/recordbatch/batchtest"
)

func concat(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

func TestValidate(t *testing.T) {
	one := batchtest.Simple(1, 100, 1)
	five := batchtest.Batch{FirstTimestamp: 200, TsDeltas: []int64{0, 1, 2, 3, 4}, ValueSize: 300, Seed: 2}.Build()
	two := batchtest.Simple(2, 300, 3)
	zipped := batchtest.Batch{FirstTimestamp: 400, TsDeltas: []int64{0, 1, 2}, Gzip: true, Seed: 4}.Build()

	good := []struct {
		name string
		b    []byte
		want recordbatch.Set
	}{
		{"one record", one, recordbatch.Set{Records: 1, Batches: 1, LargestBatch: len(one)}},
		{"five records", five, recordbatch.Set{Records: 5, Batches: 1, LargestBatch: len(five)}},
		{"gzip batch", zipped, recordbatch.Set{Records: 3, Batches: 1, LargestBatch: len(zipped)}},
		{"three batches", concat(one, five, two), recordbatch.Set{Records: 8, Batches: 3, LargestBatch: len(five)}},
		{"largest last", concat(two, one, five), recordbatch.Set{Records: 8, Batches: 3, LargestBatch: len(five)}},
		// A producer id without a sequence is not an idempotent batch.
		{"producer id, no sequence", batchtest.Batch{FirstTimestamp: 1, TsDeltas: []int64{0}, ProducerID: 77}.Build(), recordbatch.Set{Records: 1, Batches: 1}},
		{"idempotent producer", batchtest.Producer(77, 0, 0, 2), recordbatch.Set{Records: 2, Batches: 1, Idempotent: true}},
	}
	for _, tc := range good {
		t.Run(tc.name, func(t *testing.T) {
			if tc.want.LargestBatch == 0 {
				tc.want.LargestBatch = len(tc.b)
			}
			rs, err := recordbatch.Validate(tc.b)
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if rs != tc.want {
				t.Errorf("Set = %+v, want %+v", rs, tc.want)
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
		{"empty", nil, recordbatch.ErrCorrupt},
		{"flipped record byte", corrupt(five, func(b []byte) { b[len(b)-10] ^= 0x40 }), recordbatch.ErrCorrupt},
		{"flipped attributes", corrupt(one, func(b []byte) { b[22] ^= 1 }), recordbatch.ErrCorrupt},
		{"wrong CRC field", corrupt(one, func(b []byte) { b[17]++ }), recordbatch.ErrCorrupt},
		{"CRC over whole batch", corrupt(one, func(b []byte) {
			binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
		}), recordbatch.ErrCorrupt},
		{"IEEE CRC", corrupt(one, func(b []byte) { binary.BigEndian.PutUint32(b[17:], crc32.ChecksumIEEE(b[21:])) }), recordbatch.ErrCorrupt},
		{"bad CRC in second of three", concat(one, corrupt(five, func(b []byte) { b[100] ^= 1 }), two), recordbatch.ErrCorrupt},
		{"truncated by one byte", five[:len(five)-1], recordbatch.ErrCorrupt},
		{"truncated inside header", five[:40], recordbatch.ErrCorrupt},
		{"second batch truncated", concat(one, five[:len(five)-20]), recordbatch.ErrCorrupt},
		{"trailing garbage", concat(one, []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}), recordbatch.ErrCorrupt},
		{"length larger than data", corrupt(one, func(b []byte) { binary.BigEndian.PutUint32(b[8:], uint32(len(b))) }), recordbatch.ErrCorrupt},
		{"length below header", corrupt(one, func(b []byte) { binary.BigEndian.PutUint32(b[8:], 10) }), recordbatch.ErrCorrupt},
		{"negative length", corrupt(one, func(b []byte) { binary.BigEndian.PutUint32(b[8:], 0xfffffff0) }), recordbatch.ErrCorrupt},
		{"magic 1 header", corrupt(five, func(b []byte) { b[16] = 1 }), recordbatch.ErrUnsupportedMagic},
		{"magic 0 header", corrupt(five, func(b []byte) { b[16] = 0 }), recordbatch.ErrUnsupportedMagic},
		{"magic 3", corrupt(five, func(b []byte) { b[16] = 3 }), recordbatch.ErrUnsupportedMagic},
		{"lastOffsetDelta too large", corrupt(five, func(b []byte) { binary.BigEndian.PutUint32(b[23:], 5); recordbatch.SetCRC(b) }), recordbatch.ErrCorrupt},
		{"lastOffsetDelta too small", corrupt(five, func(b []byte) { binary.BigEndian.PutUint32(b[23:], 3); recordbatch.SetCRC(b) }), recordbatch.ErrCorrupt},
		{"lastOffsetDelta negative", corrupt(one, func(b []byte) { binary.BigEndian.PutUint32(b[23:], 0xffffffff); recordbatch.SetCRC(b) }), recordbatch.ErrCorrupt},
		{"zero records", corrupt(one, func(b []byte) {
			binary.BigEndian.PutUint32(b[23:], 0xffffffff)
			binary.BigEndian.PutUint32(b[57:], 0)
			recordbatch.SetCRC(b)
		}), recordbatch.ErrCorrupt},
		{"count mismatch in third batch", concat(one, two, corrupt(five, func(b []byte) { binary.BigEndian.PutUint32(b[57:], 4); recordbatch.SetCRC(b) })), recordbatch.ErrCorrupt},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			rs, err := recordbatch.Validate(tc.b)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Validate = %+v, %v; want %v", rs, err, tc.want)
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
func TestValidateLegacyMessageSet(t *testing.T) {
	for _, size := range []int{200, 1} {
		t.Run(fmt.Sprintf("value %d bytes", size), func(t *testing.T) {
			b := messageV1(bytes.Repeat([]byte{'v'}, size))
			var m kmsg.MessageV1
			if err := m.ReadFrom(b); err != nil || m.Magic != 1 {
				t.Fatalf("helper built a bad v1 message: %v", err)
			}
			_, err := recordbatch.Validate(b)
			if !errors.Is(err, recordbatch.ErrUnsupportedMagic) {
				t.Errorf("%d-byte magic-1 message set: err = %v, want ErrUnsupportedMagic", len(b), err)
			}
		})
	}
}

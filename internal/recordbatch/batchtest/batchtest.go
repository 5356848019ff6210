// Package batchtest builds Kafka v2 record batches as clients send them,
// for tests.
package batchtest

import (
	"bytes"
	"compress/gzip"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/recordbatch"
)

// Batch describes a v2 record batch to build as a client would.
type Batch struct {
	FirstTimestamp int64
	TsDeltas       []int64 // one per record; len is the record count
	Attributes     int16   // recordbatch.AttrCompression and AttrLogAppendTime bits
	ValueSize      int     // bytes per record value (0: a short value)
	Seed           byte    // varies the payload
	ProducerID     int64   // 0 means -1 (non-idempotent)
	ProducerEpoch  int16   // with Sequenced
	BaseSequence   int32   // with Sequenced
	Sequenced      bool    // carry ProducerEpoch and BaseSequence; otherwise both are -1
	Gzip           bool    // compress the records (and set codec 1)
}

// encodeRecords returns the records array of a batch, as kmsg.Records.
func encodeRecords(tb Batch) []byte {
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

// Build returns a valid Kafka v2 record batch (base offset 0, leader epoch -1).
func (tb Batch) Build() []byte {
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
		attrs = attrs&^recordbatch.AttrCompression | 1
	}
	pid, epoch, seq := tb.ProducerID, int16(-1), int32(-1)
	if pid == 0 {
		pid = -1
	}
	if tb.Sequenced {
		epoch, seq = tb.ProducerEpoch, tb.BaseSequence
	}
	return finish(kmsg.RecordBatch{
		Attributes:      attrs,
		LastOffsetDelta: int32(n - 1),
		FirstTimestamp:  tb.FirstTimestamp,
		MaxTimestamp:    tb.FirstTimestamp + maxDelta,
		ProducerID:      pid,
		ProducerEpoch:   epoch,
		FirstSequence:   seq,
		NumRecords:      int32(n),
		Records:         recs,
	})
}

// finish encodes rb as a client sends it: base offset 0, leader epoch -1,
// magic 2, its length and CRC-32C.
func finish(rb kmsg.RecordBatch) []byte {
	rb.FirstOffset, rb.PartitionLeaderEpoch, rb.Magic = 0, -1, recordbatch.Magic
	rb.Length = int32(recordbatch.HeaderSize - recordbatch.LengthPrefix + len(rb.Records))
	b := rb.AppendTo(nil)
	recordbatch.SetCRC(b)
	return b
}

// OneRecord is a valid uncompressed batch from a plain (non-idempotent)
// producer holding one record with key and value, either of which may be
// nil, stamped ts.
func OneRecord(key, value []byte, ts int64) []byte {
	r := kmsg.Record{Key: key, Value: value}
	r.Length = int32(len(r.AppendTo(nil)) - 1) // a zero Length encodes as one byte
	return finish(kmsg.RecordBatch{
		FirstTimestamp: ts,
		MaxTimestamp:   ts,
		ProducerID:     -1,
		ProducerEpoch:  -1,
		FirstSequence:  -1,
		NumRecords:     1,
		Records:        r.AppendTo(nil),
	})
}

// Simple returns a batch of n records with timestamps base, base+1, ...
func Simple(n int, base int64, seed byte) []byte {
	d := make([]int64, n)
	for i := range d {
		d[i] = int64(i)
	}
	return Batch{FirstTimestamp: base, TsDeltas: d, Seed: seed}.Build()
}

// Producer is a valid batch of n records from idempotent producer pid.
func Producer(pid int64, epoch int16, seq int32, n int) []byte {
	return Batch{TsDeltas: make([]int64, n), ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq, Sequenced: true}.Build()
}

// Transactional is a valid batch of n records that producer pid writes
// inside a transaction.
func Transactional(pid int64, epoch int16, seq int32, n int) []byte {
	return Batch{TsDeltas: make([]int64, n), Attributes: recordbatch.AttrTransactional, ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq, Sequenced: true}.Build()
}

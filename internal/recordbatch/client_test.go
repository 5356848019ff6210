package recordbatch_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/longboat/longboat/internal/recordbatch"
	"github.com/longboat/longboat/internal/recordbatch/batchtest"
)

func TestCheckClient(t *testing.T) {
	const now = 1700000000000
	const hour = 3600 * 1000
	rules := recordbatch.ClientRules{NowMs: now, CreateTime: true, TimestampBeforeMaxMs: 24 * hour, TimestampAfterMaxMs: hour}
	two := batchtest.Simple(2, now, 1)
	five := batchtest.Batch{FirstTimestamp: now, TsDeltas: []int64{0, 1, 2, 3, 4}, Seed: 2}.Build()
	zipped := func(ts int64) []byte {
		return batchtest.Batch{FirstTimestamp: ts, TsDeltas: []int64{0, 1, 2}, Gzip: true, Seed: 4}.Build()
	}
	edit := func(b []byte, f func([]byte)) []byte {
		c := bytes.Clone(b)
		f(c)
		recordbatch.SetCRC(c)
		return c
	}
	// setCount makes a batch claim n records (lastOffsetDelta n-1), which
	// Validate accepts.
	setCount := func(b []byte, n uint32) []byte {
		return edit(b, func(c []byte) {
			binary.BigEndian.PutUint32(c[23:], n-1)
			binary.BigEndian.PutUint32(c[57:], n)
		})
	}
	// second record's offset delta (1, zigzag 0x02) becomes 0.
	repeatDelta := edit(two, func(c []byte) {
		l, n := binary.Varint(c[recordbatch.HeaderSize:])
		second := recordbatch.HeaderSize + n + int(l)
		_, n2 := binary.Varint(c[second:])
		pos := second + n2 + 1 + 1 // attributes, timestamp delta 1 (one byte)
		if c[pos] != 0x02 {
			t.Fatalf("second record's offset delta byte is %#x", c[pos])
		}
		c[pos] = 0
	})
	cases := []struct {
		name  string
		b     []byte
		rules recordbatch.ClientRules
		want  error
	}{
		{"plain batches", concat(two, five), rules, nil},
		{"gzip batch", zipped(now), rules, nil},
		{"idempotent batch", batchtest.Producer(7, 0, 0, 3), recordbatch.ClientRules{NowMs: now}, nil},
		{"LogAppendTime topic, old timestamps", batchtest.Simple(1, 1000, 1), recordbatch.ClientRules{NowMs: now}, nil},
		{"no timestamp (-1)", batchtest.Batch{FirstTimestamp: -1, TsDeltas: []int64{0}}.Build(), rules, nil},
		{"codec 5", edit(two, func(c []byte) { c[22] |= 5 }), rules, recordbatch.ErrUnsupportedCodec},
		{"codec 7", edit(two, func(c []byte) { c[22] |= 7 }), rules, recordbatch.ErrUnsupportedCodec},
		{"control batch", edit(two, func(c []byte) { c[22] |= recordbatch.AttrControl }), rules, recordbatch.ErrInvalidRecord},
		{"producer id without sequence", batchtest.Batch{FirstTimestamp: now, TsDeltas: []int64{0}, ProducerID: 77}.Build(), rules, recordbatch.ErrInvalidRecord},
		{"more records claimed than bytes hold", setCount(five, 6), rules, recordbatch.ErrCorrupt},
		{"far more records claimed", setCount(two, 1<<30), rules, recordbatch.ErrCorrupt},
		{"fewer records claimed than bytes hold", setCount(five, 4), rules, recordbatch.ErrCorrupt},
		{"repeated offset delta", repeatDelta, rules, recordbatch.ErrInvalidRecord},
		{"timestamp too old", batchtest.Simple(1, now-25*hour, 1), rules, recordbatch.ErrInvalidTimestamp},
		{"timestamp too new", batchtest.Simple(1, now+2*hour, 1), rules, recordbatch.ErrInvalidTimestamp},
		{"last record too new", batchtest.Batch{FirstTimestamp: now, TsDeltas: []int64{0, 2 * hour}}.Build(), rules, recordbatch.ErrInvalidTimestamp},
		{"gzip batch too old", zipped(now - 25*hour), rules, recordbatch.ErrInvalidTimestamp},
		{"producer claims LogAppendTime", batchtest.Batch{FirstTimestamp: now, TsDeltas: []int64{0}, Attributes: recordbatch.AttrLogAppendTime}.Build(), recordbatch.ClientRules{NowMs: now}, recordbatch.ErrInvalidTimestamp},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := recordbatch.Validate(tc.b); err != nil {
				t.Fatalf("Validate refused the test batch: %v", err)
			}
			err := recordbatch.CheckClient(tc.b, tc.rules)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("CheckClient = %v, want %v", err, tc.want)
			}
		})
	}
}

package recordbatch_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/recordbatch"
	"github.com/longboat/longboat/internal/recordbatch/batchtest"
)

// kmsg is the independent reading of the layout.
func kmsgHeader(t *testing.T, b []byte) kmsg.RecordBatch {
	t.Helper()
	var rb kmsg.RecordBatch
	if err := rb.ReadFrom(b); err != nil {
		t.Fatalf("kmsg cannot read the batch: %v", err)
	}
	return rb
}

func TestParseHeaderAgreesWithKmsg(t *testing.T) {
	b := batchtest.Batch{FirstTimestamp: 5000, TsDeltas: []int64{0, 7, 3}, ProducerID: 42, ProducerEpoch: 3, BaseSequence: 17, Sequenced: true, Gzip: true}.Build()
	binary.BigEndian.PutUint64(b, 1234)
	binary.BigEndian.PutUint32(b[12:], 9)
	rb := kmsgHeader(t, b)
	h := recordbatch.ParseHeader(b)
	want := recordbatch.Header{
		BaseOffset: rb.FirstOffset, Length: int64(rb.Length) + recordbatch.LengthPrefix, LeaderEpoch: rb.PartitionLeaderEpoch,
		Magic: rb.Magic, CRC: uint32(rb.CRC), Attributes: rb.Attributes, LastOffsetDelta: rb.LastOffsetDelta,
		BaseTimestamp: rb.FirstTimestamp, MaxTimestamp: rb.MaxTimestamp, ProducerID: rb.ProducerID,
		ProducerEpoch: rb.ProducerEpoch, BaseSequence: rb.FirstSequence, Records: rb.NumRecords,
	}
	if h != want {
		t.Fatalf("ParseHeader = %+v\nkmsg reads   %+v", h, want)
	}
	if h.Length != int64(len(b)) || h.LastOffset() != 1236 || !h.Compressed() || h.LogAppendTime() || !h.Idempotent() {
		t.Errorf("derived: length %d of %d, last offset %d, compressed %v, log append time %v, idempotent %v",
			h.Length, len(b), h.LastOffset(), h.Compressed(), h.LogAppendTime(), h.Idempotent())
	}
}

func TestCheck(t *testing.T) {
	good := recordbatch.ParseHeader(batchtest.Simple(3, 100, 1))
	if err := good.Check(); err != nil {
		t.Fatalf("a client's batch fails Check: %v", err)
	}
	bad := map[string]func(h *recordbatch.Header){
		"length below header": func(h *recordbatch.Header) { h.Length = recordbatch.HeaderSize - 1 },
		"magic 1":             func(h *recordbatch.Header) { h.Magic = 1 },
		"negative base":       func(h *recordbatch.Header) { h.BaseOffset = -1 },
		"negative delta":      func(h *recordbatch.Header) { h.LastOffsetDelta = -1 },
		"offsets overflow":    func(h *recordbatch.Header) { h.BaseOffset = math.MaxInt64 - 2 },
	}
	for name, f := range bad {
		h := good
		f(&h)
		if err := h.Check(); !errors.Is(err, recordbatch.ErrCorrupt) {
			t.Errorf("%s: Check = %v, want ErrCorrupt", name, err)
		}
	}
}

func TestSplitAndAll(t *testing.T) {
	a, b, c := batchtest.Simple(1, 10, 1), batchtest.Simple(4, 20, 2), batchtest.Simple(2, 30, 3)
	whole := concat(a, b, c)
	for _, tc := range []struct {
		name string
		data []byte
		want [][]byte // what All yields, and Split cuts before it fails
	}{
		{"three whole batches", whole, [][]byte{a, b, c}},
		{"empty", nil, nil},
		{"last cut short", whole[:len(whole)-1], [][]byte{a, b}},
		{"trailing bytes shorter than a header", concat(whole, make([]byte, 60)), [][]byte{a, b, c}},
		{"length past the end", concat(a, func() []byte {
			x := bytes.Clone(b)
			binary.BigEndian.PutUint32(x[8:], uint32(len(x)))
			return x
		}()), [][]byte{a}},
		{"negative length", concat(a, func() []byte {
			x := bytes.Clone(b)
			binary.BigEndian.PutUint32(x[8:], 0xfffffff0)
			return x
		}()), [][]byte{a}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got [][]byte
			for h, batch := range recordbatch.All(tc.data) {
				if h.Length != int64(len(batch)) {
					t.Errorf("header length %d for a %d-byte batch", h.Length, len(batch))
				}
				got = append(got, batch)
			}
			if !bytes.Equal(concat(got...), concat(tc.want...)) || len(got) != len(tc.want) {
				t.Fatalf("All yielded %d batches, want %d", len(got), len(tc.want))
			}
			if n := recordbatch.WholeLen(tc.data); n != len(concat(tc.want...)) {
				t.Errorf("WholeLen = %d, want %d", n, len(concat(tc.want...)))
			}
			rest := tc.data
			for range tc.want {
				var err error
				if _, rest, err = recordbatch.Split(rest); err != nil {
					t.Fatal(err)
				}
			}
			if len(rest) != len(tc.data)-len(concat(tc.want...)) {
				t.Errorf("%d bytes left after the whole batches, want %d", len(rest), len(tc.data)-len(concat(tc.want...)))
			}
			if _, _, err := recordbatch.Split(rest); !errors.Is(err, recordbatch.ErrCorrupt) {
				t.Errorf("Split after the whole batches: %v, want ErrCorrupt", err)
			}
			// Partitions walk every applied append with All: reaching the
			// end, or bytes that are not a batch, must not build an error.
			if allocs := testing.AllocsPerRun(100, func() { recordbatch.WholeLen(tc.data) }); allocs != 0 {
				t.Errorf("WholeLen allocated %.0f times per call, want 0", allocs)
			}
		})
	}
}

func TestRead(t *testing.T) {
	a, b := batchtest.Simple(1, 10, 1), batchtest.Batch{TsDeltas: make([]int64, 5), ValueSize: 500}.Build()
	r := bytes.NewReader(concat(a, b))
	var buf []byte
	for i, want := range [][]byte{a, b} {
		got, err := recordbatch.Read(r, buf)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("batch %d: %d bytes, %v", i, len(got), err)
		}
		buf = got
	}
	if _, err := recordbatch.Read(r, buf); err != io.EOF {
		t.Errorf("at the end: %v, want io.EOF", err)
	}
	for _, cut := range []int{5, recordbatch.LengthPrefix, 40, len(b) - 1} {
		if _, err := recordbatch.Read(bytes.NewReader(b[:cut]), nil); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("cut at %d: %v, want io.ErrUnexpectedEOF", cut, err)
		}
	}
	short := bytes.Clone(a)
	binary.BigEndian.PutUint32(short[8:], 10)
	if _, err := recordbatch.Read(bytes.NewReader(short), nil); !errors.Is(err, recordbatch.ErrCorrupt) {
		t.Errorf("length below the header: %v, want ErrCorrupt", err)
	}
}

func TestStampApply(t *testing.T) {
	sent := batchtest.Batch{FirstTimestamp: 1000, TsDeltas: []int64{0, 4, 2}, Seed: 6}.Build()
	orig := bytes.Clone(sent)
	for _, st := range []recordbatch.Stamp{
		{BaseOffset: 77, LeaderEpoch: 5},
		{BaseOffset: 1 << 40, LeaderEpoch: 9, LogAppendTime: true, AppendTimeMs: 1_700_000_000_123},
	} {
		var scratch [recordbatch.HeaderSize]byte
		head, body := st.Apply(&scratch, sent)
		stored := concat(head, body)
		if !bytes.Equal(sent, orig) {
			t.Fatalf("%+v: Apply wrote into the batch", st)
		}
		if _, err := recordbatch.Validate(stored); err != nil {
			t.Errorf("%+v: stamped batch does not validate: %v", st, err)
		}
		rb, was := kmsgHeader(t, stored), kmsgHeader(t, sent)
		wantMax, wantAttrs := was.MaxTimestamp, was.Attributes
		if st.LogAppendTime {
			wantMax, wantAttrs = st.AppendTimeMs, was.Attributes|recordbatch.AttrLogAppendTime
		}
		if rb.FirstOffset != st.BaseOffset || rb.PartitionLeaderEpoch != st.LeaderEpoch || rb.MaxTimestamp != wantMax || rb.Attributes != wantAttrs {
			t.Errorf("%+v: stored header %+v", st, rb)
		}
		if rb.FirstTimestamp != was.FirstTimestamp || rb.NumRecords != was.NumRecords || !bytes.Equal(rb.Records, was.Records) {
			t.Errorf("%+v: fields the stamp does not own changed", st)
		}
	}
}

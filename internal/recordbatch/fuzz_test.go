package recordbatch_test

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/longboat/longboat/internal/recordbatch"
)

// FuzzBatches feeds arbitrary bytes, as a client or a damaged stream could
// send them, to every way of walking batches: none may panic, they must
// agree on where the batches are, and whatever Validate accepts must
// survive the broker's stamp. Seeds are under testdata/fuzz/FuzzBatches.
func FuzzBatches(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		var all [][]byte
		for h, batch := range recordbatch.All(b) {
			if h.Length != int64(len(batch)) || len(batch) < recordbatch.HeaderSize {
				t.Fatalf("All yielded a %d-byte batch whose header says %d", len(batch), h.Length)
			}
			all = append(all, batch)
		}
		whole := recordbatch.WholeLen(b)
		if whole != len(concat(all...)) || !bytes.Equal(b[:whole], concat(all...)) {
			t.Fatalf("WholeLen %d, All covers %d bytes", whole, len(concat(all...)))
		}

		r := bytes.NewReader(b)
		for i := 0; ; i++ {
			got, err := recordbatch.Read(r, nil)
			if err != nil {
				if i != len(all) {
					t.Fatalf("Read stopped after %d batches, All found %d: %v", i, len(all), err)
				}
				if (err == io.EOF) != (whole == len(b)) {
					t.Fatalf("Read ended with %v with %d of %d bytes whole", err, whole, len(b))
				}
				break
			}
			if i >= len(all) || !bytes.Equal(got, all[i]) {
				t.Fatalf("Read's batch %d is not All's", i)
			}
		}

		set, err := recordbatch.Validate(b)
		if err != nil {
			if !errors.Is(err, recordbatch.ErrCorrupt) && !errors.Is(err, recordbatch.ErrUnsupportedMagic) {
				t.Fatalf("Validate error %v wraps neither sentinel", err)
			}
			return
		}
		if whole != len(b) || set.Batches != len(all) || recordbatch.CountRecords(b) != set.Records {
			t.Fatalf("accepted %+v: %d batches over %d of %d bytes, %d records counted", set, len(all), whole, len(b), recordbatch.CountRecords(b))
		}
		for _, batch := range all {
			if !recordbatch.ValidCRC(batch) || len(batch) > set.LargestBatch {
				t.Fatalf("accepted a batch with a bad CRC or larger than the largest")
			}
			var scratch [recordbatch.HeaderSize]byte
			for _, st := range []recordbatch.Stamp{{BaseOffset: 5, LeaderEpoch: 2}, {BaseOffset: 5, LeaderEpoch: 2, LogAppendTime: true, AppendTimeMs: 99}} {
				head, body := st.Apply(&scratch, batch)
				stamped := concat(head, body)
				h := recordbatch.ParseHeader(stamped)
				if _, err := recordbatch.Validate(stamped); err != nil || h.BaseOffset != 5 || h.LeaderEpoch != 2 {
					t.Fatalf("stamp %+v broke an accepted batch: %v", st, err)
				}
			}
		}
	})
}

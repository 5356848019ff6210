package batchtest

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// The builder must produce batches kmsg parses back with a valid CRC.
func TestBatchHelperRoundTrips(t *testing.T) {
	b := Batch{FirstTimestamp: 1000, TsDeltas: []int64{0, 5, 3}, Seed: 9}.Build()
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

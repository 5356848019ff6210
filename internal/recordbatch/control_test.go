package recordbatch_test

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/recordbatch"
)

// A marker decodes with franz-go's own Kafka types as the control batch
// Kafka writes: control and transactional attributes, no sequence, one
// record whose key is a ControlRecordKey and whose value an EndTxnMarker.
func TestMarkerBatchIsKafkasControlBatch(t *testing.T) {
	for _, commit := range []bool{false, true} {
		b := recordbatch.MarkerBatch(recordbatch.Marker{ProducerID: 42, ProducerEpoch: 3, Commit: commit, CoordinatorEpoch: 9, TimestampMs: 1234})
		var rb kmsg.RecordBatch
		if err := rb.ReadFrom(b); err != nil {
			t.Fatal(err)
		}
		if !recordbatch.ValidCRC(b) || rb.Attributes != 0x30 || rb.ProducerID != 42 || rb.ProducerEpoch != 3 || rb.FirstSequence != -1 ||
			rb.NumRecords != 1 || rb.LastOffsetDelta != 0 || rb.FirstTimestamp != 1234 || rb.MaxTimestamp != 1234 {
			t.Fatalf("batch header %+v", rb)
		}
		var r kmsg.Record
		if err := r.ReadFrom(rb.Records); err != nil {
			t.Fatal(err)
		}
		if int(r.Length) != len(rb.Records)-1 {
			t.Fatalf("record length %d for %d bytes after the varint", r.Length, len(rb.Records)-1)
		}
		var key kmsg.ControlRecordKey
		var val kmsg.EndTxnMarker
		if err := key.ReadFrom(r.Key); err != nil {
			t.Fatal(err)
		}
		if err := val.ReadFrom(r.Value); err != nil {
			t.Fatal(err)
		}
		wantType := kmsg.ControlRecordKeyTypeAbort
		if commit {
			wantType = kmsg.ControlRecordKeyTypeCommit
		}
		if key.Version != 0 || key.Type != wantType || val.Version != 0 || val.CoordinatorEpoch != 9 {
			t.Fatalf("key %+v value %+v", key, val)
		}
		ctype, coordEpoch, err := recordbatch.ParseMarker(b)
		if err != nil || ctype != int16(wantType) || coordEpoch != 9 {
			t.Fatalf("ParseMarker: %d %d %v", ctype, coordEpoch, err)
		}
	}
	if _, _, err := recordbatch.ParseMarker(recordbatch.MarkerBatch(recordbatch.Marker{})[:70]); err == nil {
		t.Fatal("ParseMarker accepted a truncated batch")
	}
}

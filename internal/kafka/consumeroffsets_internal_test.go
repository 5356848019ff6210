package kafka

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"testing"

	sm "github.com/lni/dragonboat/v4/statemachine"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/group"
)

// decodeBatches splits v2 batches, checking each CRC, and returns the
// offsets of their records and the batches' last offsets.
func decodeBatches(t *testing.T, b []byte) (offsets, lastOffsets []int64) {
	t.Helper()
	for len(b) > 0 {
		var batch kmsg.RecordBatch
		if err := batch.ReadFrom(b); err != nil {
			t.Fatalf("batch: %v", err)
		}
		size := 12 + int(batch.Length)
		if crc32.Checksum(b[batchOffAttributes:size], castagnoli) != uint32(batch.CRC) {
			t.Fatalf("batch at %d: CRC mismatch", batch.FirstOffset)
		}
		rest := batch.Records
		for i := range batch.NumRecords {
			l, n := binary.Varint(rest)
			var r kmsg.Record
			if err := r.ReadFrom(rest[:n+int(l)]); err != nil {
				t.Fatalf("record %d of batch at %d: %v", i, batch.FirstOffset, err)
			}
			offsets = append(offsets, batch.FirstOffset+int64(r.OffsetDelta))
			rest = rest[n+int(l):]
		}
		lastOffsets = append(lastOffsets, batch.FirstOffset+int64(batch.LastOffsetDelta))
		b = b[size:]
	}
	return offsets, lastOffsets
}

// TestReadConsumerOffsetsBatchesAndLimits: records come in CRC-valid v2
// batches of at most batchRecords, offsets sparse where keys were
// rewritten, up to the byte limit; the first partition of a response gets
// a record even past it.
func TestReadConsumerOffsetsBatchesAndLimits(t *testing.T) {
	smr := group.NewStateMachine()
	offsets := map[int32]group.OffsetRecord{}
	for p := range int32(batchRecords + 100) {
		offsets[p] = group.OffsetRecord{Offset: int64(p), CommitMs: 1}
	}
	cmds := []group.Command{
		{Commit: &group.Commit{Group: "g", Offsets: map[string]map[int32]group.OffsetRecord{"t": offsets}}},
		{Commit: &group.Commit{Group: "g", Offsets: map[string]map[int32]group.OffsetRecord{"t": {0: {Offset: 9}}}}},
	}
	for i, c := range cmds {
		if res, err := smr.Apply(sm.Entry{Index: uint64(i + 1), Cmd: c.Encode()}); err != nil || res.Value != 0 {
			t.Fatal(err, res)
		}
	}
	data, end := readConsumerOffsets(smr, 0, 1<<20, true)
	got, lasts := decodeBatches(t, data)
	if end != batchRecords+101 || len(got) != batchRecords+100 || got[0] != 1 || got[len(got)-1] != end-1 {
		t.Fatalf("end %d, %d records from %v to %v", end, len(got), got[:1], got[len(got)-1:])
	}
	if len(lasts) != 2 || lasts[0] != batchRecords {
		t.Fatalf("batch last offsets %v, want two batches, the first ending at %d", lasts, batchRecords)
	}
	small, _ := readConsumerOffsets(smr, 0, 10, true)
	if got, _ := decodeBatches(t, small); fmt.Sprint(got) != "[1]" {
		t.Fatalf("first partition under a tiny limit got offsets %v, want [1]", got)
	}
	if none, _ := readConsumerOffsets(smr, 0, 10, false); len(none) != 0 {
		t.Fatalf("a later partition over the limit got %d bytes", len(none))
	}
	if tail, _ := readConsumerOffsets(smr, end, 1<<20, true); len(tail) != 0 {
		t.Fatalf("read at the end offset got %d bytes", len(tail))
	}
}

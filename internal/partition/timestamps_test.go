package partition

import (
	"fmt"
	"testing"

	"github.com/longboat/longboat/internal/recordbatch"
	"github.com/longboat/longboat/internal/recordbatch/batchtest"
)

// timestampLog appends, one proposal each (so that 4 KiB segments roll):
//
//	offsets 0-3   uncompressed, ts 1000 1010 1020 1030
//	offsets 4-6   uncompressed, ts 2000 2005 2050
//	offsets 7-9   gzip,         ts 3000 3040 3100
//	offset  10    uncompressed, ts 4000
//	offsets 11-12 LogAppendTime attribute, batch max 5001
func timestampLog(t *testing.T, dir string) *StateMachine {
	t.Helper()
	s, _ := openSM(t, dir)
	batches := [][]byte{
		batchtest.Batch{FirstTimestamp: 1000, TsDeltas: []int64{0, 10, 20, 30}, ValueSize: 400, Seed: 1}.Build(),
		batchtest.Batch{FirstTimestamp: 2000, TsDeltas: []int64{0, 5, 50}, ValueSize: 900, Seed: 2}.Build(),
		batchtest.Batch{FirstTimestamp: 3000, TsDeltas: []int64{0, 40, 100}, ValueSize: 700, Gzip: true, Seed: 3}.Build(),
		batchtest.Batch{FirstTimestamp: 4000, TsDeltas: []int64{0}, ValueSize: 3000, Seed: 4}.Build(),
		batchtest.Batch{FirstTimestamp: 5000, TsDeltas: []int64{0, 1}, Attributes: recordbatch.AttrLogAppendTime, Seed: 5}.Build(),
	}
	for i, b := range batches {
		apply(t, s, uint64(i+1), proposal{term: 1, batches: [][]byte{b}})
	}
	if s.HighWatermark() != 13 {
		t.Fatalf("HW %d, want 13", s.HighWatermark())
	}
	return s
}

func TestOffsetForTimestamp(t *testing.T) {
	dir := t.TempDir()
	s := timestampLog(t, dir)
	tests := []struct {
		ts         int64
		wantOffset int64
		wantTs     int64
		found      bool
	}{
		{0, 0, 1000, true},
		{1000, 0, 1000, true},
		{1001, 1, 1010, true},
		{1010, 1, 1010, true},
		{1025, 3, 1030, true},
		{1030, 3, 1030, true},
		{1031, 4, 2000, true}, // first record of the next batch
		{2005, 5, 2005, true},
		{2006, 6, 2050, true},
		{2051, 7, 3000, true}, // compressed: decompressed to find the record
		{3001, 8, 3040, true},
		{3040, 8, 3040, true},
		{3041, 9, 3100, true},
		{3100, 9, 3100, true},
		{3101, 10, 4000, true},
		{4001, 11, 5001, true}, // LogAppendTime: every record carries the batch time
		{5001, 11, 5001, true},
		{5002, -1, -1, false},
	}
	check := func(t *testing.T, s *StateMachine) {
		for _, tc := range tests {
			t.Run(fmt.Sprint(tc.ts), func(t *testing.T) {
				off, ts, found, err := s.OffsetForTimestamp(tc.ts)
				if err != nil {
					t.Fatal(err)
				}
				if off != tc.wantOffset || ts != tc.wantTs || found != tc.found {
					t.Errorf("OffsetForTimestamp(%d) = %d, %d, %v; want %d, %d, %v", tc.ts, off, ts, found, tc.wantOffset, tc.wantTs, tc.found)
				}
			})
		}
	}
	check(t, s)

	// The same answers from segments reopened from disk.
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	re, _ := openSM(t, dir)
	t.Run("reopened", func(t *testing.T) { check(t, re) })
}

func TestOffsetForTimestampEmptyLog(t *testing.T) {
	s, _ := openSM(t, t.TempDir())
	if off, ts, found, err := s.OffsetForTimestamp(0); err != nil || found || off != -1 || ts != -1 {
		t.Errorf("empty log: %d, %d, %v, %v", off, ts, found, err)
	}
	if off, ts, found, err := s.MaxTimestamp(); err != nil || found || off != -1 || ts != -1 {
		t.Errorf("empty log MaxTimestamp: %d, %d, %v, %v", off, ts, found, err)
	}
}

func TestMaxTimestamp(t *testing.T) {
	s, _ := openSM(t, t.TempDir())
	step := func(idx uint64, b []byte, wantOff, wantTs int64) {
		t.Helper()
		apply(t, s, idx, proposal{term: 1, batches: [][]byte{b}})
		off, ts, found, err := s.MaxTimestamp()
		if err != nil || !found || off != wantOff || ts != wantTs {
			t.Errorf("after entry %d: MaxTimestamp = %d, %d, %v, %v; want %d, %d", idx, off, ts, found, err, wantOff, wantTs)
		}
	}
	// Offsets 0-3; the largest timestamp is the second record's.
	step(1, batchtest.Batch{FirstTimestamp: 1000, TsDeltas: []int64{0, 900, 100, 5}, ValueSize: 500}.Build(), 1, 1900)
	// Offsets 4-5, all smaller.
	step(2, batchtest.Batch{FirstTimestamp: 1500, TsDeltas: []int64{0, 1}, ValueSize: 2000}.Build(), 1, 1900)
	// Offsets 6-8: ties 1900 at offset 8; the earlier record stays the answer.
	step(3, batchtest.Batch{FirstTimestamp: 1800, TsDeltas: []int64{0, 50, 100}, ValueSize: 1500}.Build(), 1, 1900)
	// Offsets 9-13, new maximum on the last record, in a later segment.
	step(4, batchtest.Batch{FirstTimestamp: 2000, TsDeltas: []int64{0, 1, 2, 3, 7}, ValueSize: 800}.Build(), 13, 2007)
	// Offsets 14-16, gzip with a larger max on its second record.
	step(5, batchtest.Batch{FirstTimestamp: 9000, TsDeltas: []int64{0, 500, 20}, Gzip: true}.Build(), 15, 9500)
	// Offsets 17-18, smaller again.
	step(6, batchtest.Batch{FirstTimestamp: 100, TsDeltas: []int64{0, 1}}.Build(), 15, 9500)
}

package partition

import (
	"bufio"
	"bytes"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"

	sm "github.com/lni/dragonboat/v4/statemachine"

	"github.com/longboat/longboat/internal/recordbatch/batchtest"
	"github.com/longboat/longboat/internal/storage"
)

// produceEntries applies one idempotent batch per entry from firstIndex on,
// producer ids cycling through pids, each continuing its own sequence
// (seqs is kept by the caller across calls).
func produceEntries(t testing.TB, s *StateMachine, firstIndex uint64, n int, pids int64, seqs map[int64]int32) {
	t.Helper()
	for i := range n {
		index := firstIndex + uint64(i)
		pid := int64(index) % pids
		seq := seqs[pid]
		seqs[pid] = seq + 1
		cmd := EncodeAppend(1, 1700000000000+int64(index), false, batchtest.Producer(pid, 0, seq, 1))
		if _, err := s.Update([]sm.Entry{{Index: index, Cmd: cmd}}); err != nil {
			t.Fatal(err)
		}
	}
}

func sameProducers(t *testing.T, got, want *StateMachine) {
	t.Helper()
	if !reflect.DeepEqual(got.producers, want.producers) {
		t.Fatalf("producer state differs: %d producers, want %d (sweep %d, want %d)",
			len(got.producers.ByID), len(want.producers.ByID), got.producers.LastSweep, want.producers.LastSweep)
	}
}

func journalSize(t *testing.T, dir string) (uint64, int64) {
	t.Helper()
	gens, err := journalGens(dir)
	if err != nil || len(gens) != 1 {
		t.Fatalf("journal generations in %s: %v, %v; want one", dir, gens, err)
	}
	fi, err := os.Stat(journalPath(dir, gens[0]))
	if err != nil {
		t.Fatal(err)
	}
	return gens[0], fi.Size()
}

// A Sync writes only the producers that changed since the last one, and a
// reopened replica has exactly the state it checkpointed, across
// compactions of the journal.
func TestProducerJournalIsIncremental(t *testing.T) {
	const producers, perSync = 400, 20
	dir := t.TempDir()
	s, _ := openSM(t, dir)
	seqs := map[int64]int32{}
	produceEntries(t, s, 1, producers, producers, seqs)
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	gen, full := journalSize(t, dir)
	produceEntries(t, s, producers+1, 10, producers, seqs)
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if g, size := journalSize(t, dir); g != gen || size-full > full/20 {
		t.Fatalf("a Sync after 10 of %d producers changed wrote %d bytes to generation %d; the whole state is %d bytes in generation %d", producers, size-full, g, full, gen)
	}
	grown := journalSizeOf(t, dir)
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if size := journalSizeOf(t, dir); size != grown {
		t.Fatalf("a Sync without changes wrote %d bytes to the journal", size-grown)
	}
	// Enough Syncs for the changes to outgrow the full record: a new
	// generation, the old one removed.
	index := uint64(producers + 11)
	for range 60 {
		produceEntries(t, s, index, perSync, producers, seqs)
		index += perSync
		if err := s.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	if g, size := journalSize(t, dir); g == gen || size > s.journal.full+max(s.journal.full, minJournalBytes) {
		t.Fatalf("after 60 Syncs: generation %d (was %d), %d bytes; the whole state is %d", g, gen, size, s.journal.full)
	}
	s.Close()
	re, applied := openSM(t, dir)
	if applied != index-1 {
		t.Fatalf("reopened at %d, want %d", applied, index-1)
	}
	sameProducers(t, re, s)
	// The reopened replica goes on journalling where it stood.
	produceEntries(t, re, index, 10, producers, seqs)
	if err := re.Sync(); err != nil {
		t.Fatal(err)
	}
	re.Close()
	again, _ := openSM(t, dir)
	sameProducers(t, again, re)
}

func journalSizeOf(t *testing.T, dir string) int64 {
	t.Helper()
	_, size := journalSize(t, dir)
	return size
}

// A crash during a Sync leaves journal bytes no checkpoint covers: a torn
// record, a whole one whose checkpoint was never written, or a new
// generation. The replica opens at its last checkpoint with that
// checkpoint's producer state, Raft replays the entries after it, and the
// result is what a replica that never crashed holds.
func TestProducerJournalCrashTail(t *testing.T) {
	for _, tc := range []struct {
		name  string
		crash func(t *testing.T, s *StateMachine)
	}{
		{"torn record", func(t *testing.T, s *StateMachine) {
			ref, err := s.journal.write(s.producers)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(journalPath(s.dir, ref.Gen), ref.Len-5); err != nil {
				t.Fatal(err)
			}
		}},
		{"record without its checkpoint", func(t *testing.T, s *StateMachine) {
			if _, err := s.journal.write(s.producers); err != nil {
				t.Fatal(err)
			}
		}},
		{"garbage after the last record", func(t *testing.T, s *StateMachine) {
			f, err := os.OpenFile(journalPath(s.dir, s.journal.gen), os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.Write(bytes.Repeat([]byte{0xff}, 100))
			f.Close()
		}},
		{"new generation without its checkpoint", func(t *testing.T, s *StateMachine) {
			if err := s.journal.compact(s.producers); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s, _ := openSM(t, dir)
			ref, _ := openSM(t, t.TempDir())
			seqs, refSeqs := map[int64]int32{}, map[int64]int32{}
			produceEntries(t, s, 1, 300, 200, seqs)
			produceEntries(t, ref, 1, 300, 200, refSeqs)
			if err := s.Sync(); err != nil {
				t.Fatal(err)
			}
			replay := maps(seqs)
			produceEntries(t, s, 301, 50, 200, seqs)
			produceEntries(t, ref, 301, 50, 200, refSeqs)
			tc.crash(t, s)
			crash(s)

			re, applied := openSM(t, dir)
			if applied != 300 {
				t.Fatalf("reopened at %d, want the checkpoint's 300", applied)
			}
			produceEntries(t, re, 301, 50, 200, replay)
			sameProducers(t, re, ref)
			sameLog(t, re, ref)
			// A retry of a batch replayed after the crash is recognised:
			// producer 107's last batch was entry 307, at offset 306.
			if off, code := applyAt(t, re, 351, 1, batchtest.Producer(107, 0, replay[107]-1, 1)); code != 0 || off != 306 {
				t.Fatalf("retry of producer 107's last batch: offset %d code %d, want 306", off, code)
			}
			if err := re.Sync(); err != nil {
				t.Fatal(err)
			}
			re.Close()
			again, _ := openSM(t, dir)
			sameProducers(t, again, re)
		})
	}
}

func maps(m map[int64]int32) map[int64]int32 {
	c := make(map[int64]int32, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// Bytes a checkpoint covers were fsynced before it was written: damage
// there is the disk's, and the replica goes offline naming the journal
// rather than open with a producer state other replicas do not have.
func TestProducerJournalDamageUnderCheckpoint(t *testing.T) {
	dir := t.TempDir()
	s, _ := openSM(t, dir)
	produceEntries(t, s, 1, 100, 50, map[int64]int32{})
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	gen := s.journal.gen
	s.Close()
	path := journalPath(dir, gen)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x20
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	re := New(testShard, dir, smallSegments)
	if _, err := re.Open(nil); err == nil {
		t.Fatal("opened over a damaged producer journal")
	}
	if re.Fault() == nil || !strings.Contains(re.Fault().Error(), "producer journal") {
		t.Fatalf("fault %v does not name the producer journal", re.Fault())
	}
}

// equal must compare every field of producer: one it missed would not be
// journalled, and a reopened replica would decide differently from others.
func TestProducerEqualCoversEveryField(t *testing.T) {
	base := producer{Epoch: 1, LastSeen: 2, Batches: []batchRecord{{1, 2, 3}}, Txn: true, TxnFirst: 4, CoordNext: 5}
	v := reflect.ValueOf(&base).Elem()
	for i := range v.NumField() {
		changed := copyProducer(&base)
		f := reflect.ValueOf(&changed).Elem().Field(i)
		switch f.Kind() {
		case reflect.Bool:
			f.SetBool(!f.Bool())
		case reflect.Int16, reflect.Int32, reflect.Int64:
			f.SetInt(f.Int() + 1)
		case reflect.Slice:
			f.Set(reflect.ValueOf([]batchRecord{{1, 2, 4}}))
		default:
			t.Fatalf("field %s of kind %s: teach this test and producer.equal about it", v.Type().Field(i).Name, f.Kind())
		}
		if changed.equal(&base) {
			t.Errorf("producer.equal ignores field %s", v.Type().Field(i).Name)
		}
	}
}

// BenchmarkProducerCheckpoint is what checkpointing costs a produce with
// 10,000 producers, one idempotent batch per Raft entry and a Sync every
// 100 entries (dragonboat's snapshot interval, --raft-snapshot-entries):
// "whole" writes the state inside checkpoint.json as before the journal,
// "journal" as Sync does now. written-B/op is the bytes the process
// wrote per produce (log appends included, the same in both):
// go test -run '^$' -bench ProducerCheckpoint -benchtime 20000x ./internal/partition/
func BenchmarkProducerCheckpoint(b *testing.B) {
	const producers, syncEvery = 10000, 100
	for _, mode := range []string{"whole", "journal"} {
		b.Run(mode, func(b *testing.B) {
			dir := b.TempDir()
			s := New(testShard, dir, storage.Options{SegmentBytes: 64 << 20})
			if _, err := s.Open(nil); err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			seqs := map[int64]int32{}
			index := uint64(1)
			produceEntries(b, s, index, producers, producers, seqs) // every producer known
			index += producers
			if err := s.Sync(); err != nil {
				b.Fatal(err)
			}
			before := wchar(b)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				produceEntries(b, s, index, 1, producers, seqs)
				index++
				if i%syncEvery != syncEvery-1 {
					continue
				}
				var err error
				if mode == "whole" {
					err = wholeSync(s)
				} else {
					err = s.Sync()
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if before >= 0 {
				b.ReportMetric(float64(wchar(b)-before)/float64(b.N), "written-B/op")
			}
		})
	}
}

// wholeSync is Sync as it was before the journal: the whole producer
// state inside checkpoint.json.
func wholeSync(s *StateMachine) error {
	if err := s.log.Sync(); err != nil {
		return err
	}
	return s.writeCheckpoint(checkpoint{Applied: s.applied, NextOffset: s.log.NextOffset(), StartOffset: s.log.StartOffset(), Producers: s.producers,
		LogStartOffset: s.start.Load(), Epochs: s.epochs.list(), Aborted: s.txns.list()})
}

// wchar is the bytes this process has passed to write calls (-1 where
// /proc/self/io is not there): the log appends, the same in both modes,
// plus the checkpoints.
func wchar(b *testing.B) int64 {
	f, err := os.Open("/proc/self/io")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "wchar: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return n
		}
	}
	return -1
}

package partition

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/longboat/longboat/internal/durable"
)

// The producer state is checkpointed as a journal rather than inside
// checkpoint.json: each Sync appends only the producers that changed since
// the previous one, so a partition with thousands of producer ids no longer
// rewrites all of them every Raft snapshot. The journal starts with a full
// record and is replaced by a new generation holding one full record once
// the changes after it outgrow it (or minJournalBytes). checkpoint.json names the
// generation and the length that matches it; Open reads exactly that much,
// drops what lies beyond (records of a Sync whose checkpoint was never
// written, or a torn tail), and dragonboat replays the Raft entries after
// the checkpoint as for any crash.

// minJournalBytes is the least the changes in a generation may grow to
// before it is compacted, so that few producers do not compact at every
// Sync.
const minJournalBytes = 64 << 10

// journalRef is the part of a journal a checkpoint stands on.
type journalRef struct {
	Gen uint64 `json:"gen"`
	Len int64  `json:"len"`
}

// journalRecord is one Sync's changes, or (Full) the whole state.
type journalRecord struct {
	Full  bool                `json:"full,omitempty"`
	Sweep int64               `json:"sweep"`
	Set   map[int64]*producer `json:"set,omitempty"`
	Del   []int64             `json:"del,omitempty"`
}

// journalHeader frames a record: payload length and its CRC-32C.
const journalHeader = 8

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// prodJournal writes the journal. It is used under the state machine's
// cpMu.
type prodJournal struct {
	dir     string
	gen     uint64   // current generation; 0: none yet, the next write is full
	f       *os.File // the current generation, open for appending
	size    int64    // bytes written to f
	full    int64    // bytes of the full record f began with
	synced  map[int64]producer
	sweep   int64
	retired []uint64 // generations to remove once a checkpoint names a newer one
}

func journalPath(dir string, gen uint64) string {
	return filepath.Join(dir, fmt.Sprintf("producers-%d.journal", gen))
}

// journalGens lists the generations present in dir.
func journalGens(dir string) ([]uint64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []uint64
	for _, e := range ents {
		name, ok := strings.CutPrefix(e.Name(), "producers-")
		if !ok {
			continue
		}
		name, ok = strings.CutSuffix(name, ".journal")
		if !ok {
			continue
		}
		if gen, err := strconv.ParseUint(name, 10, 64); err == nil {
			out = append(out, gen)
		}
	}
	slices.Sort(out)
	return out, nil
}

// openJournal loads the producer state ref names (nil: none, as a
// checkpoint from before the journal or one written mid-install has), cuts
// the generation back to ref.Len and removes every other generation.
func openJournal(dir string, ref *journalRef) (*prodJournal, *producers, error) {
	j := &prodJournal{dir: dir, synced: map[int64]producer{}}
	gens, err := journalGens(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("producer journal: %w", err)
	}
	for _, g := range gens {
		if ref != nil && g == ref.Gen {
			continue
		}
		if err := os.Remove(journalPath(dir, g)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, nil, fmt.Errorf("producer journal: remove unused generation: %w", err)
		}
	}
	if ref == nil {
		if len(gens) > 0 {
			j.gen = gens[len(gens)-1]
		}
		return j, nil, nil
	}
	path := journalPath(dir, ref.Gen)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("producer journal %s: %w", path, err)
	}
	ps, full, err := readJournal(io.NewSectionReader(f, 0, ref.Len), ref.Len)
	if err == nil {
		err = f.Truncate(ref.Len)
	}
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("producer journal %s: %w", path, err)
	}
	if _, err := f.Seek(ref.Len, io.SeekStart); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("producer journal %s: %w", path, err)
	}
	j.gen, j.f, j.size, j.full, j.sweep = ref.Gen, f, ref.Len, full, ps.LastSweep
	for id, p := range ps.ByID {
		j.synced[id] = copyProducer(p)
	}
	return j, ps, nil
}

// readJournal replays n bytes of records, which a checkpoint covers and
// which were therefore fsynced whole: any damage in them is an error. It
// returns the state and the size of the first (full) record.
func readJournal(r io.Reader, n int64) (*producers, int64, error) {
	ps := newProducers()
	var read, full int64
	var head [journalHeader]byte
	for read < n {
		if _, err := io.ReadFull(r, head[:]); err != nil {
			return nil, 0, fmt.Errorf("record at %d: %w", read, err)
		}
		size := int64(binary.BigEndian.Uint32(head[:4]))
		if read+journalHeader+size > n {
			return nil, 0, fmt.Errorf("record at %d of %d bytes runs past the checkpointed length %d", read, size, n)
		}
		payload := make([]byte, size)
		if _, err := io.ReadFull(r, payload); err != nil {
			return nil, 0, fmt.Errorf("record at %d: %w", read, err)
		}
		if crc32.Checksum(payload, crcTable) != binary.BigEndian.Uint32(head[4:]) {
			return nil, 0, fmt.Errorf("record at %d: checksum mismatch", read)
		}
		var rec journalRecord
		if err := json.Unmarshal(payload, &rec); err != nil {
			return nil, 0, fmt.Errorf("record at %d: %w", read, err)
		}
		if read == 0 {
			if !rec.Full {
				return nil, 0, errors.New("the first record is not a full one")
			}
			full = journalHeader + size
		}
		if rec.Full {
			ps = newProducers()
		}
		for id, p := range rec.Set {
			ps.ByID[id] = p
		}
		for _, id := range rec.Del {
			delete(ps.ByID, id)
		}
		ps.LastSweep = rec.Sweep
		read += journalHeader + size
	}
	if read == 0 {
		return nil, 0, errors.New("no record")
	}
	return ps, full, nil
}

// write makes ps durable as a record (nothing when nothing changed since
// the last) and returns what the next checkpoint stands on.
func (j *prodJournal) write(ps *producers) (journalRef, error) {
	rec := journalRecord{Sweep: ps.LastSweep, Set: map[int64]*producer{}}
	for id, p := range ps.ByID {
		if old, ok := j.synced[id]; !ok || !old.equal(p) {
			rec.Set[id] = p
		}
	}
	for id := range j.synced {
		if _, ok := ps.ByID[id]; !ok {
			rec.Del = append(rec.Del, id)
		}
	}
	if j.f != nil && len(rec.Set) == 0 && len(rec.Del) == 0 && rec.Sweep == j.sweep {
		return journalRef{Gen: j.gen, Len: j.size}, nil
	}
	b, err := encodeRecord(rec)
	if err != nil {
		return journalRef{}, err
	}
	if j.f == nil || j.size-j.full+int64(len(b)) > max(j.full, minJournalBytes) {
		if err := j.compact(ps); err != nil {
			return journalRef{}, err
		}
		return journalRef{Gen: j.gen, Len: j.size}, nil
	}
	if _, err := j.f.Write(b); err != nil {
		return journalRef{}, j.writeFailed(err)
	}
	if err := j.f.Sync(); err != nil {
		return journalRef{}, j.writeFailed(err)
	}
	j.size += int64(len(b))
	for id, p := range rec.Set {
		j.synced[id] = copyProducer(p)
	}
	for _, id := range rec.Del {
		delete(j.synced, id)
	}
	j.sweep = rec.Sweep
	return journalRef{Gen: j.gen, Len: j.size}, nil
}

// writeFailed cuts a partial record off the journal, so that the next
// write does not append after it, and returns err.
func (j *prodJournal) writeFailed(err error) error {
	terr := j.f.Truncate(j.size)
	_, serr := j.f.Seek(j.size, io.SeekStart)
	return fmt.Errorf("producer journal %s: %w", j.f.Name(), errors.Join(err, terr, serr))
}

// compact starts a new generation holding ps whole; the current one is
// removed once a checkpoint names the new one (committed).
func (j *prodJournal) compact(ps *producers) error {
	b, err := encodeRecord(journalRecord{Full: true, Sweep: ps.LastSweep, Set: ps.ByID})
	if err != nil {
		return err
	}
	gen := j.gen + 1
	path := journalPath(j.dir, gen)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("producer journal %s: %w", path, err)
	}
	_, werr := f.Write(b)
	serr := f.Sync()
	if err := errors.Join(werr, serr); err != nil {
		f.Close()
		return fmt.Errorf("producer journal %s: %w", path, err)
	}
	if err := durable.SyncDir(j.dir); err != nil {
		f.Close()
		return fmt.Errorf("producer journal %s: %w", path, err)
	}
	if j.f != nil {
		_ = j.f.Close() // fsynced after every record: nothing to lose
		j.retired = append(j.retired, j.gen)
	}
	j.gen, j.f, j.size, j.full, j.sweep = gen, f, int64(len(b)), int64(len(b)), ps.LastSweep
	j.synced = make(map[int64]producer, len(ps.ByID))
	for id, p := range ps.ByID {
		j.synced[id] = copyProducer(p)
	}
	return nil
}

// committed removes the generations no checkpoint names any more.
func (j *prodJournal) committed() {
	for _, g := range j.retired {
		_ = os.Remove(journalPath(j.dir, g)) // a leftover is removed by the next Open
	}
	j.retired = nil
}

func (j *prodJournal) close() {
	if j != nil && j.f != nil {
		_ = j.f.Close() // fsynced after every record: nothing to lose
		j.f = nil
	}
}

func encodeRecord(rec journalRecord) ([]byte, error) {
	var buf bytes.Buffer
	buf.Write(make([]byte, journalHeader))
	if err := json.NewEncoder(&buf).Encode(rec); err != nil {
		return nil, fmt.Errorf("producer journal: %w", err)
	}
	b := buf.Bytes()
	binary.BigEndian.PutUint32(b[:4], uint32(len(b)-journalHeader))
	binary.BigEndian.PutUint32(b[4:8], crc32.Checksum(b[journalHeader:], crcTable))
	return b, nil
}

func copyProducer(p *producer) producer {
	c := *p
	c.Batches = slices.Clone(p.Batches)
	return c
}

// equal tells whether p holds the same state as q.
func (p *producer) equal(q *producer) bool {
	return p.Epoch == q.Epoch && p.LastSeen == q.LastSeen && p.Txn == q.Txn && p.TxnFirst == q.TxnFirst &&
		p.CoordNext == q.CoordNext && p.TxnSeq == q.TxnSeq && slices.Equal(p.Batches, q.Batches)
}

package storage

import (
	"crypto/sha256"
	"encoding/binary"
)

// offsetMapEntrySize is what one key costs in an OffsetMap: a 16-byte key
// digest and the offset, as in Kafka's SkimpyOffsetMap.
const offsetMapEntrySize = 24

// offsetMapLoad is the share of slots filled before the map says it is
// full (Kafka's log.cleaner.io.buffer.load.factor).
const offsetMapLoad = 0.9

// OffsetMap maps key digests to the offset of the last record seen with
// that key, in a fixed table: its memory is the cleaner's dedupe buffer,
// whatever the keys. The table is sized for each pass to what the dirty
// bytes could hold, up to the budget, and kept for the next pass, so an
// idle or small log does not cost the whole budget. Two keys with the same
// 128-bit digest would be taken for one; SHA-256 makes that as unlikely
// as Kafka's MD5 does, without MD5's known collisions.
type OffsetMap struct {
	budget  int64
	digests [][16]byte
	offsets []int64 // offset+1; 0 marks a free slot
	used    int
	limit   int
}

// minRecordBytes is the smallest a record with a key can be on disk (its
// length, attributes, three varints, a one-byte key, a null value and no
// headers), which bounds how many keys dirty bytes can hold.
const minRecordBytes = 7

// NewOffsetMap returns a map that uses at most bytes of memory; it holds
// at least one key.
func NewOffsetMap(bytes int64) *OffsetMap {
	return &OffsetMap{budget: max(bytes, 2*offsetMapEntrySize)}
}

// prepare empties the map for a pass over dirty bytes.
func (m *OffsetMap) prepare(dirty int64) {
	want := m.budget
	if dirty < m.budget/offsetMapEntrySize*minRecordBytes {
		want = max(int64(float64(dirty/minRecordBytes+1)/offsetMapLoad+1)*offsetMapEntrySize, 2*offsetMapEntrySize)
	}
	slots := int(want / offsetMapEntrySize)
	if slots > len(m.offsets) {
		m.digests, m.offsets = make([][16]byte, slots), make([]int64, slots)
	} else {
		clear(m.offsets)
	}
	m.used = 0
	m.limit = max(int(float64(len(m.offsets))*offsetMapLoad), 1)
}

// Capacity is how many distinct keys the map holds at most: its budget.
func (m *OffsetMap) Capacity() int {
	return max(int(float64(m.budget/offsetMapEntrySize)*offsetMapLoad), 1)
}

// Len is how many distinct keys the map holds.
func (m *OffsetMap) Len() int { return m.used }

func digest(key []byte) [16]byte {
	sum := sha256.Sum256(key)
	var d [16]byte
	copy(d[:], sum[:16])
	return d
}

// slot finds d's slot, or the free slot where it would go, by linear probing.
func (m *OffsetMap) slot(d [16]byte) int {
	i := int(binary.BigEndian.Uint64(d[:8]) % uint64(len(m.offsets)))
	for m.offsets[i] != 0 && m.digests[i] != d {
		i++
		if i == len(m.offsets) {
			i = 0
		}
	}
	return i
}

// put records offset for key; false when the key is new and the map full.
func (m *OffsetMap) put(key []byte, offset int64) bool {
	d := digest(key)
	i := m.slot(d)
	if m.offsets[i] == 0 {
		if m.used >= m.limit {
			return false
		}
		m.used++
		m.digests[i] = d
	}
	m.offsets[i] = offset + 1
	return true
}

// get returns the last offset recorded for key.
func (m *OffsetMap) get(key []byte) (int64, bool) {
	i := m.slot(digest(key))
	if m.offsets[i] == 0 {
		return 0, false
	}
	return m.offsets[i] - 1, true
}

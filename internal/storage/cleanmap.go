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
// that key, in a fixed table allocated once: its memory is the cleaner's
// dedupe buffer, whatever the keys. Two keys with the same 128-bit digest
// would be taken for one; SHA-256 makes that as unlikely as Kafka's MD5
// does, without MD5's known collisions.
type OffsetMap struct {
	digests [][16]byte
	offsets []int64 // offset+1; 0 marks a free slot
	used    int
	limit   int
}

// NewOffsetMap sizes a map to bytes of memory; it holds at least one key.
func NewOffsetMap(bytes int64) *OffsetMap {
	slots := max(int(bytes/offsetMapEntrySize), 2)
	return &OffsetMap{
		digests: make([][16]byte, slots),
		offsets: make([]int64, slots),
		limit:   max(int(float64(slots)*offsetMapLoad), 1),
	}
}

// Capacity is how many distinct keys fit.
func (m *OffsetMap) Capacity() int { return m.limit }

// Len is how many distinct keys the map holds.
func (m *OffsetMap) Len() int { return m.used }

func (m *OffsetMap) reset() {
	clear(m.offsets)
	m.used = 0
}

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

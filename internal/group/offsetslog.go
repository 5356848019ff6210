package group

import (
	"cmp"
	"slices"
	"sort"
	"time"
)

// TombstoneRetention is how long a deleted key's tombstone stays readable
// (Kafka's delete.retention.ms default), so that a reader replaying the
// partition learns of the deletion.
const TombstoneRetention = 24 * time.Hour

// The shard's partition of __consumer_offsets is kept as Kafka's log cleaner
// would leave it: per key only its latest record, at the offset it was
// given when its command was applied. Offsets are therefore sparse, and
// every replica assigns the same ones because they are handed out in Apply
// order. Record contents are not stored twice: a live key's value is the
// group or offset the state machine holds anyway.

// LogKey is the key of one record of the partition: a group's metadata
// (Offset false) or one committed offset of the group.
type LogKey struct {
	Group     string `json:"g"`
	Offset    bool   `json:"o,omitempty"`
	Topic     string `json:"t,omitempty"`
	Partition int32  `json:"p,omitempty"`
}

// logSlot is where a key's latest record sits.
type logSlot struct {
	Offset    int64 `json:"offset"`
	Tombstone bool  `json:"tombstone,omitempty"`
	// DeletedMs is when a tombstone was written (its command's time).
	DeletedMs int64 `json:"deleted_ms,omitempty"`
}

type logEntry struct {
	offset int64
	key    LogKey
}

// offsetsLog indexes the live records of the partition. order lists record
// offsets ascending; an entry is stale once its key has a later record, and
// stale entries are dropped when they outnumber the live ones. tombs lists
// tombstones in the order they were written, for their expiry.
type offsetsLog struct {
	next  int64
	slots map[LogKey]logSlot
	order []logEntry
	tombs []logEntry
}

func newOffsetsLog() *offsetsLog { return &offsetsLog{slots: map[LogKey]logSlot{}} }

// write gives key the next offset.
func (l *offsetsLog) write(key LogKey, tombstone bool, atMs int64) {
	s := logSlot{Offset: l.next, Tombstone: tombstone}
	e := logEntry{offset: l.next, key: key}
	l.next++
	if tombstone {
		s.DeletedMs = atMs
		l.tombs = append(l.tombs, e)
	}
	l.slots[key] = s
	l.order = append(l.order, e)
	if len(l.order) > 2*len(l.slots)+1024 {
		l.order = slices.DeleteFunc(l.order, func(e logEntry) bool { return !l.live(e) })
	}
}

func (l *offsetsLog) live(e logEntry) bool {
	s, ok := l.slots[e.key]
	return ok && s.Offset == e.offset
}

// expire drops tombstones older than TombstoneRetention at nowMs, the
// applying command's time, so every replica drops the same ones. The
// partition's last record stays, so that a reader at the end offset's
// predecessor always finds a record to move past.
func (l *offsetsLog) expire(nowMs int64) {
	for len(l.tombs) > 0 {
		e := l.tombs[0]
		s, ok := l.slots[e.key]
		if ok && s.Offset == e.offset && s.Tombstone {
			if s.DeletedMs+TombstoneRetention.Milliseconds() > nowMs || e.offset == l.next-1 {
				return
			}
			delete(l.slots, e.key)
		}
		l.tombs = l.tombs[1:]
	}
}

// rebuild derives order and tombs from slots (after a snapshot is loaded).
func (l *offsetsLog) rebuild() {
	l.order, l.tombs = l.order[:0], l.tombs[:0]
	for k, s := range l.slots {
		l.order = append(l.order, logEntry{offset: s.Offset, key: k})
		if s.Tombstone {
			l.tombs = append(l.tombs, logEntry{offset: s.Offset, key: k})
		}
	}
	byOffset := func(a, b logEntry) int { return cmp.Compare(a.offset, b.offset) }
	slices.SortFunc(l.order, byOffset)
	slices.SortFunc(l.tombs, byOffset)
}

// logSnapshot is the log index as a snapshot holds it.
type logSnapshot struct {
	Next  int64       `json:"next"`
	Slots []savedSlot `json:"slots"`
}

type savedSlot struct {
	Key  LogKey  `json:"key"`
	Slot logSlot `json:"slot"`
}

func (l *offsetsLog) save() logSnapshot {
	out := logSnapshot{Next: l.next, Slots: make([]savedSlot, 0, len(l.slots))}
	for _, e := range l.order {
		if l.live(e) {
			out.Slots = append(out.Slots, savedSlot{Key: e.key, Slot: l.slots[e.key]})
		}
	}
	return out
}

func loadOffsetsLog(s logSnapshot) *offsetsLog {
	l := newOffsetsLog()
	l.next = s.Next
	for _, ss := range s.Slots {
		l.slots[ss.Key] = ss.Slot
	}
	l.rebuild()
	return l
}

// numberLegacy gives the groups of a snapshot written before the partition
// existed their records, in a fixed order (group name, then its metadata,
// then topic and partition), so that replicas loading the same snapshot
// agree.
func numberLegacy(groups map[string]*Record) *offsetsLog {
	l := newOffsetsLog()
	names := make([]string, 0, len(groups))
	for name := range groups {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		g := groups[name]
		if g.hasMetadata() {
			l.write(LogKey{Group: name}, false, 0)
		}
		forEachOffset(g.Offsets, func(topic string, p int32) {
			l.write(LogKey{Group: name, Offset: true, Topic: topic, Partition: p}, false, 0)
		})
	}
	return l
}

// hasMetadata tells whether a group was ever stored by a rebalance (a
// group known only from offset commits has no metadata record, as in Kafka).
func (g *Record) hasMetadata() bool { return g.ProtocolType != "" || g.Generation != 0 }

// forEachOffset visits offsets by topic, then partition: commands carry
// maps, and every replica must number their records alike.
func forEachOffset[V any](offsets map[string]map[int32]V, fn func(topic string, p int32)) {
	topics := make([]string, 0, len(offsets))
	for t := range offsets {
		topics = append(topics, t)
	}
	sort.Strings(topics)
	for _, t := range topics {
		parts := make([]int32, 0, len(offsets[t]))
		for p := range offsets[t] {
			parts = append(parts, p)
		}
		slices.Sort(parts)
		for _, p := range parts {
			fn(t, p)
		}
	}
}

// GroupMetadata is a group's metadata record.
type GroupMetadata struct {
	ProtocolType string
	Protocol     string
	Generation   int32
	Leader       string
	Members      []MemberRecord // Protocols holds the chosen protocol's metadata
}

// LogRecord is one record of the shard's __consumer_offsets partition. A
// tombstone has neither Committed nor Group.
type LogRecord struct {
	Offset      int64
	TimestampMs int64
	Key         LogKey
	Committed   *OffsetRecord
	Group       *GroupMetadata
}

// ReadLog calls fn with the records at or after offset from, in offset
// order, until fn returns false, and returns the partition's end offset.
func (m *StateMachine) ReadLog(from int64, fn func(LogRecord) bool) int64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	l := m.log
	i := sort.Search(len(l.order), func(i int) bool { return l.order[i].offset >= from })
	for _, e := range l.order[i:] {
		if !l.live(e) {
			continue
		}
		if !fn(m.logRecord(e)) {
			break
		}
	}
	return l.next
}

// LogEnd returns the end offset (high watermark) of the shard's partition.
func (m *StateMachine) LogEnd() int64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.log.next
}

// Appended is closed at the next record written to the shard's partition.
func (m *StateMachine) Appended() <-chan struct{} {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.appended
}

func (m *StateMachine) logRecord(e logEntry) LogRecord {
	s := m.log.slots[e.key]
	r := LogRecord{Offset: e.offset, Key: e.key, TimestampMs: s.DeletedMs}
	if s.Tombstone {
		return r
	}
	g := m.groups[e.key.Group]
	if e.key.Offset {
		o := g.Offsets[e.key.Topic][e.key.Partition]
		r.Committed, r.TimestampMs = &o, o.CommitMs
		return r
	}
	r.Group = &GroupMetadata{ProtocolType: g.ProtocolType, Protocol: g.Protocol, Generation: g.Generation, Leader: g.Leader,
		Members: append([]MemberRecord(nil), g.Members...)}
	r.TimestampMs = g.StateMs
	return r
}

package partition

import (
	"sort"
	"sync"
)

// EpochStart records the first offset written in a leader epoch (Raft
// term), like Kafka's leader-epoch checkpoint file.
type EpochStart struct {
	Epoch       int32 `json:"epoch"`
	StartOffset int64 `json:"start_offset"`
}

// epochHistory is the replicated leader-epoch cache. It changes only on
// the apply goroutine; readers on other goroutines take the read lock.
type epochHistory struct {
	mu      sync.RWMutex
	entries []EpochStart // ascending epochs and start offsets
}

// record notes that epoch's first batch starts at offset. A batch of an
// epoch no newer than the latest (a proposal that carried a stale term)
// changes nothing, so the history stays monotonic.
func (h *epochHistory) record(epoch int32, offset int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if n := len(h.entries); n == 0 || epoch > h.entries[n-1].Epoch {
		h.entries = append(h.entries, EpochStart{Epoch: epoch, StartOffset: offset})
	}
}

// latest is the newest epoch recorded, or -1 for none.
func (h *epochHistory) latest() int32 {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if len(h.entries) == 0 {
		return -1
	}
	return h.entries[len(h.entries)-1].Epoch
}

// truncateStart drops the epochs that lie wholly below a new log start
// offset; the epoch the start falls in now starts there (Kafka's
// truncateFromStart).
func (h *epochHistory) truncateStart(offset int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	i := sort.Search(len(h.entries), func(i int) bool { return h.entries[i].StartOffset > offset }) - 1
	if i < 0 {
		return
	}
	h.entries = append([]EpochStart(nil), h.entries[i:]...)
	h.entries[0].StartOffset = offset
}

func (h *epochHistory) list() []EpochStart {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return append([]EpochStart(nil), h.entries...)
}

func (h *epochHistory) reset(entries []EpochStart) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.entries = append([]EpochStart(nil), entries...)
}

// endOffsetFor answers OffsetForLeaderEpoch for requested as Kafka's
// LeaderEpochFileCache.endOffsetFor does. The current epoch counts as
// starting at logEnd when no batch was written in it yet (Kafka records an
// epoch when a leader is elected; here the epoch is the Raft term).
// (-1, -1) means undefined: the requested epoch is newer than any known.
func (h *epochHistory) endOffsetFor(requested, current int32, logEnd int64) (int32, int64) {
	entries := h.list()
	if n := len(entries); n == 0 || current > entries[n-1].Epoch {
		entries = append(entries, EpochStart{Epoch: current, StartOffset: logEnd})
	}
	if requested < 0 {
		return -1, -1
	}
	if entries[len(entries)-1].Epoch == requested {
		return requested, logEnd
	}
	higher := sort.Search(len(entries), func(i int) bool { return entries[i].Epoch > requested })
	if higher == len(entries) {
		return -1, -1
	}
	if higher == 0 {
		return requested, entries[0].StartOffset
	}
	return entries[higher-1].Epoch, entries[higher].StartOffset
}

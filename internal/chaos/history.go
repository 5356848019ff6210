package chaos

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"
)

// Op is one line of the history. Type is invoke, ok, fail (definitely not
// done), info (outcome unknown) or event (nemesis and phase markers).
type Op struct {
	T         int64    `json:"t"` // microseconds since the run began
	Process   string   `json:"process"`
	Type      string   `json:"type"`
	F         string   `json:"f"`            // send, poll, commit, committed, final-read, replica-read, assign, nemesis
	ID        int64    `json:"id,omitempty"` // links a send's invoke to its completion
	Partition int32    `json:"partition"`
	Offset    int64    `json:"offset"`
	Value     string   `json:"value,omitempty"`
	Values    []string `json:"values,omitempty"` // a poll or read: consecutive records from Offset, with their offsets
	Offsets   []int64  `json:"offsets,omitempty"`
	Err       string   `json:"error,omitempty"`
	Broker    int      `json:"broker,omitempty"`
	Detail    string   `json:"detail,omitempty"`
}

// History appends ops as JSON lines and keeps them for the checker.
type History struct {
	start time.Time
	mu    sync.Mutex
	f     *os.File
	w     *bufio.Writer
	enc   *json.Encoder
	ops   []Op
}

func NewHistory(path string, start time.Time) (*History, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	return &History{start: start, f: f, w: w, enc: json.NewEncoder(w)}, nil
}

// Now is the history clock.
func (h *History) Now() int64 { return time.Since(h.start).Microseconds() }

// Add stamps op (unless already stamped) and records it.
func (h *History) Add(op Op) Op {
	h.mu.Lock()
	defer h.mu.Unlock()
	if op.T == 0 {
		op.T = h.Now()
	}
	h.ops = append(h.ops, op)
	_ = h.enc.Encode(op)
	return op
}

// Ops returns a copy of everything recorded so far.
func (h *History) Ops() []Op {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Op(nil), h.ops...)
}

func (h *History) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.w.Flush(); err != nil {
		return err
	}
	return h.f.Close()
}

// ReadHistory loads a history file, so a run can be checked again later.
func ReadHistory(path string) ([]Op, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var ops []Op
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var op Op
		if err := json.Unmarshal(sc.Bytes(), &op); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		ops = append(ops, op)
	}
	return ops, sc.Err()
}

package bench

import (
	"fmt"
	"io"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TxnSteps is where a transactional run's time went: per request kind the
// transactional producers sent, how many per committed transaction and
// their mean time from write to response, and per transaction the mean
// wall time from begin to the end of the flush (records) and of EndTxn.
// A transaction's requests run partly in parallel (one AddPartitionsToTxn
// and one Produce per broker at once), so the kinds do not add up to the
// wall time.
type TxnSteps struct {
	Requests  map[string]StepStat `json:"requests"`
	RecordsMs float64             `json:"records_ms"` // begin to flushed, per transaction
	EndTxnMs  float64             `json:"end_txn_ms"` // EndTransaction call, per transaction
}

// StepStat is one request kind's count per transaction and mean time.
type StepStat struct {
	PerTxn float64 `json:"per_txn"`
	MeanMs float64 `json:"mean_ms"`
}

// stepHook sums franz-go's end-to-end request timings by request key.
type stepHook struct {
	mu    sync.Mutex
	count map[int16]int64
	total map[int16]time.Duration
}

var _ kgo.HookBrokerE2E = (*stepHook)(nil)

func newStepHook() *stepHook {
	return &stepHook{count: map[int16]int64{}, total: map[int16]time.Duration{}}
}

func (h *stepHook) OnBrokerE2E(_ kgo.BrokerMetadata, key int16, e2e kgo.BrokerE2E) {
	if e2e.Err() != nil {
		return
	}
	h.mu.Lock()
	h.count[key]++
	h.total[key] += e2e.DurationE2E()
	h.mu.Unlock()
}

// steps turns the sums into per-transaction figures.
func (h *stepHook) steps(txns int64, records, end time.Duration) *TxnSteps {
	if txns == 0 {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	s := &TxnSteps{Requests: map[string]StepStat{},
		RecordsMs: ms(records / time.Duration(txns)), EndTxnMs: ms(end / time.Duration(txns))}
	for key, n := range h.count {
		name := kmsg.NameForKey(key)
		if name == "" {
			name = fmt.Sprintf("key %d", key)
		}
		s.Requests[name] = StepStat{PerTxn: float64(n) / float64(txns), MeanMs: ms(h.total[key] / time.Duration(n))}
	}
	return s
}

// WriteTxnSteps prints a transactional run's steps, the request kinds
// most frequent first.
func WriteTxnSteps(w io.Writer, s *TxnSteps) {
	if s == nil {
		return
	}
	fmt.Fprintf(w, "per transaction: records (begin to flushed) %.1f ms, EndTxn call %.1f ms; requests (count per transaction x mean ms):", s.RecordsMs, s.EndTxnMs)
	names := make([]string, 0, len(s.Requests))
	for n := range s.Requests {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		a, b := s.Requests[names[i]], s.Requests[names[j]]
		if a.PerTxn != b.PerTxn {
			return a.PerTxn > b.PerTxn
		}
		return names[i] < names[j]
	})
	for _, n := range names {
		if st := s.Requests[n]; st.PerTxn >= 0.05 {
			fmt.Fprintf(w, " %s %.2f x %.1f", n, st.PerTxn, st.MeanMs)
		}
	}
	fmt.Fprintln(w)
}

package console

import (
	"context"
	"sync"
	"time"
)

// sample is one point of the charts: this broker's counters and every
// group's total lag at one moment.
type sample struct {
	At       time.Time
	Counters Counters
	GroupLag map[string]int64 // group -> total lag; absent: not sampled
}

// ring keeps the last n samples in memory: the charts cover minutes, and a
// restart starting them afresh is acceptable for a console.
type ring struct {
	mu   sync.Mutex
	buf  []sample
	next int
	full bool
}

func newRing(n int) *ring { return &ring{buf: make([]sample, n)} }

func (r *ring) add(s sample) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.buf[r.next] = s
	r.next = (r.next + 1) % len(r.buf)
	if r.next == 0 {
		r.full = true
	}
}

// all returns the samples oldest first.
func (r *ring) all() []sample {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.full {
		return append([]sample(nil), r.buf[:r.next]...)
	}
	return append(append([]sample(nil), r.buf[r.next:]...), r.buf[:r.next]...)
}

// sample records a point now and then every SampleEvery until ctx ends.
func (c *Console) sample(ctx context.Context) {
	defer c.done.Done()
	t := time.NewTicker(c.cfg.SampleEvery)
	defer t.Stop()
	for {
		c.samples.add(c.takeSample(ctx))
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (c *Console) takeSample(ctx context.Context) sample {
	s := sample{At: time.Now(), Counters: c.cfg.Local.Counters()}
	ctx, cancel := context.WithTimeout(ctx, min(c.cfg.SampleEvery, requestTimeout))
	defer cancel()
	lags, err := c.lag(ctx)
	if err != nil {
		// Before the cluster is up, or while it moves: a gap in the chart.
		c.cfg.Log.Debug().Err(err).Msg("console: group lag sample")
		return s
	}
	s.GroupLag = make(map[string]int64, len(lags))
	for name, l := range lags {
		if l.Error() == nil {
			s.GroupLag[name] = totalLag(l)
		}
	}
	return s
}

// rate is this broker's traffic per second between the last two samples.
type rate struct {
	Valid                                    bool
	Over                                     time.Duration
	BytesIn, BytesOut, RecordsIn, RecordsOut float64
}

func lastRate(ss []sample) rate {
	if len(ss) < 2 {
		return rate{}
	}
	a, b := ss[len(ss)-2], ss[len(ss)-1]
	d := b.At.Sub(a.At)
	if d <= 0 {
		return rate{}
	}
	per := func(x, y float64) float64 { return max(0, y-x) / d.Seconds() }
	return rate{Valid: true, Over: d.Round(time.Second),
		BytesIn: per(a.Counters.BytesIn, b.Counters.BytesIn), BytesOut: per(a.Counters.BytesOut, b.Counters.BytesOut),
		RecordsIn: per(a.Counters.RecordsIn, b.Counters.RecordsIn), RecordsOut: per(a.Counters.RecordsOut, b.Counters.RecordsOut)}
}

package storage

import (
	"context"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"
)

// BenchmarkCompaction gives the figures of a compacted partition of 10,000
// keys x 100 versions (100-byte values, 100 records per batch, 64 MiB
// segments): its size before and after one full clean, the cleaner's
// throughput, and the append throughput of the same log alone and while
// the cleaner runs beside it. Run once:
//
//	go test ./internal/storage -run '^$' -bench Compaction -benchtime 1x
func BenchmarkCompaction(b *testing.B) {
	const keys, versions, perBatch = 10_000, 100, 100
	value := make([]byte, 100)
	l := openLog(b, b.TempDir(), Options{SegmentBytes: 64 << 20})
	round := func(v int) int64 { // appends one version of every key; returns bytes
		var n int64
		for k := 0; k < keys; k += perBatch {
			recs := make([]kv, 0, perBatch)
			for i := k; i < k+perBatch; i++ {
				copy(value, fmt.Sprintf("key-%05d=v%03d", i, v))
				recs = append(recs, kv{fmt.Sprintf("key-%05d", i), value})
			}
			batch := keyedBatch(l.NextOffset(), int64(1000+v), -1, recs...)
			if err := l.Append(batch); err != nil {
				b.Fatal(err)
			}
			n += int64(len(batch))
		}
		return n
	}
	appendRounds := func(from, to int) float64 { // MB/s
		start := time.Now()
		var n int64
		for v := from; v < to; v++ {
			n += round(v)
		}
		if err := l.Sync(); err != nil {
			b.Fatal(err)
		}
		return float64(n) / 1e6 / time.Since(start).Seconds()
	}
	b.ResetTimer()
	appendAlone := appendRounds(0, versions)
	if err := l.SetSegmentBytes(1); err != nil { // seal everything: the clean covers all of it
		b.Fatal(err)
	}
	round(versions)
	if err := l.SetSegmentBytes(64 << 20); err != nil {
		b.Fatal(err)
	}
	before := l.Size()
	cfg := CleanConfig{NowMs: 1_000_000, Limit: math.MaxInt64, MinCleanableRatio: 0.5, MaxCompactionLagMs: math.MaxInt64,
		DeleteRetentionMs: 86_400_000, SegmentBytes: 64 << 20}
	m := NewOffsetMap(128 << 20)
	start := time.Now()
	res, err := l.Clean(context.Background(), cfg, m, nil)
	took := time.Since(start)
	if err != nil || !res.Cleaned {
		b.Fatalf("Clean = %+v, %v", res, err)
	}
	after := l.Size()

	// Appends while the cleaner keeps cleaning the same log, into 1 MiB
	// segments so that there is always sealed dirty data to clean.
	if err := l.SetSegmentBytes(1 << 20); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	passes := 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			c := cfg
			c.Force = true
			if r, err := l.Clean(ctx, c, m, nil); err == nil && r.Cleaned {
				passes++
			} else {
				time.Sleep(10 * time.Millisecond)
			}
		}
	}()
	appendBeside := appendRounds(versions+1, versions+21)
	cancel()
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(before)/1e6, "MB-before")
	b.ReportMetric(float64(after)/1e6, "MB-after")
	b.ReportMetric(float64(res.BytesRead)/1e6/took.Seconds(), "clean-MB/s")
	b.ReportMetric(appendAlone, "append-MB/s")
	b.ReportMetric(appendBeside, "append-while-cleaning-MB/s")
	b.ReportMetric(float64(passes), "passes-beside")
	b.Logf("%d keys x %d versions: %d bytes before, %d after one clean (%d records removed) in %v; append %.1f MB/s alone, %.1f MB/s beside %d cleaning passes",
		keys, versions, before, after, res.RecordsRemoved, took, appendAlone, appendBeside, passes)
}

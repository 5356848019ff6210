package storage

import (
	"encoding/binary"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/longboat/longboat/internal/recordbatch"
)

func TestConcurrentAppendRead(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{SegmentBytes: 4096, IndexIntervalBytes: 256})
	const batches = 1500
	var done atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for r := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(r), 1))
			for !done.Load() {
				next := l.NextOffset()
				if next == 0 {
					continue
				}
				off := rng.Int64N(next)
				got, err := l.Read(off, 1+rng.IntN(2000))
				if err != nil || len(got) == 0 {
					errs <- "Read failed or returned nothing"
					return
				}
				if h := recordbatch.ParseHeader(got); h.BaseOffset > off || h.LastOffset() < off {
					errs <- "Read returned a batch not containing the offset"
					return
				}
				for len(got) > 0 {
					batch, rest, err := recordbatch.Split(got)
					if err != nil || !recordbatch.ValidCRC(batch) {
						errs <- "Read returned a partial or torn batch"
						return
					}
					got = rest
				}
				if _, _, err := l.OffsetForTimestamp(1000 + off); err != nil {
					errs <- "OffsetForTimestamp failed"
					return
				}
				_ = l.Segments()
			}
		}()
	}
	for i := range batches {
		off := l.NextOffset()
		if err := l.Append(makeBatch(off, 1+i%5, 1000+off, 100+i%300)); err != nil {
			t.Fatal(err)
		}
		if i%200 == 0 {
			if err := l.Sync(); err != nil {
				t.Fatal(err)
			}
		}
	}
	done.Store(true)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func BenchmarkAppend(b *testing.B) {
	l := openLog(b, b.TempDir(), Options{SegmentBytes: 64 << 20})
	batch := makeBatch(0, 10, 0, 1024-recordbatch.HeaderSize)
	b.SetBytes(int64(len(batch)))
	off := int64(0)
	for b.Loop() {
		// Only the base offset changes; Append does not check the CRC.
		binary.BigEndian.PutUint64(batch, uint64(off))
		if err := l.Append(batch); err != nil {
			b.Fatal(err)
		}
		off += 10
	}
}

func BenchmarkRead(b *testing.B) {
	l := openLog(b, b.TempDir(), Options{SegmentBytes: 16 << 20})
	const n = 20000
	fill(b, l, n, 10, 1024-recordbatch.HeaderSize)
	rng := rand.New(rand.NewPCG(1, 2))
	b.SetBytes(64 << 10)
	for b.Loop() {
		if _, err := l.Read(rng.Int64N(n*10), 64<<10); err != nil {
			b.Fatal(err)
		}
	}
}

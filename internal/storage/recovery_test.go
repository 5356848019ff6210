package storage

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

func TestTornTail(t *testing.T) {
	const batchBytes = 261 // makeBatch(_, 3, _, 200)
	tests := []struct {
		name    string
		damage  func(t *testing.T, path string)
		cut     int64 // bytes Open should remove
		batches int   // batches that survive
		// Batches before the last index entry a Sync wrote are trusted
		// without a CRC check, so damage there is only found unsynced.
		unsyncedOnly bool
	}{
		{"truncated last batch", func(t *testing.T, path string) {
			resize(t, path, -5)
		}, batchBytes - 5, 39, false},
		{"garbage after last batch", func(t *testing.T, path string) {
			appendBytes(t, path, bytes.Repeat([]byte{0xab}, 100))
		}, 100, 40, false},
		{"zeros after last batch", func(t *testing.T, path string) {
			appendBytes(t, path, make([]byte, 4096))
		}, 4096, 40, false},
		{"flipped byte in last batch", func(t *testing.T, path string) {
			flipByte(t, path, fileSize(t, path)-10)
		}, batchBytes, 39, false},
		{"flipped byte in an earlier batch", func(t *testing.T, path string) {
			flipByte(t, path, fileSize(t, path)-3*batchBytes+30)
		}, 3 * batchBytes, 37, true},
		{"bad offset in last batch", func(t *testing.T, path string) {
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var b [8]byte
			binary.BigEndian.PutUint64(b[:], 1000)
			if _, err := f.WriteAt(b[:], fileSize(t, path)-batchBytes); err != nil {
				t.Fatal(err)
			}
		}, batchBytes, 39, false},
	}
	for _, tc := range tests {
		for _, synced := range []bool{false, true} {
			if synced && tc.unsyncedOnly {
				continue
			}
			name := tc.name
			if synced {
				name += " with synced index"
			}
			t.Run(name, func(t *testing.T) {
				dir := t.TempDir()
				opts := Options{SegmentBytes: 8192, IndexIntervalBytes: 512}
				l := openLog(t, dir, opts)
				batches := fill(t, l, 40, 3, 200) // 31 batches per segment
				if synced {
					if err := l.Sync(); err != nil {
						t.Fatal(err)
					}
				}
				l.Close()
				segs := l.Segments()
				tc.damage(t, segmentPath(l, segs[len(segs)-1]))

				l = openLog(t, dir, opts)
				if got := l.RecoveryInfo(); got != tc.cut {
					t.Fatalf("RecoveryInfo = %d, want %d", got, tc.cut)
				}
				kept := batches[:tc.batches]
				if next := int64(3 * tc.batches); l.NextOffset() != next {
					t.Fatalf("NextOffset = %d, want %d", l.NextOffset(), next)
				}
				kept = append(kept, fill(t, l, 5, 3, 200)...)
				if got := readAll(t, l, 0, 1<<20); !bytes.Equal(got, concat(kept)) {
					t.Fatal("read after recovery differs")
				}
				if err := l.Sync(); err != nil {
					t.Fatal(err)
				}
				l.Close()

				l = openLog(t, dir, opts)
				if l.RecoveryInfo() != 0 {
					t.Fatalf("second recovery cut %d bytes", l.RecoveryInfo())
				}
				if got := readAll(t, l, 0, 1<<20); !bytes.Equal(got, concat(kept)) {
					t.Fatal("read after second reopen differs")
				}
			})
		}
	}
}

func TestTornFirstBatchEmptiesActiveSegment(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentBytes: 1024}
	l := openLog(t, dir, opts)
	batches := fill(t, l, 4, 1, 400) // two per segment
	l.Close()
	last := l.Segments()[1]
	resize(t, segmentPath(l, last), -(last.Size - 100))

	l = openLog(t, dir, opts)
	if l.NextOffset() != 2 || l.Segments()[1].Size != 0 {
		t.Fatalf("next %d, segments %+v", l.NextOffset(), l.Segments())
	}
	kept := append(batches[:2], fill(t, l, 1, 1, 400)...)
	if got := readAll(t, l, 0, 1<<20); !bytes.Equal(got, concat(kept)) {
		t.Fatal("read differs")
	}
}

// An index written by Sync must not be trusted where it points past a tail
// that was later lost.
func TestActiveIndexPastTruncatedTail(t *testing.T) {
	dir := t.TempDir()
	opts := Options{IndexIntervalBytes: 256}
	l := openLog(t, dir, opts)
	batches := fill(t, l, 50, 1, 200)
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	l.Close()
	seg := l.Segments()[0]
	if fileSize(t, indexPath(segmentPath(l, seg))) == 0 {
		t.Fatal("Sync wrote no index entries")
	}
	// Keep 10.5 batches: most index entries now point past the end.
	resize(t, segmentPath(l, seg), 10*261+130-seg.Size)

	l = openLog(t, dir, opts)
	if l.NextOffset() != 10 || l.RecoveryInfo() != 130 {
		t.Fatalf("next %d truncated %d", l.NextOffset(), l.RecoveryInfo())
	}
	kept := append(batches[:10], fill(t, l, 20, 1, 200)...)
	for off := int64(0); off < l.NextOffset(); off++ {
		got, err := l.Read(off, 1)
		if err != nil || !bytes.Equal(got, kept[off]) {
			t.Fatalf("Read(%d) wrong: %v", off, err)
		}
	}
}

func TestSealedIndexRebuilt(t *testing.T) {
	tests := map[string]func(t *testing.T, path string){
		"deleted": func(t *testing.T, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		},
		"short": func(t *testing.T, path string) { resize(t, path, 12-fileSize(t, path)) },
		"garbage": func(t *testing.T, path string) {
			if err := os.WriteFile(path, bytes.Repeat([]byte{0x7f, 3, 0, 1}, 50), 0o644); err != nil {
				t.Fatal(err)
			}
		},
		"zeroed": func(t *testing.T, path string) {
			if err := os.WriteFile(path, make([]byte, fileSize(t, path)), 0o644); err != nil {
				t.Fatal(err)
			}
		},
		"last entry one batch early": func(t *testing.T, path string) {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			last := b[len(b)-8:]
			binary.BigEndian.PutUint32(last[4:], binary.BigEndian.Uint32(last[4:])-261)
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
		},
	}
	for name, damage := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{SegmentBytes: 8192, IndexIntervalBytes: 512}
			l := openLog(t, dir, opts)
			batches := fill(t, l, 100, 3, 200)
			l.Close()
			path := indexPath(segmentPath(l, l.Segments()[1]))
			want, err := os.ReadFile(path)
			if err != nil || len(want) == 0 {
				t.Fatalf("sealed index: %d bytes, %v", len(want), err)
			}
			damage(t, path)

			l = openLog(t, dir, opts)
			if got := readAll(t, l, 0, 1000); !bytes.Equal(got, concat(batches)) {
				t.Fatal("read after index damage differs")
			}
			for off := int64(0); off < l.NextOffset(); off += 7 {
				got, err := l.Read(off, 1)
				if err != nil || !bytes.Equal(got, batches[off/3]) {
					t.Fatalf("Read(%d) wrong: %v", off, err)
				}
			}
			if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, want) {
				t.Fatalf("index file not rebuilt: %v", err)
			}
		})
	}
}

func TestSealedSegmentCorruptionIsAnError(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentBytes: 4096}
	l := openLog(t, dir, opts)
	fill(t, l, 40, 3, 200)
	l.Close()
	first := l.Segments()[0]
	resize(t, segmentPath(l, first), -100)
	if _, err := Open(dir, opts); err == nil {
		t.Fatal("Open accepted a sealed segment that ends early")
	}
}

func TestOrphanIndexRemoved(t *testing.T) {
	dir := t.TempDir()
	orphan := filepath.Join(dir, "00000000000000000007.index")
	if err := os.WriteFile(orphan, []byte{0, 0, 0, 1, 0, 0, 0, 9}, 0o644); err != nil {
		t.Fatal(err)
	}
	l := openLog(t, dir, Options{})
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Fatalf("orphaned index still there: %v", err)
	}
	if l.NextOffset() != 0 {
		t.Fatalf("NextOffset = %d", l.NextOffset())
	}
}

// segmentPath is where the log keeps a segment's file.
func segmentPath(l *Log, s SegmentInfo) string { return newSegment(l.dir, s.BaseOffset).logPath }

func indexPath(logPath string) string {
	return logPath[:len(logPath)-len(".log")] + ".index"
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func resize(t *testing.T, path string, delta int64) {
	t.Helper()
	if err := os.Truncate(path, fileSize(t, path)+delta); err != nil {
		t.Fatal(err)
	}
}

func appendBytes(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

func flipByte(t *testing.T, path string, pos int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b [1]byte
	if _, err := f.ReadAt(b[:], pos); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b[:], pos); err != nil {
		t.Fatal(err)
	}
}

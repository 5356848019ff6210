package partition

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	sm "github.com/lni/dragonboat/v4/statemachine"
)

// replicas answers a leader's question with the positions of real
// in-process replicas, as the brokers' HTTP endpoint does.
type replicas []*StateMachine

func (r replicas) Positions(context.Context, uint64) ([]LogPosition, error) {
	var out []LogPosition
	for _, s := range r {
		p, err := s.Position()
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

type unreachable struct{}

func (unreachable) Positions(context.Context, uint64) ([]LogPosition, error) {
	return nil, errors.New("follower does not answer")
}

// down answers as followerLogs does when every follower's broker process
// is gone.
type down struct{}

func (down) Positions(context.Context, uint64) ([]LogPosition, error) {
	return nil, fmt.Errorf("replica 3 of shard 1: connection refused: %w", ErrFollowerDown)
}

// streamFrom makes src's next snapshot stream as it would go to followers.
func streamFrom(t *testing.T, src *StateMachine, followers FollowerLogs) ([]byte, snapshotHeader) {
	t.Helper()
	src.SetFollowerLogs(followers)
	ctx, err := src.PrepareSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := src.SaveSnapshot(ctx, &buf, make(chan struct{})); err != nil {
		t.Fatalf("SaveSnapshot: %v", err)
	}
	var h snapshotHeader
	n := binary.BigEndian.Uint32(buf.Bytes())
	if err := json.Unmarshal(buf.Bytes()[4:4+n], &h); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), h
}

// sameBatchesFrom fails unless a and b hold the same batches byte for byte
// from offset from, up to the same high watermark.
func sameBatchesFrom(t *testing.T, a, b *StateMachine, from int64) {
	t.Helper()
	if a.HighWatermark() != b.HighWatermark() {
		t.Fatalf("high watermarks %d and %d", a.HighWatermark(), b.HighWatermark())
	}
	if !bytes.Equal(concat(readAll(t, a, from)...), concat(readAll(t, b, from)...)) {
		t.Fatalf("logs differ from offset %d", from)
	}
}

// A follower that fell behind receives only the batches after its durable
// log end and keeps its own below it, whether or not it applied more after
// its last checkpoint.
func TestIncrementalSnapshotContinuesFollowerLog(t *testing.T) {
	ps := workload(60, 3, 0)
	src, _ := openSM(t, t.TempDir())
	apply(t, src, 1, ps...)
	full, fh := streamFrom(t, src, nil)
	if fh.Continues || fh.StartOffset != 0 {
		t.Fatalf("snapshot without followers to ask: continues %v from %d, want the whole log", fh.Continues, fh.StartOffset)
	}

	for _, after := range []int{0, 7} {
		dir := t.TempDir()
		dst, _ := openSM(t, dir)
		apply(t, dst, 1, ps[:20]...) // never synced: Position makes it durable
		asked := dst.HighWatermark()
		stream, h := streamFrom(t, src, replicas{dst})
		if !h.Continues || h.StartOffset != asked {
			t.Fatalf("snapshot continues=%v from %d, want from the follower's end %d", h.Continues, h.StartOffset, asked)
		}
		if cp, err := readCheckpoint(dir); err != nil || cp.NextOffset != asked || cp.Applied != 20 {
			t.Fatalf("checkpoint after Position: %+v, %v; want applied 20 ending at %d", cp, err, asked)
		}
		apply(t, dst, 21, ps[20:20+after]...) // applied between the question and the install
		if len(stream) >= len(full)*3/4 {
			t.Fatalf("incremental snapshot is %d bytes, the full one %d", len(stream), len(full))
		}
		if err := dst.RecoverFromSnapshot(bytes.NewReader(stream), make(chan struct{})); err != nil {
			t.Fatalf("RecoverFromSnapshot: %v", err)
		}
		sameLog(t, dst, src)
		expectLog(t, dst, ps)
		if got, want := dst.installed.Load(), int64(len(stream)); got != want {
			t.Fatalf("counted %d snapshot bytes installed, want %d", got, want)
		}
		dst.Close()
		re, applied := openSM(t, dir)
		if applied != 60 {
			t.Fatalf("reopened: applied %d, want the snapshot's 60", applied)
		}
		sameLog(t, re, src)
	}
}

// A replica that cannot continue the snapshot's log (it ends short of the
// snapshot's start, or its batch there is not the leader's) takes only the
// snapshot's batches: a suffix of the leader's log, never a mix.
func TestIncrementalSnapshotOnReplicaThatDoesNotContinue(t *testing.T) {
	ps := workload(60, 3, 0)
	src, _ := openSM(t, t.TempDir())
	apply(t, src, 1, ps...)
	asked, _ := openSM(t, t.TempDir())
	apply(t, asked, 1, ps[:30]...)
	stream, h := streamFrom(t, src, replicas{asked})
	if !h.Continues || h.StartOffset != asked.HighWatermark() {
		t.Fatalf("snapshot continues=%v from %d, want from %d", h.Continues, h.StartOffset, asked.HighWatermark())
	}

	short, _ := openSM(t, t.TempDir())
	apply(t, short, 1, ps[:10]...)
	other, _ := openSM(t, t.TempDir())
	apply(t, other, 1, workload(30, 1, 77)...) // same offsets, other batches
	if other.HighWatermark() != h.StartOffset {
		t.Fatalf("diverging replica ends at %d, the snapshot starts at %d", other.HighWatermark(), h.StartOffset)
	}
	for name, dst := range map[string]*StateMachine{"ends short": short, "diverges": other} {
		if err := dst.RecoverFromSnapshot(bytes.NewReader(stream), make(chan struct{})); err != nil {
			t.Fatalf("%s: RecoverFromSnapshot: %v", name, err)
		}
		if dst.LogStartOffset() != h.StartOffset {
			t.Fatalf("%s: log start %d, want the snapshot's start %d", name, dst.LogStartOffset(), h.StartOffset)
		}
		if _, err := dst.Read(h.StartOffset-1, 100); err == nil {
			t.Fatalf("%s: an offset below the snapshot's start is still readable", name)
		}
		sameBatchesFrom(t, src, dst, h.StartOffset)
		// It goes on exactly as the leader does.
		more := workload(3, 4, 9)
		if a, b := apply(t, src, 61, more...), apply(t, dst, 61, more...); a[2] != b[2] {
			t.Fatalf("%s: offsets after the install differ: %v vs %v", name, a, b)
		}
		sameBatchesFrom(t, src, dst, h.StartOffset)
		src, _ = openSM(t, t.TempDir())
		apply(t, src, 1, ps...)
	}
}

// failingReader fails after n bytes, like a connection lost mid-stream.
type failingReader struct {
	r io.Reader
	n int
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("connection lost")
	}
	if len(p) > f.n {
		p = p[:f.n]
	}
	n, err := f.r.Read(p)
	f.n -= n
	return n, err
}

// An install cut short at any point leaves a replica that opens at a
// never-applied state whose log ends where the snapshot starts, so that
// dragonboat installs the snapshot again and the result is the leader's log.
func TestInterruptedIncrementalInstall(t *testing.T) {
	ps := workload(60, 3, 0)
	src, _ := openSM(t, t.TempDir())
	apply(t, src, 1, ps...)
	for _, tc := range []struct {
		name  string
		lag   int // entries the follower applied when asked
		after int // entries it applied after
		cut   func(n int) int
	}{
		{"in the header", 20, 0, func(int) int { return 3 }},
		{"halfway", 20, 0, func(n int) int { return n / 2 }},
		{"halfway, follower applied more after the question", 20, 5, func(n int) int { return n / 2 }},
		{"one byte short", 20, 0, func(n int) int { return n - 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			dst, _ := openSM(t, dir)
			apply(t, dst, 1, ps[:tc.lag]...)
			stream, h := streamFrom(t, src, replicas{dst})
			apply(t, dst, uint64(tc.lag+1), ps[tc.lag:tc.lag+tc.after]...)
			if !h.Continues {
				t.Fatal("snapshot does not continue the follower's log")
			}
			r := &failingReader{r: bytes.NewReader(stream), n: tc.cut(len(stream))}
			if err := dst.RecoverFromSnapshot(r, make(chan struct{})); err == nil {
				t.Fatal("cut-short stream installed")
			}
			crash(dst)

			re, applied := openSM(t, dir)
			if applied != 0 && tc.cut(len(stream)) > 4 {
				t.Fatalf("reopened after a cut-short install at applied %d, want 0 (install again)", applied)
			}
			if applied == 0 && re.HighWatermark() != h.StartOffset {
				t.Fatalf("reopened log ends at %d, want the snapshot's start %d", re.HighWatermark(), h.StartOffset)
			}
			if applied == 0 {
				if err := re.RecoverFromSnapshot(bytes.NewReader(stream), make(chan struct{})); err != nil {
					t.Fatalf("install again: %v", err)
				}
			} else {
				apply(t, re, applied+1, ps[applied:]...)
			}
			sameLog(t, re, src)
			expectLog(t, re, ps)
		})
	}

	// A crash after the install's checkpoint but before the log reached
	// the snapshot's start (a replica that ended short of it) opens empty
	// at that start rather than refusing to open.
	dir := t.TempDir()
	dst, _ := openSM(t, dir)
	apply(t, dst, 1, ps[:5]...)
	if err := dst.writeCheckpoint(checkpoint{NextOffset: src.HighWatermark() - 1, StartOffset: src.HighWatermark() - 1, Installing: true}); err != nil {
		t.Fatal(err)
	}
	crash(dst)
	re, applied := openSM(t, dir)
	if applied != 0 || re.HighWatermark() != src.HighWatermark()-1 || re.LogStartOffset() != src.HighWatermark()-1 {
		t.Fatalf("reopened at applied %d, log %d..%d; want 0 and an empty log at %d",
			applied, re.LogStartOffset(), re.HighWatermark(), src.HighWatermark()-1)
	}
}

// Position may be asked from any goroutine while the apply goroutine
// appends, syncs and installs snapshots; what it reports is always a
// durable state the replica reopens at or beyond.
func TestPositionWhileApplying(t *testing.T) {
	ps := workload(60, 3, 0)
	src, _ := openSM(t, t.TempDir())
	apply(t, src, 1, ps...)
	dir := t.TempDir()
	dst, _ := openSM(t, dir)
	stop := make(chan struct{})
	reported := make(chan int64, 1)
	go func() {
		var last int64
		defer func() { reported <- last }()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if pos, err := dst.Position(); err == nil {
				if pos.NextOffset < last {
					t.Errorf("reported log end went back from %d to %d", last, pos.NextOffset)
				}
				last = pos.NextOffset
			}
		}
	}()
	for i := range 30 {
		apply(t, dst, uint64(i+1), ps[i])
		if i%7 == 0 {
			if err := dst.Sync(); err != nil {
				t.Fatal(err)
			}
		}
	}
	stream, _ := streamFrom(t, src, replicas{dst})
	if err := dst.RecoverFromSnapshot(bytes.NewReader(stream), make(chan struct{})); err != nil {
		t.Fatal(err)
	}
	close(stop)
	last := <-reported
	dst.Close()
	re, applied := openSM(t, dir)
	if re.HighWatermark() < last || applied != 60 {
		t.Fatalf("reopened at applied %d ending at %d; reported %d", applied, re.HighWatermark(), last)
	}
	sameLog(t, re, src)
}

// restarting answers like a follower whose broker is coming back: its Raft
// transport is up (so the leader streams it a snapshot) but its replica is
// not open yet for the first calls.
type restarting struct {
	notYet int
	then   FollowerLogs
}

func (r *restarting) Positions(ctx context.Context, shard uint64) ([]LogPosition, error) {
	if r.notYet > 0 {
		r.notYet--
		return nil, errors.New("replica 3 of shard 1: log position: HTTP 503")
	}
	return r.then.Positions(ctx, shard)
}

// trySnapshot is one stream attempt from src: its bytes and header, or
// SaveSnapshot's error.
func trySnapshot(t *testing.T, src *StateMachine) ([]byte, snapshotHeader, error) {
	t.Helper()
	ctx, err := src.PrepareSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := src.SaveSnapshot(ctx, &buf, make(chan struct{})); err != nil {
		return nil, snapshotHeader{}, err
	}
	var h snapshotHeader
	n := binary.BigEndian.Uint32(buf.Bytes())
	if err := json.Unmarshal(buf.Bytes()[4:4+n], &h); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), h, nil
}

// A snapshot asked for while a follower cannot yet say where its log ends
// is deferred (the stream aborts, and dragonboat asks again), not streamed
// whole: the whole log went to a follower that missed a few hundred KB
// when its broker restarted under load. Only a follower that stays silent
// for catchUpPatience gets the whole log.
func TestSnapshotWaitsForFollowerLogEnd(t *testing.T) {
	ps := workload(60, 3, 0)
	src, _ := openSM(t, t.TempDir())
	apply(t, src, 1, ps...)
	full, _ := streamFrom(t, src, nil)
	dst, _ := openSM(t, t.TempDir())
	apply(t, dst, 1, ps[:50]...)

	src.SetFollowerLogs(&restarting{notYet: 2, then: replicas{dst}})
	for i := range 2 {
		_, h, err := trySnapshot(t, src)
		if !errors.Is(err, sm.ErrSnapshotAborted) {
			t.Fatalf("attempt %d while the follower cannot answer: header %+v, error %v; want an aborted stream", i+1, h, err)
		}
		if src.Fault() != nil {
			t.Fatalf("a deferred stream took the leader's replica offline: %v", src.Fault())
		}
	}
	stream, h, err := trySnapshot(t, src)
	if err != nil || !h.Continues || h.StartOffset != dst.HighWatermark() {
		t.Fatalf("once the follower answers: continues=%v from %d, %v; want from its end %d", h.Continues, h.StartOffset, err, dst.HighWatermark())
	}
	if len(stream) >= len(full)/3 {
		t.Fatalf("snapshot of the last 10 of 60 entries is %d bytes, the whole log %d", len(stream), len(full))
	}
	if err := dst.RecoverFromSnapshot(bytes.NewReader(stream), make(chan struct{})); err != nil {
		t.Fatal(err)
	}
	sameLog(t, dst, src)

	// Silent past the patience: the whole log, as a follower that cannot
	// be asked at all always could receive it.
	src.SetFollowerLogs(unreachable{})
	if _, _, err := trySnapshot(t, src); !errors.Is(err, sm.ErrSnapshotAborted) {
		t.Fatalf("first unanswered attempt: %v, want an aborted stream", err)
	}
	src.unanswered.Store(time.Now().Add(-catchUpPatience).UnixNano())
	if _, h, err := trySnapshot(t, src); err != nil || h.Continues || h.StartOffset != 0 {
		t.Fatalf("after %v without an answer: continues=%v from %d, %v; want the whole log", catchUpPatience, h.Continues, h.StartOffset, err)
	}
	// A whole-log stream that its sink refuses (the follower's broker is
	// down: its Raft port does not answer either) starts the patience
	// again, so a follower back from a long outage is not sent the whole
	// log for answering late.
	src.unanswered.Store(time.Now().Add(-catchUpPatience).UnixNano())
	ctx, err := src.PrepareSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	if err := src.SaveSnapshot(ctx, &failingWriter{n: 1 << 10}, make(chan struct{})); !errors.Is(err, sm.ErrSnapshotAborted) {
		t.Fatalf("stream into a dead sink: %v, want an aborted stream", err)
	}
	if src.Fault() != nil {
		t.Fatalf("a dead sink took the leader's replica offline: %v", src.Fault())
	}
	if _, _, err := trySnapshot(t, src); !errors.Is(err, sm.ErrSnapshotAborted) {
		t.Fatalf("unanswered after a dead sink: %v, want an aborted stream", err)
	}
	// An answer starts the patience again.
	src.SetFollowerLogs(replicas{dst})
	if _, _, err := trySnapshot(t, src); err != nil {
		t.Fatalf("answered after the patience: %v", err)
	}
	src.SetFollowerLogs(unreachable{})
	if _, _, err := trySnapshot(t, src); !errors.Is(err, sm.ErrSnapshotAborted) {
		t.Fatalf("unanswered again after an answer: %v, want an aborted stream", err)
	}

	// An outage longer than the patience: while the follower's broker is
	// down its silence does not count, so once it is back and slow to
	// answer it is still waited for. Counting the outage sent the whole log
	// to a follower asked a moment before its HTTP listener was up.
	src.unanswered.Store(time.Now().Add(-catchUpPatience).UnixNano())
	src.SetFollowerLogs(down{})
	for range 2 {
		if _, h, err := trySnapshot(t, src); !errors.Is(err, sm.ErrSnapshotAborted) || src.unanswered.Load() != 0 {
			t.Fatalf("follower's broker down: continues=%v from %d, %v; want an aborted stream and no patience running", h.Continues, h.StartOffset, err)
		}
	}
	src.SetFollowerLogs(&restarting{notYet: 1, then: replicas{dst}})
	if _, h, err := trySnapshot(t, src); !errors.Is(err, sm.ErrSnapshotAborted) {
		t.Fatalf("back after a long outage, not answering yet: continues=%v from %d, %v; want an aborted stream", h.Continues, h.StartOffset, err)
	}
	if _, h, err := trySnapshot(t, src); err != nil || !h.Continues {
		t.Fatalf("back after a long outage: continues=%v from %d, %v; want what it lacks", h.Continues, h.StartOffset, err)
	}
}

// A leader's pinned segment cut under a stream (its replica installing a
// snapshot itself) aborts the stream: the receiver never gets a snapshot
// that ends short of its header's NextOffset, and the leader's replica,
// whose log is intact, stays online.
func TestSnapshotStreamAbortsWhenSegmentCut(t *testing.T) {
	ps := workload(60, 3, 0)
	src, _ := openSM(t, t.TempDir())
	apply(t, src, 1, ps...)
	ctx, err := src.PrepareSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	cut := ctx.(preparedSnapshot).header.NextOffset / 2
	for ; ; cut++ {
		if _, err := src.log.BatchHeaderBefore(cut); err == nil {
			break
		}
	}
	if err := src.log.TruncateTo(cut); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := src.SaveSnapshot(ctx, &buf, make(chan struct{})); !errors.Is(err, sm.ErrSnapshotAborted) {
		t.Fatalf("stream over a cut segment: %v after %d bytes, want an aborted stream", err, buf.Len())
	}
	if src.Fault() != nil {
		t.Fatalf("a cut under a stream took the replica offline: %v", src.Fault())
	}
}

// A follower whose broker is below its free-space floor is streamed no
// snapshot, however long it waits (dragonboat would write the chunks and
// panic on ENOSPC); once space returns it gets only what it lacks.
func TestNoSnapshotToFollowerBelowDiskFloor(t *testing.T) {
	ps := workload(60, 3, 0)
	src, _ := openSM(t, t.TempDir())
	apply(t, src, 1, ps...)
	dst, _ := openSM(t, t.TempDir())
	apply(t, dst, 1, ps[:40]...)
	full, room := true, int64(0)
	dst.SetDiskFloor(func() bool { return full }, func() int64 { return room })
	src.SetFollowerLogs(replicas{dst})
	for range 2 {
		if _, h, err := trySnapshot(t, src); !errors.Is(err, sm.ErrSnapshotAborted) {
			t.Fatalf("follower below its floor: continues=%v from %d, %v; want an aborted stream", h.Continues, h.StartOffset, err)
		}
		src.unanswered.Store(time.Now().Add(-2 * catchUpPatience).UnixNano())
	}
	// Above the floor, but the 20 entries it lacks would take it below.
	full, room = false, 512
	if _, h, err := trySnapshot(t, src); !errors.Is(err, sm.ErrSnapshotAborted) {
		t.Fatalf("follower with %d bytes of room: continues=%v from %d, %v; want an aborted stream", room, h.Continues, h.StartOffset, err)
	}
	room = 1 << 30
	stream, h, err := trySnapshot(t, src)
	if err != nil || !h.Continues || h.StartOffset != dst.HighWatermark() {
		t.Fatalf("space back: continues=%v from %d, %v; want from the follower's end %d", h.Continues, h.StartOffset, err, dst.HighWatermark())
	}
	if err := dst.RecoverFromSnapshot(bytes.NewReader(stream), make(chan struct{})); err != nil {
		t.Fatal(err)
	}
	sameLog(t, dst, src)
}

// failingWriter takes n bytes, then fails like a sink whose connection
// could not be made.
type failingWriter struct{ n int }

func (f *failingWriter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		n := f.n
		f.n = 0
		return n, errors.New("connection refused")
	}
	f.n -= len(p)
	return len(p), nil
}

package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// Config is one run.
type Config struct {
	Backend    Backend
	OutDir     string
	Seed       uint64
	Duration   time.Duration // of the faulty phase (or of steady load)
	Nemesis    bool          // false: steady load only, to count leadership changes
	Topic      string
	Partitions int32
	Rate       int // records/s per producer
	Producers  int
	Fault      [2]time.Duration // how long a fault lasts
	LongFault  [2]time.Duration // how long a long-kill keeps its broker down
	Quiet      [2]time.Duration // calm between faults (after Grace)
	Grace      time.Duration    // after a heal and readiness, before calm counts as steady
	Kinds      []string         // nemeses to draw from; empty: every kind the backend supports
	Progress   io.Writer
}

// Result is a finished run.
type Result struct {
	Report   *Report
	Backend  string
	Notes    []string
	Seed     uint64
	Elapsed  time.Duration
	Errors   []string // the run itself went wrong (cluster never recovered...)
	Schedule []Event
}

// Passed tells whether the run found nothing wrong.
func (r *Result) Passed() bool { return len(r.Errors) == 0 && !r.Report.Bad() }

type runner struct {
	cfg   Config
	b     Backend
	h     *History
	c     counters
	start time.Time
	mu    sync.Mutex
	now   string // current fault, for progress lines
	errs  []string
	group string // the workload's consumer group
	// txnID and txnTopic are the transactional workload's id and topic
	// (the txn-coordinator and txn-leader nemeses aim at them).
	txnID, txnTopic string
	// eos is the exactly-once pipeline, which the same nemeses aim at.
	eos *eosWorkload
	// moved is what the reassign nemesis must not move a partition onto.
	moved moved
}

func (r *runner) logf(format string, args ...any) {
	if r.cfg.Progress != nil {
		fmt.Fprintf(r.cfg.Progress, "[%6.1fs] %s\n", time.Since(r.start).Seconds(), fmt.Sprintf(format, args...))
	}
}

func (r *runner) fail(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.mu.Lock()
	r.errs = append(r.errs, msg)
	r.mu.Unlock()
	r.logf("ERROR %s", msg)
}

// Run runs the workload against a started backend, injects faults, heals,
// drains, checks, and writes history.jsonl, schedule.jsonl, summary.txt,
// summary.json and the broker logs to cfg.OutDir.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := os.MkdirAll(cfg.OutDir, 0o755); err != nil {
		return nil, err
	}
	r := &runner{cfg: cfg, b: cfg.Backend, start: time.Now(), group: fmt.Sprintf("chaos-%d", cfg.Seed)}
	h, err := NewHistory(filepath.Join(cfg.OutDir, "history.jsonl"), r.start)
	if err != nil {
		return nil, err
	}
	r.h = h
	res := &Result{Backend: r.b.Name(), Notes: r.b.Notes(), Seed: cfg.Seed}
	for _, n := range res.Notes {
		r.logf("note: %s", n)
	}
	r.logf("starting %d brokers (%s)", r.b.Brokers(), r.b.Name())
	if err := r.b.Start(ctx); err != nil {
		return nil, err
	}
	rctx, cancel := context.WithTimeout(ctx, 120*time.Second)
	err = waitReady(rctx, r.b, allBrokers(r.b))
	cancel()
	if err != nil {
		return nil, err
	}
	obs, err := newObserver(r.b, cfg.Topic)
	if err != nil {
		return nil, err
	}
	defer obs.close()
	if err := r.createTopic(ctx, obs); err != nil {
		return nil, err
	}
	r.logf("topic %s: %d partitions, RF %d; workload: %d producers x %d records/s, 2 assign consumers, 2 classic and 2 KIP-848 group members", cfg.Topic, cfg.Partitions, replicationFactor(r.b), cfg.Producers, cfg.Rate)

	var seeds []string
	for _, i := range allBrokers(r.b) {
		seeds = append(seeds, r.b.KafkaAddr(i))
	}
	txnw, err := startTxnWorkload(ctx, obs.adm, cfg.Topic+"-txn", replicationFactor(r.b), seeds, cfg.Seed)
	if err != nil {
		return nil, err
	}
	r.txnID, r.txnTopic = txnw.id, txnw.topic
	eosw, err := startEOSWorkload(ctx, obs.adm, cfg.Topic, replicationFactor(r.b), seeds, cfg.Seed)
	if err != nil {
		return nil, err
	}
	r.eos = eosw
	r.logf("transactional workload on %s (id %s); exactly-once pipeline %s -> %s (group %s, %d members)", txnw.topic, txnw.id, eosw.in, eosw.out, eosw.group, eosMembers)
	stopProduce := make(chan struct{})
	var producers sync.WaitGroup
	for i := 1; i <= cfg.Producers; i++ {
		producers.Add(1)
		go func() {
			defer producers.Done()
			if err := runProducer(r.h, &r.c, fmt.Sprintf("producer-%d", i), cfg.Topic, cfg.Partitions, seeds, cfg.Rate, stopProduce, 60*time.Second); err != nil {
				r.fail("%v", err)
			}
		}()
	}
	consumeCtx, stopConsume := context.WithCancel(context.Background())
	defer stopConsume()
	target := &drainTarget{}
	var consumers sync.WaitGroup
	for i := 1; i <= 2; i++ {
		consumers.Add(1)
		go func() {
			defer consumers.Done()
			if err := runAssignConsumer(consumeCtx, r.h, &r.c, fmt.Sprintf("assign-%d", i), cfg.Topic, cfg.Partitions, seeds, target); err != nil {
				r.fail("%v", err)
			}
		}()
	}
	watchCtx, stopWatch := context.WithCancel(context.Background())
	var watcher sync.WaitGroup
	groups := r.groupWorkloads()
	for _, g := range groups {
		g.start(consumeCtx, watchCtx, r, seeds, target, &consumers, &watcher)
	}
	progressDone := make(chan struct{})
	go r.progress(progressDone)

	res.Schedule = r.faults(ctx, obs)

	// Heal is done by faults; make sure every broker is up and ready.
	r.logf("healed; waiting for every broker to be ready")
	rctx, cancel = context.WithTimeout(context.Background(), 120*time.Second)
	if err := waitReady(rctx, r.b, allBrokers(r.b)); err != nil {
		r.fail("cluster did not recover after the faults: %v", err)
	}
	cancel()
	r.logf("stopping producers (flush up to 60 s)")
	close(stopProduce)
	producers.Wait()
	r.logf("stopping the transactional workload; reading its topic read_committed")
	txnw.finish(obs.adm, 90*time.Second)
	r.logf("stopping the exactly-once pipeline's input; letting the pipeline catch up, then reading its output read_committed")
	eosw.finish(obs.adm, 90*time.Second)
	end, err := r.endOffsets(obs)
	if err != nil {
		r.fail("end offsets: %v", err)
	} else {
		r.logf("end offsets %v; draining consumers (up to 90 s)", end)
		target.set(end)
		for _, g := range groups {
			g.drainTo(end)
		}
	}
	drained := make(chan struct{})
	go func() { consumers.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(90 * time.Second):
		r.fail("consumers did not drain to the end offsets within 90 s")
		stopConsume()
		select {
		case <-drained:
		case <-time.After(30 * time.Second):
			// A client stuck in Close must not hold the check back.
			r.logf("consumers still closing after 30 s; checking without them")
		}
	}
	stopWatch()
	watcher.Wait()
	if end != nil {
		for _, i := range allBrokers(r.b) {
			if err := finalRead(r.h, r.b.KafkaAddr(i), i, cfg.Topic, end, 60*time.Second); err != nil {
				r.fail("%v", err)
			}
		}
	}
	close(progressDone)
	// Which brokers must hold each partition's log: after moves, not all.
	if err := r.recordReplicaSets(obs); err != nil {
		r.fail("replica sets at the end: %v", err)
	}
	// Let followers apply the last entries, then stop gracefully and read
	// every replica's log from disk.
	time.Sleep(2 * time.Second)
	r.logf("stopping brokers; reading every replica's log from disk")
	if err := r.b.Stop(); err != nil {
		r.fail("stop brokers: %v", err)
	}
	for _, i := range allBrokers(r.b) {
		if dir := r.b.DataDir(i); dir != "" {
			if err := replicaRead(r.h, i, dir); err != nil {
				r.fail("replica read: %v", err)
			}
		}
	}
	if err := r.h.Close(); err != nil {
		r.fail("history: %v", err)
	}
	res.Report = Check(r.h.Ops())
	res.Notes = append(res.Notes, txnw.check(res.Report), eosw.check(res.Report))
	for _, e := range append(txnw.errs, eosw.errs...) {
		r.fail("%s", e)
	}
	res.Elapsed = time.Since(r.start)
	res.Errors = r.errs
	if err := WriteSchedule(filepath.Join(cfg.OutDir, "schedule.jsonl"), res.Schedule); err != nil {
		return res, err
	}
	if err := r.b.CollectLogs(cfg.OutDir); err != nil {
		r.logf("collect logs: %v", err)
	}
	return res, writeSummary(cfg.OutDir, res)
}

func (r *runner) createTopic(ctx context.Context, obs *observer) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resp, err := obs.adm.CreateTopic(ctx, r.cfg.Partitions, int16(replicationFactor(r.b)), nil, r.cfg.Topic)
	if err != nil {
		return fmt.Errorf("create topic: %w", err)
	}
	if resp.Err != nil {
		return fmt.Errorf("create topic: %w", resp.Err)
	}
	for {
		l, err := obs.leaders(ctx)
		if err == nil && len(l) == int(r.cfg.Partitions) {
			ok := true
			for _, b := range l {
				ok = ok && b > 0
			}
			if ok {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("topic %s has no leaders: %w", r.cfg.Topic, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// replicationFactor is every topic's replication factor in a run: one
// replica per broker, at most three, so that with a fourth broker a
// partition has somewhere to move.
func replicationFactor(b Backend) int { return min(3, b.Brokers()) }

// recordReplicaSets adds a "replicas" op per partition of the workload's
// topic: the brokers Metadata lists as its replicas now, whose on-disk logs
// the checker compares.
func (r *runner) recordReplicaSets(obs *observer) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sets, err := obs.replicaSets(ctx)
	if err != nil {
		return err
	}
	for p, set := range sets {
		vals := make([]string, len(set))
		for i, b := range set {
			vals[i] = fmt.Sprint(b)
		}
		r.h.Add(Op{Process: "observer", Type: "ok", F: "replicas", Partition: p, Offset: -1, Values: vals})
	}
	return nil
}

func (r *runner) endOffsets(obs *observer) (map[int32]int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		lo, err := obs.adm.ListEndOffsets(ctx, r.cfg.Topic)
		if err == nil && lo.Error() == nil {
			out := map[int32]int64{}
			lo.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
			if len(out) == int(r.cfg.Partitions) {
				return out, nil
			}
		}
		if ctx.Err() != nil {
			return nil, errors.Join(err, ctx.Err())
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func (r *runner) progress(done <-chan struct{}) {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		r.mu.Lock()
		now := r.now
		r.mu.Unlock()
		r.logf("acked %d unknown %d failed %d | polled %d commits %d | %s",
			r.c.acked.Load(), r.c.unknown.Load(), r.c.failed.Load(), r.c.polled.Load(), r.c.commits.Load(), now)
	}
}

func (r *runner) setNow(s string) { r.mu.Lock(); r.now = s; r.mu.Unlock() }

// sleep waits d unless ctx ends first.
func sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// quiet records a window without faults and the leadership changes in it.
func (r *runner) quiet(ctx context.Context, d time.Duration) bool {
	s0 := sampleChanges(r.b)
	t0 := r.h.Now()
	ok := sleep(ctx, d)
	s1 := sampleChanges(r.b)
	meta, part, _ := changesBetween(s0, s1)
	r.h.Add(Op{Process: "nemesis", Type: "ok", F: "quiet", ID: int64(meta), Offset: r.h.Now() - t0, Values: []string{fmt.Sprint(part)}})
	if meta+part > 0 {
		r.logf("leadership changes while no fault was active: meta %v, partitions %v in %.1fs", meta, part, d.Seconds())
	}
	return ok
}

// faults runs the schedule until the duration is over and returns the
// events that ran.
func (r *runner) faults(ctx context.Context, obs *observer) []Event {
	cfg := r.cfg
	deadline := r.start.Add(cfg.Duration)
	if !sleep(ctx, 5*time.Second) {
		return nil
	}
	if !cfg.Nemesis {
		r.setNow("steady load, no faults")
		r.quiet(ctx, time.Until(deadline))
		return nil
	}
	kinds := Kinds(r.b)
	if len(cfg.Kinds) > 0 {
		kinds = cfg.Kinds
	}
	var ran []Event
	for _, e := range Schedule(cfg.Seed, kinds, 100000, cfg.Fault, cfg.LongFault, cfg.Quiet) {
		if !sleep(ctx, cfg.Grace) {
			break
		}
		if time.Until(deadline) < e.Quiet+e.Fault {
			r.quiet(ctx, max(0, time.Until(deadline)))
			break
		}
		r.setNow("calm")
		if !r.quiet(ctx, e.Quiet) {
			break
		}
		st, err := r.strike(ctx, obs, e)
		if err != nil {
			r.logf("event %d %s: cannot strike: %v", e.N, e.Kind, err)
			if st != nil && st.heal != nil {
				if herr := st.heal(); herr != nil {
					r.fail("event %d: undo %s: %v", e.N, e.Kind, herr)
				}
			}
			continue
		}
		victim, led := st.victim, st.led
		ran = append(ran, e)
		r.h.Add(Op{Process: "nemesis", Type: "invoke", F: "nemesis", ID: int64(e.N), Value: e.Kind, Broker: victim, Detail: ledString(led), Offset: -1})
		r.setNow(fmt.Sprintf("event %d: %s broker %d (led %v)", e.N, e.Kind, victim, led))
		r.logf("event %d: %s on broker %d (leads partitions %v) for %.1fs", e.N, e.Kind, victim, led, e.Fault.Seconds())
		sleep(context.Background(), e.Fault)
		if err := st.heal(); err != nil {
			r.fail("event %d: heal %s on broker %d: %v", e.N, e.Kind, victim, err)
		}
		if st.note != "" {
			r.logf("event %d: %s", e.N, st.note)
		}
		r.h.Add(Op{Process: "nemesis", Type: "ok", F: "nemesis", ID: int64(e.N), Value: e.Kind, Broker: victim, Offset: -1, Detail: st.note})
		r.setNow(fmt.Sprintf("event %d: healing broker %d", e.N, victim))
		t0 := time.Now()
		if !st.restarted.IsZero() {
			r.catchUp(e, st)
		}
		rctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
		err = waitReady(rctx, r.b, allBrokers(r.b))
		cancel()
		if err != nil {
			r.fail("event %d: cluster not ready 120 s after healing: %v", e.N, err)
			break
		}
		r.h.Add(Op{Process: "nemesis", Type: "ok", F: "recovered", ID: int64(e.N), Offset: -1})
		r.logf("event %d: healed; every broker ready after %.1fs", e.N, time.Since(t0).Seconds())
		if ctx.Err() != nil {
			break
		}
	}
	return ran
}

// catchUp measures and records how long the restarted victim took to hold
// what the leaders hold on every partition.
func (r *runner) catchUp(e Event, st *struck) {
	const limit = 120 * time.Second
	d, ok := measureCatchUp(r.b, st.victim, st.restarted, limit)
	op := Op{Process: "nemesis", Type: "ok", F: "catchup", ID: int64(e.N), Value: e.Kind, Broker: st.victim, Offset: d.Microseconds()}
	if !st.down.IsZero() {
		op.Detail = fmt.Sprint(st.restarted.Sub(st.down).Microseconds())
	}
	if !ok {
		op.Type = "info"
		r.logf("event %d: broker %d had not caught up %.1fs after its restart", e.N, st.victim, d.Seconds())
	} else {
		r.logf("event %d: broker %d caught up %.2fs after its restart", e.N, st.victim, d.Seconds())
	}
	r.h.Add(op)
}

// writeSummary prints the table to summary.txt and the figures to
// summary.json.
func writeSummary(dir string, res *Result) error {
	f, err := os.Create(filepath.Join(dir, "summary.txt"))
	if err != nil {
		return err
	}
	PrintSummary(f, res)
	if err := f.Close(); err != nil {
		return err
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "summary.json"), b, 0o644)
}

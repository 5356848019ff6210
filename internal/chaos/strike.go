package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
)

// struck is a fault in progress.
type struck struct {
	victim int
	led    []int32 // partitions the victim led when it struck
	heal   func() error
	// restarted is when heal started the victim again (zero when it did
	// not), down when the victim went down: the catch-up is measured from
	// the restart.
	restarted, down time.Time
	note            string // what heal found (a broker that crashed, bounces)
}

// strike carries out the fault of e. Every fault and heal is recorded in
// the history by the caller; what only the fault knows (a refused wipe) is
// recorded here.
func (r *runner) strike(ctx context.Context, o *observer, e Event) (*struck, error) {
	b := r.b
	leaders, lerr := o.leaders(ctx)
	st := &struck{}
	var err error
	switch e.Kind {
	case KillLeader, PauseLeader, IsolateLeader, OneWayLeader:
		if lerr != nil {
			return nil, lerr
		}
		p := int32(e.Pick % int(r.cfg.Partitions))
		if st.victim = leaders[p]; st.victim <= 0 {
			return nil, fmt.Errorf("partition %d has no leader", p)
		}
	case IsolateMeta:
		if st.victim, err = o.metaLeader(); err != nil {
			return nil, err
		}
	case GroupLeader:
		co, err := coordinatorOf(b, r.group)
		if err != nil {
			return nil, err
		}
		st.victim = int(co.Leader)
	case TxnCoordinator:
		// A transactional id lives in the group shard its name hashes
		// to, as a group of that name would. Picks alternate between the
		// transactional workload's id, the pipeline's transactional ids
		// and the pipeline's group.
		targets := append([]string{r.txnID}, r.eos.ids...)
		targets = append(targets, r.eos.group)
		target := targets[e.Pick%len(targets)]
		co, err := coordinatorOf(b, target)
		if err != nil {
			return nil, err
		}
		st.victim, st.note = int(co.Leader), "coordinator of "+target
	case TxnLeader:
		// A partition of the transactional topic or of the pipeline's
		// output, where markers and transactional produces land.
		topic, p := r.txnTopic, int32(e.Pick%(txnPartitions+eosPartitions))
		if p >= txnPartitions {
			topic, p = r.eos.out, p-txnPartitions
		}
		txnLeaders, err := o.leadersOf(ctx, topic)
		if err != nil {
			return nil, err
		}
		if st.victim = txnLeaders[p]; st.victim <= 0 {
			return nil, fmt.Errorf("partition %d of %s has no leader", p, topic)
		}
		st.note = fmt.Sprintf("leader of %s/%d", topic, p)
	default:
		st.victim = 1 + e.Pick%b.Brokers()
	}
	if why := Supported(b, e.Kind); why != "" {
		return nil, errors.New(why)
	}
	if e.Kind != GroupLeader {
		for p, l := range leaders {
			if l == st.victim {
				st.led = append(st.led, p)
			}
		}
		sort.Slice(st.led, func(i, j int) bool { return st.led[i] < st.led[j] })
	}
	v := st.victim
	restart := func() error {
		if err := b.Restart(v); err != nil {
			return err
		}
		st.restarted = time.Now()
		return nil
	}
	switch e.Kind {
	case TxnLeader:
		if b.Partitions() {
			err = b.Isolate(v)
			st.heal = func() error { return b.Heal(v) }
		} else {
			err = b.Kill(v)
			st.down = time.Now()
			st.heal = restart
		}
	case KillRandom, KillLeader, LongKill, TxnCoordinator:
		err = b.Kill(v)
		st.down = time.Now()
		st.heal = restart
	case PauseRandom, PauseLeader:
		err = b.Pause(v)
		st.heal = func() error { return b.Resume(v) }
	case IsolateRandom, IsolateLeader, IsolateMeta:
		err = b.Isolate(v)
		st.heal = func() error { return b.Heal(v) }
	case OneWayLeader:
		err = b.CutInbound(v)
		st.heal = func() error { return b.Heal(v) }
	case Wipe:
		st.down = time.Now()
		st.heal, err = r.wipe(e, v, restart)
	case GroupLeader:
		st.heal, err = r.bounceGroupLeader(e, st)
	case Reassign:
		st.heal, err = r.reassign(ctx, o, e, st)
	case DiskFull:
		df := b.(DiskFaults)
		err = df.FillDisk(v)
		st.heal = func() error {
			ferr := df.FreeDisk(v)
			if pc, ok := b.(ProcessControl); ok && !pc.Running(v) {
				// The broker gave up on the full disk; the fault is over, so
				// it must come back.
				// When it went down is not known: the catch-up has no "down".
				st.note = "broker exited while its disk was full; restarted"
				return errors.Join(ferr, restart())
			}
			return ferr
		}
	case IOError:
		df := b.(DiskFaults)
		err = df.FailDisk(v)
		st.down = time.Now() // the broker can do nothing more from here on
		st.heal = func() error {
			if pc, ok := b.(ProcessControl); ok && !pc.Running(v) {
				st.note = "broker exited on the I/O errors"
			} else {
				st.note = "broker still running on the failed disk"
			}
			if err := df.RepairDisk(v); err != nil {
				return err
			}
			st.restarted = time.Now()
			return nil
		}
	default:
		err = fmt.Errorf("unknown nemesis %q", e.Kind)
	}
	return st, err
}

// wipeRefusal is what a broker that refuses an empty data directory logs
// (internal/cluster/identity.go, judgeFresh).
const wipeRefusal = "data directory is empty"

// wipe kills broker v, moves its data directory aside (kept, not deleted:
// there is no supported way yet to bring a wiped member back, so heal
// puts the original directory back), starts it on an empty directory and
// checks that it refuses to start. The check is recorded as a wipe-check
// op: fail when the broker started anyway.
func (r *runner) wipe(e Event, v int, restart func() error) (func() error, error) {
	b := r.b
	pc := b.(ProcessControl)
	dir := b.DataDir(v)
	aside := fmt.Sprintf("%s.wiped-%d", dir, e.N)
	if err := b.Kill(v); err != nil {
		return nil, err
	}
	heal := func() error {
		if pc.Running(v) {
			if err := b.Kill(v); err != nil {
				return err
			}
		}
		if _, err := os.Stat(aside); err == nil {
			if err := os.RemoveAll(dir); err != nil {
				return fmt.Errorf("remove the wiped data directory: %w", err)
			}
			if err := os.Rename(aside, dir); err != nil {
				return fmt.Errorf("restore the data directory: %w", err)
			}
		}
		return restart()
	}
	if err := os.Rename(dir, aside); err != nil {
		return heal, fmt.Errorf("move the data directory aside: %w", err)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		return heal, err
	}
	logAt := pc.LogSize(v)
	if err := b.Restart(v); err != nil {
		return heal, err
	}
	exitErr, exited := pc.WaitExit(v, 60*time.Second)
	log := pc.LogFrom(v, logAt)
	op := Op{Process: "nemesis", Type: "ok", F: "wipe-check", ID: int64(e.N), Broker: v, Offset: -1}
	switch {
	case !exited:
		op.Type, op.Detail = "fail", "still running 60 s after starting on an empty data directory"
	case exitErr == nil:
		op.Type, op.Detail = "fail", "exited with status 0 on an empty data directory"
	case !strings.Contains(log, wipeRefusal):
		op.Type, op.Detail = "fail", fmt.Sprintf("exited (%v) without the identity refusal in its log", exitErr)
	default:
		line := log[strings.Index(log, wipeRefusal):]
		if n := strings.IndexByte(line, '\n'); n > 0 {
			line = line[:n]
		}
		op.Detail = fmt.Sprintf("refused (%v): %s", exitErr, line)
	}
	r.h.Add(op)
	r.logf("event %d: broker %d on an empty data directory: %s", e.N, v, op.Detail)
	return heal, nil
}

// coordinator is /v1/groups/<group>/coordinator.
type coordinator struct {
	Shard  uint64 `json:"shard"`
	Leader uint64 `json:"leader"`
	Term   uint64 `json:"term"`
}

// coordinatorOf asks the brokers in turn who leads the group's shard.
func coordinatorOf(b Backend, group string) (coordinator, error) {
	var last error
	for _, i := range allBrokers(b) {
		body, err := httpGet(b.HTTPAddr(i), "/v1/groups/"+group+"/coordinator")
		if err != nil {
			last = err
			continue
		}
		var c coordinator
		if err := json.Unmarshal(body, &c); err != nil {
			last = err
			continue
		}
		if c.Leader > 0 {
			return c, nil
		}
		last = fmt.Errorf("broker %d knows no leader of group shard %d", i, c.Shard)
	}
	return coordinator{}, fmt.Errorf("group %s's coordinator: %w", group, last)
}

// bounceGroupLeader moves the group shard's leadership from its leader A
// to another broker B and straight back, again and again until heal: the
// members keep committing through it, and the coordinator on A must not
// serve from what it knew before B's term (issue 23).
func (r *runner) bounceGroupLeader(e Event, st *struck) (func() error, error) {
	a := st.victim
	var others []int
	for _, i := range allBrokers(r.b) {
		if i != a {
			others = append(others, i)
		}
	}
	bb := others[e.Pick%len(others)]
	// The first request says whether the brokers serve transfers at all
	// (a Compose stack without --debug-leader-transfer does not).
	if err := r.transferGroupLeader(a, bb); err != nil {
		return nil, err
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	moves, asked := 0, 1
	var lastErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		if awaitGroupLeader(r.b, r.group, bb, 5*time.Second, stop) {
			moves++
		}
		for first := true; ; first = false {
			for _, to := range []int{bb, a} {
				if first && to == bb {
					continue // asked above
				}
				asked++
				if err := r.transferGroupLeader(a, to); err != nil {
					lastErr = err
				} else if awaitGroupLeader(r.b, r.group, to, 5*time.Second, stop) {
					moves++
				}
			}
			select {
			case <-stop:
				return
			case <-time.After(300 * time.Millisecond):
			}
		}
	}()
	return func() error {
		close(stop)
		wg.Wait()
		st.note = fmt.Sprintf("group shard leadership %d <-> %d: %d of %d transfers seen", a, bb, moves, asked)
		if moves == 0 && lastErr != nil {
			return fmt.Errorf("no group leader transfer happened: %w", lastErr)
		}
		return nil
	}, nil
}

// transferGroupLeader asks, through broker via's HTTP listener (it needs
// --debug-leader-transfer), for the group shard's leadership to move.
func (r *runner) transferGroupLeader(via, to int) error {
	url := fmt.Sprintf("http://%s/v1/groups/%s/transfer-leader?to=%d", r.b.HTTPAddr(via), r.group, to)
	resp, err := httpClient.Post(url, "", nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("POST %s: %s (brokers need --debug-leader-transfer)", url, resp.Status)
	}
	return nil
}

// awaitGroupLeader waits until a broker reports to as the group shard's
// leader.
func awaitGroupLeader(b Backend, group string, to int, d time.Duration, stop <-chan struct{}) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if c, err := coordinatorOf(b, group); err == nil && int(c.Leader) == to {
			return true
		}
		select {
		case <-stop:
			return false
		case <-time.After(50 * time.Millisecond):
		}
	}
	return false
}

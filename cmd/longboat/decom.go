package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/longboat/longboat/internal/cli"
	"github.com/longboat/longboat/internal/moveplan"
)

// movePoll is how often remove-broker and rebalance look at the moves in
// flight.
const movePoll = time.Second

// landWait bounds how long a completed move may take to show in Metadata.
const landWait = 15 * time.Second

// placementFlags are the flags remove-broker and rebalance share.
type placementFlags struct {
	cf          *clientFlags
	http        *string
	dryRun      *bool
	concurrency *int
	wait        *time.Duration
}

func addPlacementFlags(fs *flag.FlagSet) placementFlags {
	return placementFlags{
		cf: addClientFlags(fs, defaultAdminTimeout),
		http: fs.String("http", "127.0.0.1:13092,127.0.0.1:13093,127.0.0.1:13094",
			"comma-separated HTTP addresses of brokers (the first that answers is asked; default: longboat dev's), https://host:port for brokers with --http-tls"),
		dryRun:      fs.Bool("dry-run", false, "print the plan and change nothing"),
		concurrency: fs.Int("concurrency", 4, "partition moves in flight at once (reorderings that only change the preferred leader are not counted)"),
		wait:        fs.Duration("wait", 30*time.Minute, "give up following the moves after this long (the moves in flight carry on)"),
	}
}

// clusterView is what a plan is made from: the brokers, which of them may
// take replicas, and the partitions' replica sets.
type clusterView struct {
	brokers  []int32 // registered, ascending
	down     []int32 // whose Kafka listener does not accept a connection
	draining []int32
	voters   []int32 // of __meta
	// nonVoting are __meta's non-voting members; votersWanted is
	// --meta-voters of the broker asked (0: not told).
	nonVoting    []int32
	votersWanted int
	parts        []moveplan.Partition
	// internal are __consumer_offsets' partitions (the group shards):
	// remove-broker moves them off the broker like any partition,
	// rebalance leaves them where they are.
	internal []moveplan.Partition
	moving   map[string]bool // "topic/partition" of the moves in progress
	// httpAddrs are every --http address that answered /v1/status as a
	// broker other than the one removed, first the one whose status the
	// view holds.
	httpAddrs []string
	hc        *http.Client
}

func partKey(topic string, p int32) string { return topic + "/" + strconv.Itoa(int(p)) }

// view reads the cluster through the Kafka API and one broker's /v1/status,
// not broker avoid's: the broker being removed cannot remove itself, and
// once out of __meta's Raft group its view of __meta stands still.
func (pf placementFlags) view(ctx context.Context, adm *kadm.Client, avoid int32) (*clusterView, error) {
	md, err := adm.Metadata(ctx)
	if err != nil {
		return nil, pf.cf.explain(err)
	}
	v := &clusterView{moving: map[string]bool{}}
	for _, b := range md.Brokers {
		v.brokers = append(v.brokers, b.NodeID)
		if !reachable(ctx, fmt.Sprintf("%s:%d", b.Host, b.Port)) {
			v.down = append(v.down, b.NodeID)
		}
	}
	slices.Sort(v.brokers)
	slices.Sort(v.down)
	for _, td := range md.Topics.Sorted() {
		if td.Err != nil {
			return nil, fmt.Errorf("topic %s: %w", td.Topic, td.Err)
		}
		for _, pd := range td.Partitions.Sorted() {
			p := moveplan.Partition{Topic: td.Topic, Partition: pd.Partition, Replicas: pd.Replicas}
			if td.IsInternal {
				v.internal = append(v.internal, p)
			} else {
				v.parts = append(v.parts, p)
			}
		}
	}
	moves, err := adm.ListPartitionReassignments(ctx, md.Topics.TopicsSet())
	if err != nil {
		return nil, pf.cf.explain(err)
	}
	for _, m := range moves.Sorted() {
		v.moving[partKey(m.Topic, m.Partition)] = true
	}
	if v.hc, err = pf.cf.httpClient(); err != nil {
		return nil, err
	}
	// A broker answers /v1/status without __meta's membership when it
	// cannot read it within half a second (a loaded or electing cluster):
	// ask the others, and again, for a while.
	var st *v1Status
	deadline := time.Now().Add(15 * time.Second)
	for answered := true; st == nil; {
		if !answered {
			return nil, usagef("no broker answered /v1/status at --http %q (%v): the draining marks and __meta's voters are read there", *pf.http, err)
		}
		answered = false
		for _, a := range strings.Split(*pf.http, ",") {
			if a = strings.TrimSpace(a); a == "" {
				continue
			}
			var got *v1Status
			if got, err = fetchStatus(ctx, v.hc, a); err == nil && len(got.MetaVoters) == 0 {
				answered, err = true, fmt.Errorf("%s: no __meta membership in /v1/status", a)
			}
			if err == nil && int64(got.NodeID) == int64(avoid) {
				answered, err = true, fmt.Errorf("%s is broker %d itself, which cannot drive its own removal: give another broker's HTTP address", a, avoid)
				continue
			}
			if err == nil {
				v.httpAddrs = append(v.httpAddrs, a)
				if st == nil {
					st = got
				}
			}
		}
		if st == nil && (time.Now().After(deadline) || ctx.Err() != nil) {
			return nil, usagef("no broker answered /v1/status with __meta's membership at --http %q (%v): the draining marks and __meta's voters are read there", *pf.http, err)
		}
		if st == nil {
			time.Sleep(time.Second)
		}
	}
	for _, id := range st.Draining {
		v.draining = append(v.draining, int32(id))
	}
	v.voters, v.nonVoting = toInt32s(st.MetaVoters), toInt32s(st.MetaNonVoting)
	v.votersWanted = st.MetaVotersWanted
	return v, nil
}

// eligible are the brokers that may take new replicas: up, not draining,
// not in without.
func (v *clusterView) eligible(without ...int32) []int32 {
	var out []int32
	for _, b := range v.brokers {
		if !slices.Contains(v.down, b) && !slices.Contains(v.draining, b) && !slices.Contains(without, b) {
			out = append(out, b)
		}
	}
	return out
}

// still are the partitions not moving now (a plan leaves moves alone).
func (v *clusterView) still() []moveplan.Partition { return v.notMoving(v.parts) }

// stillInternal is still for the group shards.
func (v *clusterView) stillInternal() []moveplan.Partition { return v.notMoving(v.internal) }

func (v *clusterView) notMoving(parts []moveplan.Partition) []moveplan.Partition {
	var out []moveplan.Partition
	for _, p := range parts {
		if !v.moving[partKey(p.Topic, p.Partition)] {
			out = append(out, p)
		}
	}
	return out
}

// brokerRequest asks the brokers at v.httpAddrs in turn to change a
// broker's membership (internal/broker/brokershttp.go); a 409 is a refusal
// to report as is, a 503 or no answer is asked again, of the next broker,
// for up to a minute (a broker whose __meta replica is catching up answers
// 503 for as long as that takes).
func (v *clusterView) brokerRequest(ctx context.Context, method, path string) error {
	deadline := time.Now().Add(time.Minute)
	for i := 0; ; i++ {
		url := v.httpAddrs[i%len(v.httpAddrs)] + path
		if !strings.HasPrefix(url, "http://") && !strings.HasPrefix(url, "https://") {
			url = "http://" + url
		}
		req, err := http.NewRequestWithContext(ctx, method, url, nil)
		if err != nil {
			return err
		}
		resp, err := v.hc.Do(req)
		if err == nil {
			msg, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			switch resp.StatusCode {
			case http.StatusNoContent, http.StatusOK:
				return nil
			case http.StatusConflict, http.StatusBadRequest, http.StatusNotFound:
				return errors.New(strings.TrimSpace(string(msg)))
			}
			err = fmt.Errorf("%s %s: %s: %s", method, url, resp.Status, strings.TrimSpace(string(msg)))
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// planGrid shows a plan.
func planGrid(title string, moves []moveplan.Move) *cli.Grid {
	g := &cli.Grid{Title: title, Header: []string{"TOPIC", "PARTITION", "FROM", "TO", "KIND"}}
	for _, m := range moves {
		kind := "move"
		if m.LeaderOnly() {
			kind = "leader"
		}
		g.Add(m.Topic, m.Partition, joinIDs(m.From), joinIDs(m.To), kind)
	}
	return g
}

// executeMoves submits moves through AlterPartitionReassignments, at most
// concurrency data moves in flight (reorderings all at once: __meta
// applies them at once), follows them with ListPartitionReassignments,
// prints a line on w as each starts and ends, and returns each one's
// outcome: completed, failed: <why>, in-progress or not-started (the wait
// ended first).
func executeMoves(ctx, wctx context.Context, adm *kadm.Client, w io.Writer, moves []moveplan.Move, concurrency int) ([]reassignResult, error) {
	results := make([]reassignResult, len(moves))
	for i, m := range moves {
		results[i] = reassignResult{Topic: m.Topic, Partition: m.Partition, From: m.From, To: m.To}
	}
	start := time.Now()
	elapsed := func() float64 { return time.Since(start).Seconds() }
	done := 0
	finish := func(i int, outcome string) {
		r := &results[i]
		r.Outcome, r.Seconds = outcome, elapsed()
		done++
		fmt.Fprintf(w, "%6.1fs %s/%d %s: replicas %s (%d/%d)\n", r.Seconds, r.Topic, r.Partition, outcome, joinIDs(r.To), done, len(results))
	}
	submit := func(idx []int) error {
		var req kadm.AlterPartitionAssignmentsReq
		for _, i := range idx {
			req.Assign(moves[i].Topic, moves[i].Partition, moves[i].To)
		}
		// A request-level failure (no __meta quorum in time) is asked
		// again: a retried move of the same target is accepted as is.
		resp, err := adm.AlterPartitionAssignments(ctx, req)
		for try := 1; err != nil && try < 5 && ctx.Err() == nil; try++ {
			fmt.Fprintf(w, "%6.1fs submitting moves: %v; asking again\n", elapsed(), err)
			time.Sleep(movePoll)
			resp, err = adm.AlterPartitionAssignments(ctx, req)
		}
		if err != nil {
			return err
		}
		for _, i := range idx {
			r := resp[moves[i].Topic][moves[i].Partition]
			if r.Err != nil {
				finish(i, fmt.Sprintf("failed: %v: %s", r.Err, r.ErrMessage))
			} else if !moves[i].LeaderOnly() {
				fmt.Fprintf(w, "%6.1fs %s/%d moving %s -> %s\n", elapsed(), moves[i].Topic, moves[i].Partition, joinIDs(moves[i].From), joinIDs(moves[i].To))
			}
		}
		return nil
	}
	var reorders, pending []int
	for i, m := range moves {
		if m.LeaderOnly() {
			reorders = append(reorders, i)
		} else {
			pending = append(pending, i)
		}
	}
	if len(reorders) > 0 {
		if err := submit(reorders); err != nil {
			return nil, err
		}
		for _, i := range reorders {
			if results[i].Outcome == "" {
				finish(i, "completed")
			}
		}
	}
	var inflight []int
	for len(pending) > 0 || len(inflight) > 0 {
		if n := min(concurrency-len(inflight), len(pending)); n > 0 && wctx.Err() == nil {
			batch := pending[:n]
			pending = pending[n:]
			if err := submit(batch); err != nil {
				return nil, err
			}
			for _, i := range batch {
				if results[i].Outcome == "" {
					inflight = append(inflight, i)
				}
			}
		}
		if len(inflight) > 0 {
			ts := kadm.TopicsSet{}
			for _, i := range inflight {
				ts.Add(moves[i].Topic, moves[i].Partition)
			}
			// A broker that cannot reach __meta's quorum in time answers
			// REQUEST_TIMED_OUT (a loaded or electing cluster): ask again
			// at the next poll.
			if listed, err := adm.ListPartitionReassignments(ctx, ts); err != nil {
				if ctx.Err() != nil {
					return nil, err
				}
				fmt.Fprintf(w, "%6.1fs listing the moves: %v; asking again\n", elapsed(), err)
			} else {
				still := inflight[:0]
				for _, i := range inflight {
					if _, moving := listed[moves[i].Topic][moves[i].Partition]; moving {
						still = append(still, i)
					} else {
						finish(i, "completed")
					}
				}
				inflight = still
			}
		}
		if len(pending) == 0 && len(inflight) == 0 {
			break
		}
		select {
		case <-wctx.Done():
			for _, i := range inflight {
				results[i].Outcome, results[i].Seconds = "in-progress", elapsed()
			}
			for _, i := range pending {
				results[i].Outcome = "not-started"
			}
			return results, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(movePoll):
		}
	}
	return results, nil
}

// checkLanded reads Metadata until every "completed" move's partition
// shows its target, for up to landWait: Metadata is answered from the
// asked broker's own __meta replica, which may trail the quorum that
// ListPartitionReassignments reads. A partition that never shows its
// target (a cancel from elsewhere) is "ended elsewhere".
func checkLanded(ctx context.Context, adm *kadm.Client, results []reassignResult) error {
	deadline := time.Now().Add(landWait)
	for {
		md, err := adm.Metadata(ctx)
		if err != nil {
			if ctx.Err() != nil || time.Now().After(deadline) {
				return err
			}
			time.Sleep(movePoll)
			continue
		}
		var off []int
		for i, r := range results {
			if r.Outcome != "completed" {
				continue
			}
			if pd, ok := md.Topics[r.Topic].Partitions[r.Partition]; ok && !slices.Equal(pd.Replicas, r.To) {
				off = append(off, i)
			}
		}
		if len(off) == 0 || time.Now().After(deadline) {
			for _, i := range off {
				pd := md.Topics[results[i].Topic].Partitions[results[i].Partition]
				results[i].Outcome = "ended elsewhere: replicas " + joinIDs(pd.Replicas)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(movePoll):
		}
	}
}

// allCompleted tells whether every move completed.
func allCompleted(results []reassignResult) bool {
	for _, r := range results {
		if r.Outcome != "completed" {
			return false
		}
	}
	return true
}

func summaryGrid(title string, results []reassignResult) *cli.Grid {
	g := &cli.Grid{Title: title, Header: []string{"TOPIC", "PARTITION", "FROM", "TO", "OUTCOME", "SECONDS"}}
	for _, r := range results {
		g.Add(r.Topic, r.Partition, joinIDs(r.From), joinIDs(r.To), r.Outcome, fmt.Sprintf("%.1f", r.Seconds))
	}
	return g
}

// removeBrokerDoc is remove-broker's --output json.
type removeBrokerDoc struct {
	Broker  int32            `json:"broker"`
	DryRun  bool             `json:"dry_run"`
	Plan    []moveplan.Move  `json:"plan"`
	Results []reassignResult `json:"results"`
	Removed bool             `json:"removed"`
	// MetaVoters are __meta's voters once a voter's vote went elsewhere
	// (absent for a broker that did not vote).
	MetaVoters []int32 `json:"meta_voters,omitempty"`
	Note       string  `json:"note,omitempty"`
}

// voterWait bounds how long remove-broker waits, once a voter holds no
// replica, for __meta's leader to take its vote away (a promotion and a
// removal, each a Raft membership change, a few keeper rounds apart).
const voterWait = 3 * time.Minute

// voterReplaceable refuses, before anything changes, a voter of __meta
// whose vote no broker can take: __meta keeps --meta-voters voters, so
// one must be promoted first, and only a live, non-draining non-voting
// member (a broker that joined) can be.
func (v *clusterView) voterReplaceable(n int32) error {
	if v.votersWanted > 0 && len(v.voters)-1 >= v.votersWanted {
		return nil
	}
	var candidates []int32
	for _, id := range v.nonVoting {
		if id != n && slices.Contains(v.brokers, id) && !slices.Contains(v.down, id) && !slices.Contains(v.draining, id) {
			candidates = append(candidates, id)
		}
	}
	if len(candidates) > 0 {
		return nil
	}
	return fmt.Errorf("broker %d is a voter of __meta (voters %s, non-voting %s) and no live, non-draining broker that joined can take its vote: "+
		"__meta keeps --meta-voters voters, so join another broker first (longboat serve --join ..., see docs/OPERATIONS.md \"Add a broker\"), "+
		"then run remove-broker again (nothing changed)", n, joinIDs(v.voters), orDash(joinIDs(v.nonVoting)))
}

// awaitVoterLeaves follows __meta's membership at the brokers asked until
// broker n no longer votes, printing a line on w as it changes, for up to
// voterWait; it returns the voters then.
func (v *clusterView) awaitVoterLeaves(ctx context.Context, w io.Writer, n int32) ([]int32, error) {
	start := time.Now()
	deadline := start.Add(voterWait)
	fmt.Fprintf(w, "broker %d votes in __meta: waiting for __meta's leader to promote a broker that joined in its place and take its vote away\n", n)
	last := ""
	// A broker that does not answer, or cannot read __meta's membership,
	// gives way to the next --http one; one that answers stays asked, so
	// that the lines follow one view.
	at := 0
	for {
		addr := v.httpAddrs[at%len(v.httpAddrs)]
		st, err := fetchStatus(ctx, v.hc, addr)
		if err == nil && len(st.MetaVoters) == 0 {
			err = fmt.Errorf("%s: no __meta membership in /v1/status", addr)
		}
		if err != nil {
			at++
		}
		if err == nil {
			voters := toInt32s(st.MetaVoters)
			now := fmt.Sprintf("__meta voters %s, non-voting %s", joinIDs(voters), orDash(joinIDs(toInt32s(st.MetaNonVoting))))
			if now != last {
				fmt.Fprintf(w, "%6.1fs %s\n", time.Since(start).Seconds(), now)
				last = now
			}
			if !slices.Contains(voters, n) {
				return voters, nil
			}
		}
		if time.Now().After(deadline) {
			if last == "" {
				last = fmt.Sprintf("__meta's membership unread at %s: %v", strings.Join(v.httpAddrs, ","), err)
			}
			return nil, fmt.Errorf("still a voter of __meta after %v (%s): __meta's leader promotes a live, caught-up, non-draining broker that joined, then takes the vote of %d away "+
				"(its log says \"__meta voters\"); run remove-broker again to finish", voterWait, last, n)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(movePoll):
		}
	}
}

// toInt32s converts broker ids.
func toInt32s(ids []uint64) []int32 {
	out := make([]int32, 0, len(ids))
	for _, id := range ids {
		out = append(out, int32(id))
	}
	return out
}

// removeBroker is `longboat cluster remove-broker N`: refuse if the rest
// cannot hold every topic's replication factor, or N votes in __meta and
// no broker can take its vote; otherwise mark N draining, move every
// partition replica off it onto the live brokers, wait (a voter) for
// __meta's leader to promote another broker and take N's vote away
// (metaVoterKeeper), and remove N from __meta.
func removeBroker(args []string, s *stdio) error {
	fs := flag.NewFlagSet("cluster remove-broker", flag.ContinueOnError)
	fs.SetOutput(s.err)
	pf := addPlacementFlags(fs)
	// The broker id comes first (remove-broker N --flags), as in the usage;
	// --help alone is also taken.
	var id string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		id, args = args[0], args[1:]
	}
	if done, err := parseFlags(fs, args); done {
		return err
	}
	if id == "" {
		return usagef("remove-broker takes a broker id: longboat cluster remove-broker N [flags]")
	}
	n64, err := strconv.ParseInt(id, 10, 32)
	if err != nil || n64 < 0 {
		return usagef("remove-broker: %q is not a broker id", id)
	}
	n := int32(n64)
	pf.cf.timeout += *pf.wait + voterWait
	ctx, adm, f, done, err := pf.cf.admin()
	if err != nil {
		return err
	}
	defer done()
	v, err := pf.view(ctx, adm, n)
	if err != nil {
		return err
	}
	if !slices.Contains(v.brokers, n) {
		return fmt.Errorf("broker %d is not registered (brokers %s)", n, joinIDs(v.brokers))
	}
	voter := slices.Contains(v.voters, n)
	if voter {
		if err := v.voterReplaceable(n); err != nil {
			return err
		}
	}
	for _, p := range append(slices.Clone(v.parts), v.internal...) {
		if v.moving[partKey(p.Topic, p.Partition)] && slices.Contains(p.Replicas, n) {
			return fmt.Errorf("%s/%d, on broker %d, is being moved: wait for the move (longboat cluster status) or cancel it (longboat topics reassign --cancel), then run again", p.Topic, p.Partition, n)
		}
	}
	eligible := v.eligible(n)
	plan, err := moveplan.Evacuate(append(v.still(), v.stillInternal()...), []int32{n}, eligible)
	if err != nil {
		return fmt.Errorf("broker %d cannot be removed (nothing changed): %w", n, err)
	}
	doc := removeBrokerDoc{Broker: n, DryRun: *pf.dryRun, Plan: plan, Results: []reassignResult{}}
	if doc.Plan == nil {
		doc.Plan = []moveplan.Move{}
	}
	if f != cli.JSON {
		title := fmt.Sprintf("Plan: move %d partitions off broker %d onto brokers %s", len(plan), n, joinIDs(eligible))
		if len(v.down) > 0 {
			title += fmt.Sprintf(" (down, left out: %s)", joinIDs(v.down))
		}
		if err := cli.Print(s.out, f, nil, planGrid(title, plan)); err != nil {
			return err
		}
	}
	if *pf.dryRun {
		if f == cli.JSON {
			return cli.Print(s.out, f, doc)
		}
		return nil
	}
	if err := v.brokerRequest(ctx, http.MethodPost, fmt.Sprintf("/v1/brokers/%d/drain", n)); err != nil {
		return fmt.Errorf("mark broker %d draining: %w", n, err)
	}
	fmt.Fprintf(s.err, "broker %d marked draining: no new replica goes to it\n", n)
	wctx, stop := context.WithTimeout(context.Background(), *pf.wait)
	defer stop()
	if doc.Results, err = executeMoves(ctx, wctx, adm, s.err, plan, max(1, *pf.concurrency)); err != nil {
		return fmt.Errorf("broker %d stays draining; run remove-broker again to finish: %w", n, err)
	}
	if err := checkLanded(ctx, adm, doc.Results); err != nil {
		return err
	}
	switch {
	case !allCompleted(doc.Results):
		doc.Note = fmt.Sprintf("broker %d stays draining: not every move completed; run remove-broker again to finish", n)
	case voter:
		if doc.MetaVoters, err = v.awaitVoterLeaves(ctx, s.err, n); err != nil {
			doc.Note = fmt.Sprintf("broker %d holds no partition replica but stays draining: %v", n, err)
			break
		}
		fallthrough
	default:
		if err := v.brokerRequest(ctx, http.MethodDelete, fmt.Sprintf("/v1/brokers/%d", n)); err != nil {
			doc.Note = fmt.Sprintf("broker %d holds no partition replica but was not removed: %v", n, err)
			break
		}
		doc.Removed = true
		doc.Note = fmt.Sprintf("broker %d removed from the cluster; stop its process (it serves nothing any more)", n)
		if voter {
			doc.Note = fmt.Sprintf("broker %d removed from the cluster (its __meta vote went to another broker: voters now %s); stop its process (it serves nothing any more)",
				n, joinIDs(doc.MetaVoters))
		}
	}
	fmt.Fprintln(s.err, doc.Note)
	if err := cli.Print(s.out, f, doc, summaryGrid(fmt.Sprintf("Summary: %d moves off broker %d", len(doc.Results), n), doc.Results)); err != nil {
		return err
	}
	if !doc.Removed {
		return errors.New(doc.Note)
	}
	return nil
}

// rebalanceDoc is rebalance's --output json.
type rebalanceDoc struct {
	DryRun   bool             `json:"dry_run"`
	Eligible []int32          `json:"eligible"`
	Skipped  []string         `json:"skipped_moving,omitempty"`
	Plan     []moveplan.Move  `json:"plan"`
	Results  []reassignResult `json:"results"`
}

// rebalance is `longboat cluster rebalance`: print a plan that moves
// replicas off down and draining brokers and evens replicas and preferred
// leaders over the others, then carry it out (unless --dry-run).
func rebalance(args []string, s *stdio) error {
	fs := flag.NewFlagSet("cluster rebalance", flag.ContinueOnError)
	fs.SetOutput(s.err)
	pf := addPlacementFlags(fs)
	if done, err := parseFlags(fs, args); done {
		return err
	}
	pf.cf.timeout += *pf.wait
	ctx, adm, f, done, err := pf.cf.admin()
	if err != nil {
		return err
	}
	defer done()
	v, err := pf.view(ctx, adm, -1)
	if err != nil {
		return err
	}
	doc := rebalanceDoc{DryRun: *pf.dryRun, Eligible: v.eligible(), Results: []reassignResult{}}
	for k := range v.moving {
		doc.Skipped = append(doc.Skipped, k)
	}
	slices.Sort(doc.Skipped)
	if len(doc.Eligible) == 0 {
		return errors.New("no broker may take replicas (every one is down or draining)")
	}
	if doc.Plan, err = moveplan.Rebalance(v.still(), doc.Eligible); err != nil {
		return fmt.Errorf("no rebalance (nothing changed): %w", err)
	}
	if doc.Plan == nil {
		doc.Plan = []moveplan.Move{}
	}
	if f != cli.JSON {
		title := fmt.Sprintf("Plan: %d changes over brokers %s", len(doc.Plan), joinIDs(doc.Eligible))
		if len(v.down)+len(v.draining) > 0 {
			title += fmt.Sprintf(" (replicas leave down %s, draining %s)", orDash(joinIDs(v.down)), orDash(joinIDs(v.draining)))
		}
		if len(doc.Skipped) > 0 {
			title += fmt.Sprintf("; left alone, being moved: %s", strings.Join(doc.Skipped, " "))
		}
		if err := cli.Print(s.out, f, nil, planGrid(title, doc.Plan)); err != nil {
			return err
		}
	}
	if *pf.dryRun {
		if f == cli.JSON {
			return cli.Print(s.out, f, doc)
		}
		return nil
	}
	wctx, stop := context.WithTimeout(context.Background(), *pf.wait)
	defer stop()
	if doc.Results, err = executeMoves(ctx, wctx, adm, s.err, doc.Plan, max(1, *pf.concurrency)); err != nil {
		return err
	}
	if err := checkLanded(ctx, adm, doc.Results); err != nil {
		return err
	}
	if err := cli.Print(s.out, f, doc, summaryGrid(fmt.Sprintf("Summary: %d changes", len(doc.Results)), doc.Results)); err != nil {
		return err
	}
	if !allCompleted(doc.Results) {
		return errors.New("not every change completed (see the summary); run rebalance again to plan the rest")
	}
	return nil
}

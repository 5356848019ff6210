package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/longboat/longboat/internal/group"
	"github.com/longboat/longboat/internal/meta"
	"github.com/longboat/longboat/internal/partition"
)

// dragonboat keeps each follower's match index inside its Raft state and
// exposes none of it (ShardInfo has members and the leader only), so
// leaders learn their followers' progress from the followers: once a
// second every broker asks every other broker, in one request, for the
// high watermarks its partition replicas have applied. Reading a high
// watermark is an atomic load, so a quiesced shard stays asleep.
const (
	// isrPollInterval is how often a leader asks its peers.
	isrPollInterval = time.Second
	// isrFenceAfter polls in a row without an answer (~5 s) take a broker
	// out of every ISR at once, as Kafka's controller does when a broker's
	// heartbeats stop for broker.session.timeout.ms, instead of after the
	// lag time. Not fewer: a busy broker may miss a poll or two.
	isrFenceAfter = 5
	// isrReportTTL is how long a leader's ISR report counts on the
	// brokers it sent it to; past it they fall back to every replica.
	isrReportTTL = 5 * isrPollInterval
	// replicasPath serves this broker's replicas' high watermarks and takes
	// the asking leader's shrunk ISRs.
	replicasPath = "/v1/replicas"
)

// replicasRequest is what a broker sends each peer: the ISRs of the
// partitions it leads that are smaller than their replica sets (partitions
// absent from it have every replica in sync), so every broker can answer
// Metadata with the leader's view.
type replicasRequest struct {
	Leader uint64              `json:"leader"`
	ISR    map[uint64][]uint64 `json:"isr,omitempty"`
}

// replicasResponse is the high watermark of each partition replica the
// answering broker hosts, and the applied Raft index of each group shard
// replica and of its __meta replica, by shard.
type replicasResponse struct {
	HW map[uint64]int64 `json:"hw"`
}

// followerSync is what a leader knows of one follower in one term.
type followerSync struct {
	// caughtUp is the last time the follower held everything the leader
	// had; until it is first seen, the time the leadership was first seen.
	caughtUp time.Time
	// seen: caughtUp was observed, not assumed.
	seen bool
	// applied is the position the follower last reported (its high
	// watermark, or applied index for __meta and group shards) at
	// answered; -1 before its first answer in this term.
	applied  int64
	answered time.Time
}

// shardSync is a leader's view of one partition's followers.
type shardSync struct {
	term      uint64
	replicas  []uint64
	followers map[uint64]*followerSync
	// prevHW is the leader's high watermark at the previous poll, taken at
	// prevAt.
	prevHW int64
	prevAt time.Time
}

func newShardSync(term uint64, replicas []uint64, self uint64, now time.Time) *shardSync {
	s := &shardSync{term: term, replicas: replicas, followers: map[uint64]*followerSync{}}
	for _, r := range replicas {
		if r != self {
			// A new leader gives each follower the lag time to show it is
			// caught up, as Kafka's does with the ISR it inherits.
			s.followers[r] = &followerSync{caughtUp: now, applied: -1}
		}
	}
	return s
}

// observe records that a follower had applied up to hw when asked after
// at, when the leader's high watermark was leaderHW. Kafka's rule: a
// follower is caught up at the time of a leader log end it has reached,
// so one that holds what the leader had at the previous poll was caught up
// then, even if the leader has appended since.
func (s *shardSync) observe(follower uint64, hw, leaderHW int64, at time.Time) {
	f, ok := s.followers[follower]
	if !ok {
		return
	}
	f.applied, f.answered = hw, at
	var t time.Time
	switch {
	case hw >= leaderHW:
		t = at
	case !s.prevAt.IsZero() && hw >= s.prevHW:
		t = s.prevAt
	default:
		return
	}
	if t.After(f.caughtUp) || !f.seen {
		f.caughtUp, f.seen = t, true
	}
}

// inSync tells whether a follower caught up within lagMax of now. proven
// also asks that it did so since this leadership began, not only by the
// grace a new leader gives.
func (s *shardSync) inSync(follower uint64, now time.Time, lagMax time.Duration, proven bool) bool {
	f, ok := s.followers[follower]
	return ok && now.Sub(f.caughtUp) <= lagMax && (f.seen || !proven)
}

// isrReport is one leader's last report of its shrunk ISRs.
type isrReport struct {
	at  time.Time
	isr map[uint64][]uint64
}

// hostedPartitions is what the tracker reads of the replicas hosted here.
type hostedPartitions interface {
	partitionShards() []uint64
	partition(shardID uint64) (*partition.StateMachine, bool)
	groupShards() []uint64
	groupStateMachine(shardID uint64) (*group.StateMachine, bool)
}

// isrTracker follows, on each partition this broker leads, which followers
// are in sync, and keeps the ISRs other leaders reported.
type isrTracker struct {
	self     uint64
	lagMax   time.Duration
	meta     metaState
	leaders  leadership
	replicas hostedPartitions
	client   peerHTTP
	now      func() time.Time
	log      zerolog.Logger

	mu       sync.Mutex
	led      map[uint64]*shardSync // partitions led here
	failures map[uint64]int        // polls in a row a peer did not answer
	reports  map[uint64]isrReport  // by reporting leader
}

func newISRTracker(self uint64, lagMax time.Duration, st metaState, leaders leadership, replicas hostedPartitions, client peerHTTP, log zerolog.Logger) *isrTracker {
	return &isrTracker{
		self: self, lagMax: lagMax, meta: st, leaders: leaders, replicas: replicas, client: client, now: time.Now, log: log,
		led: map[uint64]*shardSync{}, failures: map[uint64]int{}, reports: map[uint64]isrReport{},
	}
}

func (t *isrTracker) run(ctx context.Context) {
	tick := time.NewTicker(isrPollInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			t.round(ctx)
		}
	}
}

// ledPartition is a partition this broker leads, as a round found it.
type ledPartition struct {
	term     uint64
	replicas []uint64
	hw       int64
}

// round takes the leader's high watermarks, asks every peer for its
// replicas' ones (telling it the shrunk ISRs) and records who caught up.
func (t *isrTracker) round(ctx context.Context) {
	st := t.meta.State()
	now := t.now()
	led := map[uint64]ledPartition{}
	for _, ref := range st.PartitionsOf(t.self) {
		p := ref.Partition
		term, leader := t.leaders.isLeader(p.ShardID)
		if !leader {
			continue
		}
		rep, ok := t.replicas.partition(p.ShardID)
		if !ok {
			continue
		}
		led[p.ShardID] = ledPartition{term: term, replicas: p.Replicas, hw: rep.HighWatermark()}
	}
	// __meta and group shards are tracked by applied Raft index instead:
	// __meta so that its leader promotes only a caught-up non-voting
	// member (metavoters.go), group shards so that a
	// reassignment can tell when a group shard replica it brings in has
	// caught up.
	for _, p := range st.GroupShardsOf(t.self) {
		term, leader := t.leaders.isLeader(p.ShardID)
		if !leader {
			continue
		}
		if g, ok := t.replicas.groupStateMachine(p.ShardID); ok {
			led[p.ShardID] = ledPartition{term: term, replicas: p.Replicas, hw: int64(g.Applied())}
		}
	}
	if term, leader := t.leaders.isLeader(meta.ShardID); leader {
		led[meta.ShardID] = ledPartition{term: term, replicas: st.BrokerIDs(), hw: int64(st.Index)}
	}

	t.mu.Lock()
	for id, s := range t.led {
		if l, ok := led[id]; !ok || l.term != s.term || !slices.Equal(l.replicas, s.replicas) {
			delete(t.led, id)
		}
	}
	for id, l := range led {
		if _, ok := t.led[id]; !ok {
			t.led[id] = newShardSync(l.term, l.replicas, t.self, now)
		}
	}
	req := replicasRequest{Leader: t.self, ISR: map[uint64][]uint64{}}
	for id, l := range led {
		if isr := t.ledISRLocked(id, l.replicas, now); len(isr) < len(l.replicas) {
			req.ISR[id] = isr
		}
	}
	t.mu.Unlock()

	body, err := json.Marshal(req)
	if err != nil {
		t.log.Warn().Err(err).Msg("encode ISR report")
		return
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	answers := map[uint64]map[uint64]int64{}
	for id, b := range st.Brokers {
		if id == t.self {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			hw, err := t.ask(ctx, b, body)
			if err != nil {
				t.log.Debug().Err(err).Uint64("peer", id).Msg("ask a peer for its replicas' progress")
			}
			mu.Lock()
			answers[id] = hw
			mu.Unlock()
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return // a cancelled request says nothing about the peer
	}

	t.mu.Lock()
	defer t.mu.Unlock()
	for peer, hws := range answers {
		if hws == nil {
			t.failures[peer]++
			continue
		}
		t.failures[peer] = 0
		for id, l := range led {
			if hw, ok := hws[id]; ok {
				t.led[id].observe(peer, hw, l.hw, now)
			}
		}
	}
	for id, l := range led {
		t.led[id].prevHW, t.led[id].prevAt = l.hw, now
	}
}

// ask sends a peer this round's report and returns its replicas' high
// watermarks.
func (t *isrTracker) ask(ctx context.Context, b *meta.Broker, body []byte) (map[uint64]int64, error) {
	url, err := t.client.brokerURL(b, replicasPath)
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithTimeout(ctx, isrPollInterval)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("request %s: %w", url, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := t.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("post %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil, fmt.Errorf("post %s: %s", url, resp.Status)
	}
	var out replicasResponse
	err = json.NewDecoder(resp.Body).Decode(&out)
	// Read to the end, or the client drops the connection (and, with
	// --http-tls, does a handshake every poll).
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", url, err)
	}
	if out.HW == nil {
		out.HW = map[uint64]int64{}
	}
	return out.HW, nil
}

// serve records a leader's report and answers with the high watermarks of
// the partition replicas hosted here.
func (t *isrTracker) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	var req replicasRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 16<<20)).Decode(&req); err != nil {
		http.Error(w, "bad report: "+err.Error(), http.StatusBadRequest)
		return
	}
	t.mu.Lock()
	t.reports[req.Leader] = isrReport{at: t.now(), isr: req.ISR}
	t.mu.Unlock()
	resp := replicasResponse{HW: map[uint64]int64{}}
	for _, id := range t.replicas.partitionShards() {
		if p, ok := t.replicas.partition(id); ok {
			resp.HW[id] = p.HighWatermark()
		}
	}
	for _, id := range t.replicas.groupShards() {
		if g, ok := t.replicas.groupStateMachine(id); ok {
			resp.HW[id] = int64(g.Applied())
		}
	}
	resp.HW[meta.ShardID] = int64(t.meta.State().Index)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(resp)
}

// ledISRLocked is the ISR of a partition led here: the leader and the
// followers in sync. Followers on a broker that stopped answering are out
// at once. t.mu is held.
func (t *isrTracker) ledISRLocked(shardID uint64, replicas []uint64, now time.Time) []uint64 {
	s, ok := t.led[shardID]
	if !ok {
		return replicas
	}
	isr := make([]uint64, 0, len(replicas))
	for _, r := range replicas {
		if r == t.self || (t.failures[r] < isrFenceAfter && s.inSync(r, now, t.lagMax, false)) {
			isr = append(isr, r)
		}
	}
	return isr
}

// isr is a partition's ISR as its leader knows it: computed here when this
// broker leads it, else the leader's last report. Without a fresh report
// (the leader is unreachable from here or has just changed) every replica
// counts as in sync, as before followers were tracked.
func (t *isrTracker) isr(shardID, leader uint64, replicas []uint64) []uint64 {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if leader == t.self {
		return t.ledISRLocked(shardID, replicas, now)
	}
	rep, ok := t.reports[leader]
	if !ok || now.Sub(rep.at) > isrReportTTL {
		return replicas
	}
	if isr, ok := rep.isr[shardID]; ok {
		return isr
	}
	return replicas
}

// canTakeOver tells whether a replica may be handed the leadership of a
// partition led here. proven asks that it was seen caught up during this
// leadership (the leader balancer); otherwise a replica the new leader has
// not yet heard from passes while its grace lasts (a graceful stop). A
// partition this broker has not tracked yet has no view: any replica
// passes.
func (t *isrTracker) canTakeOver(shardID, replica uint64, proven bool) bool {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.led[shardID]
	if !ok {
		return !proven
	}
	return t.failures[replica] < isrFenceAfter && s.inSync(replica, now, t.lagMax, proven)
}

// answering tells whether a broker answered at least one of the last
// isrFenceAfter polls (a broker not polled yet counts as answering).
func (t *isrTracker) answering(broker uint64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.failures[broker] < isrFenceAfter
}

// underReplicated tells whether a partition led here has an ISR smaller
// than its replica set.
func (t *isrTracker) underReplicated(shardID uint64, replicas []uint64) bool {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.ledISRLocked(shardID, replicas, now)) < len(replicas)
}

// ISR returns a partition's in-sync replicas as its leader knows them (see
// isrTracker.isr); with no known leader, every replica.
func (n *Node) ISR(shardID uint64, replicas []uint64) []uint64 {
	leader, _, ok := n.Leader(shardID)
	if !ok {
		return replicas
	}
	return n.isr.isr(shardID, leader, replicas)
}

// ServeReplicas is the peer endpoint the ISR tracker polls (replicasPath):
// it records the asking leader's shrunk ISRs and answers with the high
// watermarks of the partition replicas hosted here.
func (n *Node) ServeReplicas(w http.ResponseWriter, r *http.Request) { n.isr.serve(w, r) }

// followerProgress is what a leader last learned of one follower of a
// shard it leads.
type followerProgress struct {
	Applied  int64     // -1: no answer yet in this term
	Answered time.Time // zero: no answer yet
	CaughtUp time.Time // zero: not seen caught up in this term
}

// progress returns the followers of a shard led here, in the term the
// tracker last saw it led; ok is false when it tracks no such shard.
func (t *isrTracker) progress(shardID uint64) (map[uint64]followerProgress, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.led[shardID]
	if !ok {
		return nil, false
	}
	out := make(map[uint64]followerProgress, len(s.followers))
	for id, f := range s.followers {
		p := followerProgress{Applied: f.applied, Answered: f.answered}
		if f.seen {
			p.CaughtUp = f.caughtUp
		}
		out[id] = p
	}
	return out, true
}

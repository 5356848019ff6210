package group

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sort"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Shards is what the coordinator needs from the Raft side.
type Shards interface {
	// IsLeader tells whether this broker leads the group shard now.
	IsLeader(shard uint64) (term uint64, leader bool)
	// ReadIndex waits until the local replica has applied everything the
	// shard had committed when it was called.
	ReadIndex(ctx context.Context, shard uint64) error
	// GroupStateMachine returns the local replica of a group shard.
	GroupStateMachine(shard uint64) (*StateMachine, bool)
	// ProposeGroup commits a command to a group shard.
	ProposeGroup(ctx context.Context, shard uint64, cmd []byte) error
}

// Group states, as Kafka names them.
const (
	StateEmpty               = "Empty"
	StatePreparingRebalance  = "PreparingRebalance"
	StateCompletingRebalance = "CompletingRebalance"
	StateStable              = "Stable"
	StateDead                = "Dead"
)

// Session timeout bounds (group.min/max.session.timeout.ms).
const (
	MinSessionTimeoutMs = 6000
	MaxSessionTimeoutMs = 1800000
)

// Config tunes the coordinator.
type Config struct {
	// InitialRebalanceDelay lets more members join a new group before its
	// first generation (group.initial.rebalance.delay.ms).
	InitialRebalanceDelay time.Duration
}

// Coordinator runs the classic group protocol for the groups whose shards
// this broker leads. One mutex guards all groups: the protocol is chatty
// but cheap. Requests take it only through withGroup and locked, so it is
// always released by the function that took it; waits for Raft and for
// the other members happen outside it.
type Coordinator struct {
	cfg    Config
	shards Shards
	log    zerolog.Logger

	mu     sync.Mutex
	groups map[string]*group // live groups, loaded from their shard
	loaded map[uint64]bool   // shards caught up (ReadIndex) since this broker became leader

	stop chan struct{}
	done chan struct{}
}

type member struct {
	MemberRecord
	join     chan joinResult // set while a JoinGroup waits
	sync     chan syncResult // set while a SyncGroup waits
	deadline time.Time       // session expiry
}

type joinResult struct {
	code       int16
	generation int32
	protocol   string
	leader     string
	memberID   string
	members    []MemberRecord // only for the leader
}

type syncResult struct {
	code       int16
	assignment []byte
}

type group struct {
	name         string
	shard        uint64
	state        string
	protocolType string
	protocol     string
	generation   int32
	leader       string
	members      map[string]*member
	pending      map[string]time.Time // KIP-394 ids handed out, awaiting the second join
	deadline     time.Time            // rebalance deadline (PreparingRebalance, CompletingRebalance)
	delayUntil   time.Time            // initial rebalance delay of a new group
}

// NewCoordinator starts the coordinator's timer loop.
func NewCoordinator(cfg Config, shards Shards, log zerolog.Logger) *Coordinator {
	c := &Coordinator{cfg: cfg, shards: shards, log: log.With().Str("component", "group").Logger(),
		groups: map[string]*group{}, loaded: map[uint64]bool{}, stop: make(chan struct{}), done: make(chan struct{})}
	go c.tickLoop()
	return c
}

// Close stops the timer loop and answers every waiting request.
func (c *Coordinator) Close() {
	close(c.stop)
	<-c.done
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, g := range c.groups {
		c.abandon(g, kerr.NotCoordinator.Code)
		delete(c.groups, name)
	}
}

func newMemberID(clientID string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return clientID + "-" + hex.EncodeToString(b[:])
}

// withGroup runs fn on the live group with c.mu held, loading the group
// from the shard's state machine if needed, and returns fn's error code or
// its own. fn gets nil for an unknown group unless create makes it. fn must
// not block: the ReadIndex that catches a new leader up runs before the
// lock is taken, Raft proposals after it is released.
func (c *Coordinator) withGroup(ctx context.Context, shard uint64, name string, create bool, fn func(g *group) int16) int16 {
	if code := c.catchUp(ctx, shard); code != 0 {
		return code
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.loaded[shard] = true
	g, code := c.live(shard, name, create)
	if code != 0 {
		return code
	}
	return fn(g)
}

// locked runs fn with c.mu held.
func (c *Coordinator) locked(fn func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fn()
}

// catchUp checks that this broker leads the shard and, the first time
// since it became leader, waits until its replica has applied what the old
// leader committed.
func (c *Coordinator) catchUp(ctx context.Context, shard uint64) int16 {
	if _, leader := c.shards.IsLeader(shard); !leader {
		return kerr.NotCoordinator.Code
	}
	var caughtUp bool
	c.locked(func() { caughtUp = c.loaded[shard] })
	if caughtUp {
		return 0
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := c.shards.ReadIndex(rctx, shard); err != nil {
		return kerr.CoordinatorLoadInProgress.Code
	}
	return 0
}

// live returns the live group, loading it from the shard's state machine;
// nil when it is unknown and create is false. c.mu must be held.
func (c *Coordinator) live(shard uint64, name string, create bool) (*group, int16) {
	if g, ok := c.groups[name]; ok {
		return g, 0
	}
	smr, ok := c.shards.GroupStateMachine(shard)
	if !ok {
		return nil, kerr.CoordinatorNotAvailable.Code
	}
	rec, found := smr.Group(name)
	if !found && !create {
		return nil, 0
	}
	g := &group{name: name, shard: shard, state: StateEmpty, members: map[string]*member{}, pending: map[string]time.Time{}}
	if found {
		g.protocolType, g.protocol, g.generation, g.leader = rec.ProtocolType, rec.Protocol, rec.Generation, rec.Leader
		now := time.Now()
		for _, m := range rec.Members {
			g.members[m.ID] = &member{MemberRecord: m, deadline: now.Add(time.Duration(m.SessionTimeoutMs) * time.Millisecond)}
		}
		if len(g.members) > 0 {
			g.state = StateStable
		}
	}
	c.groups[name] = g
	return g, 0
}

// abandon answers every waiting request of a group with code.
func (c *Coordinator) abandon(g *group, code int16) {
	for _, m := range g.members {
		if m.join != nil {
			m.join <- joinResult{code: code, generation: -1, memberID: m.ID}
			m.join = nil
		}
		if m.sync != nil {
			m.sync <- syncResult{code: code}
			m.sync = nil
		}
	}
}

// tickLoop expires sessions, completes rebalances whose time is up, and
// drops groups of shards this broker no longer leads.
func (c *Coordinator) tickLoop() {
	defer close(c.done)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			c.tick(time.Now())
		}
	}
}

func (c *Coordinator) tick(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	lost := map[uint64]bool{}
	for shard := range c.loaded {
		if _, leader := c.shards.IsLeader(shard); !leader {
			lost[shard] = true
			delete(c.loaded, shard)
		}
	}
	for name, g := range c.groups {
		if lost[g.shard] {
			c.abandon(g, kerr.NotCoordinator.Code)
			delete(c.groups, name)
			continue
		}
		for id, at := range g.pending {
			if now.Sub(at) > time.Minute {
				delete(g.pending, id)
			}
		}
		switch g.state {
		case StatePreparingRebalance:
			// A member that neither rejoins nor heartbeats within its
			// session timeout is gone (a consumer killed, or one whose
			// LeaveGroup never arrived): drop it, as Kafka does, instead of
			// holding every other member's join until the rebalance timeout.
			var gone []string
			for id, m := range g.members {
				if m.join == nil && now.After(m.deadline) {
					gone = append(gone, id)
					delete(g.members, id)
				}
			}
			if len(gone) > 0 {
				c.log.Info().Str("group", g.name).Strs("members", gone).Msg("session expired while rebalancing")
			}
			if now.After(g.deadline) || (c.allJoined(g) && !now.Before(g.delayUntil)) {
				c.completeJoin(g, now)
			}
		case StateCompletingRebalance:
			if now.After(g.deadline) {
				// The leader never sent the assignment: start over.
				c.prepareRebalance(g, now, "leader did not sync")
			}
		case StateStable:
			var expired []string
			for id, m := range g.members {
				if now.After(m.deadline) {
					expired = append(expired, id)
				}
			}
			if len(expired) > 0 {
				for _, id := range expired {
					delete(g.members, id)
				}
				c.log.Info().Str("group", g.name).Strs("members", expired).Msg("session expired; rebalancing")
				c.prepareRebalance(g, now, "member session expired")
			}
		}
	}
}

func (c *Coordinator) allJoined(g *group) bool {
	for _, m := range g.members {
		if m.join == nil {
			return false
		}
	}
	return true
}

// prepareRebalance moves a group to PreparingRebalance: members learn it
// from heartbeats and rejoin; waiting syncs are told to rejoin.
func (c *Coordinator) prepareRebalance(g *group, now time.Time, reason string) {
	for _, m := range g.members {
		if m.sync != nil {
			m.sync <- syncResult{code: kerr.RebalanceInProgress.Code}
			m.sync = nil
		}
	}
	if len(g.members) == 0 {
		c.becomeEmpty(g)
		return
	}
	var timeout int32
	for _, m := range g.members {
		timeout = max(timeout, m.RebalanceTimeoutMs)
	}
	g.state = StatePreparingRebalance
	g.deadline = now.Add(time.Duration(timeout) * time.Millisecond)
	c.log.Debug().Str("group", g.name).Str("reason", reason).Msg("preparing rebalance")
}

// becomeEmpty bumps the generation with no members and persists that, so
// that a restarted coordinator does not resurrect departed members.
func (c *Coordinator) becomeEmpty(g *group) {
	g.state = StateEmpty
	g.generation++
	g.leader, g.protocol = "", ""
	go c.persistMembers(g.shard, StoreGroup{Group: g.name, ProtocolType: g.protocolType, Generation: g.generation})
}

func (c *Coordinator) persistMembers(shard uint64, sg StoreGroup) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.shards.ProposeGroup(ctx, shard, Command{StoreGroup: &sg}.Encode()); err != nil {
		c.log.Warn().Err(err).Str("group", sg.Group).Msg("persist group membership")
	}
}

// completeJoin ends the join phase: members that did not rejoin are
// dropped, the generation advances, a protocol every member supports is
// chosen, and every waiting JoinGroup is answered (the leader with the
// members' metadata).
func (c *Coordinator) completeJoin(g *group, now time.Time) {
	for id, m := range g.members {
		if m.join == nil {
			delete(g.members, id)
		}
	}
	if len(g.members) == 0 {
		c.becomeEmpty(g)
		return
	}
	g.generation++
	g.protocol = selectProtocol(g)
	if _, ok := g.members[g.leader]; !ok {
		ids := make([]string, 0, len(g.members))
		for id := range g.members {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		g.leader = ids[0]
	}
	g.state = StateCompletingRebalance
	var timeout int32
	for _, m := range g.members {
		timeout = max(timeout, m.RebalanceTimeoutMs)
	}
	g.deadline = now.Add(time.Duration(timeout) * time.Millisecond)
	var all []MemberRecord
	for _, m := range g.members {
		mr := m.MemberRecord
		mr.Protocols = []Protocol{{Name: g.protocol, Metadata: m.metadata(g.protocol)}}
		all = append(all, mr)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].ID < all[j].ID })
	for _, m := range g.members {
		res := joinResult{generation: g.generation, protocol: g.protocol, leader: g.leader, memberID: m.ID}
		if m.ID == g.leader {
			res.members = all
		}
		m.join <- res
		m.join = nil
		m.deadline = now.Add(time.Duration(m.SessionTimeoutMs) * time.Millisecond)
	}
	c.log.Info().Str("group", g.name).Int32("generation", g.generation).Int("members", len(g.members)).Str("protocol", g.protocol).Msg("rebalance: join complete")
}

func (m *member) metadata(protocol string) []byte {
	for _, p := range m.Protocols {
		if p.Name == protocol {
			return p.Metadata
		}
	}
	return nil
}

// selectProtocol picks, among the protocols every member supports, the
// one most members list first (ties: earliest in the leader's order), as
// Kafka does.
func selectProtocol(g *group) string {
	common := map[string]int{}
	for _, m := range g.members {
		for _, p := range m.Protocols {
			common[p.Name]++
		}
	}
	votes := map[string]int{}
	for _, m := range g.members {
		for _, p := range m.Protocols {
			if common[p.Name] == len(g.members) {
				votes[p.Name]++
				break
			}
		}
	}
	var order []Protocol
	if l, ok := g.members[g.leader]; ok {
		order = l.Protocols
	} else {
		for _, m := range g.members {
			order = m.Protocols
			break
		}
	}
	best, bestVotes := "", -1
	for _, p := range order {
		if common[p.Name] == len(g.members) && votes[p.Name] > bestVotes {
			best, bestVotes = p.Name, votes[p.Name]
		}
	}
	return best
}

// supports tells whether protocols share one with every current member.
func (g *group) supports(protocols []Protocol) bool {
	if len(g.members) == 0 {
		return len(protocols) > 0
	}
	for _, p := range protocols {
		all := true
		for _, m := range g.members {
			if !m.has(p.Name) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

func (m *member) has(name string) bool {
	for _, p := range m.Protocols {
		if p.Name == name {
			return true
		}
	}
	return false
}

// memberByInstance finds the member holding a static instance id.
func (g *group) memberByInstance(instance string) *member {
	for _, m := range g.members {
		if m.InstanceID != nil && *m.InstanceID == instance {
			return m
		}
	}
	return nil
}

// checkMember validates a member id, generation and static instance id for
// heartbeat, sync, commit and leave.
func (g *group) checkMember(memberID string, instance *string, generation int32) (*member, int16) {
	if instance != nil {
		if m := g.memberByInstance(*instance); m != nil && m.ID != memberID {
			return nil, kerr.FencedInstanceID.Code
		}
	}
	m, ok := g.members[memberID]
	if !ok {
		return nil, kerr.UnknownMemberID.Code
	}
	if generation != g.generation {
		return m, kerr.IllegalGeneration.Code
	}
	return m, 0
}

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
	// IsLeader tells whether this broker leads the group shard now, and
	// in which Raft term.
	IsLeader(shard uint64) (term uint64, leader bool)
	// Leader names the shard's leader; ok is false while the local
	// replica knows of none (an election in progress).
	Leader(shard uint64) (leader, term uint64, ok bool)
	// ReadIndex waits until the local replica has applied everything the
	// shard had committed when it was called.
	ReadIndex(ctx context.Context, shard uint64) error
	// GroupStateMachine returns the local replica of a group shard.
	GroupStateMachine(shard uint64) (*StateMachine, bool)
	// ProposeGroup commits a command to a group shard; the error of a
	// command the state machine refused is CommandError's.
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

// Defaults of the Config fields left zero, Kafka's.
const (
	DefaultOffsetMetadataMaxBytes = 4096
	DefaultOffsetsRetention       = 7 * 24 * time.Hour
	DefaultRetentionCheckInterval = 10 * time.Minute
)

// Config tunes the coordinator.
type Config struct {
	// InitialRebalanceDelay lets more members join a new group before its
	// first generation (group.initial.rebalance.delay.ms).
	InitialRebalanceDelay time.Duration
	// MaxSize bounds the members of a group (group.max.size); 0 is no
	// bound, as Kafka's default.
	MaxSize int
	// OffsetMetadataMaxBytes bounds a committed offset's metadata
	// (offset.metadata.max.bytes).
	OffsetMetadataMaxBytes int
	// OffsetsRetention is how long the offsets of a group without members
	// are kept (offsets.retention.minutes).
	OffsetsRetention time.Duration
	// RetentionCheckInterval is how often expired offsets are removed
	// (offsets.retention.check.interval.ms).
	RetentionCheckInterval time.Duration
	// ConsumerHeartbeatInterval and ConsumerSessionTimeout are the KIP-848
	// protocol's (group.consumer.heartbeat.interval.ms,
	// group.consumer.session.timeout.ms).
	ConsumerHeartbeatInterval time.Duration
	ConsumerSessionTimeout    time.Duration
	// GroupConfigs returns a group's own configs (validated; nil for
	// none), which override the two above for it.
	GroupConfigs func(group string) map[string]string
	// MigrationPolicy is group.consumer.migration.policy: which online
	// conversions between classic and consumer groups with members are
	// allowed (migration.go); bidirectional when empty.
	MigrationPolicy string
}

func (cfg Config) withDefaults() Config {
	if cfg.OffsetMetadataMaxBytes <= 0 {
		cfg.OffsetMetadataMaxBytes = DefaultOffsetMetadataMaxBytes
	}
	if cfg.OffsetsRetention <= 0 {
		cfg.OffsetsRetention = DefaultOffsetsRetention
	}
	if cfg.RetentionCheckInterval <= 0 {
		cfg.RetentionCheckInterval = DefaultRetentionCheckInterval
	}
	if cfg.ConsumerHeartbeatInterval <= 0 {
		cfg.ConsumerHeartbeatInterval = DefaultConsumerHeartbeatInterval
	}
	if cfg.ConsumerSessionTimeout <= 0 {
		cfg.ConsumerSessionTimeout = DefaultConsumerSessionTimeout
	}
	if cfg.GroupConfigs == nil {
		cfg.GroupConfigs = func(string) map[string]string { return nil }
	}
	if cfg.MigrationPolicy == "" {
		cfg.MigrationPolicy = MigrationBidirectional
	}
	return cfg
}

// Coordinator runs the classic group protocol for the groups whose shards
// this broker leads. One mutex guards all groups: the protocol is chatty
// but cheap. Requests take it only through withGroup and locked, so it is
// always released by the function that took it; waits for Raft and for
// the other members happen outside it.
//
// Live groups belong to the Raft term their shard was loaded in: a request
// that finds the shard in another term (leadership went elsewhere and came
// back, however quickly) drops them and reloads from the replica after a
// ReadIndex, so no decision rests on what another leader may have changed.
type Coordinator struct {
	cfg    Config
	shards Shards
	log    zerolog.Logger

	mu        sync.Mutex
	groups    map[string]*group      // live groups, loaded from their shard
	cgroups   map[string]*cgroup     // live KIP-848 consumer groups (consumer.go)
	loaded    map[uint64]uint64      // shard → the Raft term its live groups were loaded in (after a ReadIndex)
	queues    map[uint64]*shardQueue // per shard, the group transitions waiting to be proposed in order
	closed    bool
	nextSweep time.Time // next offsets expiry and idle group eviction

	ctx    context.Context // cancelled by Close: ends proposals in flight
	cancel context.CancelFunc
	wg     sync.WaitGroup // proposers
	stop   chan struct{}
	done   chan struct{}
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
	// skipAssignment tells a restarted static leader (JoinGroup v9+,
	// KIP-814) that the group keeps its assignment.
	skipAssignment bool
}

type syncResult struct {
	code       int16
	assignment []byte
}

type group struct {
	name         string
	shard        uint64
	term         uint64 // Raft term of the shard the group was loaded in
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
	cfg = cfg.withDefaults()
	c := &Coordinator{cfg: cfg, shards: shards, log: log.With().Str("component", "group").Logger(),
		groups: map[string]*group{}, loaded: map[uint64]uint64{}, queues: map[uint64]*shardQueue{},
		nextSweep: time.Now().Add(cfg.RetentionCheckInterval), stop: make(chan struct{}), done: make(chan struct{})}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	go c.tickLoop()
	return c
}

// Close stops the timer loop and the proposers and answers every waiting
// request.
func (c *Coordinator) Close() {
	c.locked(func() { c.closed = true })
	close(c.stop)
	c.cancel()
	<-c.done
	c.wg.Wait()
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
	term, code := c.catchUp(ctx, shard)
	if code != 0 {
		return code
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur, leader := c.shards.IsLeader(shard); !leader || cur != term || c.loaded[shard] != term {
		// Leadership moved while this request caught up.
		return kerr.NotCoordinator.Code
	}
	g, code := c.live(shard, name, create, term)
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

// catchUp checks that this broker leads the shard and returns the Raft
// term it leads in. The first time in a term, it drops the groups loaded
// in an earlier term and waits until the replica has applied what every
// earlier leader committed.
func (c *Coordinator) catchUp(ctx context.Context, shard uint64) (uint64, int16) {
	term, leader := c.shards.IsLeader(shard)
	if !leader {
		return 0, kerr.NotCoordinator.Code
	}
	var loaded, stale bool
	c.locked(func() { loaded, stale = c.adopt(shard, term) })
	if stale {
		return 0, kerr.NotCoordinator.Code
	}
	if loaded {
		return term, 0
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := c.shards.ReadIndex(rctx, shard); err != nil {
		return 0, kerr.CoordinatorLoadInProgress.Code
	}
	if cur, leader := c.shards.IsLeader(shard); !leader || cur != term {
		return 0, kerr.NotCoordinator.Code
	}
	c.locked(func() {
		if _, stale = c.adopt(shard, term); !stale {
			c.loaded[shard] = term
		}
	})
	if stale {
		return 0, kerr.NotCoordinator.Code
	}
	return term, 0
}

// adopt compares term with the one the shard's live groups were loaded
// in: loaded when they are the same, stale when term is older (a request
// that saw the shard before a newer election); groups of an older term are
// dropped. c.mu is held.
func (c *Coordinator) adopt(shard, term uint64) (loaded, stale bool) {
	t, ok := c.loaded[shard]
	switch {
	case !ok:
		return false, false
	case t > term:
		return false, true
	case t < term:
		c.unload(shard)
		return false, false
	}
	return true, false
}

// unload drops the live groups of a shard, answering their waiting
// requests NOT_COORDINATOR. c.mu is held.
func (c *Coordinator) unload(shard uint64) {
	delete(c.loaded, shard)
	c.unloadConsumer(shard)
	for name, g := range c.groups {
		if g.shard == shard {
			c.abandon(g, kerr.NotCoordinator.Code)
			delete(c.groups, name)
		}
	}
}

// live returns the live group, loading it from the shard's state machine;
// nil when it is unknown and create is false, or a consumer group with
// members. c.mu must be held.
func (c *Coordinator) live(shard uint64, name string, create bool, term uint64) (*group, int16) {
	if g, ok := c.groups[name]; ok {
		return g, 0
	}
	if cg, ok := c.cgroups[name]; ok && len(cg.members) > 0 {
		// A consumer group, maybe just upgraded with its record not yet
		// applied: the classic APIs reach it through consumerFor, and a
		// classic view loaded now would hold members it no longer has.
		return nil, 0
	}
	smr, ok := c.shards.GroupStateMachine(shard)
	if !ok {
		return nil, kerr.CoordinatorNotAvailable.Code
	}
	rec, found := smr.Group(name)
	if !found && !create {
		return nil, 0
	}
	g := &group{name: name, shard: shard, term: term, state: StateEmpty, members: map[string]*member{}, pending: map[string]time.Time{}}
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
	for shard, term := range c.loaded {
		if cur, leader := c.shards.IsLeader(shard); !leader || cur != term {
			c.unload(shard)
		}
	}
	if !now.Before(c.nextSweep) {
		c.nextSweep = now.Add(c.cfg.RetentionCheckInterval)
		c.sweep()
	}
	c.tickConsumer(now)
	for _, g := range c.groups {
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
	c.persist(g.shard, g.term, Command{StoreGroup: g.record()})
}

// record is the group's membership as a StoreGroup persists it.
func (g *group) record() *StoreGroup {
	sg := &StoreGroup{Group: g.name, ProtocolType: g.protocolType, Protocol: g.protocol, Generation: g.generation, Leader: g.leader}
	for _, m := range g.members {
		mr := m.MemberRecord
		mr.Protocols = []Protocol{{Name: g.protocol, Metadata: m.metadata(g.protocol)}}
		sg.Members = append(sg.Members, mr)
	}
	sort.Slice(sg.Members, func(i, j int) bool { return sg.Members[i].ID < sg.Members[j].ID })
	return sg
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
	all := g.record().Members
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

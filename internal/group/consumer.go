package group

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// The KIP-848 consumer group protocol: members heartbeat
// (ConsumerGroupHeartbeat) with their subscription and what they own; the
// coordinator computes a target assignment with a server-side assignor and
// moves each member towards its share one epoch at a time, revoking before
// assigning: a partition is handed to a member only once the member that
// owned it has acknowledged giving it up.

// Member reconciliation states, as Kafka's describe shows them.
const (
	memberStable     = "stable"
	memberUnrevoked  = "unrevoked_partitions"
	memberUnreleased = "unreleased_partitions"
)

// Consumer group states (ConsumerGroupDescribe, ListGroups).
const (
	ConsumerStateEmpty       = "Empty"
	ConsumerStateAssigning   = "Assigning"
	ConsumerStateReconciling = "Reconciling"
	ConsumerStateStable      = "Stable"
)

// Defaults of group.consumer.heartbeat.interval.ms and
// group.consumer.session.timeout.ms.
const (
	DefaultConsumerHeartbeatInterval = 5 * time.Second
	DefaultConsumerSessionTimeout    = 45 * time.Second
)

// TopicMetadata is the cluster's topics as a heartbeat sees them.
type TopicMetadata interface {
	// Partitions is a topic's partition count; false for an unknown topic.
	Partitions(topic string) (int32, bool)
	// Names lists every topic, for regex subscriptions.
	Names() []string
}

type cgroup struct {
	name            string
	shard, term     uint64
	epoch           int32
	assignmentEpoch int32
	assignor        string
	metadata        string
	target          map[string]Assignment
	members         map[string]*cmember
	// downgraded is set once the group became a classic group
	// (migration.go): where that group's StoreGroup outcome arrives.
	downgraded <-chan error
}

type cmember struct {
	ConsumerMember
	state          string
	deadline       time.Time // session expiry
	revokeDeadline time.Time // set while partitions are being revoked
	// classicDeadline is when a classic member told to rejoin must have
	// joined, or a joined one synced (its rebalance timeout); zero when
	// neither is awaited.
	classicDeadline time.Time
}

// consumerGroups returns the live consumer groups, made on first use.
// c.mu is held.
func (c *Coordinator) consumerGroups() map[string]*cgroup {
	if c.cgroups == nil {
		c.cgroups = map[string]*cgroup{}
	}
	return c.cgroups
}

// errNotConsumer is the answer to a consumer heartbeat for a classic group
// with members, as Kafka's when an online upgrade is not possible.
func errNotConsumer(name string) (int16, string) {
	return kerr.GroupIDNotFound.Code, fmt.Sprintf("group %s is not a consumer group", name)
}

// liveConsumer returns the live consumer group, loading it from the
// shard's replica; a new one when create is set and the name is free or
// names an empty classic group (which is converted); with create, a
// classic group with members is upgraded when the migration policy allows
// it. nil with code 0 when unknown and create is false. c.mu is held.
func (c *Coordinator) liveConsumer(shard uint64, name string, create bool, term uint64) (*cgroup, int16, string) {
	groups := c.consumerGroups()
	if cg, ok := groups[name]; ok {
		return cg, 0, ""
	}
	smr, ok := c.shards.GroupStateMachine(shard)
	if !ok {
		return nil, kerr.CoordinatorNotAvailable.Code, ""
	}
	rec, found := smr.Group(name)
	g, isLive := c.groups[name]
	// A live classic group with members, or with a member id handed out
	// (KIP-394) for a join to come, is a classic group.
	if (isLive && (len(g.members) > 0 || len(g.pending) > 0 || g.state != StateEmpty)) || (!isLive && found && rec.Consumer == nil && len(rec.Members) > 0) {
		if !create {
			code, msg := errNotConsumer(name)
			return nil, code, msg
		}
		if !isLive {
			g, _ = c.live(shard, name, false, term)
		}
		return c.upgrade(g)
	}
	if (!found || rec.Consumer == nil) && !create {
		return nil, 0, ""
	}
	cg := &cgroup{name: name, shard: shard, term: term, assignor: AssignorUniform, target: map[string]Assignment{}, members: map[string]*cmember{}}
	if found && rec.Consumer != nil {
		cr := rec.Consumer
		cg.epoch, cg.assignmentEpoch, cg.metadata = cr.Epoch, cr.AssignmentEpoch, cr.Metadata
		if cr.Assignor != "" {
			cg.assignor = cr.Assignor
		}
		for id, a := range cr.Target {
			cg.target[id] = a.clone()
		}
		now := time.Now()
		_, session := c.consumerTimeouts(name)
		for _, m := range cr.Members {
			cm := &cmember{ConsumerMember: m, deadline: now.Add(session)}
			if m.Classic != nil {
				cm.deadline = now.Add(time.Duration(m.Classic.SessionTimeoutMs) * time.Millisecond)
			}
			cm.Topics = append([]string(nil), m.Topics...)
			cm.Assigned, cm.Revoking = m.Assigned.clone(), m.Revoking.clone()
			// The reconciliation state is not stored: it follows from
			// what the member revokes and what of its target it lacks.
			switch {
			case !cm.Revoking.empty():
				cm.state = memberUnrevoked
				cm.revokeDeadline = now.Add(time.Duration(cm.RebalanceTimeoutMs) * time.Millisecond)
			case cm.Epoch == cg.assignmentEpoch && !cg.target[m.ID].minus(cm.Assigned).empty():
				cm.state = memberUnreleased
			default:
				cm.state = memberStable
			}
			cg.members[m.ID] = cm
		}
	}
	// A classic view of an empty group goes: the group is a consumer
	// group from now on.
	delete(c.groups, name)
	groups[name] = cg
	return cg, 0, ""
}

// record is the consumer group's state as StoreConsumer persists it.
func (cg *cgroup) record() ConsumerRecord {
	r := ConsumerRecord{Epoch: cg.epoch, AssignmentEpoch: cg.assignmentEpoch, Assignor: cg.assignor, Metadata: cg.metadata, Target: map[string]Assignment{}}
	for id, a := range cg.target {
		r.Target[id] = a.clone()
	}
	for _, m := range cg.members {
		cm := m.ConsumerMember
		cm.Topics = append([]string(nil), m.Topics...)
		cm.Assigned, cm.Revoking = m.Assigned.clone(), m.Revoking.clone()
		r.Members = append(r.Members, cm)
	}
	sort.Slice(r.Members, func(i, j int) bool { return r.Members[i].ID < r.Members[j].ID })
	return r
}

// store queues the group's state behind the shard's earlier transitions.
// c.mu is held.
func (c *Coordinator) storeConsumer(cg *cgroup) <-chan error {
	return c.persist(cg.shard, cg.term, Command{Consumer: &StoreConsumer{Group: cg.name, Record: cg.record()}})
}

// state is the group's state as Kafka names it.
func (cg *cgroup) state() string {
	switch {
	case len(cg.members) == 0:
		return ConsumerStateEmpty
	case cg.assignmentEpoch != cg.epoch:
		return ConsumerStateAssigning
	}
	for _, m := range cg.members {
		if m.Epoch != cg.assignmentEpoch || m.state != memberStable {
			return ConsumerStateReconciling
		}
	}
	return ConsumerStateStable
}

// removeMember drops a member and its target share and bumps the group
// epoch; its partitions become free for the others. c.mu is held.
func (cg *cgroup) removeMember(id string) {
	delete(cg.members, id)
	delete(cg.target, id)
	cg.epoch++
}

// tickConsumer expires the sessions of members that stopped heartbeating
// and fences those that did not revoke within their rebalance timeout (and
// classic members that did not rejoin or sync within it); a group left
// with classic members only is downgraded. c.mu is held.
func (c *Coordinator) tickConsumer(now time.Time) {
	for _, cg := range c.cgroups {
		var gone []string
		for id, m := range cg.members {
			if now.After(m.deadline) || (m.state == memberUnrevoked && now.After(m.revokeDeadline)) ||
				(!m.classicDeadline.IsZero() && now.After(m.classicDeadline)) {
				gone = append(gone, id)
			}
		}
		if len(gone) == 0 {
			continue
		}
		c.log.Info().Str("group", cg.name).Strs("members", gone).Msg("consumer group: session expired or revocation timed out")
		downgraded := false
		for _, id := range gone {
			if c.maybeDowngrade(cg, id) != nil {
				downgraded = true
				break
			}
			cg.removeMember(id)
		}
		if !downgraded {
			c.storeConsumer(cg)
		}
	}
}

// unloadConsumer drops the live consumer groups of a shard. c.mu is held.
func (c *Coordinator) unloadConsumer(shard uint64) {
	for name, cg := range c.cgroups {
		if cg.shard == shard {
			delete(c.cgroups, name)
		}
	}
}

// resolve returns a member's subscription as topic names: its listed
// topics that exist and, for a regex, every topic it matches (internal
// topics excluded, as Kafka's).
func (m *cmember) resolve(topics TopicMetadata, regexes map[string]*regexp.Regexp) map[string]bool {
	out := map[string]bool{}
	for _, t := range m.Topics {
		if _, ok := topics.Partitions(t); ok {
			out[t] = true
		}
	}
	if m.Regex != "" {
		re, err := compiledRegex(regexes, m.Regex)
		if err == nil {
			for _, t := range topics.Names() {
				if !strings.HasPrefix(t, "__") && re.MatchString(t) {
					out[t] = true
				}
			}
		}
	}
	return out
}

// refreshTarget computes the subscriptions' metadata fingerprint (a change
// bumps the group epoch, unless bumped is set: this heartbeat already did)
// and, when the group epoch moved past the target's, a new target
// assignment. c.mu is held.
func (cg *cgroup) refreshTarget(topics TopicMetadata, bumped bool) {
	regexes := map[string]*regexp.Regexp{}
	subs := make([]subscriber, 0, len(cg.members))
	counts := map[string]int32{}
	votes := map[string]int{}
	for _, m := range cg.members {
		s := subscriber{id: m.ID, topics: m.resolve(topics, regexes)}
		if m.InstanceID != nil {
			s.instance = *m.InstanceID
		}
		subs = append(subs, s)
		for t := range s.topics {
			counts[t], _ = topics.Partitions(t)
		}
		if m.Assignor != "" {
			votes[m.Assignor]++
		}
	}
	var fp strings.Builder
	for _, t := range sortedTopics(counts) {
		fmt.Fprintf(&fp, "%s:%d;", t, counts[t])
	}
	if fp.String() != cg.metadata {
		cg.metadata = fp.String()
		if !bumped {
			cg.epoch++
		}
	}
	if cg.assignmentEpoch == cg.epoch {
		return
	}
	// The assignor most members ask for; Kafka's default otherwise.
	cg.assignor = AssignorUniform
	if votes[AssignorRange] > votes[AssignorUniform] {
		cg.assignor = AssignorRange
	}
	cg.target = assign(cg.assignor, subs, counts, cg.target)
	cg.assignmentEpoch = cg.epoch
}

// reconcile moves a member towards its target at the assignment epoch,
// revoking first: partitions it owns outside its target must be
// acknowledged as given up (owned, from its heartbeat, no longer holds
// them) before its epoch advances, and partitions another member still
// owns or revokes are withheld until released. It reports whether the
// member changed. c.mu is held.
func (cg *cgroup) reconcile(m *cmember, owned Assignment, now time.Time) bool {
	before := m.Epoch
	beforeAssigned, beforeRevoking, beforeState := m.Assigned.clone(), m.Revoking.clone(), m.state
	target := cg.target[m.ID]
	if m.state == memberUnrevoked {
		if owned == nil || !owned.intersect(m.Revoking).empty() {
			// Still revoking; the target may have moved meanwhile.
			keep := m.Assigned.intersect(target)
			m.Revoking = m.Revoking.union(m.Assigned.minus(target))
			m.Assigned = keep
			return !m.Assigned.equal(beforeAssigned) || !m.Revoking.equal(beforeRevoking)
		}
		m.Revoking, m.state = nil, memberStable
	}
	if m.Epoch != cg.assignmentEpoch || m.state != memberStable {
		if revoke := m.Assigned.minus(target); !revoke.empty() && (owned == nil || !owned.intersect(revoke).empty()) {
			m.Assigned, m.Revoking = m.Assigned.intersect(target), revoke
			m.state = memberUnrevoked
			m.revokeDeadline = now.Add(time.Duration(m.RebalanceTimeoutMs) * time.Millisecond)
		} else {
			// Partitions to revoke that the member says it no longer
			// owns are given up at once, as Kafka's.
			m.Assigned = m.Assigned.intersect(target)
			held := cg.heldByOthers(m.ID)
			wanted := target.minus(m.Assigned)
			free := wanted.minus(held)
			m.Assigned = m.Assigned.union(free)
			if m.Epoch != cg.assignmentEpoch {
				m.PreviousEpoch, m.Epoch = m.Epoch, cg.assignmentEpoch
			}
			m.state = memberStable
			if !wanted.minus(free).empty() {
				m.state = memberUnreleased
			}
		}
	}
	return m.Epoch != before || m.state != beforeState || !m.Assigned.equal(beforeAssigned) || !m.Revoking.equal(beforeRevoking)
}

// heldByOthers is every partition another member owns or is revoking.
func (cg *cgroup) heldByOthers(id string) Assignment {
	out := Assignment{}
	for oid, o := range cg.members {
		if oid != id {
			out = out.union(o.Assigned).union(o.Revoking)
		}
	}
	return out
}

// consumerCommit validates an OffsetCommit (v9+: member id and member
// epoch) against a consumer group, as Kafka's: an empty group takes
// standalone commits; a member must commit with its current epoch
// (STALE_MEMBER_EPOCH for an older one, FENCED_MEMBER_EPOCH for a newer);
// a classic member, at any version, with its generation, which is its
// member epoch (ILLEGAL_GENERATION). c.mu is held.
func (cg *cgroup) consumerCommit(version int16, memberID string, epoch int32) int16 {
	if memberID == "" && epoch < 0 {
		if len(cg.members) == 0 {
			return 0
		}
		return kerr.UnknownMemberID.Code
	}
	m, ok := cg.members[memberID]
	switch {
	case !ok:
		return kerr.UnknownMemberID.Code
	case m.Classic != nil && epoch != m.Epoch:
		return kerr.IllegalGeneration.Code
	case m.Classic != nil:
		m.deadline = time.Now().Add(time.Duration(m.Classic.SessionTimeoutMs) * time.Millisecond)
		return 0
	case version < 9:
		return kerr.UnsupportedVersion.Code
	case epoch > m.Epoch:
		return kerr.FencedMemberEpoch.Code
	case epoch < m.Epoch:
		return kerr.StaleMemberEpoch.Code
	}
	return 0
}

// subscribedTopics lists what the group's members subscribe to by name.
func (cg *cgroup) subscribedTopics() map[string]bool {
	out := map[string]bool{}
	for _, m := range cg.members {
		for _, t := range m.Topics {
			out[t] = true
		}
		for t := range m.Assigned {
			out[t] = true
		}
	}
	return out
}

// withConsumer runs fn with c.mu held once the shard is caught up, as
// withGroup does for classic groups.
func (c *Coordinator) withConsumer(ctx context.Context, shard uint64, fn func(term uint64) int16) int16 {
	term, code := c.catchUp(ctx, shard)
	if code != 0 {
		return code
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur, leader := c.shards.IsLeader(shard); !leader || cur != term || c.loaded[shard] != term {
		return kerr.NotCoordinator.Code
	}
	return fn(term)
}

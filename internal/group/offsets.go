package group

import (
	"context"
	"errors"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetCommit stores offsets through Raft and answers after they commit.
// A group with members only accepts commits from a current member of the
// current generation; an empty group (or an unknown one) accepts the
// commits of standalone consumers (generation -1, no member id). A
// partition whose metadata exceeds offset.metadata.max.bytes is refused
// alone.
func (c *Coordinator) OffsetCommit(ctx context.Context, shard uint64, req *kmsg.OffsetCommitRequest) *kmsg.OffsetCommitResponse {
	answer := func(code int16) *kmsg.OffsetCommitResponse { return OffsetCommitAnswer(req, code) }
	if req.Group == "" {
		return answer(kerr.InvalidGroupID.Code)
	}
	var (
		generation int32  // the member's generation, 0 for a standalone commit
		member     string // a KIP-848 member's id; its epoch is req.Generation
	)
	code := c.withGroup(ctx, shard, req.Group, true, func(g *group) int16 {
		if cg := c.consumerFor(shard, req.Group); cg != nil {
			code := cg.consumerCommit(req.Version, req.MemberID, req.Generation)
			if code == 0 && req.MemberID != "" {
				member = req.MemberID
			}
			return code
		}
		if req.Generation < 0 && req.MemberID == "" && len(g.members) == 0 {
			return 0 // a standalone consumer committing to an empty group
		}
		m, code := g.checkMember(req.MemberID, req.InstanceID, req.Generation)
		if code == 0 && g.state == StateCompletingRebalance {
			code = kerr.RebalanceInProgress.Code
		}
		if code != 0 {
			return code
		}
		m.deadline = time.Now().Add(time.Duration(m.SessionTimeoutMs) * time.Millisecond)
		generation = g.generation
		return 0
	})
	if code != 0 {
		return answer(code)
	}
	now := time.Now().UnixMilli()
	tooLarge := func(p kmsg.OffsetCommitRequestTopicPartition) bool {
		return p.Metadata != nil && len(*p.Metadata) > c.cfg.OffsetMetadataMaxBytes
	}
	commit := Commit{Group: req.Group, Offsets: map[string]map[int32]OffsetRecord{}, Generation: generation}
	if member != "" {
		commit.Member, commit.MemberEpoch = member, req.Generation
	}
	refused := 0
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			if tooLarge(p) {
				refused++
				continue
			}
			md := ""
			if p.Metadata != nil {
				md = *p.Metadata
			}
			if commit.Offsets[t.Topic] == nil {
				commit.Offsets[t.Topic] = map[int32]OffsetRecord{}
			}
			commit.Offsets[t.Topic][p.Partition] = OffsetRecord{Offset: p.Offset, LeaderEpoch: p.LeaderEpoch, Metadata: md, CommitMs: now}
		}
	}
	code = 0
	// A commit of no partitions is proposed all the same: it creates the
	// group, as Kafka's does; one whose partitions were all refused is not.
	if refused == 0 || len(commit.Offsets) > 0 {
		if err := c.shards.ProposeGroup(ctx, shard, Command{Commit: &commit}.Encode()); errors.Is(err, ErrFenced) && member != "" {
			code = kerr.StaleMemberEpoch.Code
		} else if errors.Is(err, ErrFenced) {
			code = kerr.IllegalGeneration.Code
		} else if err != nil {
			c.log.Warn().Err(err).Str("group", req.Group).Msg("offset commit")
			code = kerr.NotCoordinator.Code
		}
	}
	return offsetCommitAnswer(req, func(p kmsg.OffsetCommitRequestTopicPartition) int16 {
		if tooLarge(p) {
			return kerr.OffsetMetadataTooLarge.Code
		}
		return code
	})
}

// OffsetCommitAnswer answers every partition of a commit with one code.
func OffsetCommitAnswer(req *kmsg.OffsetCommitRequest, code int16) *kmsg.OffsetCommitResponse {
	return offsetCommitAnswer(req, func(kmsg.OffsetCommitRequestTopicPartition) int16 { return code })
}

// offsetCommitAnswer answers each partition of a commit with its code.
func offsetCommitAnswer(req *kmsg.OffsetCommitRequest, code func(kmsg.OffsetCommitRequestTopicPartition) int16) *kmsg.OffsetCommitResponse {
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, code(p)
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// FetchOffsets reads a group's committed offsets from the shard's replica
// after a ReadIndex; nil topics means every topic. The second result is
// the group-level error code.
func (c *Coordinator) FetchOffsets(ctx context.Context, shard uint64, name string, topics map[string][]int32) (map[string]map[int32]OffsetRecord, int16) {
	if _, leader := c.shards.IsLeader(shard); !leader {
		return nil, kerr.NotCoordinator.Code
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err := c.shards.ReadIndex(rctx, shard)
	cancel()
	if err != nil {
		return nil, kerr.CoordinatorLoadInProgress.Code
	}
	smr, ok := c.shards.GroupStateMachine(shard)
	if !ok {
		return nil, kerr.CoordinatorNotAvailable.Code
	}
	rec, _ := smr.Group(name)
	if topics == nil {
		return rec.Offsets, 0
	}
	out := map[string]map[int32]OffsetRecord{}
	for t, parts := range topics {
		out[t] = map[int32]OffsetRecord{}
		for _, p := range parts {
			if o, ok := rec.Offsets[t][p]; ok {
				out[t][p] = o
			} else {
				out[t][p] = OffsetRecord{Offset: -1, LeaderEpoch: -1}
			}
		}
	}
	return out, 0
}

// Description is a group as DescribeGroups reports it.
type Description struct {
	State        string
	ProtocolType string
	Protocol     string
	Members      []MemberRecord // Protocols holds the chosen protocol's metadata
}

// Describe reports a group's state and members (Dead when unknown).
func (c *Coordinator) Describe(ctx context.Context, shard uint64, name string) (Description, int16) {
	var d Description
	code := c.withGroup(ctx, shard, name, false, func(g *group) int16 {
		if cg := c.consumerFor(shard, name); cg != nil {
			d = cg.classicDescription()
			return 0
		}
		if g == nil {
			d.State = StateDead
			return 0
		}
		d = Description{State: g.state, ProtocolType: g.protocolType, Protocol: g.protocol}
		for _, m := range g.members {
			mr := m.MemberRecord
			mr.Protocols = []Protocol{{Name: g.protocol, Metadata: m.metadata(g.protocol)}}
			d.Members = append(d.Members, mr)
		}
		return 0
	})
	if code != 0 {
		return Description{}, code
	}
	sort.Slice(d.Members, func(i, j int) bool { return d.Members[i].ID < d.Members[j].ID })
	return d, 0
}

// Listed is one group in ListGroups.
type Listed struct {
	Name, ProtocolType, State string
	// Type is "classic" or "consumer" (ListGroups v5).
	Type string
}

// List returns the groups of every shard this broker leads. Clients ask
// every broker and merge the answers, so a shard no broker answers for
// would drop its groups from the list without a word: while a shard hosted
// here has no leader, or is led here but not loaded, or lost its
// leadership during the request, the answer is a retriable error instead.
func (c *Coordinator) List(ctx context.Context, shards []uint64) ([]Listed, int16) {
	var out []Listed
	for _, shard := range shards {
		smr, hosted := c.shards.GroupStateMachine(shard)
		if !hosted {
			continue
		}
		if _, _, known := c.shards.Leader(shard); !known {
			return nil, kerr.CoordinatorNotAvailable.Code
		}
		if _, leader := c.shards.IsLeader(shard); !leader {
			continue
		}
		term, code := c.catchUp(ctx, shard)
		switch code {
		case 0:
		case kerr.NotCoordinator.Code:
			return nil, kerr.CoordinatorNotAvailable.Code
		default:
			return nil, code
		}
		c.locked(func() {
			if cur, leader := c.shards.IsLeader(shard); !leader || cur != term || c.loaded[shard] != term {
				code = kerr.CoordinatorNotAvailable.Code
				return
			}
			for _, name := range smr.Groups() {
				if cg := c.consumerFor(shard, name); cg != nil {
					out = append(out, Listed{Name: name, ProtocolType: ProtocolTypeConsumer, State: cg.state(), Type: "consumer"})
					continue
				}
				g, gcode := c.live(shard, name, false, term)
				if gcode != 0 {
					code = gcode
					return
				}
				if g != nil {
					out = append(out, Listed{Name: name, ProtocolType: g.protocolType, State: g.state, Type: "classic"})
				}
			}
		})
		if code != 0 {
			return nil, code
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, 0
}

// Delete removes an empty group and its offsets, behind the group's
// earlier transitions (a StoreGroup committing after the delete would
// bring the group back).
func (c *Coordinator) Delete(ctx context.Context, shard uint64, name string) int16 {
	var deleted <-chan error
	code := c.withGroup(ctx, shard, name, false, func(g *group) int16 {
		if cg := c.consumerFor(shard, name); cg != nil {
			if len(cg.members) > 0 {
				return kerr.NonEmptyGroup.Code
			}
			delete(c.cgroups, name)
		}
		if g == nil {
			return kerr.GroupIDNotFound.Code
		}
		if len(g.members) > 0 {
			return kerr.NonEmptyGroup.Code
		}
		g.state = StateDead
		delete(c.groups, name)
		deleted = c.persist(shard, g.term, Command{Delete: &name})
		return 0
	})
	if code != 0 {
		return code
	}
	if err := <-deleted; err != nil {
		return kerr.NotCoordinator.Code
	}
	return 0
}

// DeleteOffsets removes committed offsets of partitions the group does not
// consume now; per-partition codes keyed by topic and partition.
func (c *Coordinator) DeleteOffsets(ctx context.Context, shard uint64, name string, parts map[string][]int32) (map[string]map[int32]int16, int16) {
	var subscribed map[string]bool
	code := c.withGroup(ctx, shard, name, false, func(g *group) int16 {
		if cg := c.consumerFor(shard, name); cg != nil {
			subscribed = cg.subscribedTopics()
			return 0
		}
		if g == nil {
			return kerr.GroupIDNotFound.Code
		}
		subscribed = g.subscribedTopics()
		return 0
	})
	if code != 0 {
		return nil, code
	}
	codes := map[string]map[int32]int16{}
	del := DeleteOffsets{Group: name, Partitions: map[string][]int32{}}
	for t, ps := range parts {
		codes[t] = map[int32]int16{}
		for _, p := range ps {
			if subscribed[t] {
				codes[t][p] = kerr.GroupSubscribedToTopic.Code
				continue
			}
			codes[t][p] = 0
			del.Partitions[t] = append(del.Partitions[t], p)
		}
	}
	if len(del.Partitions) > 0 {
		if err := c.shards.ProposeGroup(ctx, shard, Command{DeleteOffsets: &del}.Encode()); err != nil {
			return nil, kerr.NotCoordinator.Code
		}
	}
	return codes, 0
}

// subscribedTopics reads the consumer protocol subscriptions of members.
func (g *group) subscribedTopics() map[string]bool {
	out := map[string]bool{}
	if g.protocolType != "consumer" {
		return out
	}
	for _, m := range g.members {
		var meta kmsg.ConsumerMemberMetadata
		if err := meta.ReadFrom(m.metadata(g.protocol)); err == nil {
			for _, t := range meta.Topics {
				out[t] = true
			}
		}
	}
	return out
}

// Lag is one partition's committed offset for the lag metric.
type Lag struct {
	Group, Topic string
	Partition    int32
	Committed    int64
}

// Committed lists the committed offsets of every group on the shards this
// broker leads (the lag metric is exported by the coordinator only).
func (c *Coordinator) Committed(shards []uint64) []Lag {
	var out []Lag
	for _, shard := range shards {
		if _, leader := c.shards.IsLeader(shard); !leader {
			continue
		}
		smr, ok := c.shards.GroupStateMachine(shard)
		if !ok {
			continue
		}
		for _, name := range smr.Groups() {
			rec, _ := smr.Group(name)
			for t, parts := range rec.Offsets {
				for p, o := range parts {
					out = append(out, Lag{Group: name, Topic: t, Partition: p, Committed: o.Offset})
				}
			}
		}
	}
	return out
}

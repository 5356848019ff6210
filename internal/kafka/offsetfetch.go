package kafka

import (
	"context"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/acl"
	"github.com/longboat/longboat/internal/group"
)

func init() { handles(1, 9, (*Server).offsetFetch) }

// offsetFetch answers committed offsets: one group before v8, several
// after; a null topic list means every topic the group committed.
func (s *Server) offsetFetch(ctx context.Context, req *request, body *kmsg.OffsetFetchRequest) kmsg.Response {
	resp := body.ResponseKind().(*kmsg.OffsetFetchResponse)
	if body.Version < 8 {
		g := kmsg.NewOffsetFetchRequestGroup()
		g.Group = body.Group
		if body.Topics != nil {
			g.Topics = []kmsg.OffsetFetchRequestGroupTopic{}
			for _, t := range body.Topics {
				gt := kmsg.NewOffsetFetchRequestGroupTopic()
				gt.Topic, gt.Partitions = t.Topic, t.Partitions
				g.Topics = append(g.Topics, gt)
			}
		}
		rg := s.fetchGroupOffsets(ctx, req, g, body.RequireStable)
		resp.ErrorCode = rg.ErrorCode
		for _, t := range rg.Topics {
			rt := kmsg.NewOffsetFetchResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetFetchResponseTopicPartition()
				rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata, rp.ErrorCode = p.Partition, p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	}
	for _, g := range body.Groups {
		resp.Groups = append(resp.Groups, s.fetchGroupOffsets(ctx, req, g, body.RequireStable))
	}
	return resp
}

func (s *Server) fetchGroupOffsets(ctx context.Context, req *request, g kmsg.OffsetFetchRequestGroup, requireStable bool) kmsg.OffsetFetchResponseGroup {
	out := kmsg.NewOffsetFetchResponseGroup()
	out.Group = g.Group
	if g.Group == "" {
		// As Kafka's coordinator: no group has an empty id.
		out.ErrorCode = kerr.InvalidGroupID.Code
		return out
	}
	shard, code := s.authorizedGroupShard(req, acl.OpDescribe, g.Group)
	if code != 0 {
		out.ErrorCode = code
		return out
	}
	var want map[string][]int32
	if g.Topics != nil {
		want = map[string][]int32{}
		for _, t := range g.Topics {
			want[t.Topic] = append(want[t.Topic], t.Partitions...)
		}
	}
	if code := s.groups.ValidateOffsetFetch(ctx, shard, g.Group, g.MemberID, g.MemberEpoch); code != 0 {
		out.ErrorCode = code
		return out
	}
	offsets, code := s.groups.FetchOffsets(ctx, shard, g.Group, want)
	if code != 0 {
		out.ErrorCode = code
		return out
	}
	topics := make([]string, 0, len(offsets))
	for t := range offsets {
		topics = append(topics, t)
	}
	sort.Strings(topics)
	for _, t := range topics {
		if !s.authorizeTopic(req, acl.OpDescribe, t) {
			// Every topic: left out; named ones: answered below.
			continue
		}
		rt := kmsg.NewOffsetFetchResponseGroupTopic()
		rt.Topic = t
		parts := make([]int32, 0, len(offsets[t]))
		for p := range offsets[t] {
			parts = append(parts, p)
		}
		sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
		for _, p := range parts {
			rt.Partitions = append(rt.Partitions, offsetPartition(p, offsets[t][p]))
		}
		out.Topics = append(out.Topics, rt)
	}
	for _, t := range g.Topics {
		if !s.authorizeTopic(req, acl.OpDescribe, t.Topic) {
			rt := kmsg.NewOffsetFetchResponseGroupTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
				rp.Partition, rp.Offset, rp.LeaderEpoch, rp.ErrorCode = p, -1, -1, kerr.TopicAuthorizationFailed.Code
				rt.Partitions = append(rt.Partitions, rp)
			}
			out.Topics = append(out.Topics, rt)
		}
	}
	if requireStable {
		s.markUnstable(shard, g.Group, &out)
	}
	return out
}

func offsetPartition(p int32, o group.OffsetRecord) kmsg.OffsetFetchResponseGroupTopicPartition {
	rp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
	rp.Partition, rp.Offset, rp.LeaderEpoch = p, o.Offset, o.LeaderEpoch
	md := o.Metadata
	rp.Metadata = &md
	return rp
}

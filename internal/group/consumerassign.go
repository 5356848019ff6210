package group

import (
	"sort"
)

// Server-side assignors (group.consumer.assignors): Kafka's default list,
// the first being the default.
const (
	AssignorUniform = "uniform"
	AssignorRange   = "range"
)

// knownAssignor tells whether a ServerAssignor names an assignor here.
func knownAssignor(name string) bool { return name == AssignorUniform || name == AssignorRange }

// subscriber is what an assignor sees of a member.
type subscriber struct {
	id       string
	instance string          // static members' group.instance.id, "" for dynamic ones
	topics   map[string]bool // resolved subscription (names and regex)
}

type topicPartition struct {
	topic     string
	partition int32
}

// assign computes a target assignment. partitions gives each subscribed
// topic's partition count; previous is the last target, which the uniform
// assignor keeps where it stays balanced.
func assign(assignor string, members []subscriber, partitions map[string]int32, previous map[string]Assignment) map[string]Assignment {
	sort.Slice(members, func(i, j int) bool { return members[i].id < members[j].id })
	if assignor == AssignorRange {
		// Static members first, by instance id, as Kafka's: a rolling
		// restart (new member ids, same instances) keeps every range.
		sort.SliceStable(members, func(i, j int) bool {
			a, b := members[i].instance, members[j].instance
			if a != "" && b != "" {
				return a < b
			}
			return a != "" && b == ""
		})
		return assignRange(members, partitions)
	}
	return assignUniform(members, partitions, previous)
}

// assignRange gives each topic's subscribers contiguous ranges of its
// partitions, the first members (in members' order) one more when they do not divide
// evenly, as the classic range assignor (and Kafka's server-side range
// assignor for members with the same subscriptions).
func assignRange(members []subscriber, partitions map[string]int32) map[string]Assignment {
	out := make(map[string]Assignment, len(members))
	for _, m := range members {
		out[m.id] = Assignment{}
	}
	for _, topic := range sortedTopics(partitions) {
		var subs []string
		for _, m := range members {
			if m.topics[topic] {
				subs = append(subs, m.id)
			}
		}
		if len(subs) == 0 {
			continue
		}
		n := partitions[topic]
		per, extra := n/int32(len(subs)), n%int32(len(subs))
		next := int32(0)
		for i, id := range subs {
			count := per
			if int32(i) < extra {
				count++
			}
			for p := next; p < next+count; p++ {
				out[id][topic] = append(out[id][topic], p)
			}
			next += count
		}
	}
	return out
}

// assignUniform spreads partitions so that members' counts differ by at
// most one where subscriptions allow, moving as few partitions as it can
// from the previous target: kept partitions first (up to each member's
// share), then the rest to the subscriber holding fewest, then moves from
// the fullest member to a subscriber holding two fewer until none helps.
func assignUniform(members []subscriber, partitions map[string]int32, previous map[string]Assignment) map[string]Assignment {
	owned := map[string]map[topicPartition]bool{}
	owner := map[topicPartition]string{}
	subscribed := map[string]bool{}
	for _, m := range members {
		owned[m.id] = map[topicPartition]bool{}
		for t := range m.topics {
			if _, ok := partitions[t]; ok {
				subscribed[t] = true
			}
		}
	}
	total := 0
	for t := range subscribed {
		total += int(partitions[t])
	}
	share := 0
	if len(members) > 0 {
		share = (total + len(members) - 1) / len(members)
	}
	byID := map[string]subscriber{}
	for _, m := range members {
		byID[m.id] = m
	}
	for _, m := range members {
		for _, topic := range sortedTopics(previous[m.id]) {
			if !m.topics[topic] {
				continue
			}
			for _, p := range previous[m.id][topic] {
				tp := topicPartition{topic, p}
				if p >= partitions[topic] || owner[tp] != "" || len(owned[m.id]) >= share {
					continue
				}
				owned[m.id][tp], owner[tp] = true, m.id
			}
		}
	}
	fewest := func(tp topicPartition, except string, below int) string {
		best := ""
		for _, m := range members {
			if m.id == except || !m.topics[tp.topic] || len(owned[m.id]) >= below {
				continue
			}
			if best == "" || len(owned[m.id]) < len(owned[best]) {
				best = m.id
			}
		}
		return best
	}
	for _, topic := range sortedTopics(partitions) {
		if !subscribed[topic] {
			continue
		}
		for p := int32(0); p < partitions[topic]; p++ {
			tp := topicPartition{topic, p}
			if owner[tp] != "" {
				continue
			}
			if id := fewest(tp, "", int(^uint(0)>>1)); id != "" {
				owned[id][tp], owner[tp] = true, id
			}
		}
	}
	// Rebalance: bounded, each move lowers the spread between two members.
	for moves := 0; moves < total; moves++ {
		moved := false
		for _, m := range members {
			for _, tp := range sortedPartitions(owned[m.id]) {
				to := fewest(tp, m.id, len(owned[m.id])-1)
				if to == "" {
					continue
				}
				delete(owned[m.id], tp)
				owned[to][tp], owner[tp] = true, to
				moved = true
				break
			}
		}
		if !moved {
			break
		}
	}
	out := make(map[string]Assignment, len(members))
	for id, tps := range owned {
		a := Assignment{}
		for _, tp := range sortedPartitions(tps) {
			a[tp.topic] = append(a[tp.topic], tp.partition)
		}
		out[id] = a
	}
	return out
}

func sortedTopics[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for t := range m {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

func sortedPartitions(set map[topicPartition]bool) []topicPartition {
	out := make([]topicPartition, 0, len(set))
	for tp := range set {
		out = append(out, tp)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].topic != out[j].topic {
			return out[i].topic < out[j].topic
		}
		return out[i].partition < out[j].partition
	})
	return out
}

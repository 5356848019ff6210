package group

import "sort"

// Set operations on assignments; results are new values, partitions
// sorted, topics without partitions omitted.

func (a Assignment) set() map[topicPartition]bool {
	out := map[topicPartition]bool{}
	for t, ps := range a {
		for _, p := range ps {
			out[topicPartition{t, p}] = true
		}
	}
	return out
}

func fromSet(s map[topicPartition]bool) Assignment {
	out := Assignment{}
	for tp := range s {
		out[tp.topic] = append(out[tp.topic], tp.partition)
	}
	for t := range out {
		sort.Slice(out[t], func(i, j int) bool { return out[t][i] < out[t][j] })
	}
	return out
}

// minus is a without b.
func (a Assignment) minus(b Assignment) Assignment {
	bs := b.set()
	out := map[topicPartition]bool{}
	for tp := range a.set() {
		if !bs[tp] {
			out[tp] = true
		}
	}
	return fromSet(out)
}

// intersect is what a and b share.
func (a Assignment) intersect(b Assignment) Assignment {
	bs := b.set()
	out := map[topicPartition]bool{}
	for tp := range a.set() {
		if bs[tp] {
			out[tp] = true
		}
	}
	return fromSet(out)
}

// union is a and b.
func (a Assignment) union(b Assignment) Assignment {
	out := a.set()
	for tp := range b.set() {
		out[tp] = true
	}
	return fromSet(out)
}

func (a Assignment) empty() bool {
	for _, ps := range a {
		if len(ps) > 0 {
			return false
		}
	}
	return true
}

func (a Assignment) equal(b Assignment) bool {
	return a.minus(b).empty() && b.minus(a).empty()
}

func (a Assignment) count() int {
	n := 0
	for _, ps := range a {
		n += len(ps)
	}
	return n
}

func (a Assignment) clone() Assignment {
	if a == nil {
		return nil
	}
	out := make(Assignment, len(a))
	for t, ps := range a {
		out[t] = append([]int32(nil), ps...)
	}
	return out
}

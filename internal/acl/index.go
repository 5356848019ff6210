package acl

import (
	"slices"
	"sync/atomic"
)

// index holds one published set of bindings by resource type and name, so
// that a check reads the few bindings that can apply to one resource
// instead of every binding (clusters with thousands of ACLs, one check per
// topic and partition of a request).
type index struct {
	src    []Binding // the slice indexed: meta replaces it, never changes it
	byType map[ResourceType]*typeIndex
}

type typeIndex struct {
	literal  map[string][]Binding // by name, "*" included
	prefixed map[string][]Binding // by prefix
	lens     []int                // the distinct prefix lengths, ascending
	byUser   map[string][]Binding // by principal, "User:*" included
}

func newIndex(acls []Binding) *index {
	ix := &index{src: acls, byType: map[ResourceType]*typeIndex{}}
	for _, b := range acls {
		t := ix.byType[b.ResourceType]
		if t == nil {
			t = &typeIndex{literal: map[string][]Binding{}, prefixed: map[string][]Binding{}, byUser: map[string][]Binding{}}
			ix.byType[b.ResourceType] = t
		}
		t.byUser[b.Principal] = append(t.byUser[b.Principal], b)
		switch b.Pattern {
		case PatternLiteral:
			t.literal[b.Name] = append(t.literal[b.Name], b)
		case PatternPrefixed:
			if _, ok := t.prefixed[b.Name]; !ok && !slices.Contains(t.lens, len(b.Name)) {
				t.lens = append(t.lens, len(b.Name))
			}
			t.prefixed[b.Name] = append(t.prefixed[b.Name], b)
		}
	}
	for _, t := range ix.byType {
		slices.Sort(t.lens)
	}
	return ix
}

// applying calls fn with each binding whose pattern covers the resource
// of type rt named name, as patternApplies decides; fn returns false to
// stop.
func (ix *index) applying(rt ResourceType, name string, fn func(Binding) bool) {
	t := ix.byType[rt]
	if t == nil {
		return
	}
	for _, b := range t.literal[name] {
		if !fn(b) {
			return
		}
	}
	if name != Wildcard {
		for _, b := range t.literal[Wildcard] {
			if !fn(b) {
				return
			}
		}
	}
	for _, n := range t.lens {
		if n > len(name) {
			return
		}
		for _, b := range t.prefixed[name[:n]] {
			if !fn(b) {
				return
			}
		}
	}
}

// of returns the index of acls, building it when acls is not the slice
// last indexed. The callers pass the bindings of the newest applied
// __meta state, which changes only with CreateAcls and DeleteAcls.
func (c *indexCache) of(acls []Binding) *index {
	if ix := c.p.Load(); ix != nil && sameSlice(ix.src, acls) {
		return ix
	}
	ix := newIndex(acls)
	c.p.Store(ix)
	return ix
}

type indexCache struct{ p atomic.Pointer[index] }

func sameSlice(a, b []Binding) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

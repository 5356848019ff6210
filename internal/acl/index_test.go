package acl

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

func deny(rt ResourceType, name string, pt PatternType, principal string, op Operation) Binding {
	b := allow(rt, name, pt, principal, op)
	b.Permission = PermissionDeny
	return b
}

// TestAuthorizeAny follows Kafka's authorizeByResourceType case by case.
func TestAuthorizeAny(t *testing.T) {
	alice := Request{Principal: "User:alice", Host: "10.0.0.1"}
	topic := func(bs ...Binding) []Binding { return bs }
	cases := []struct {
		name string
		acls []Binding
		want bool
	}{
		{"no ACLs", nil, false},
		{"a literal allow", topic(allow(ResourceTopic, "a", PatternLiteral, "User:alice", OpWrite)), true},
		{"ALL counts", topic(allow(ResourceTopic, "a", PatternLiteral, "User:alice", OpAll)), true},
		{"an implied operation does not", topic(allow(ResourceTopic, "a", PatternLiteral, "User:alice", OpRead)), false},
		{"another principal's allow", topic(allow(ResourceTopic, "a", PatternLiteral, "User:bob", OpWrite)), false},
		{"the literal allow denied by name", topic(allow(ResourceTopic, "a", PatternLiteral, "User:alice", OpWrite), deny(ResourceTopic, "a", PatternLiteral, "User:alice", OpWrite)), false},
		{"a wildcard principal's deny by name", topic(allow(ResourceTopic, "a", PatternLiteral, "User:alice", OpWrite), deny(ResourceTopic, "a", PatternLiteral, "User:*", OpAll)), false},
		{"one of two literal allows denied", topic(allow(ResourceTopic, "a", PatternLiteral, "User:alice", OpWrite), allow(ResourceTopic, "b", PatternLiteral, "User:alice", OpWrite), deny(ResourceTopic, "a", PatternLiteral, "User:alice", OpWrite)), true},
		{"a literal allow under a prefixed deny", topic(allow(ResourceTopic, "logs-a", PatternLiteral, "User:alice", OpWrite), deny(ResourceTopic, "logs-", PatternPrefixed, "User:alice", OpWrite)), false},
		{"a prefixed allow under a shorter prefixed deny", topic(allow(ResourceTopic, "logs-a", PatternPrefixed, "User:alice", OpWrite), deny(ResourceTopic, "logs", PatternPrefixed, "User:alice", OpWrite)), false},
		{"a prefixed allow over a longer prefixed deny", topic(allow(ResourceTopic, "logs", PatternPrefixed, "User:alice", OpWrite), deny(ResourceTopic, "logs-a", PatternPrefixed, "User:alice", OpWrite)), true},
		{"a prefixed allow and a literal deny of its name", topic(allow(ResourceTopic, "logs", PatternPrefixed, "User:alice", OpWrite), deny(ResourceTopic, "logs", PatternLiteral, "User:alice", OpWrite)), true},
		{"a deny of another operation", topic(allow(ResourceTopic, "a", PatternLiteral, "User:alice", OpWrite), deny(ResourceTopic, "a", PatternLiteral, "User:alice", OpRead)), true},
		{"a wildcard allow despite a deny by name", topic(allow(ResourceTopic, "*", PatternLiteral, "User:alice", OpWrite), deny(ResourceTopic, "a", PatternLiteral, "User:alice", OpWrite)), true},
		{"a wildcard deny", topic(allow(ResourceTopic, "a", PatternLiteral, "User:alice", OpWrite), deny(ResourceTopic, "*", PatternLiteral, "User:alice", OpWrite)), false},
		{"a group allow is not a topic's", topic(allow(ResourceGroup, "a", PatternLiteral, "User:alice", OpWrite)), false},
	}
	a := New([]string{"User:admin"}, false)
	for _, c := range cases {
		if got := a.AuthorizeAny(c.acls, alice, OpWrite, ResourceTopic); got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
	denyAll := topic(deny(ResourceTopic, "*", PatternLiteral, "User:*", OpAll))
	if !a.AuthorizeAny(denyAll, Request{Principal: "User:admin"}, OpWrite, ResourceTopic) {
		t.Error("a super user was refused by a DENY")
	}
	open := New(nil, true)
	if !open.AuthorizeAny(topic(deny(ResourceTopic, "a", PatternLiteral, "User:alice", OpWrite)), alice, OpWrite, ResourceTopic) {
		t.Error("allow-everyone-if-no-acl-found: refused though no ACL covers other names")
	}
	if open.AuthorizeAny(denyAll, alice, OpWrite, ResourceTopic) {
		t.Error("allow-everyone-if-no-acl-found: a wildcard DENY did not refuse")
	}
}

// authorizeScan is Authorize without the index (every binding read, as
// before it existed): the reference the index must agree with and the
// benchmark's baseline.
func authorizeScan(a *Authorizer, acls []Binding, r Request, op Operation, rt ResourceType, name string) bool {
	if a.superUsers[r.Principal] {
		return true
	}
	covered, allowed := false, false
	for _, b := range acls {
		if b.ResourceType != rt || !patternApplies(b, name) {
			continue
		}
		covered = true
		if !r.matches(b) {
			continue
		}
		switch b.Permission {
		case PermissionDeny:
			if b.Operation == op || b.Operation == OpAll {
				return false
			}
		case PermissionAllow:
			if implies(b.Operation, op) {
				allowed = true
			}
		}
	}
	if !covered {
		return a.allowEveryoneIfNoACLFound
	}
	return allowed
}

// randomBindings are n bindings over few names, prefixes, principals and
// operations, so that patterns overlap.
func randomBindings(rng *rand.Rand, n int) []Binding {
	names := []string{"a", "ab", "abc", "b", "logs-1", "logs-2", "*"}
	out := make([]Binding, n)
	for i := range out {
		b := Binding{
			ResourceType: []ResourceType{ResourceTopic, ResourceGroup}[rng.IntN(2)],
			Name:         names[rng.IntN(len(names))],
			Pattern:      []PatternType{PatternLiteral, PatternPrefixed}[rng.IntN(2)],
			Principal:    []string{"User:alice", "User:bob", "User:*"}[rng.IntN(3)],
			Host:         []string{Wildcard, "10.0.0.1", "10.0.0.2"}[rng.IntN(3)],
			Operation:    []Operation{OpAll, OpRead, OpWrite, OpDescribe, OpDelete}[rng.IntN(5)],
			Permission:   []Permission{PermissionAllow, PermissionDeny}[rng.IntN(2)],
		}
		if b.Pattern == PatternPrefixed && b.Name == Wildcard {
			b.Name = "lo"
		}
		out[i] = b
	}
	return out
}

// TestIndexAgreesWithScan: for random binding sets, the indexed Authorize
// decides every request as the scan of every binding does.
func TestIndexAgreesWithScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	resources := []string{"a", "ab", "abc", "abcd", "b", "logs-1", "logs-10", "lo", "*", "x", ""}
	for round := range 300 {
		acls := randomBindings(rng, rng.IntN(12))
		a := New([]string{"User:admin"}, round%2 == 0)
		for _, p := range []string{"User:alice", "User:bob", "User:admin"} {
			for _, host := range []string{"10.0.0.1", "10.0.0.2"} {
				r := Request{Principal: p, Host: host}
				for _, rt := range []ResourceType{ResourceTopic, ResourceGroup, ResourceCluster} {
					for _, op := range []Operation{OpRead, OpWrite, OpDescribe, OpDelete, OpAlter} {
						for _, name := range resources {
							if got, want := a.Authorize(acls, r, op, rt, name), authorizeScan(a, acls, r, op, rt, name); got != want {
								t.Fatalf("round %d %v %v %v %q: indexed %v, scan %v; bindings %+v", round, r, op, rt, name, got, want, acls)
							}
						}
					}
				}
			}
		}
	}
}

// BenchmarkAuthorize: one check among thousands of bindings (a cluster
// with a literal ACL per user and topic, and prefixed ones per team), with
// the index and by the scan it replaced.
func BenchmarkAuthorize(b *testing.B) {
	for _, n := range []int{100, 5000, 20000} {
		var acls []Binding
		for i := range n {
			switch {
			case i%10 == 0:
				acls = append(acls, allow(ResourceTopic, fmt.Sprintf("team%d-", i/10), PatternPrefixed, fmt.Sprintf("User:u%d", i), OpRead))
			case i%10 == 1:
				acls = append(acls, allow(ResourceGroup, fmt.Sprintf("g%d", i), PatternLiteral, fmt.Sprintf("User:u%d", i), OpRead))
			default:
				acls = append(acls, allow(ResourceTopic, fmt.Sprintf("topic-%d", i), PatternLiteral, fmt.Sprintf("User:u%d", i), OpWrite))
			}
		}
		a := New(nil, false)
		r := Request{Principal: "User:u2", Host: "10.0.0.1"}
		name := "topic-2"
		if !a.Authorize(acls, r, OpWrite, ResourceTopic, name) || !authorizeScan(a, acls, r, OpWrite, ResourceTopic, name) {
			b.Fatal("the benchmark's check is not allowed")
		}
		b.Run(fmt.Sprintf("bindings=%d/index", n), func(b *testing.B) {
			for b.Loop() {
				a.Authorize(acls, r, OpWrite, ResourceTopic, name)
			}
		})
		b.Run(fmt.Sprintf("bindings=%d/scan", n), func(b *testing.B) {
			for b.Loop() {
				authorizeScan(a, acls, r, OpWrite, ResourceTopic, name)
			}
		})
		b.Run(fmt.Sprintf("bindings=%d/any", n), func(b *testing.B) {
			for b.Loop() {
				a.AuthorizeAny(acls, r, OpWrite, ResourceTopic)
			}
		})
	}
}

package acl

import "testing"

func allow(rt ResourceType, name string, pt PatternType, principal string, op Operation) Binding {
	return Binding{ResourceType: rt, Name: name, Pattern: pt, Principal: principal, Host: Wildcard, Operation: op, Permission: PermissionAllow}
}

func TestAuthorize(t *testing.T) {
	alice := Request{Principal: "User:alice", Host: "10.0.0.1"}
	bob := Request{Principal: "User:bob", Host: "10.0.0.2"}
	acls := []Binding{
		allow(ResourceTopic, "orders", PatternLiteral, "User:alice", OpWrite),
		allow(ResourceTopic, "logs-", PatternPrefixed, "User:alice", OpRead),
		allow(ResourceTopic, "*", PatternLiteral, "User:bob", OpDescribe),
		allow(ResourceTopic, "logs-secret", PatternLiteral, "User:*", OpRead),
		{ResourceType: ResourceTopic, Name: "logs-secret", Pattern: PatternLiteral, Principal: "User:alice", Host: Wildcard, Operation: OpRead, Permission: PermissionDeny},
		{ResourceType: ResourceTopic, Name: "orders", Pattern: PatternLiteral, Principal: "User:bob", Host: "10.0.0.9", Operation: OpAll, Permission: PermissionAllow},
		allow(ResourceGroup, "g", PatternLiteral, "User:alice", OpAlterConfigs),
	}
	a := New([]string{"User:admin"}, false)
	cases := []struct {
		name string
		r    Request
		op   Operation
		rt   ResourceType
		res  string
		want bool
	}{
		{"literal allow", alice, OpWrite, ResourceTopic, "orders", true},
		{"write implies describe", alice, OpDescribe, ResourceTopic, "orders", true},
		{"write does not imply read", alice, OpRead, ResourceTopic, "orders", false},
		{"prefixed allow", alice, OpRead, ResourceTopic, "logs-app", true},
		{"prefix is not a glob", alice, OpRead, ResourceTopic, "xlogs-app", false},
		{"deny wins over wildcard principal allow", alice, OpRead, ResourceTopic, "logs-secret", false},
		{"deny of read leaves describe", alice, OpDescribe, ResourceTopic, "logs-secret", true},
		{"wildcard principal allow", bob, OpRead, ResourceTopic, "logs-secret", true},
		{"wildcard resource", bob, OpDescribe, ResourceTopic, "anything", true},
		{"host must match", bob, OpWrite, ResourceTopic, "orders", false},
		{"uncovered resource denied", alice, OpRead, ResourceGroup, "other", false},
		{"alter configs implies describe configs", alice, OpDescribeConfigs, ResourceGroup, "g", true},
		{"super user", Request{Principal: "User:admin"}, OpDelete, ResourceCluster, ClusterName, true},
	}
	for _, c := range cases {
		if got := a.Authorize(acls, c.r, c.op, c.rt, c.res); got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
	open := New(nil, true)
	if !open.Authorize(acls, alice, OpRead, ResourceGroup, "other") {
		t.Error("allow-everyone-if-no-acl-found: an uncovered resource was denied")
	}
	if open.Authorize(acls, alice, OpRead, ResourceTopic, "orders") {
		t.Error("allow-everyone-if-no-acl-found: a covered resource without a matching ALLOW was allowed")
	}
	bits := a.AuthorizedOperations(acls, alice, ResourceTopic, "orders", []Operation{OpRead, OpWrite, OpDescribe})
	if bits != 1<<OpWrite|1<<OpDescribe {
		t.Errorf("authorized operations %b", bits)
	}
}

func TestFilterMatches(t *testing.T) {
	s := func(v string) *string { return &v }
	b := allow(ResourceTopic, "logs-", PatternPrefixed, "User:alice", OpRead)
	cases := []struct {
		f    Filter
		want bool
	}{
		{Filter{ResourceType: ResourceAny, Pattern: PatternAny, Operation: OpAny, Permission: PermissionAny}, true},
		{Filter{ResourceType: ResourceTopic, Name: s("logs-"), Pattern: PatternPrefixed, Operation: OpAny, Permission: PermissionAny}, true},
		{Filter{ResourceType: ResourceTopic, Name: s("logs-"), Pattern: PatternLiteral, Operation: OpAny, Permission: PermissionAny}, false},
		{Filter{ResourceType: ResourceTopic, Name: s("logs-app"), Pattern: PatternMatch, Operation: OpAny, Permission: PermissionAny}, true},
		{Filter{ResourceType: ResourceTopic, Name: s("logs-app"), Pattern: PatternAny, Operation: OpAny, Permission: PermissionAny}, false},
		{Filter{ResourceType: ResourceGroup, Pattern: PatternAny, Operation: OpAny, Permission: PermissionAny}, false},
		{Filter{ResourceType: ResourceAny, Pattern: PatternAny, Principal: s("User:bob"), Operation: OpAny, Permission: PermissionAny}, false},
		{Filter{ResourceType: ResourceAny, Pattern: PatternAny, Operation: OpWrite, Permission: PermissionAny}, false},
		{Filter{ResourceType: ResourceAny, Pattern: PatternAny, Operation: OpRead, Permission: PermissionDeny}, false},
	}
	for i, c := range cases {
		if got := c.f.Matches(b); got != c.want {
			t.Errorf("case %d: got %v, want %v", i, got, c.want)
		}
	}
}

func TestValidate(t *testing.T) {
	good := allow(ResourceCluster, ClusterName, PatternLiteral, "User:alice", OpAlter)
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := []Binding{
		allow(ResourceCluster, "other", PatternLiteral, "User:alice", OpAlter),
		allow(ResourceAny, "t", PatternLiteral, "User:alice", OpRead),
		allow(ResourceTopic, "t", PatternMatch, "User:alice", OpRead),
		allow(ResourceTopic, "", PatternLiteral, "User:alice", OpRead),
		allow(ResourceTopic, "t", PatternLiteral, "alice", OpRead),
		allow(ResourceTopic, "t", PatternLiteral, "User:alice", OpAny),
		{ResourceType: ResourceTopic, Name: "t", Pattern: PatternLiteral, Principal: "User:a", Host: "*", Operation: OpRead, Permission: PermissionAny},
	}
	for i, b := range bad {
		if b.Validate() == nil {
			t.Errorf("case %d: %+v accepted", i, b)
		}
	}
}

func TestNames(t *testing.T) {
	for s, want := range map[string]Operation{"read": OpRead, "DescribeConfigs": OpDescribeConfigs, "describe-configs": OpDescribeConfigs, "IDEMPOTENT_WRITE": OpIdempotentWrite, "all": OpAll} {
		if got, err := ParseOperation(s); err != nil || got != want {
			t.Errorf("ParseOperation(%q) = %v, %v", s, got, err)
		}
	}
	if rt, err := ParseResourceType("transactional-id"); err != nil || rt != ResourceTransactionalID || rt.String() != "TransactionalId" {
		t.Errorf("transactional-id: %v %v", rt, err)
	}
	if _, err := ParsePatternType("glob"); err == nil {
		t.Error("glob accepted as a pattern type")
	}
}

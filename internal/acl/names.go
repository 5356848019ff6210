package acl

import (
	"fmt"
	"slices"
	"strings"
)

// Names as Kafka's tools print and accept them (kafka-acls.sh's
// operations, resource types and pattern types, case-insensitive).
var (
	resourceNames = map[ResourceType]string{ResourceAny: "Any", ResourceTopic: "Topic", ResourceGroup: "Group", ResourceCluster: "Cluster",
		ResourceTransactionalID: "TransactionalId", ResourceDelegationToken: "DelegationToken", ResourceUser: "User"}
	patternNames    = map[PatternType]string{PatternAny: "Any", PatternMatch: "Match", PatternLiteral: "Literal", PatternPrefixed: "Prefixed"}
	operationNames  = map[Operation]string{OpAny: "Any", OpAll: "All", OpRead: "Read", OpWrite: "Write", OpCreate: "Create", OpDelete: "Delete", OpAlter: "Alter", OpDescribe: "Describe", OpClusterAction: "ClusterAction", OpDescribeConfigs: "DescribeConfigs", OpAlterConfigs: "AlterConfigs", OpIdempotentWrite: "IdempotentWrite", OpCreateTokens: "CreateTokens", OpDescribeTokens: "DescribeTokens"}
	permissionNames = map[Permission]string{PermissionAny: "Any", PermissionAllow: "Allow", PermissionDeny: "Deny"}
)

func (t ResourceType) String() string { return nameOf(resourceNames, t) }
func (p PatternType) String() string  { return nameOf(patternNames, p) }
func (o Operation) String() string    { return nameOf(operationNames, o) }
func (p Permission) String() string   { return nameOf(permissionNames, p) }

func nameOf[K ~int8](names map[K]string, k K) string {
	if n, ok := names[k]; ok {
		return n
	}
	return fmt.Sprintf("Unknown(%d)", k)
}

// ParseResourceType reads a resource type name (topic, group, cluster,
// transactional-id or TransactionalId, any).
func ParseResourceType(s string) (ResourceType, error) {
	return parseName(resourceNames, s, "resource type")
}

// ParsePatternType reads literal, prefixed, match or any.
func ParsePatternType(s string) (PatternType, error) {
	return parseName(patternNames, s, "pattern type")
}

// ParseOperation reads an operation name (read, write, describe-configs
// or DescribeConfigs, ...).
func ParseOperation(s string) (Operation, error) { return parseName(operationNames, s, "operation") }

// ParsePermission reads allow, deny or any.
func ParsePermission(s string) (Permission, error) {
	return parseName(permissionNames, s, "permission")
}

func parseName[K ~int8](names map[K]string, s, what string) (K, error) {
	want := strings.ToLower(strings.NewReplacer("-", "", "_", "").Replace(strings.TrimSpace(s)))
	var known []string
	for k, n := range names {
		if strings.ToLower(n) == want {
			return k, nil
		}
		known = append(known, n)
	}
	slices.Sort(known)
	return 0, fmt.Errorf("unknown %s %q (one of %s)", what, s, strings.Join(known, ", "))
}

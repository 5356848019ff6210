// Package acl is Kafka's authorization model: ACL bindings (a resource
// pattern and an access control entry), the filters DescribeAcls and
// DeleteAcls match them with, and the authorizer that decides one request
// on one resource. Codes are Kafka's wire codes, so bindings travel
// between the protocol and __meta unchanged.
package acl

import (
	"errors"
	"fmt"
	"strings"
)

// ResourceType is Kafka's resource type code.
type ResourceType int8

// Resource types: Unknown and Any appear only in filters.
const (
	ResourceUnknown         ResourceType = 0
	ResourceAny             ResourceType = 1
	ResourceTopic           ResourceType = 2
	ResourceGroup           ResourceType = 3
	ResourceCluster         ResourceType = 4
	ResourceTransactionalID ResourceType = 5
	ResourceDelegationToken ResourceType = 6
	ResourceUser            ResourceType = 7
)

// PatternType is Kafka's resource pattern type code.
type PatternType int8

// Pattern types: Any and Match appear only in filters.
const (
	PatternUnknown  PatternType = 0
	PatternAny      PatternType = 1
	PatternMatch    PatternType = 2
	PatternLiteral  PatternType = 3
	PatternPrefixed PatternType = 4
)

// Operation is Kafka's ACL operation code.
type Operation int8

// Operations.
const (
	OpUnknown         Operation = 0
	OpAny             Operation = 1
	OpAll             Operation = 2
	OpRead            Operation = 3
	OpWrite           Operation = 4
	OpCreate          Operation = 5
	OpDelete          Operation = 6
	OpAlter           Operation = 7
	OpDescribe        Operation = 8
	OpClusterAction   Operation = 9
	OpDescribeConfigs Operation = 10
	OpAlterConfigs    Operation = 11
	OpIdempotentWrite Operation = 12
	OpCreateTokens    Operation = 13
	OpDescribeTokens  Operation = 14
)

// Permission is Kafka's permission type code.
type Permission int8

// Permissions: Any appears only in filters.
const (
	PermissionUnknown Permission = 0
	PermissionAny     Permission = 1
	PermissionDeny    Permission = 2
	PermissionAllow   Permission = 3
)

// Wildcard matches every name (a literal resource "*"), every principal
// ("User:*") or every host ("*").
const Wildcard = "*"

// ClusterName is the one name of the cluster resource, as Kafka's.
const ClusterName = "kafka-cluster"

// Binding is one ACL: who (principal, host) may or may not (permission)
// do what (operation) on which resources (type, name, pattern).
type Binding struct {
	ResourceType ResourceType `json:"resource_type"`
	Name         string       `json:"name"`
	Pattern      PatternType  `json:"pattern"`
	Principal    string       `json:"principal"`
	Host         string       `json:"host"`
	Operation    Operation    `json:"operation"`
	Permission   Permission   `json:"permission"`
}

// Validate checks a binding to be created as Kafka's controller does.
func (b Binding) Validate() error {
	switch b.ResourceType {
	case ResourceTopic, ResourceGroup, ResourceCluster, ResourceTransactionalID, ResourceDelegationToken, ResourceUser:
	default:
		return fmt.Errorf("invalid resource type %d", b.ResourceType)
	}
	if b.Pattern != PatternLiteral && b.Pattern != PatternPrefixed {
		return fmt.Errorf("invalid pattern type %d: use LITERAL or PREFIXED", b.Pattern)
	}
	if b.Name == "" {
		return errors.New("resource name must not be empty")
	}
	if b.ResourceType == ResourceCluster && b.Name != ClusterName {
		return fmt.Errorf("the only valid name for the CLUSTER resource is %s", ClusterName)
	}
	if b.Operation <= OpAny || b.Operation > OpDescribeTokens {
		return fmt.Errorf("invalid operation %d", b.Operation)
	}
	if b.Permission != PermissionAllow && b.Permission != PermissionDeny {
		return fmt.Errorf("invalid permission type %d: use ALLOW or DENY", b.Permission)
	}
	if kind, name, ok := strings.Cut(b.Principal, ":"); !ok || kind == "" || name == "" {
		return fmt.Errorf("invalid principal %q: want Type:name, e.g. User:alice or User:*", b.Principal)
	}
	if b.Host == "" {
		return errors.New("host must not be empty: use * for every host")
	}
	return nil
}

// Filter selects bindings: nil strings and the Any codes match everything;
// PatternMatch matches every pattern that would apply to the named
// resource (the literal name, the wildcard, prefixes of it).
type Filter struct {
	ResourceType ResourceType `json:"resource_type"`
	Name         *string      `json:"name,omitempty"`
	Pattern      PatternType  `json:"pattern"`
	Principal    *string      `json:"principal,omitempty"`
	Host         *string      `json:"host,omitempty"`
	Operation    Operation    `json:"operation"`
	Permission   Permission   `json:"permission"`
}

// Validate refuses filters with Unknown codes, as Kafka does.
func (f Filter) Validate() error {
	switch {
	case f.ResourceType == ResourceUnknown || f.ResourceType > ResourceUser || f.ResourceType < 0:
		return fmt.Errorf("invalid resource type %d in filter", f.ResourceType)
	case f.Pattern == PatternUnknown || f.Pattern > PatternPrefixed || f.Pattern < 0:
		return fmt.Errorf("invalid pattern type %d in filter", f.Pattern)
	case f.Operation == OpUnknown || f.Operation > OpDescribeTokens || f.Operation < 0:
		return fmt.Errorf("invalid operation %d in filter", f.Operation)
	case f.Permission == PermissionUnknown || f.Permission > PermissionAllow || f.Permission < 0:
		return fmt.Errorf("invalid permission type %d in filter", f.Permission)
	}
	return nil
}

// Matches tells whether the filter selects b.
func (f Filter) Matches(b Binding) bool {
	if f.ResourceType != ResourceAny && f.ResourceType != b.ResourceType {
		return false
	}
	switch f.Pattern {
	case PatternAny:
		if f.Name != nil && *f.Name != b.Name {
			return false
		}
	case PatternMatch:
		if f.Name != nil && !patternApplies(b, *f.Name) {
			return false
		}
	default:
		if f.Pattern != b.Pattern || (f.Name != nil && *f.Name != b.Name) {
			return false
		}
	}
	return (f.Principal == nil || *f.Principal == b.Principal) &&
		(f.Host == nil || *f.Host == b.Host) &&
		(f.Operation == OpAny || f.Operation == b.Operation) &&
		(f.Permission == PermissionAny || f.Permission == b.Permission)
}

// patternApplies tells whether b's resource pattern covers the resource
// named name (of b's type).
func patternApplies(b Binding, name string) bool {
	switch b.Pattern {
	case PatternLiteral:
		return b.Name == name || b.Name == Wildcard
	case PatternPrefixed:
		return strings.HasPrefix(name, b.Name)
	}
	return false
}
